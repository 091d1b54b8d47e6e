/**
 * TFLite ops beyond MobileNetV2's, as Keras-converted, MobileNetV3-style and float16 models use
 * them: PAD before a VALID conv (Keras's ZeroPadding2D), DEQUANTIZE of float16 weights, HARD_SWISH,
 * MEAN over H and W (with and without keep_dims), FULLY_CONNECTED, MUL (squeeze-excite broadcast,
 * per channel and by one constant), CONCATENATION of three inputs with a fused activation,
 * RESIZE_BILINEAR (half-pixel) and RESIZE_NEAREST_NEIGHBOR by 2. A file built here, against an NHWC
 * float64 reference written from TFLite's op definitions and against the IR's f64 reference, on
 * both builds; and the refusals, each naming the op.
 */
import { describe, it, expect } from 'vitest';
import * as T from '../../src/import/tflite_schema.js';
import { readTflite, referenceForward } from '../../src/import/index.js';
import { BUILDS, nerr, rng } from '../util.js';
import { buildTflite, convNhwc, softmaxNhwc, toNchw, f32Bytes, i32Bytes, type FxTensor, type FxOp, type Nhwc, nhwcInput, runImported } from './tflite-fixture.js';

const F = T.TensorType.FLOAT32;
const A = T.ActivationFunctionType;
const B = T.BuiltinOperator;

/** Random float16 values (exponents 13..15: magnitudes 0.25..2), as the file's bits and their values. */
function halves(n: number, seed: number): { bits: Uint8Array; values: number[] } {
  const r = rng(seed);
  const u16 = new Uint16Array(n), values: number[] = [];
  for (let k = 0; k < n; k++) {
    const sign = r() < 0.5 ? 1 : 0, e = 13 + Math.floor(r() * 3), m = Math.floor(r() * 1024);
    u16[k] = (sign << 15) | (e << 10) | m;
    values.push((sign ? -1 : 1) * (1 + m / 1024) * 2 ** (e - 15));
  }
  return { bits: new Uint8Array(u16.buffer), values };
}

const conv = (inputs: number[], outputs: number[], pad: T.Padding, s: number, act: T.ActivationFunctionType): FxOp => ({
  code: B.CONV_2D, inputs, outputs, options: (b) => [T.BuiltinOptions.Conv2DOptions, T.Conv2DOptions.createConv2DOptions(b, pad, s, s, act, 1, 1)],
});
const fc = (inputs: number[], outputs: number[], act: T.ActivationFunctionType): FxOp => ({
  code: B.FULLY_CONNECTED, inputs, outputs,
  options: (b) => [T.BuiltinOptions.FullyConnectedOptions, T.FullyConnectedOptions.createFullyConnectedOptions(b, act, T.FullyConnectedOptionsWeightsFormat.DEFAULT, false, false)],
});
const mean = (inputs: number[], outputs: number[], keep: boolean): FxOp => ({
  code: B.MEAN, inputs, outputs, options: (b) => [T.BuiltinOptions.ReducerOptions, T.ReducerOptions.createReducerOptions(b, keep)],
});
const mul = (inputs: number[], outputs: number[], act = A.NONE): FxOp => ({
  code: B.MUL, inputs, outputs, options: (b) => [T.BuiltinOptions.MulOptions, T.MulOptions.createMulOptions(b, act)],
});

/**
 * input [1,8,10,3] -> DEQUANTIZE'd float16 filter; PAD bottom/right -> CONV_2D 3x3/2 VALID +RELU6 (TF's
 * SAME) -> HARD_SWISH -> PAD 1 all round -> DEPTHWISE 3x3/1 VALID -> squeeze-excite (MEAN keep_dims,
 * FC +RELU, FC, LOGISTIC, MUL broadcast) -> MUL per channel -> MUL by one -> CONCATENATION of three
 * +RELU -> RESIZE_BILINEAR half-pixel to 7x9 -> RESIZE_NEAREST_NEIGHBOR to 14x18 -> CONV_2D 1x1 ->
 * MEAN -> FC -> SOFTMAX
 */
function fixture() {
  const r = rng(5);
  const rnd = (n: number, scale = 1) => Array.from({ length: n }, () => Math.fround((r() * 2 - 1) * scale));
  const w16 = halves(8 * 3 * 3 * 3, 9);
  const v = {
    w1: w16.values, b1: rnd(8, 0.5), dw: rnd(9 * 8), db: rnd(8, 0.2),
    f1: rnd(4 * 8), fb1: rnd(4, 0.1), f2: rnd(8 * 4), fb2: rnd(8, 0.1),
    pc: rnd(8, 1.5), one: [Math.fround(-0.75)], w3: rnd(6 * 24, 0.5), b3: rnd(6, 0.1), f3: rnd(5 * 6), fb3: rnd(5, 0.1),
  };
  const tensors: FxTensor[] = [
    { name: 'input', shape: [1, 8, 10, 3], type: F }, // 0
    { name: 'w1_f16', shape: [8, 3, 3, 3], type: T.TensorType.FLOAT16, data: w16.bits }, // 1
    { name: 'w1', shape: [8, 3, 3, 3], type: F }, // 2
    { name: 'pad1/p', shape: [4, 2], type: T.TensorType.INT32, data: i32Bytes([0, 0, 0, 1, 0, 1, 0, 0]) }, // 3
    { name: 'pad1', shape: [1, 9, 11, 3], type: F }, // 4
    { name: 'b1', shape: [8], type: F, data: f32Bytes(v.b1) }, // 5
    { name: 'conv1', shape: [1, 4, 5, 8], type: F }, // 6
    { name: 'hs', shape: [1, 4, 5, 8], type: F }, // 7
    { name: 'pad2/p', shape: [4, 2], type: T.TensorType.INT32, data: i32Bytes([0, 0, 1, 1, 1, 1, 0, 0]) }, // 8
    { name: 'pad2', shape: [1, 6, 7, 8], type: F }, // 9
    { name: 'dw/w', shape: [1, 3, 3, 8], type: F, data: f32Bytes(v.dw) }, // 10
    { name: 'dw/b', shape: [8], type: F, data: f32Bytes(v.db) }, // 11
    { name: 'dw', shape: [1, 4, 5, 8], type: F }, // 12
    { name: 'axes', shape: [2], type: T.TensorType.INT32, data: i32Bytes([1, 2]) }, // 13
    { name: 'se/mean', shape: [1, 1, 1, 8], type: F }, // 14
    { name: 'se/f1', shape: [4, 8], type: F, data: f32Bytes(v.f1) }, // 15
    { name: 'se/fb1', shape: [4], type: F, data: f32Bytes(v.fb1) }, // 16
    { name: 'se/fc1', shape: [1, 4], type: F }, // 17
    { name: 'se/f2', shape: [8, 4], type: F, data: f32Bytes(v.f2) }, // 18
    { name: 'se/fb2', shape: [8], type: F, data: f32Bytes(v.fb2) }, // 19
    { name: 'se/fc2', shape: [1, 8], type: F }, // 20
    { name: 'se/gate', shape: [1, 8], type: F }, // 21
    { name: 'se', shape: [1, 4, 5, 8], type: F }, // 22
    { name: 'pc', shape: [8], type: F, data: f32Bytes(v.pc) }, // 23
    { name: 'scaled', shape: [1, 4, 5, 8], type: F }, // 24
    { name: 'one', shape: [1], type: F, data: f32Bytes(v.one) }, // 25
    { name: 'neg', shape: [1, 4, 5, 8], type: F }, // 26
    { name: 'cat', shape: [1, 4, 5, 24], type: F }, // 27
    { name: 'size1', shape: [2], type: T.TensorType.INT32, data: i32Bytes([7, 9]) }, // 28
    { name: 'bil', shape: [1, 7, 9, 24], type: F }, // 29
    { name: 'size2', shape: [2], type: T.TensorType.INT32, data: i32Bytes([14, 18]) }, // 30
    { name: 'nn', shape: [1, 14, 18, 24], type: F }, // 31
    { name: 'w3', shape: [6, 1, 1, 24], type: F, data: f32Bytes(v.w3) }, // 32
    { name: 'b3', shape: [6], type: F, data: f32Bytes(v.b3) }, // 33
    { name: 'conv3', shape: [1, 14, 18, 6], type: F }, // 34
    { name: 'gap', shape: [1, 6], type: F }, // 35
    { name: 'f3', shape: [5, 6], type: F, data: f32Bytes(v.f3) }, // 36
    { name: 'fb3', shape: [5], type: F, data: f32Bytes(v.fb3) }, // 37
    { name: 'logits', shape: [1, 5], type: F }, // 38
    { name: 'probs', shape: [1, 5], type: F }, // 39
  ];
  const ops: FxOp[] = [
    { code: B.DEQUANTIZE, inputs: [1], outputs: [2] },
    { code: B.PAD, inputs: [0, 3], outputs: [4] },
    conv([4, 2, 5], [6], T.Padding.VALID, 2, A.RELU6),
    { code: B.HARD_SWISH, inputs: [6], outputs: [7] },
    { code: B.PAD, inputs: [7, 8], outputs: [9] },
    {
      code: B.DEPTHWISE_CONV_2D, inputs: [9, 10, 11], outputs: [12],
      options: (b) => [T.BuiltinOptions.DepthwiseConv2DOptions, T.DepthwiseConv2DOptions.createDepthwiseConv2DOptions(b, T.Padding.VALID, 1, 1, 1, A.NONE, 1, 1)],
    },
    mean([12, 13], [14], true),
    fc([14, 15, 16], [17], A.RELU),
    fc([17, 18, 19], [20], A.NONE),
    { code: B.LOGISTIC, inputs: [20], outputs: [21] },
    mul([12, 21], [22]),
    mul([23, 22], [24]),
    mul([24, 25], [26]),
    { code: B.CONCATENATION, inputs: [24, 26, 7], outputs: [27], options: (b) => [T.BuiltinOptions.ConcatenationOptions, T.ConcatenationOptions.createConcatenationOptions(b, 3, A.RELU)] },
    { code: B.RESIZE_BILINEAR, inputs: [27, 28], outputs: [29], options: (b) => [T.BuiltinOptions.ResizeBilinearOptions, T.ResizeBilinearOptions.createResizeBilinearOptions(b, false, true)] },
    { code: B.RESIZE_NEAREST_NEIGHBOR, inputs: [29, 30], outputs: [31], options: (b) => [T.BuiltinOptions.ResizeNearestNeighborOptions, T.ResizeNearestNeighborOptions.createResizeNearestNeighborOptions(b, false, false)] },
    conv([31, 32, 33], [34], T.Padding.VALID, 1, A.NONE),
    mean([34, 13], [35], false),
    fc([35, 36, 37], [38], A.NONE),
    { code: B.SOFTMAX, inputs: [38], outputs: [39], options: (b) => [T.BuiltinOptions.SoftmaxOptions, T.SoftmaxOptions.createSoftmaxOptions(b, 1)] },
  ];
  return { tensors, ops, v };
}

// ---- NHWC float64 reference of the TFLite ops (batch 1)
const map = (a: Nhwc, fn: (x: number, c: number) => number): Nhwc => ({ ...a, v: a.v.map((x, i) => fn(x, i % a.c)) });
function padNhwc(x: Nhwc, t: number, b: number, l: number, r: number): Nhwc {
  const h = x.h + t + b, w = x.w + l + r, v = new Float64Array(h * w * x.c);
  for (let i = 0; i < x.h; i++) for (let j = 0; j < x.w; j++) for (let c = 0; c < x.c; c++) v[((i + t) * w + j + l) * x.c + c] = x.v[(i * x.w + j) * x.c + c];
  return { h, w, c: x.c, v };
}
function meanNhwc(x: Nhwc): number[] {
  const m = new Array<number>(x.c).fill(0);
  for (let i = 0; i < x.h * x.w; i++) for (let c = 0; c < x.c; c++) m[c] += x.v[i * x.c + c];
  return m.map((s) => s / (x.h * x.w));
}
/** FULLY_CONNECTED: y[o] = sum_i w[o][i] x[i] + b[o] */
const dense = (x: number[], w: number[], b: number[]): number[] => b.map((bo, o) => x.reduce((s, xi, i) => s + w[o * x.length + i] * xi, bo));
function concatNhwc(parts: Nhwc[]): Nhwc {
  const c = parts.reduce((s, p) => s + p.c, 0), v = new Float64Array(parts[0].h * parts[0].w * c);
  for (let i = 0; i < parts[0].h * parts[0].w; i++) {
    let o = 0;
    for (const p of parts) for (let k = 0; k < p.c; k++) v[i * c + o++] = p.v[i * p.c + k];
  }
  return { h: parts[0].h, w: parts[0].w, c, v };
}
/** TFLite RESIZE_BILINEAR with half_pixel_centers: source (i + 0.5) * in / out - 0.5 (float32), the lower index clamped at 0, the upper at in - 1. */
function bilinearHalfPixel(x: Nhwc, OH: number, OW: number): Nhwc {
  // in float32, as TFLite computes the source coordinate and the weight
  const src = (i: number, n: number, o: number) => {
    const f = Math.fround(Math.fround((i + 0.5) * Math.fround(n / o)) - 0.5), lo = Math.floor(f);
    return { a: Math.max(lo, 0), b: Math.min(Math.ceil(f), n - 1), t: Math.fround(f - lo) };
  };
  const v = new Float64Array(OH * OW * x.c);
  for (let i = 0; i < OH; i++) {
    const ys = src(i, x.h, OH);
    for (let j = 0; j < OW; j++) {
      const xs = src(j, x.w, OW);
      for (let c = 0; c < x.c; c++) {
        const at = (r: number, q: number) => x.v[(r * x.w + q) * x.c + c];
        const top = at(ys.a, xs.a) + (at(ys.a, xs.b) - at(ys.a, xs.a)) * xs.t;
        const bot = at(ys.b, xs.a) + (at(ys.b, xs.b) - at(ys.b, xs.a)) * xs.t;
        v[(i * OW + j) * x.c + c] = top + (bot - top) * ys.t;
      }
    }
  }
  return { h: OH, w: OW, c: x.c, v };
}
/** RESIZE_NEAREST_NEIGHBOR without align_corners or half-pixel centers: source floor(i * in / out). */
function nearestNhwc(x: Nhwc, OH: number, OW: number): Nhwc {
  const v = new Float64Array(OH * OW * x.c);
  for (let i = 0; i < OH; i++) for (let j = 0; j < OW; j++) for (let c = 0; c < x.c; c++) {
    v[(i * OW + j) * x.c + c] = x.v[(Math.floor((i * x.h) / OH) * x.w + Math.floor((j * x.w) / OW)) * x.c + c];
  }
  return { h: OH, w: OW, c: x.c, v };
}
const hswish = (x: number) => (x * Math.min(Math.max(x + 3, 0), 6)) / 6;
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function nhwcForward(x: Nhwc, v: ReturnType<typeof fixture>['v']) {
  const conv1 = map(convNhwc(padNhwc(x, 0, 1, 0, 1), v.w1, [8, 3, 3, 3], v.b1, 2, false, false), (q) => Math.min(Math.max(q, 0), 6));
  const hs = map(conv1, hswish);
  const dw = convNhwc(padNhwc(hs, 1, 1, 1, 1), v.dw, [1, 3, 3, 8], v.db, 1, false, true);
  const gate = dense(dense(meanNhwc(dw), v.f1, v.fb1).map((q) => Math.max(q, 0)), v.f2, v.fb2).map(sigmoid);
  const se = map(dw, (q, c) => q * gate[c]);
  const scaled = map(se, (q, c) => q * v.pc[c]);
  const neg = map(scaled, (q) => q * v.one[0]);
  const cat = map(concatNhwc([scaled, neg, hs]), (q) => Math.max(q, 0));
  const nn = nearestNhwc(bilinearHalfPixel(cat, 7, 9), 14, 18);
  const conv3 = convNhwc(nn, v.w3, [6, 1, 1, 24], v.b3, 1, false, false);
  const logits = dense(meanNhwc(conv3), v.f3, v.fb3);
  return { conv1, dw, se, cat, nn, logits, probs: softmaxNhwc({ h: 1, w: 1, c: 5, v: Float64Array.from(logits) }).v };
}

const input = (seed: number) => nhwcInput(seed, 8, 10, 3, -2, 2);

describe('TFLite import: PAD, float16 weights, hard swish, squeeze-excite, concatenation, resizes', () => {
  const fx = fixture();
  const file = buildTflite({ tensors: fx.tensors, ops: fx.ops, inputs: [0], outputs: [39] });

  it('maps them to the engine\'s ops, PADs folded into the convs as TF\'s SAME and symmetric padding', () => {
    const ir = readTflite(file);
    expect(ir.nodes.map((n) => n.op)).toEqual([
      'conv2d', 'act', 'conv2d', 'gap', 'matmul', 'matmul', 'act', 'mul', 'conv2d', 'scale', 'concat', 'concat', 'resize_bilinear', 'upsample2x', 'conv2d', 'gap', 'matmul',
    ]);
    const convs = ir.nodes.filter((n) => n.op === 'conv2d');
    expect(convs.map((n) => `${n.k}/${n.stride} ${n.pad} g${n.groups} ${n.act}`)).toEqual(['3/2 tf-same g1 relu6', '3/1 same g8 none', '1/1 none g8 none', '1/1 none g1 none']);
    // the float16 filter reaches the conv as its exact values (OHWI -> OIHW)
    expect((convs[0] as { w: Float32Array }).w[1]).toBe(fx.v.w1[3]);
    expect(ir.tensors.get('se/mean')!.shape).toEqual([8, 1, 1]);
    expect(ir.tensors.get('gap')!.shape).toEqual([6]);
    expect(ir.tensors.get('cat')!.shape).toEqual([24, 4, 5]);
    expect(ir.outputActivation).toBe('softmax');
  });

  it('the IR\'s f64 reference equals the NHWC reference of TFLite\'s semantics, also inside', () => {
    const ir = readTflite(file);
    for (const seed of [1, 2]) {
      const x = input(seed);
      const want = nhwcForward(x.nhwc, fx.v);
      expect(want.conv1.v.some((q) => q === 0) && want.conv1.v.some((q) => q === 6)).toBe(true); // relu6 clips on both sides
      for (const t of ['conv1', 'dw', 'se', 'cat', 'nn'] as const) {
        expect(nerr(referenceForward(ir, x.nchw, { upTo: t }), toNchw(want[t])), t).toBeLessThan(1e-12);
      }
      expect(nerr(referenceForward(ir, x.nchw), want.logits)).toBeLessThan(1e-12);
    }
  });

  for (const build of BUILDS) {
    it(`${build}: the engine's logits match both references`, async () => {
      for (const { x, got, ref } of await runImported(file, build, input)) {
        expect(got.length).toBe(5);
        expect(nerr(got, nhwcForward(x.nhwc, fx.v).logits)).toBeLessThan(1e-6);
        expect(nerr(got, ref)).toBeLessThan(1e-6);
      }
    });
  }

  it('refuses what the engine cannot carry, naming the op', () => {
    const refuse = (edit: (f: ReturnType<typeof fixture>) => void, msg: RegExp) => {
      const f = fixture();
      edit(f);
      expect(() => readTflite(buildTflite({ tensors: f.tensors, ops: f.ops, inputs: [0], outputs: [39] }))).toThrow(msg);
    };
    // a PAD read by something other than a conv; a PAD of channels; pads the engine has no mode for
    refuse((f) => (f.ops[6] = mean([9, 13], [14], true)), /op 4 PAD \(output 'pad2'\): PAD is supported only right before a CONV_2D or DEPTHWISE_CONV_2D \(where it becomes their padding\); 'pad2' is read by DEPTHWISE_CONV_2D, MEAN/);
    refuse((f) => (f.tensors[8].data = i32Bytes([0, 0, 1, 1, 1, 1, 0, 1])), /op 4 PAD \(output 'pad2'\): paddings \[0,0,1,1,1,1,0,1\] are not supported/);
    refuse((f) => (f.tensors[3].data = i32Bytes([0, 0, 2, 0, 0, 0, 0, 0])), /op 2 CONV_2D \(output 'conv1'\): pads \[2, 0, 0, 0\] \(top, left, bottom, right\) for a 3x3\/2 conv after PAD on a 8x10 input are not supported/);
    refuse((f) => (f.ops[2] = conv([4, 2, 5], [6], T.Padding.SAME, 2, A.RELU6)), /op 2 CONV_2D \(output 'conv1'\): a PAD before a conv with SAME padding is not supported/);
    refuse((f) => (f.tensors[13].data = i32Bytes([3])), /op 6 MEAN \(output 'se\/mean'\): MEAN over axes \[3\]/);
    refuse((f) => (f.ops[13].options = (b) => [T.BuiltinOptions.ConcatenationOptions, T.ConcatenationOptions.createConcatenationOptions(b, 1, A.RELU)]), /op 13 CONCATENATION \(output 'cat'\): concatenation on axis 1/);
    refuse((f) => (f.tensors[30].data = i32Bytes([21, 27])), /op 15 RESIZE_NEAREST_NEIGHBOR \(output 'nn'\): nearest resize of 7x9 to 21x27 is not supported \(only an exact 2x\)/);
    refuse((f) => (f.ops[0] = { code: B.DEQUANTIZE, inputs: [0], outputs: [2] }), /op 0 DEQUANTIZE \(output 'w1'\): DEQUANTIZE of an activation is not supported/);
    refuse((f) => (f.ops[10] = mul([12, 17], [22])), /op 10 MUL \(output 'se'\): broadcasting MUL of \[8,4,5\] and \[4\]/);
    refuse((f) => (f.ops[7] = fc([12, 15, 16], [17], A.RELU)), /op 7 FULLY_CONNECTED \(output 'se\/fc1'\): a fully connected layer over a \[4, 5, 8\] map would read NHWC order/);
  });
});
