/**
 * CenterNet's decoding, as the TF.js CenterNet graph (../shared/models/centernet) does it after its
 * heads: a 3x3 max-pool (stride 1, SAME) keeps the heatmap values that equal their neighbourhood's
 * maximum (peaks), the top k of them over the NHWC order [y][x][class] (ties: lower index first,
 * as TopKV2), then boxes from the 4 distances of the size head at the peak:
 * x1 = x*stride - l, y1 = y*stride - t, x2 = x*stride + r, y2 = y*stride + b (f32, input pixels).
 * The engine's imported blob ends at the heads (tower_0/keypoints, tower_0/wh); this is the rest.
 *
 *   import { decodeCenterNet } from './centernet.js';
 *   const heads = splitOutputs(meta.outputs, y);            // src/import/graph.ts
 *   const boxes = decodeCenterNet(heads['tower_0/keypoints'], heads['tower_0/wh'], { C: 80, H: 128, W: 128 });
 */

export interface CenterNetShape {
  /** classes (heatmap channels) */
  C: number;
  H: number;
  W: number;
}
export interface CenterNetPeak {
  score: number;
  /** NHWC flat index (y * W + x) * C + cls, the order TopKV2 ranks ties in */
  index: number;
  cls: number;
  y: number;
  x: number;
}
export interface CenterNetBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
  cls: number;
}

/**
 * The top k peaks of an NCHW heatmap [C][H][W]. Non-peaks count as 0 (the graph multiplies them
 * by 0), so with fewer than k positive peaks the rest are zeros in index order, as TopKV2 gives.
 */
export function centernetPeaks(heat: ArrayLike<number>, s: CenterNetShape, k = 100): CenterNetPeak[] {
  const { C, H, W } = s;
  if (heat.length !== C * H * W) throw new Error(`slimsplit: centernet heatmap has ${heat.length} values, [${C}, ${H}, ${W}] needs ${C * H * W}`);
  if (!(Number.isInteger(k) && k >= 1 && k <= C * H * W)) throw new Error(`slimsplit: centernet k must be an integer in 1..${C * H * W}, got ${k}`);
  const found: CenterNetPeak[] = [];
  for (let c = 0; c < C; c++) {
    const base = c * H * W;
    for (let y = 0; y < H; y++) {
      const y0 = Math.max(y - 1, 0), y1 = Math.min(y + 1, H - 1);
      for (let x = 0; x < W; x++) {
        const v = heat[base + y * W + x];
        if (!(v > 0)) continue;
        const x0 = Math.max(x - 1, 0), x1 = Math.min(x + 1, W - 1);
        let peak = true;
        for (let yy = y0; yy <= y1 && peak; yy++) for (let xx = x0; xx <= x1; xx++) if (heat[base + yy * W + xx] > v) { peak = false; break; }
        if (peak) found.push({ score: v, index: (y * W + x) * C + c, cls: c, y, x });
      }
    }
  }
  found.sort((a, b) => b.score - a.score || a.index - b.index);
  const top = found.slice(0, k);
  if (top.length < k) {
    const taken = new Set(top.map((p) => p.index));
    for (let i = 0; top.length < k; i++) {
      if (taken.has(i)) continue;
      const cls = i % C, p = Math.floor(i / C);
      top.push({ score: 0, index: i, cls, y: Math.floor(p / W), x: p % W });
    }
  }
  return top;
}

/** Boxes of the top k peaks: heat [C][H][W], wh [4][H][W] (left, top, right, bottom distances). */
export function decodeCenterNet(heat: ArrayLike<number>, wh: ArrayLike<number>, s: CenterNetShape & { k?: number; stride?: number }): CenterNetBox[] {
  const { H, W } = s, stride = s.stride ?? 4, HW = H * W;
  if (wh.length !== 4 * HW) throw new Error(`slimsplit: centernet size head has ${wh.length} values, [4, ${H}, ${W}] needs ${4 * HW}`);
  const f = Math.fround;
  return centernetPeaks(heat, s, s.k ?? 100).map((p) => {
    const at = p.y * W + p.x, cx = f(p.x * stride), cy = f(p.y * stride);
    return { x1: f(cx - wh[at]), y1: f(cy - wh[HW + at]), x2: f(cx + wh[2 * HW + at]), y2: f(cy + wh[3 * HW + at]), score: p.score, cls: p.cls };
  });
}
