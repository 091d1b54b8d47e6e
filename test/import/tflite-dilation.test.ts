/**
 * TFLite dilated (atrous) convolutions, DeepLab style: a file built here with CONV_2D and
 * DEPTHWISE_CONV_2D at dilation factors 2 and 3 (SAME at stride 1 and 2 on odd sizes, VALID,
 * int8 per-channel weights on one of them), against the NHWC float64 reference of TFLite's
 * definitions (test/import/tflite-fixture.ts: SAME padding over the dilated extent, as TFLite's
 * ComputePaddingHeightWidth) on both builds; unequal height and width factors are refused by name.
 */
import { describe, it, expect } from 'vitest';
import * as T from '../../src/import/tflite_schema.js';
import { importModel, readTflite, referenceForward } from '../../src/import/index.js';
import { readBlob } from '../../src/format/reader.js';
import { Runner } from '../../src/engine/plan/runner.js';
import { loadEngine } from '../../src/engine/wasm.js';
import { BUILDS, nerr, rng } from '../util.js';
import { buildTflite, convNhwc, toNchw, f32Bytes, i8Bytes, type FxTensor, type FxOp, type Nhwc } from './tflite-fixture.js';

const F = T.TensorType.FLOAT32;
const A = T.ActivationFunctionType;
type Opt = FxOp['options'];

// the schema's order: width factor, then height factor
const conv = (pad: T.Padding, s: number, act: T.ActivationFunctionType, dh: number, dw = dh): Opt => (b) =>
  [T.BuiltinOptions.Conv2DOptions, T.Conv2DOptions.createConv2DOptions(b, pad, s, s, act, dw, dh)];
const dwconv = (pad: T.Padding, s: number, act: T.ActivationFunctionType, dh: number, dw = dh): Opt => (b) =>
  [T.BuiltinOptions.DepthwiseConv2DOptions, T.DepthwiseConv2DOptions.createDepthwiseConv2DOptions(b, pad, s, s, 1, act, dw, dh)];

// input 15 x 17 x 3
//  c1: CONV_2D 3x3 d2 SAME /1 + RELU (int8 per-channel) -> 15 x 17 x 6
//  d1: DEPTHWISE 3x3 d3 SAME /2 + RELU6                 -> 8 x 9 x 6
//  d2: DEPTHWISE 5x5 d2 SAME /1                         -> 8 x 9 x 6
//  c2: CONV_2D 3x3 d2 VALID /1                          -> 4 x 5 x 4
function model(seed = 3) {
  const r = rng(seed);
  const f = (n: number, a = 1) => Array.from({ length: n }, () => Math.fround((r() * 2 - 1) * a));
  const c1q = Array.from({ length: 6 * 27 }, () => Math.floor(r() * 255) - 127), c1s = [0.012, 0.02, 0.009, 0.015, 0.025, 0.011];
  const w = {
    c1: c1q.map((q, i) => Math.fround(Math.fround(c1s[Math.floor(i / 27)]) * q)), c1b: f(6, 0.2),
    d1: f(9 * 6, 0.6), d1b: f(6, 0.2), d2: f(25 * 6, 0.3), d2b: f(6, 0.1), c2: f(4 * 9 * 6, 0.3), c2b: f(4, 0.1),
  };
  const tensors: FxTensor[] = [
    { name: 'image', shape: [1, 15, 17, 3], type: F },
    { name: 'c1/w', shape: [6, 3, 3, 3], type: T.TensorType.INT8, data: i8Bytes(c1q), scale: c1s, zeroPoint: [0, 0, 0, 0, 0, 0], qdim: 0 },
    { name: 'c1/b', shape: [6], type: F, data: f32Bytes(w.c1b) },
    { name: 'aspp/c1', shape: [1, 15, 17, 6], type: F },
    { name: 'd1/w', shape: [1, 3, 3, 6], type: F, data: f32Bytes(w.d1) },
    { name: 'd1/b', shape: [6], type: F, data: f32Bytes(w.d1b) },
    { name: 'aspp/d1', shape: [1, 8, 9, 6], type: F },
    { name: 'd2/w', shape: [1, 5, 5, 6], type: F, data: f32Bytes(w.d2) },
    { name: 'd2/b', shape: [6], type: F, data: f32Bytes(w.d2b) },
    { name: 'aspp/d2', shape: [1, 8, 9, 6], type: F },
    { name: 'c2/w', shape: [4, 3, 3, 6], type: F, data: f32Bytes(w.c2) },
    { name: 'c2/b', shape: [4], type: F, data: f32Bytes(w.c2b) },
    { name: 'head', shape: [1, 4, 5, 4], type: F },
  ];
  const ops: FxOp[] = [
    { code: T.BuiltinOperator.CONV_2D, inputs: [0, 1, 2], outputs: [3], options: conv(T.Padding.SAME, 1, A.RELU, 2) },
    { code: T.BuiltinOperator.DEPTHWISE_CONV_2D, inputs: [3, 4, 5], outputs: [6], options: dwconv(T.Padding.SAME, 2, A.RELU6, 3) },
    { code: T.BuiltinOperator.DEPTHWISE_CONV_2D, inputs: [6, 7, 8], outputs: [9], options: dwconv(T.Padding.SAME, 1, A.NONE, 2) },
    { code: T.BuiltinOperator.CONV_2D, inputs: [9, 10, 11], outputs: [12], options: conv(T.Padding.VALID, 1, A.NONE, 2) },
  ];
  return { tensors, ops, w };
}

function nhwcForward(x: Nhwc, w: ReturnType<typeof model>['w']): Nhwc {
  const clamp = (a: Nhwc, lo: number, hi: number): Nhwc => ({ ...a, v: a.v.map((v) => Math.min(Math.max(v, lo), hi)) });
  const c1 = clamp(convNhwc(x, w.c1, [6, 3, 3, 3], w.c1b, 1, true, false, 2), 0, Infinity);
  const d1 = clamp(convNhwc(c1, w.d1, [1, 3, 3, 6], w.d1b, 2, true, true, 3), 0, 6);
  const d2 = convNhwc(d1, w.d2, [1, 5, 5, 6], w.d2b, 1, true, true, 2);
  return convNhwc(d2, w.c2, [4, 3, 3, 6], w.c2b, 1, false, false, 2);
}

describe('TFLite dilated convolutions', () => {
  const m = model();
  const file = buildTflite({ tensors: m.tensors, ops: m.ops, inputs: [0], outputs: [12] });

  it('reads each conv\'s dilation factor and TF\'s SAME over the dilated extent', () => {
    const ir = readTflite(file);
    expect(ir.nodes.map((n) => (n.op === 'conv2d' ? [n.groups, n.k, n.stride, n.dilation, n.pad, n.act] : n.op))).toEqual([
      [1, 3, 1, 2, 'tf-same', 'relu'], [6, 3, 2, 3, 'tf-same', 'relu6'], [6, 5, 1, 2, 'tf-same', 'none'], [1, 3, 1, 2, 'none', 'none'],
    ]);
    // the file states every output shape; the importer's geometry agrees with each (it checks)
    expect(ir.tensors.get('head')!.shape).toEqual([4, 4, 5]);
    // the depthwise layers run as grouped conv2d (opcode 1), not dwconv (dilation 1 only)
    expect(readBlob(importModel(file).slim).graphs[0].layers.map((l) => [l.fields.groups, l.fields.dilation])).toEqual([[1, 2], [6, 3], [6, 2], [1, 2]]);
  });

  for (const build of BUILDS) {
    it(`${build}: engine equals the NHWC reference of TFLite's definitions`, () => {
      const { slim, ir } = importModel(file);
      const run = new Runner(loadEngine({ build }), readBlob(slim), 'classifier');
      for (const seed of [1, 2]) {
        const r = rng(seed);
        const nhwc: Nhwc = { h: 15, w: 17, c: 3, v: Float64Array.from({ length: 15 * 17 * 3 }, () => Math.fround(r() * 4 - 2)) };
        const x = Float32Array.from(toNchw(nhwc));
        const want = toNchw(nhwcForward(nhwc, m.w));
        const got = run.run(x) as Float32Array;
        expect(got.length).toBe(4 * 4 * 5);
        expect(nerr(got, want)).toBeLessThan(1e-6);
        expect(nerr(referenceForward(ir, x), want)).toBeLessThan(1e-12);
      }
    });
  }

  it('refuses unequal height and width factors, naming the op, node and factors', () => {
    const bad = model();
    bad.ops[1].options = dwconv(T.Padding.SAME, 2, A.RELU6, 3, 2);
    expect(() => readTflite(buildTflite({ tensors: bad.tensors, ops: bad.ops, inputs: [0], outputs: [12] })))
      .toThrow("op 1 DEPTHWISE_CONV_2D (output 'aspp/d1'): dilation factors 3 (height) and 2 (width) differ; the engine needs equal dilations");
  });
});
