/**
 * TFLite import: a small file built here (int8 per-channel, uint8 per-tensor and float weights,
 * TF's asymmetric SAME at stride 2 on odd and even sizes, fused RELU6/RELU, global average pool,
 * reshape, trailing softmax) against an NHWC reference written from TFLite's semantics; the errors
 * for what the engine cannot run; the split; and, when ../shared is there, MobileNetV2 against the
 * f64 reference of its dequantized network on both builds.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { main } from '../../src/cli/main.js';
import { join } from 'node:path';
import * as T from '../../src/import/tflite_schema.js';
import { importModel, readTflite, referenceForward, lowerGraph, ImportError } from '../../src/import/index.js';
import { loadModel } from '../../src/model/model.js';
import { Runner } from '../../src/engine/plan/runner.js';
import { loadEngine } from '../../src/engine/wasm.js';
import { decodeImage, toInput } from '../../src/model/image.js';
import { packGraph } from '../../src/format/pack.js';
import { BUILDS, nerr, rng } from '../util.js';
import { buildTflite, convNhwc, toNchw, f32Bytes, i32Bytes, i8Bytes, type FxTensor, type FxOp, type Nhwc, nhwcInput, runImported } from './tflite-fixture.js';

const F = T.TensorType.FLOAT32;

/** The fixture's weights, as stored and dequantized. */
function fixture(seed = 7) {
  const r = rng(seed);
  const u = (n: number, lo: number, hi: number) => Array.from({ length: n }, () => Math.floor(lo + r() * (hi - lo + 1)));
  const f = (n: number) => Array.from({ length: n }, () => r() * 2 - 1);
  const c1q = u(5 * 27, -127, 127), c1s = [0.011, 0.02, 0.007, 0.015, 0.03];
  const c1bq = u(5, -50, 50), c1bs = c1s.map((s) => s * 0.5);
  const dwq = u(45, 0, 255), dws = 0.02, dwz = 128;
  const dwb = f(5), pw = f(25), pwb = f(5);
  const deq = {
    // scales are f32 in the file
    c1: c1q.map((q, i) => Math.fround(Math.fround(c1s[Math.floor(i / 27)]) * q)),
    c1b: c1bq.map((q, i) => Math.fround(Math.fround(c1bs[i]) * q)),
    dw: dwq.map((q) => Math.fround(Math.fround(dws) * (q - dwz))),
    dwb: dwb.map(Math.fround), pw: pw.map(Math.fround), pwb: pwb.map(Math.fround),
  };
  const tensors: FxTensor[] = [
    { name: 'input', shape: [1, 9, 10, 3], type: F },
    { name: 'c1/w', shape: [5, 3, 3, 3], type: T.TensorType.INT8, data: i8Bytes(c1q), scale: c1s, zeroPoint: [0, 0, 0, 0, 0], qdim: 0 },
    { name: 'c1/b', shape: [5], type: T.TensorType.INT32, data: i32Bytes(c1bq), scale: c1bs, zeroPoint: [0, 0, 0, 0, 0], qdim: 0 },
    { name: 'c1/Relu6;c1/fused', shape: [1, 5, 5, 5], type: F },
    { name: 'dw/w', shape: [1, 3, 3, 5], type: T.TensorType.UINT8, data: Uint8Array.from(dwq), scale: [dws], zeroPoint: [dwz] },
    { name: 'dw/b', shape: [5], type: F, data: f32Bytes(dwb) },
    { name: 'dw/out', shape: [1, 3, 3, 5], type: F },
    { name: 'pw/w', shape: [5, 1, 1, 5], type: F, data: f32Bytes(pw) },
    { name: 'pw/b', shape: [5], type: F, data: f32Bytes(pwb) },
    { name: 'pw/out', shape: [1, 3, 3, 5], type: F },
    { name: 'add', shape: [1, 3, 3, 5], type: F },
    { name: 'pool', shape: [1, 1, 1, 5], type: F },
    { name: 'shape', shape: [2], type: T.TensorType.INT32, data: i32Bytes([1, 5]) },
    { name: 'logits', shape: [1, 5], type: F },
    { name: 'probs', shape: [1, 5], type: F },
  ];
  const conv = (pad: T.Padding, s: number, act: T.ActivationFunctionType, dil = 1, dilW = dil) => (b: import('flatbuffers').Builder): [T.BuiltinOptions, number] => [T.BuiltinOptions.Conv2DOptions, T.Conv2DOptions.createConv2DOptions(b, pad, s, s, act, dilW, dil)];
  const ops: FxOp[] = [
    { code: T.BuiltinOperator.CONV_2D, inputs: [0, 1, 2], outputs: [3], options: conv(T.Padding.SAME, 2, T.ActivationFunctionType.RELU6) },
    { code: T.BuiltinOperator.DEPTHWISE_CONV_2D, inputs: [3, 4, 5], outputs: [6], options: (b) => [T.BuiltinOptions.DepthwiseConv2DOptions, T.DepthwiseConv2DOptions.createDepthwiseConv2DOptions(b, T.Padding.SAME, 2, 2, 1, T.ActivationFunctionType.NONE, 1, 1)] },
    { code: T.BuiltinOperator.CONV_2D, inputs: [6, 7, 8], outputs: [9], options: conv(T.Padding.VALID, 1, T.ActivationFunctionType.NONE) },
    { code: T.BuiltinOperator.ADD, inputs: [6, 9], outputs: [10], options: (b) => [T.BuiltinOptions.AddOptions, T.AddOptions.createAddOptions(b, T.ActivationFunctionType.RELU)] },
    { code: T.BuiltinOperator.AVERAGE_POOL_2D, inputs: [10], outputs: [11], options: (b) => [T.BuiltinOptions.Pool2DOptions, T.Pool2DOptions.createPool2DOptions(b, T.Padding.VALID, 1, 1, 3, 3, T.ActivationFunctionType.NONE)] },
    { code: T.BuiltinOperator.RESHAPE, inputs: [11, 12], outputs: [13] },
    { code: T.BuiltinOperator.SOFTMAX, inputs: [13], outputs: [14], options: (b) => [T.BuiltinOptions.SoftmaxOptions, T.SoftmaxOptions.createSoftmaxOptions(b, 1)] },
  ];
  return { tensors, ops, deq, conv };
}

/** The fixture network in NHWC, f64, straight from TFLite's op definitions. */
function nhwcForward(x: Nhwc, d: ReturnType<typeof fixture>['deq']): { c1: Nhwc; dw: Nhwc; logits: Float64Array } {
  const map = (a: Nhwc, fn: (v: number) => number): Nhwc => ({ ...a, v: a.v.map(fn) });
  const c1 = map(convNhwc(x, d.c1, [5, 3, 3, 3], d.c1b, 2, true, false), (v) => Math.min(Math.max(v, 0), 6));
  const dw = convNhwc(c1, d.dw, [1, 3, 3, 5], d.dwb, 2, true, true);
  const pw = convNhwc(dw, d.pw, [5, 1, 1, 5], d.pwb, 1, false, false);
  const add = dw.v.map((v, i) => Math.max(v + pw.v[i], 0));
  const logits = new Float64Array(5);
  for (let i = 0; i < 9; i++) for (let c = 0; c < 5; c++) logits[c] += add[i * 5 + c] / 9;
  return { c1, dw, logits };
}

const input = (seed: number) => nhwcInput(seed, 9, 10, 3, -2, 2);

describe('TFLite import: fixture against an NHWC reference of TFLite semantics', () => {
  const fx = fixture();
  const file = buildTflite({ tensors: fx.tensors, ops: fx.ops, inputs: [0], outputs: [14] });

  it('reads the file: 6 engine nodes (softmax dropped), NCHW shapes, float input taken as pixel / 255', () => {
    const ir = readTflite(file);
    expect(ir.nodes.map((n) => n.op)).toEqual(['conv2d', 'conv2d', 'conv2d', 'add', 'gap', 'alias']);
    expect(ir.outputActivation).toBe('softmax');
    expect(ir.tensors.get('c1/Relu6')!.shape).toEqual([5, 5, 5]);
    expect(ir.tensors.get('c1/Relu6')!.sourceName).toBe('c1/Relu6;c1/fused');
    expect(ir.mean).toEqual([0, 0, 0]);
    expect(ir.std).toEqual([1, 1, 1]);
    expect(ir.sourceOps).toEqual({ CONV_2D: 2, DEPTHWISE_CONV_2D: 1, ADD: 1, AVERAGE_POOL_2D: 1, RESHAPE: 1, SOFTMAX: 1 });
  });

  for (const build of BUILDS) {
    it(`${build}: engine logits match the NHWC reference (dequantized int8/uint8 weights, asymmetric SAME, fused acts)`, async () => {
      for (const { x, got, ref } of await runImported(file, build, input)) {
        const want = nhwcForward(x.nhwc, fx.deq).logits;
        expect(got.length).toBe(5);
        expect(nerr(got, want)).toBeLessThan(1e-6);
        // the IR's own f64 pass is the same network
        expect(nerr(ref, want)).toBeLessThan(1e-12);
      }
    });
  }

  it('the SAME padding is TF\'s: an intermediate tensor equals the NHWC reference where symmetric padding would not', () => {
    const ir = readTflite(file);
    const x = input(5);
    const want = toNchw(nhwcForward(x.nhwc, fx.deq).c1);
    const got = referenceForward(ir, x.nchw, { upTo: 'c1/Relu6' });
    expect(nerr(got, want)).toBeLessThan(1e-12);
    const first = ir.nodes[0];
    if (first.op !== 'conv2d') throw new Error('fixture: the first node is a conv');
    expect(first.pad).toBe('tf-same');
    first.pad = 'same';
    expect(nerr(referenceForward(ir, x.nchw, { upTo: 'c1/Relu6' }), want)).toBeGreaterThan(0.1);
  });

  it('refuses what the engine cannot run exactly, naming the op and node', () => {
    const dil = fixture();
    dil.ops[0].options = dil.conv(T.Padding.SAME, 2, T.ActivationFunctionType.RELU6, 2, 1);
    expect(() => readTflite(buildTflite({ tensors: dil.tensors, ops: dil.ops, inputs: [0], outputs: [14] }))).toThrow(/op 0 CONV_2D \(output 'c1\/Relu6;c1\/fused'\): dilation factors 2 \(height\) and 1 \(width\) differ; the engine needs equal dilations/);
    const sub = fixture();
    sub.ops[3] = { code: T.BuiltinOperator.SUB, inputs: [6, 9], outputs: [10] };
    expect(() => readTflite(buildTflite({ tensors: sub.tensors, ops: sub.ops, inputs: [0], outputs: [14] }))).toThrow(/op 3 SUB \(output 'add'\): op SUB is not supported \(supported: CONV_2D, .*HARD_SWISH/);
    const tanh = fixture();
    tanh.ops[0].options = tanh.conv(T.Padding.SAME, 2, T.ActivationFunctionType.TANH);
    expect(() => readTflite(buildTflite({ tensors: tanh.tensors, ops: tanh.ops, inputs: [0], outputs: [14] }))).toThrow(/fused activation TANH is not supported/);
    expect(() => readTflite(new Uint8Array(16))).toThrow(ImportError);
    expect(() => readTflite(file.subarray(0, 100))).toThrow(/TFLite file cannot be read|not supported|tensor/);
  });

  it('refuses a split that is not a single-tensor cut and lists the tensors that would cross', () => {
    const ir = readTflite(file);
    expect(() => lowerGraph(ir, { split: 'pw/out' })).toThrow(/'pw\/out' is not a single-tensor cut: besides it, the layers after it also read 'dw\/out' \[5, 3, 3\]/);
    expect(() => lowerGraph(ir, { split: 'nope' })).toThrow(/has no tensor 'nope'/);
    expect(() => lowerGraph(ir, { split: 'dw/out' })).toThrow(/no stated value range.*--split-range/);
  });

  it('split at the RELU6 output: encoder -> packet -> decoder gives the unsplit logits up to 8-bit quantization', async () => {
    const ir = readTflite(file);
    const { json, bin } = lowerGraph(ir, { split: 'c1/fused' });
    const model = await loadModel(packGraph(json, bin));
    expect(model.blob.graphs.map((g) => g.name)).toEqual(['encoder', 'decoder']);
    const enc = model.encoder(), dec = model.decoder();
    const full = new Runner(loadEngine(), (await loadModel(importModel(file).slim)).blob, 'classifier');
    // 9x10 RGB pixels; the engine input is pixel / 255
    const r = rng(3);
    const px = Uint8Array.from({ length: 270 }, () => Math.floor(r() * 256));
    const img = { data: px, width: 10, height: 9, channels: 3 as const };
    const x = Float32Array.from(toNchw({ h: 9, w: 10, c: 3, v: Float64Array.from(px, (p) => p / 255) }));
    const want = full.run(x) as Float32Array;
    enc.setMode({ bits: 8 });
    const got = dec.decode(enc.encode(img)).logits;
    // 6 / 255 per code at 8 bits through three layers: a few 1e-3 of the logits' size
    expect(nerr(got, want)).toBeLessThan(2e-2);
    enc.setMode({ bits: 2 });
    expect(nerr(dec.decode(enc.encode(img)).logits, want)).toBeGreaterThan(nerr(got, want));
  });

  it('calibrated coder tables: the same codes in fewer bytes than the flat tables, decoded alike', async () => {
    const r = rng(4);
    const imgs = [0, 1, 2].map(() => ({ data: Uint8Array.from({ length: 270 }, () => Math.floor(r() * 256)), width: 10, height: 9, channels: 3 as const }));
    const flat = await loadModel(importModel(file, { split: 'c1/fused' }).slim);
    const cal = await loadModel(importModel(file, { split: 'c1/fused', calibrate: imgs }).slim);
    const ef = flat.encoder(), ec = cal.encoder();
    ef.setMode({ bits: 8 });
    ec.setMode({ bits: 8 });
    const pf = ef.encode(imgs[0]), pc = ec.encode(imgs[0]);
    // flat 8-bit tables cost 8 bits per value (125 values); the calibrated ones fit these codes
    expect(pc.length).toBeLessThan(pf.length);
    expect(Array.from(cal.decoder().decode(pc).logits)).toEqual(Array.from(flat.decoder().decode(pf).logits));
  });
});

describe('slimsplit import / inspect (CLI) on the fixture', () => {
  const fx = fixture();
  const file = buildTflite({ tensors: fx.tensors, ops: fx.ops, inputs: [0], outputs: [14] });
  const dir = mkdtempSync(join(tmpdir(), 'slimsplit-import-'));
  const src = join(dir, 'fx.tflite');
  writeFileSync(src, file);
  const cli = async (...argv: string[]) => {
    let out = '', err = '';
    const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) });
    return { code, out, err };
  };

  it('writes a blob that inspect describes: graphs, op counts, weights and multiply-adds', async () => {
    const labels = join(dir, 'labels.txt');
    writeFileSync(labels, 'a\nb\nc\nd\ne\n');
    const r = await cli('import', src, '-o', join(dir, 'fx.slim'), '--labels', labels);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('the final softmax is left to the caller');
    const i = await cli('inspect', join(dir, 'fx.slim'));
    expect(i.out).toContain('graph classifier: 5 layers (conv2d x3, add x1, gap x1)');
    // 135 + 5 + 45 + 5 + 25 + 5 weights; MACs 5*5*5*27 + 5*3*3*9 + 5*3*3*5
    expect(i.out).toContain('weights 220, multiply-adds 4,005 (0.0 M)');
    expect(i.out).toContain('classes: a, b, c, d, e');
  });

  it('names the problem: a wrong label count, a cut that is not single-tensor, a file that is not TFLite', async () => {
    const bad = join(dir, 'labels3.txt');
    writeFileSync(bad, 'a\nb\nc\n');
    expect((await cli('import', src, '-o', join(dir, 'x.slim'), '--labels', bad)).err).toContain('--labels gives 3 class names, the model has 5 outputs');
    const cut = await cli('import', src, '-o', join(dir, 'x.slim'), '--split', 'pw/out');
    expect(cut.code).toBe(1);
    expect(cut.err).toContain("besides it, the layers after it also read 'dw/out'");
    writeFileSync(join(dir, 'junk.tflite'), 'not a model at all');
    expect((await cli('import', join(dir, 'junk.tflite'), '-o', join(dir, 'x.slim'))).err).toContain('unknown model format');
  });
});

const SHARED = join(import.meta.dirname, '../../../shared');
const MNV2 = join(SHARED, 'models/mobilenet-v2/mobilenet_v2_1.0_224_quant.tflite');
const IMAGES = join(SHARED, 'datasets/imagenet-samples');
const haveShared = existsSync(MNV2) && existsSync(IMAGES);
if (!haveShared) console.warn(`test/import/tflite.test.ts: ${MNV2} or ${IMAGES} is missing: the MobileNetV2 parity tests are SKIPPED (they need the ../shared folder beside the repository)`);

describe.skipIf(!haveShared)('MobileNetV2 1.0 224 quant (../shared): engine vs the f64 reference of the dequantized network', () => {
  let imported: ReturnType<typeof importModel>;
  const labels = () => readFileSync(join(SHARED, 'models/mobilenet-v2/imagenet_labels.txt'), 'utf8').trim().split('\n');
  // ImageNet class k is output k + 1 (output 0 is 'background')
  // the tabby is called an Egyptian cat (286) by the reference too: only the tench's label is asserted
  const cases = [['n01440764_tench.JPEG', 1], ['n02123045_tabby.JPEG', 286]] as const;
  beforeAll(() => {
    imported = importModel(new Uint8Array(readFileSync(MNV2)), { labels: labels() });
  });

  it('imports 65 ops into 64 layers, 3.49 M weights, 300.8 M multiply-adds; normalization from the input quantization', async () => {
    const model = await loadModel(imported.slim);
    expect(model.blob.graphs[0].layers.length).toBe(64);
    expect(model.info.mean[0]).toBeCloseTo(128 / 255, 6);
    expect(model.info.std[0]).toBeCloseTo(1 / (255 * 0.0078125), 6);
    expect(model.info.classes.length).toBe(1001);
  });

  for (const build of BUILDS) {
    it(`${build}: classify(jpeg) logits within 1e-4 of the reference, same top-1`, async () => {
      const model = await loadModel(imported.slim, { build });
      const cls = model.classifier();
      for (const [file, label] of cases) {
        const jpg = new Uint8Array(readFileSync(join(IMAGES, file)));
        const got = cls.classify(jpg);
        const x = new Float32Array(3 * 224 * 224);
        toInput(decodeImage(jpg), [3, 224, 224], model.info.mean, model.info.std, x);
        const ref = referenceForward(imported.ir, x);
        expect(nerr(got.logits, ref)).toBeLessThan(1e-4);
        let r1 = 0;
        for (let i = 1; i < ref.length; i++) if (ref[i] > ref[r1]) r1 = i;
        expect(got.top1).toBe(r1);
        expect(got.top1).toBe(label);
      }
    });
  }

  it('split at MobilenetV2/expanded_conv_2/add: 8-bit packets decode to the unsplit top-1', async () => {
    const split = importModel(new Uint8Array(readFileSync(MNV2)), { split: 'MobilenetV2/expanded_conv_2/add', labels: labels() });
    const model = await loadModel(split.slim);
    const enc = model.encoder(), dec = model.decoder();
    enc.setMode({ bits: 8 });
    const whole = (await loadModel(imported.slim)).classifier();
    const jpg = new Uint8Array(readFileSync(join(IMAGES, cases[0][0])));
    const want = whole.classify(jpg);
    const got = dec.decode(enc.encode(jpg));
    expect(got.top1).toBe(want.top1);
    expect(got.label).toBe('tench, Tinca tinca');
    expect(nerr(got.logits, want.logits)).toBeLessThan(0.05);
  });
});
