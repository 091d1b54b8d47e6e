/**
 * TFLite pools and softmax beyond MobileNet's: AVERAGE_POOL_2D that is not global (TF's SAME,
 * asymmetric on even sizes, and VALID; strides 1 and 2), fused activations on pools, and a SOFTMAX
 * in the middle of the network, on a file built here, against an NHWC float64 reference written
 * from TFLite's op definitions and against the IR's f64 reference (src/import/reference.ts), on
 * both builds; and the refusals for what the engine's ops cannot carry.
 */
import { describe, it, expect } from 'vitest';
import * as T from '../../src/import/tflite_schema.js';
import { readTflite, referenceForward } from '../../src/import/index.js';
import { BUILDS, nerr, rng } from '../util.js';
import { buildTflite, convNhwc, poolNhwc, softmaxNhwc, toNchw, f32Bytes, type FxTensor, type FxOp, type Nhwc, nhwcInput, runImported } from './tflite-fixture.js';

const F = T.TensorType.FLOAT32;
const A = T.ActivationFunctionType;

type PoolOpts = { pad: T.Padding; s: number; k: number; act: T.ActivationFunctionType; sw?: number; kw?: number };
const pool = (code: T.BuiltinOperator, inputs: number[], outputs: number[], p: PoolOpts): FxOp => ({
  code, inputs, outputs,
  options: (b) => [T.BuiltinOptions.Pool2DOptions, T.Pool2DOptions.createPool2DOptions(b, p.pad, p.sw ?? p.s, p.s, p.kw ?? p.k, p.k, p.act)],
});

/**
 * input [1,7,9,4] -> MAX_POOL 2x2/1 SAME (padding bottom/right only) +RELU -> AVERAGE_POOL 3x3/2 SAME +RELU6 -> SOFTMAX
 * -> CONV_2D 1x1 -> AVERAGE_POOL 2x2/1 VALID -> AVERAGE_POOL 2x2/2 SAME (3x4: padding at the bottom only)
 */
function fixture() {
  const r = rng(21);
  const cw = Array.from({ length: 12 }, () => Math.fround(r() * 4 - 2)), cb = Array.from({ length: 3 }, () => Math.fround(r() - 0.5));
  const tensors: FxTensor[] = [
    { name: 'input', shape: [1, 7, 9, 4], type: F },
    { name: 'mp', shape: [1, 7, 9, 4], type: F },
    { name: 'ap', shape: [1, 4, 5, 4], type: F },
    { name: 'sm', shape: [1, 4, 5, 4], type: F },
    { name: 'conv/w', shape: [3, 1, 1, 4], type: F, data: f32Bytes(cw) },
    { name: 'conv/b', shape: [3], type: F, data: f32Bytes(cb) },
    { name: 'conv', shape: [1, 4, 5, 3], type: F },
    { name: 'ap2', shape: [1, 3, 4, 3], type: F },
    { name: 'ap3', shape: [1, 2, 2, 3], type: F },
  ];
  const ops: FxOp[] = [
    pool(T.BuiltinOperator.MAX_POOL_2D, [0], [1], { pad: T.Padding.SAME, s: 1, k: 2, act: A.RELU }),
    pool(T.BuiltinOperator.AVERAGE_POOL_2D, [1], [2], { pad: T.Padding.SAME, s: 2, k: 3, act: A.RELU6 }),
    { code: T.BuiltinOperator.SOFTMAX, inputs: [2], outputs: [3], options: (b) => [T.BuiltinOptions.SoftmaxOptions, T.SoftmaxOptions.createSoftmaxOptions(b, 1)] },
    { code: T.BuiltinOperator.CONV_2D, inputs: [3, 4, 5], outputs: [6], options: (b) => [T.BuiltinOptions.Conv2DOptions, T.Conv2DOptions.createConv2DOptions(b, T.Padding.VALID, 1, 1, A.NONE, 1, 1)] },
    pool(T.BuiltinOperator.AVERAGE_POOL_2D, [6], [7], { pad: T.Padding.VALID, s: 1, k: 2, act: A.NONE }),
    pool(T.BuiltinOperator.AVERAGE_POOL_2D, [7], [8], { pad: T.Padding.SAME, s: 2, k: 2, act: A.NONE }),
  ];
  return { tensors, ops, cw, cb };
}

function nhwcForward(x: Nhwc, fx: ReturnType<typeof fixture>): { mp: Nhwc; ap: Nhwc; sm: Nhwc; out: Nhwc } {
  const map = (a: Nhwc, fn: (v: number) => number): Nhwc => ({ ...a, v: a.v.map(fn) });
  const mp = map(poolNhwc(x, 'max', 2, 2, 1, 1, true), (v) => Math.max(v, 0));
  const ap = map(poolNhwc(mp, 'avg', 3, 3, 2, 2, true), (v) => Math.min(Math.max(v, 0), 6));
  const sm = softmaxNhwc(ap);
  const conv = convNhwc(sm, fx.cw, [3, 1, 1, 4], fx.cb, 1, false, false);
  const out = poolNhwc(poolNhwc(conv, 'avg', 2, 2, 1, 1, false), 'avg', 2, 2, 2, 2, true);
  return { mp, ap, sm, out };
}

const input = (seed: number) => nhwcInput(seed, 7, 9, 4, -18, 12);

describe('TFLite import: average pools, fused activations on pools, softmax inside the network', () => {
  const fx = fixture();
  const file = buildTflite({ tensors: fx.tensors, ops: fx.ops, inputs: [0], outputs: [8] });

  it('maps them to the engine\'s maxpool, avgpool, act and softmax with TF\'s padding', () => {
    const ir = readTflite(file);
    expect(ir.nodes.map((n) => n.op)).toEqual(['maxpool', 'act', 'avgpool', 'act', 'softmax', 'conv2d', 'avgpool', 'avgpool']);
    expect(ir.nodes.map((n) => ('pad' in n ? `${n.k}/${n.stride} ${n.pad}` : 'act' in n ? n.act : '-'))).toEqual(['2/1 tf-same', 'relu', '3/2 tf-same', 'relu6', '-', '1/1 none', '2/1 none', '2/2 tf-same']);
    expect(ir.outputActivation).toBeUndefined();
    expect(ir.tensors.get('sm')!.shape).toEqual([4, 4, 5]);
    expect(ir.tensors.get('ap3')!.shape).toEqual([3, 2, 2]);
  });

  it('the IR\'s f64 reference equals the NHWC reference of TFLite\'s semantics, also inside (after each fused activation, after the softmax)', () => {
    const ir = readTflite(file);
    for (const seed of [1, 2]) {
      const x = input(seed);
      const want = nhwcForward(x.nhwc, fx);
      // the inputs are spread so that the fused RELU and the top of the fused RELU6 both clip
      expect(want.mp.v.some((v) => v === 0) && want.mp.v.some((v) => v > 0)).toBe(true);
      expect(want.ap.v.some((v) => v === 6) && want.ap.v.some((v) => v > 0 && v < 6)).toBe(true);
      expect(nerr(referenceForward(ir, x.nchw, { upTo: 'mp' }), toNchw(want.mp))).toBeLessThan(1e-12);
      expect(nerr(referenceForward(ir, x.nchw, { upTo: 'ap' }), toNchw(want.ap))).toBeLessThan(1e-12);
      expect(nerr(referenceForward(ir, x.nchw, { upTo: 'sm' }), toNchw(want.sm))).toBeLessThan(1e-12);
      expect(nerr(referenceForward(ir, x.nchw), toNchw(want.out))).toBeLessThan(1e-12);
    }
  });

  for (const build of BUILDS) {
    it(`${build}: the engine's output matches both references`, async () => {
      for (const { x, got, ref } of await runImported(file, build, input)) {
        expect(got.length).toBe(12);
        expect(nerr(got, toNchw(nhwcForward(x.nhwc, fx).out))).toBeLessThan(1e-6);
        expect(nerr(got, ref)).toBeLessThan(1e-6);
      }
    });
  }

  it('refuses what the engine\'s pools and softmax cannot carry, naming the op', () => {
    const refuse = (edit: (f: ReturnType<typeof fixture>) => void, msg: RegExp) => {
      const f = fixture();
      edit(f);
      expect(() => readTflite(buildTflite({ tensors: f.tensors, ops: f.ops, inputs: [0], outputs: [8] }))).toThrow(msg);
    };
    refuse((f) => (f.ops[1] = pool(T.BuiltinOperator.AVERAGE_POOL_2D, [1], [2], { pad: T.Padding.SAME, s: 2, sw: 1, k: 3, act: A.NONE })), /op 1 AVERAGE_POOL_2D \(output 'ap'\): average pool 3x3\/2x1 must be square with equal strides/);
    refuse((f) => (f.ops[1] = pool(T.BuiltinOperator.AVERAGE_POOL_2D, [1], [2], { pad: T.Padding.SAME, s: 2, k: 3, kw: 2, act: A.NONE })), /op 1 AVERAGE_POOL_2D \(output 'ap'\): average pool 3x2\/2x2 must be square/);
    refuse((f) => (f.ops[0] = pool(T.BuiltinOperator.MAX_POOL_2D, [0], [1], { pad: T.Padding.SAME, s: 1, k: 2, act: A.TANH })), /op 0 MAX_POOL_2D \(output 'mp'\): fused activation TANH is not supported/);
    refuse((f) => (f.ops[2].options = (b) => [T.BuiltinOptions.SoftmaxOptions, T.SoftmaxOptions.createSoftmaxOptions(b, 2)]), /op 2 SOFTMAX \(output 'sm'\): softmax beta 2 is not 1/);
    refuse((f) => (f.ops[4] = pool(T.BuiltinOperator.AVERAGE_POOL_2D, [6], [7], { pad: T.Padding.VALID, s: 1, k: 6, act: A.NONE })), /op 4 AVERAGE_POOL_2D \(output 'ap2'\): conv 6x6\/1 on 4x5 gives an empty output/);
  });
});
