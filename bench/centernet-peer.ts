/**
 * The peer for the CenterNet parity checks: @tensorflow/tfjs-converter + tfjs-backend-wasm (one
 * thread) executing the same model.json, and the comparison of the engine's heads against it.
 * Used by test/import/centernet.test.ts and bench/centernet-parity.ts.
 *
 *   const peer = await tfjsCenterNet(json, shards);
 *   const p = peer.run(x);                      // x: the engine's input [3][512][512]
 *   const m = compareCenterNet(engineHeat, engineWh, p);
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { centernetPeaks, decodeCenterNet, type CenterNetShape } from '../src/model/centernet.js';

export const HEADS = ['tower_0/keypoints', 'tower_0/wh'];
export const CENTERNET: CenterNetShape = { C: 80, H: 128, W: 128 };

export interface PeerOut {
  /** NCHW [80][128][128] */
  heat: Float32Array;
  /** NCHW [4][128][128] */
  wh: Float32Array;
  /** the graph's own decoding, tower_0/detections: 100 x [x1, y1, x2, y2, score, class] */
  detections: Float32Array;
}

function toNchw(d: Float32Array, C: number, HW: number): Float32Array {
  const y = new Float32Array(d.length);
  for (let c = 0; c < C; c++) for (let i = 0; i < HW; i++) y[c * HW + i] = d[i * C + c];
  return y;
}

export async function tfjsCenterNet(json: { modelTopology: object; weightsManifest: Array<{ weights: object[] }> }, shards: Uint8Array[]): Promise<{ run(x: Float32Array): PeerOut }> {
  setThreadsCount(1);
  await tf.setBackend('wasm');
  const all = new Uint8Array(shards.reduce((n, s) => n + s.length, 0));
  let at = 0;
  for (const s of shards) {
    all.set(s, at);
    at += s.length;
  }
  const model = await loadGraphModel({
    load: async () => ({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights) as never, weightData: all.buffer }),
  });
  return {
    run(x: Float32Array): PeerOut {
      const HW = x.length / 3, side = Math.round(Math.sqrt(HW));
      const nhwc = new Float32Array(x.length);
      for (let c = 0; c < 3; c++) for (let i = 0; i < HW; i++) nhwc[i * 3 + c] = x[c * HW + i];
      const inp = tf.tensor4d(nhwc, [1, side, side, 3]);
      const outs = model.execute(inp, [...HEADS, 'tower_0/detections']) as tf.Tensor[];
      const [h, w, d] = outs.map((t) => t.dataSync() as Float32Array);
      const oHW = h.length / 80;
      const r = { heat: toNchw(h, 80, oHW), wh: toNchw(w, 4, oHW), detections: Float32Array.from(d) };
      inp.dispose();
      for (const t of outs) t.dispose();
      return r;
    },
  };
}

export interface CenterNetParity {
  /** max |engine - peer| / |peer| over heatmap values >= 1e-3 (below: absolute, see heatAbs) */
  heatRel: number;
  /** the same over every heatmap value above 1e-12 (the smallest background values included) */
  heatRelAll: number;
  /** max |engine - peer| over all heatmap values */
  heatAbs: number;
  /** max |engine - peer| / max(|peer|, 1) over the size head */
  whRel: number;
  /** top-100 peaks (NHWC index) both found */
  peaksCommon: number;
  /** ranks where the peak differs; each such swap must be between near-equal scores */
  peaksReordered: number;
  /** largest score gap of a rank where the peaks differ (0 when none) */
  reorderGap: number;
  /** engine-decoded boxes against the graph's own tower_0/detections, rank by rank: largest coordinate difference (pixels) */
  boxMaxDiff: number;
  /** ranks whose class or peak differs from tower_0/detections */
  boxMismatch: number;
}

export function compareCenterNet(heat: ArrayLike<number>, wh: ArrayLike<number>, p: PeerOut, k = 100): CenterNetParity {
  let heatRel = 0, heatRelAll = 0, heatAbs = 0, whRel = 0;
  for (let i = 0; i < p.heat.length; i++) {
    const d = Math.abs(heat[i] - p.heat[i]);
    if (!(d <= heatAbs)) heatAbs = Number.isNaN(d) ? Infinity : d;
    if (p.heat[i] >= 1e-3 && !(d / p.heat[i] <= heatRel)) heatRel = Number.isNaN(d) ? Infinity : d / p.heat[i];
    if (p.heat[i] > 1e-12 && !(d / p.heat[i] <= heatRelAll)) heatRelAll = Number.isNaN(d) ? Infinity : d / p.heat[i];
  }
  for (let i = 0; i < p.wh.length; i++) {
    const e = Math.abs(wh[i] - p.wh[i]) / Math.max(Math.abs(p.wh[i]), 1);
    if (!(e <= whRel)) whRel = Number.isNaN(e) ? Infinity : e;
  }
  const a = centernetPeaks(heat, CENTERNET, k), b = centernetPeaks(p.heat, CENTERNET, k);
  const inB = new Set(b.map((q) => q.index));
  let reordered = 0, gap = 0;
  for (let r = 0; r < k; r++) {
    if (a[r].index === b[r].index) continue;
    reordered++;
    gap = Math.max(gap, Math.abs(a[r].score - b[r].score));
  }
  const boxes = decodeCenterNet(heat, wh, { ...CENTERNET, k });
  let boxMaxDiff = 0, boxMismatch = 0;
  for (let r = 0; r < k; r++) {
    const d = p.detections.subarray(r * 6, r * 6 + 6), e = boxes[r];
    if (e.cls !== d[5] || Math.abs(e.score - d[4]) > 1e-3) {
      boxMismatch++;
      continue;
    }
    boxMaxDiff = Math.max(boxMaxDiff, Math.abs(e.x1 - d[0]), Math.abs(e.y1 - d[1]), Math.abs(e.x2 - d[2]), Math.abs(e.y2 - d[3]));
  }
  return { heatRel, heatRelAll, heatAbs, whRel, peaksCommon: a.filter((q) => inB.has(q.index)).length, peaksReordered: reordered, reorderGap: gap, boxMaxDiff, boxMismatch };
}
