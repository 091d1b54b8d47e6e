/**
 * The whole CenterNet detector (../shared/models/centernet, TF.js graph model, MobileNetV3
 * backbone) imported to its two heads and checked against tfjs-backend-wasm executing the same
 * model.json on COCO images (../shared/datasets/coco-val128): heatmap within 1e-4 relative, the
 * same top-100 peaks, sizes within 1e-3, and the engine's outputs decoded by decodeCenterNet equal
 * to the graph's own tower_0/detections; the engine against the f64 reference of the IR; and the
 * split at tower_0/MobilenetV3/expanded_conv_2/add: encoder codes -> decoder equals the unsplit
 * network on the dequantized split tensor. Skipped, with a message, when ../shared is missing.
 * `npm run eval:centernet` runs the same comparison over all 128 images.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { importModel, readTfjs, referenceForward, splitGraph, ImportError, type IrGraph } from '../../src/import/index.js';
import { splitOutputs } from '../../src/import/graph.js';
import { readBlob } from '../../src/format/reader.js';
import { Runner } from '../../src/engine/plan/runner.js';
import { loadEngine } from '../../src/engine/wasm.js';
import { decodeImage, toInput } from '../../src/model/image.js';
import { centernetPeaks, decodeCenterNet } from '../../src/model/centernet.js';
import { tfjsCenterNet, compareCenterNet, HEADS, CENTERNET, type PeerOut } from '../../bench/centernet-peer.js';
import { BUILDS, nerr } from '../util.js';

const DIR = join(import.meta.dirname, '../../../shared/models/centernet');
const IMAGES = join(import.meta.dirname, '../../../shared/datasets/coco-val128/images');
const FILES = ['000000000139.jpg', '000000000285.jpg'];
const have = existsSync(join(DIR, 'centernet.json')) && FILES.every((f) => existsSync(join(IMAGES, f)));
if (!have) console.warn(`test/import/centernet.test.ts: ${DIR}/centernet.json or the coco-val128 images are missing: the CenterNet tests are SKIPPED (they need the ../shared folder beside the repository)`);

const CUT = 'tower_0/MobilenetV3/expanded_conv_2/add';
const HEAT = 80 * 128 * 128;

describe.skipIf(!have)('TF.js CenterNet, whole detector (../shared)', () => {
  let json: Parameters<typeof readTfjs>[0] & { modelTopology: object; weightsManifest: Array<{ weights: object[]; paths: string[] }> };
  let shards: Uint8Array[];
  let ir: IrGraph;
  let slim: Uint8Array;
  const xs: Float32Array[] = [];
  const peer: PeerOut[] = [];
  const engineOut = new Map<string, Float32Array>();

  beforeAll(async () => {
    json = JSON.parse(readFileSync(join(DIR, 'centernet.json'), 'utf8'));
    shards = [new Uint8Array(readFileSync(join(DIR, 'centernet.bin')))];
    ({ ir, slim } = importModel(new TextEncoder().encode(JSON.stringify(json)), { weights: shards, output: HEADS }));
    const tfjs = await tfjsCenterNet(json, shards);
    for (const f of FILES) {
      // what the package feeds: the frame resized bilinearly to 512x512, pixel values 0..255
      const x = new Float32Array(3 * 512 * 512);
      toInput(decodeImage(new Uint8Array(readFileSync(join(IMAGES, f)))), [3, 512, 512], [0, 0, 0], [1 / 255, 1 / 255, 1 / 255], x);
      xs.push(x);
      peer.push(tfjs.run(x));
    }
  }, 120_000);

  it('imports the heads: every conv, squeeze-excite, resize and concat; the two outputs end to end', () => {
    expect(ir.outputs).toEqual([
      { name: 'tower_0/keypoints', shape: [80, 128, 128], offset: 0 },
      { name: 'tower_0/wh', shape: [4, 128, 128], offset: HEAT },
    ]);
    expect(ir.sourceOps).toMatchObject({ _FusedConv2D: 62, Conv2D: 1, DepthwiseConv2dNative: 11, FusedDepthwiseConv2dNative: 15, Mean: 9, ResizeBilinear: 3, ConcatV2: 3, Sigmoid: 2 });
    const ops = (op: string, act?: string): number => ir.nodes.filter((n) => n.op === op && (act === undefined || ('act' in n && n.act === act))).length;
    // MobileNetV3's 8 squeeze-excite gates are hard sigmoids folded into their second 1x1 conv,
    // the head's one a sigmoid; 8 + 1 per-channel muls
    expect([ops('conv2d', 'hsigmoid'), ops('conv2d', 'sigmoid'), ops('mul'), ops('gap'), ops('resize_bilinear'), ops('concat', 'relu')]).toEqual([8, 2, 9, 9, 3, 3]);
    const meta = JSON.parse(readBlob(slim).json) as { outputs: unknown };
    expect(meta.outputs).toEqual(ir.outputs);
  });

  it('the whole graph is refused at the first decoding op, naming it and the way out', () => {
    let err: unknown;
    try {
      readTfjs(json, shards);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ImportError);
    expect((err as Error).message).toMatch(/node 'tower_0\/BatchGather\/Reshape_2' \(Reshape\): op Reshape is not supported .*--output tower_0\/keypoints,tower_0\/wh/);
  });

  for (const build of BUILDS) {
    it(`${build}: heatmap within 1e-4 relative of tfjs-backend-wasm, same top-100 peaks, sizes within 1e-3, decoded boxes = tower_0/detections`, () => {
      const run = new Runner(loadEngine({ build }), readBlob(slim), 'classifier');
      // the scalar build is ~5x slower: one image there
      for (let i = 0; i < (build === 'simd' ? FILES.length : 1); i++) {
        const y = (run.run(xs[i]) as Float32Array).slice();
        engineOut.set(`${build}${i}`, y);
        const h = splitOutputs(ir.outputs!, y);
        const m = compareCenterNet(h['tower_0/keypoints'], h['tower_0/wh'], peer[i]);
        expect(m.heatRel, FILES[i]).toBeLessThan(1e-4);
        expect(m.heatRelAll, FILES[i]).toBeLessThan(1e-4);
        expect(m.heatAbs, FILES[i]).toBeLessThan(1e-5);
        expect(m.whRel, FILES[i]).toBeLessThan(1e-3);
        expect([m.peaksCommon, m.peaksReordered, m.boxMismatch], FILES[i]).toEqual([100, 0, 0]);
        expect(m.boxMaxDiff, FILES[i]).toBeLessThan(0.01);
      }
    }, 60_000);
  }

  it('SIMD and scalar builds agree on the heads (1e-5 normalized)', () => {
    expect(nerr(engineOut.get('scalar0')!, engineOut.get('simd0')!)).toBeLessThan(1e-5);
  });

  it('decodeCenterNet on the peer heads reproduces the graph\'s own decoding exactly (the decoder is right)', () => {
    const p = peer[0];
    const boxes = decodeCenterNet(p.heat, p.wh, { ...CENTERNET, k: 100 });
    const d = p.detections;
    expect(boxes.map((b) => [b.x1, b.y1, b.x2, b.y2, b.score, b.cls])).toEqual(Array.from({ length: 100 }, (_, r) => Array.from(d.subarray(r * 6, r * 6 + 6))));
    // scores descending, each a 3x3 local maximum
    const peaks = centernetPeaks(p.heat, CENTERNET, 100);
    for (let r = 1; r < 100; r++) expect(peaks[r].score).toBeLessThanOrEqual(peaks[r - 1].score);
  });

  it('the engine equals the f64 reference of the imported network (1e-5 normalized, first image)', () => {
    const ref = referenceForward(ir, xs[0]);
    const y = engineOut.get('simd0')!;
    expect(nerr(y.subarray(0, HEAT), ref.subarray(0, HEAT))).toBeLessThan(1e-5);
    expect(nerr(y.subarray(HEAT), ref.subarray(HEAT))).toBeLessThan(1e-5);
  }, 120_000);

  it(`split at ${CUT}: encoder codes -> decoder equals the network run on the dequantized split tensor; 8 bits stays close to the unsplit heads`, () => {
    const range: [number, number] = [-100, 120];
    const cut = importModel(new TextEncoder().encode(JSON.stringify(json)), { weights: shards, output: HEADS, split: CUT, splitRange: range, bits: [8] });
    const blob = readBlob(cut.slim);
    expect(blob.graphs.map((g) => g.name)).toEqual(['encoder', 'decoder']);
    const eng = loadEngine({ build: 'simd' });
    const codes = (new Runner(eng, blob, 'encoder').run(xs[0]) as Uint8Array).slice();
    expect(codes.length).toBe(24 * 128 * 128);
    const y = new Runner(eng, blob, 'decoder').run(codes) as Float32Array;
    // the split tensor the codes stand for, as the decoder's dequantize layer makes it
    const scale = Math.fround((range[1] - range[0]) / 255), zp = Math.round(-range[0] / scale);
    const z = Float32Array.from(codes, (q) => Math.fround(scale * (q - zp)));
    // the f64 reference of the decoder half, from that tensor
    const { decoder } = splitGraph(ir, CUT);
    const ref = referenceForward({ ...ir, input: CUT, nodes: decoder }, z);
    expect(nerr(y.subarray(0, HEAT), ref.subarray(0, HEAT))).toBeLessThan(1e-5);
    expect(nerr(y.subarray(HEAT), ref.subarray(HEAT))).toBeLessThan(1e-5);
    // the codes are the reference split tensor quantized (a code off by one only at a rounding tie)
    const t = referenceForward(ir, xs[0], { upTo: CUT });
    let off = 0, far = 0;
    for (let i = 0; i < t.length; i++) {
      const q = Math.min(Math.max(Math.round(t[i] / scale) + zp, 0), 255);
      if (q !== codes[i]) off++;
      far = Math.max(far, Math.abs(q - codes[i]));
    }
    expect(far).toBeLessThanOrEqual(1);
    expect(off).toBeLessThan(t.length * 1e-3);
    // against the unsplit engine: 8-bit quantization (step 0.86 over [-100, 120]) moves the heatmap
    // by about 0.01 (0.0076 on this image) and keeps the strong detections
    const full = splitOutputs(ir.outputs!, engineOut.get('simd0')!)['tower_0/keypoints'];
    const got = y.subarray(0, HEAT);
    let worst = 0;
    for (let i = 0; i < HEAT; i++) worst = Math.max(worst, Math.abs(got[i] - full[i]));
    expect(worst).toBeLessThan(0.05);
    const strong = (h: ArrayLike<number>): number[] => centernetPeaks(h, CENTERNET, 100).filter((p) => p.score > 0.3).map((p) => p.index).sort();
    expect(strong(got)).toEqual(strong(full));
  }, 120_000);
});
