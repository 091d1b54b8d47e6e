/**
 * ONNX import against onnxruntime-node (Microsoft's own runtime, native CPU kernels) on the same
 * files and inputs: two small torch-exported fixtures that hold every mapped op (always run), and
 * torchvision's mobilenet_v2 and resnet18 with random weights (train/export_onnx.py writes them to
 * build/onnx when Debian's torch is installed; .ci/run installs it and sets SLIMSPLIT_REQUIRE_TORCH
 * so that CI fails rather than skips). Each engine build must be within 1e-4 of onnxruntime
 * (max |diff| / max |ref|), and of torch's own outputs and the f64 reference of the IR; the
 * refusals are checked on small models written here with the same protobuf descriptors.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { importModel, readOnnx, referenceForward, lowerGraph, ImportError } from '../../src/import/index.js';
import { onnxModelType, ONNX_SUPPORTED } from '../../src/import/onnx.js';
import { readBlob } from '../../src/format/reader.js';
import { Runner } from '../../src/engine/plan/runner.js';
import { OPCODES, PH, RECORD_HEADER_WORDS } from '../../src/engine/plan/words.js';
import { loadEngine } from '../../src/engine/wasm.js';
import { loadModel } from '../../src/model/model.js';
import { decodeImage, toInput } from '../../src/model/image.js';
import { main } from '../../src/cli/main.js';
import { BUILDS, randn } from '../util.js';
import { onnxBytes, setTypedFields, shuffleUnit, type NodeSpec } from './onnx-model.js';

const ROOT = join(import.meta.dirname, '../..');
const FIX = join(ROOT, 'test/fixtures/onnx');
const FULL = join(ROOT, 'build/onnx');
const TORCHVISION_MEAN = [0.485, 0.456, 0.406], TORCHVISION_STD = [0.229, 0.224, 0.225];

/** max |a - b| / max |b|: the normalized error. */
function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / Math.max(m, 1e-30);
}

async function ortRun(bytes: Uint8Array, x: Float32Array, shape: number[]): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, shape) });
  const y = out[s.outputNames[0]].data as Float32Array;
  await s.release();
  return Float32Array.from(y);
}

function engineRun(slim: Uint8Array, build: (typeof BUILDS)[number], x: Float32Array): Float32Array {
  const run = new Runner(loadEngine({ build }), readBlob(slim), 'classifier');
  (run.inputView() as Float32Array).set(x);
  return Float32Array.from(run.run() as Float32Array);
}

interface TorchRef {
  input: number[];
  inputSeeds: number[];
  outputs: Record<string, number[]>;
}

/** The engine on both builds, the f64 reference and torch's outputs against onnxruntime on the file. */
async function parity(file: string, opts: { seeds?: number[]; reference?: number } = {}): Promise<void> {
  const bytes = new Uint8Array(readFileSync(file));
  const torch = JSON.parse(readFileSync(file.replace(/\.onnx$/, '.torch.json'), 'utf8')) as TorchRef;
  const { ir, slim } = importModel(bytes, {});
  const n = torch.input.reduce((a, b) => a * b, 1);
  const seeds = opts.seeds ?? torch.inputSeeds;
  // the outputs depend on the input (a random network can saturate into a constant, which would
  // make every comparison below pass whatever the early layers did)
  expect(maxRel(torch.outputs[String(torch.inputSeeds[0])], torch.outputs[String(torch.inputSeeds[1])])).toBeGreaterThan(0.1);
  for (const [i, seed] of seeds.entries()) {
    const x = randn(n, seed);
    const want = await ortRun(bytes, x, torch.input);
    // torch and onnxruntime agree with each other first: the comparison's own scale
    expect(maxRel(torch.outputs[String(seed)], want)).toBeLessThan(1e-4);
    for (const build of BUILDS) {
      const got = engineRun(slim, build, x);
      expect(maxRel(got, want), `${file} seed ${seed} ${build} vs onnxruntime`).toBeLessThan(1e-4);
      expect(maxRel(got, torch.outputs[String(seed)]), `${file} seed ${seed} ${build} vs torch`).toBeLessThan(1e-4);
    }
    if (i < (opts.reference ?? seeds.length)) {
      const ref = referenceForward(ir, x);
      expect(maxRel(ref, want), `${file} seed ${seed} f64 reference vs onnxruntime`).toBeLessThan(1e-4);
      expect(maxRel(engineRun(slim, BUILDS[0], x), ref), `${file} seed ${seed} engine vs f64 reference`).toBeLessThan(1e-4);
    }
  }
}

// ---- small models written here, for the refusals and the padding modes ----

/** One conv 3 -> 4 channels on an H x W input, with the given attributes. */
function convModel(H: number, W: number, k: number, attrs: NodeSpec['attrs'], extra: NodeSpec[] = [], out = 'y') {
  return onnxBytes({
    C: 3, H, W, out,
    inits: [['w', [4, 3, k, k], randn(4 * 3 * k * k, 5, 0.5)], ['b', [4], randn(4, 6, 0.5)]],
    nodes: [{ op: 'Conv', ins: ['x', 'w', 'b'], out: 'y', name: 'conv', attrs }, ...extra],
  });
}

describe('ONNX fixtures (torch-exported, committed): engine vs onnxruntime-node', () => {
  it('tiny.onnx (BatchNorm folded by the exporter): every op the importer maps, 3 inputs, both builds', async () => {
    const ir = readOnnx(new Uint8Array(readFileSync(join(FIX, 'tiny.onnx'))));
    // 5 convs (relu and relu6 fused), max pool, add, gap, flatten (alias), gemm
    expect(ir.nodes.map((n) => n.op)).toEqual(['conv2d', 'maxpool', 'conv2d', 'conv2d', 'conv2d', 'add', 'conv2d', 'gap', 'alias', 'matmul']);
    expect(ir.nodes.map((n) => ('act' in n ? n.act : '-'))).toEqual(['relu', '-', 'relu6', 'relu6', 'none', 'none', 'relu', '-', '-', 'none']);
    expect(ir.nodes[1]).toMatchObject({ k: 3, stride: 2, pad: 'same' });
    expect(ir.nodes[6]).toMatchObject({ k: 5, stride: 2, pad: 'same' });
    await parity(join(FIX, 'tiny.onnx'));
  });

  it('tiny-bn.onnx (BatchNormalization nodes in the file) folds them into the convs: same layers, same outputs', async () => {
    const bytes = new Uint8Array(readFileSync(join(FIX, 'tiny-bn.onnx')));
    const ir = readOnnx(bytes);
    expect(ir.sourceOps.BatchNormalization).toBe(4);
    expect(ir.nodes.map((n) => n.op)).toEqual(readOnnx(new Uint8Array(readFileSync(join(FIX, 'tiny.onnx')))).nodes.map((n) => n.op));
    await parity(join(FIX, 'tiny-bn.onnx'));
  });

  it('tiny-v3.onnx: hard swish, SiLU, both squeeze-excite gates, pools with and without count_include_pad, concats, softmax, resizes, mean', async () => {
    const ir = readOnnx(new Uint8Array(readFileSync(join(FIX, 'tiny-v3.onnx'))));
    expect(ir.sourceOps).toMatchObject({ HardSigmoid: 4, Sigmoid: 3, Mul: 8, Pad: 2, AveragePool: 3, Concat: 3, Softmax: 1, Resize: 2, Shape: 1, Slice: 1, ReduceMean: 1 });
    expect(ir.nodes.map((n) => n.op)).toEqual([
      'conv2d', 'gap', 'conv2d', 'conv2d', 'mul', 'conv2d', 'gap', 'conv2d', 'conv2d', 'mul', 'avgpool', 'concat', 'conv2d', 'scale', 'act', 'softmax', 'mul',
      'avgpool', 'resize_bilinear', 'resize_bilinear', 'mul', 'add', 'conv2d', 'avgpool', 'alias', 'gap', 'gap', 'alias', 'act', 'concat', 'concat', 'matmul', 'matmul',
    ]);
    // x * hardsigmoid(x) and x * sigmoid(x) fold into the conv (and the Gemm) before them; the gates fuse into their convs
    expect(ir.nodes.map((n) => ('act' in n && n.act ? n.act : '-'))).toEqual([
      'hswish', '-', 'relu', 'hsigmoid', 'none', 'swish', '-', 'relu', 'sigmoid', 'none', '-', 'none', 'none', '-', 'sigmoid', '-', 'none',
      '-', '-', '-', 'none', 'none', 'none', '-', '-', '-', '-', '-', 'hsigmoid', 'none', 'none', 'hswish', 'none',
    ]);
    // AvgPool2d(3, 1, 1) is exported as Pad + AveragePool: the padding counts; count_include_pad=False does not;
    // avg_pool2d(4) as a Pad of nothing (an alias) + AveragePool
    expect(ir.nodes[10]).toMatchObject({ k: 3, stride: 1, pad: 'same', countPad: true });
    expect(ir.nodes[17]).toMatchObject({ k: 3, stride: 2, pad: 'same', countPad: false });
    expect(ir.nodes[23]).toMatchObject({ k: 4, stride: 4, pad: 'none', countPad: false });
    expect(ir.nodes[13]).toMatchObject({ op: 'scale', a: 0.5 });
    // by a scale, and to a size that Shape -> Slice -> Concat compute
    expect([ir.nodes[18], ir.nodes[19]].map((n) => (n as { mode: string }).mode)).toEqual(['half_pixel', 'align_corners']);
    expect(ir.tensors.get(ir.nodes[19].y)!.shape).toEqual([12, 16, 16]);
    await parity(join(FIX, 'tiny-v3.onnx'));
  });

  it('classify(jpegBytes) with --mean/--std equals onnxruntime on the same resized, normalized pixels', async () => {
    const bytes = new Uint8Array(readFileSync(join(FIX, 'tiny.onnx')));
    const { slim } = importModel(bytes, { mean: TORCHVISION_MEAN, std: TORCHVISION_STD, labels: Array.from({ length: 10 }, (_, i) => `class ${i}`) });
    const model = await loadModel(slim);
    // stored as float32
    expect(model.info.mean).toEqual(TORCHVISION_MEAN.map(Math.fround));
    expect(model.info.std).toEqual(TORCHVISION_STD.map(Math.fround));
    const jpg = new Uint8Array(readFileSync(join(ROOT, 'test/fixtures/jpeg/rgb.jpg')));
    const got = model.classifier().classify(jpg);
    const x = new Float32Array(3 * 32 * 32);
    toInput(decodeImage(jpg), [3, 32, 32], TORCHVISION_MEAN, TORCHVISION_STD, x);
    const want = await ortRun(bytes, x, [1, 3, 32, 32]);
    expect(maxRel(got.logits, want)).toBeLessThan(1e-4);
    expect(got.label).toBe(`class ${want.indexOf(Math.max(...want))}`);
  });

  it('split: a single-tensor cut runs as encoder + decoder; a cut with a skip connection lists the crossing tensor', async () => {
    const bytes = new Uint8Array(readFileSync(join(FIX, 'tiny.onnx')));
    const ir = readOnnx(bytes);
    expect(() => lowerGraph(ir, { split: '/expand/expand.2/Clip_output_0' })).toThrow(
      "slimsplit: import: '/expand/expand.2/Clip_output_0' is not a single-tensor cut: besides it, the layers after it also read '/pool/MaxPool_output_0' [8, 8, 8]; split after a point where all of those have been consumed",
    );
    expect(() => lowerGraph(ir, { split: '/pool/MaxPool_output_0' })).toThrow(/no stated value range.*--split-range lo,hi/);
    const jpg = new Uint8Array(readFileSync(join(ROOT, 'test/fixtures/jpeg/rgb.jpg')));
    const whole = (await loadModel(importModel(bytes, {}).slim)).classifier().classify(jpg);
    const cut = await loadModel(importModel(bytes, { split: '/pool/MaxPool_output_0', splitRange: [0, 8] }).slim);
    const enc = cut.encoder(), dec = cut.decoder();
    enc.setMode({ bits: 8 });
    const got = dec.decode(enc.encode(jpg));
    // 8-bit codes of the pooled stem: close to the unsplit logits, not equal
    expect(maxRel(got.logits, whole.logits)).toBeLessThan(0.05);
    expect(maxRel(got.logits, whole.logits)).toBeGreaterThan(0);
  });
});

describe('ONNX padding: pads carried exactly when they are an engine mode', () => {
  const cases: Array<[string, number, number, number, NodeSpec['attrs']]> = [
    ['asymmetric pads [0, 0, 1, 1] at stride 2 (TensorFlow SAME on an even size)', 8, 10, 3, { pads: [0, 0, 1, 1], strides: [2, 2] }],
    ['auto_pad SAME_UPPER, stride 2, odd size', 9, 7, 3, { auto_pad: 'SAME_UPPER', strides: [2, 2] }],
    ['auto_pad SAME_LOWER at stride 2 on an even size (the odd pad at the top, which is (k-1)/2)', 8, 6, 3, { auto_pad: 'SAME_LOWER', strides: [2, 2] }],
    ['auto_pad VALID, 5x5', 9, 11, 5, { auto_pad: 'VALID' }],
    ['pads 1 with a bottom row no output reads, stride 2', 7, 7, 3, { pads: [1, 1, 1, 1], strides: [2, 2] }],
    ['7x7 stride 2 pads 3 (ResNet stem)', 16, 12, 7, { pads: [3, 3, 3, 3], strides: [2, 2] }],
  ];
  it.each(cases)('%s: engine = onnxruntime', async (_n, H, W, k, attrs) => {
    const bytes = convModel(H, W, k, attrs);
    const { slim } = importModel(bytes, {});
    const x = randn(3 * H * W, 9);
    const want = await ortRun(bytes, x, [1, 3, H, W]);
    for (const build of BUILDS) expect(maxRel(engineRun(slim, build, x), want)).toBeLessThan(1e-5);
  });
});

describe('ONNX Pad (zeros) before a Conv becomes its padding: engine = onnxruntime', () => {
  // tf2onnx writes TensorFlow's SAME at stride 2 as Pad [0, 0, 1, 1] + Conv with no pads
  const cases: Array<[string, number, number, number, number[], NodeSpec['attrs'], string]> = [
    ['Pad bottom/right 1 + 3x3/2 VALID on 8x10 (TensorFlow SAME)', 8, 10, 3, [0, 0, 0, 0, 0, 0, 1, 1], { strides: [2, 2] }, 'tf-same'],
    ['Pad 1 all round + 3x3/1', 7, 9, 3, [0, 0, 1, 1, 0, 0, 1, 1], {}, 'same'],
    ['Pad top/left 1 + conv pads [0, 0, 1, 1]: symmetric in sum, 3x3/2', 9, 9, 3, [0, 0, 1, 1, 0, 0, 0, 0], { strides: [2, 2], pads: [0, 0, 1, 1] }, 'same'],
    ['Pad [1, 1, 2, 2] + 5x5/2 on 12x12 (TensorFlow SAME)', 12, 12, 5, [0, 0, 1, 1, 0, 0, 2, 2], { strides: [2, 2] }, 'tf-same'],
  ];
  it.each(cases)('%s', async (_n, H, W, k, pads, attrs, pad) => {
    const bytes = onnxBytes({
      C: 3, H, W, out: 'y',
      inits: [['w', [4, 3, k, k], randn(4 * 3 * k * k, 5, 0.5)], ['b', [4], randn(4, 6, 0.5)]],
      ints: [['p', [8], pads]],
      nodes: [{ op: 'Pad', ins: ['x', 'p'], out: 'xp', name: 'pad' }, { op: 'Conv', ins: ['xp', 'w', 'b'], out: 'y', name: 'conv', attrs }],
    });
    const { ir, slim } = importModel(bytes, {});
    expect(ir.nodes.map((n) => n.op)).toEqual(['conv2d']);
    expect(ir.nodes[0]).toMatchObject({ k, pad });
    const x = randn(3 * H * W, 23);
    const want = await ortRun(bytes, x, [1, 3, H, W]);
    for (const build of BUILDS) expect(maxRel(engineRun(slim, build, x), want), build).toBeLessThan(1e-5);
  });

  it('a Pad whose sum with the conv\'s pads is no engine mode is refused, naming the conv', () => {
    const bytes = onnxBytes({
      C: 3, H: 8, W: 8, out: 'y',
      inits: [['w', [4, 3, 3, 3], randn(4 * 27, 5, 0.5)], ['b', [4], randn(4, 6, 0.5)]],
      ints: [['p', [8], [0, 0, 2, 0, 0, 0, 0, 0]]],
      nodes: [{ op: 'Pad', ins: ['x', 'p'], out: 'xp', name: 'pad' }, { op: 'Conv', ins: ['xp', 'w', 'b'], out: 'y', name: 'conv' }],
    });
    expect(() => readOnnx(bytes)).toThrow("node 'conv' (Conv): pads [2, 0, 0, 0] (top, left, bottom, right) for a 3x3/1 conv on a 8x8 input are not supported");
  });
});

describe('ONNX channel split, slice and shuffle (ShuffleNet): engine = onnxruntime', () => {
  const unit = shuffleUnit;

  it('Split, the Reshape-Transpose-Reshape shuffle and a channel Slice become chshuffle layers, equal to onnxruntime', async () => {
    const bytes = unit();
    const { ir, slim } = importModel(bytes, {});
    expect(ir.nodes.map((n) => n.op)).toEqual(['conv2d', 'chshuffle', 'chshuffle', 'conv2d', 'concat', 'chshuffle', 'chshuffle', 'conv2d']);
    expect(ir.nodes.filter((n) => n.op === 'chshuffle').map((n) => n.op === 'chshuffle' && `${n.groups}/${n.c0}/${ir.tensors.get(n.y)!.shape[0]}`)).toEqual(['1/0/4', '1/4/4', '2/0/8', '1/2/5']);
    for (const seed of [41, 42]) {
      const x = randn(8 * 6 * 7, seed);
      const want = await ortRun(bytes, x, [1, 8, 6, 7]);
      expect(maxRel(referenceForward(ir, x), want)).toBeLessThan(1e-5);
      for (const build of BUILDS) expect(maxRel(engineRun(slim, build, x), want), build).toBeLessThan(1e-5);
    }
  });

  it('PyTorch\'s chunk as exported: the split point from Shape, Gather, Add, Div (integer) and Mul, then two channel Slices', async () => {
    const bytes = unit((n) => n.splice(1, 1,
      { op: 'Shape', ins: ['a'], out: 'shp', name: 'shape' },
      { op: 'Gather', ins: ['shp', 'i1'], out: 'c', name: 'gather', attrs: { axis: 0 } },
      { op: 'Add', ins: ['c', 'one'], out: 'c1', name: 'add' },
      { op: 'Div', ins: ['c1', 'two'], out: 'h', name: 'div' },
      { op: 'Mul', ins: ['h', 'one'], out: 'm1', name: 'mul1' },
      { op: 'Mul', ins: ['h', 'two'], out: 'm2', name: 'mul2' },
      { op: 'Slice', ins: ['a', 'zero', 'm1', 'ax'], out: 'a1', name: 'slice1' },
      { op: 'Slice', ins: ['a', 'm1', 'm2', 'ax'], out: 'a2', name: 'slice2' },
    ), [['i1', [], [1]], ['one', [1], [1]], ['two', [1], [2]], ['zero', [1], [0]]]);
    const { ir, slim } = importModel(bytes, {});
    // (8 + 1) / 2 = 4 in integers: channels 0..3 and 4..7
    expect(ir.nodes.filter((q) => q.op === 'chshuffle').slice(0, 2).map((q) => q.op === 'chshuffle' && `${q.c0}/${ir.tensors.get(q.y)!.shape[0]}`)).toEqual(['0/4', '4/4']);
    const x = randn(8 * 6 * 7, 43);
    const want = await ortRun(bytes, x, [1, 8, 6, 7]);
    for (const build of BUILDS) expect(maxRel(engineRun(slim, build, x), want), build).toBeLessThan(1e-5);
  });

  it('refuses a Transpose, a 5-D Reshape or a Split that is not a channel shuffle or split, naming the node', () => {
    expect(() => readOnnx(unit((n) => (n[6].attrs = { perm: [0, 1, 2, 4, 3] })))).toThrow("node 'r5' (Reshape): reshape to [1,2,4,6,7] is supported only as the start of a channel shuffle (Reshape [1, g, C/g, H, W], Transpose perm [0, 2, 1, 3, 4], Reshape [1, C, H, W]); 'r5' is read by Transpose perm [0,1,2,4,3]");
    expect(() => readOnnx(unit((n) => n.splice(5, 1, { op: 'Transpose', ins: ['cat'], out: 'r5', name: 'tp', attrs: { perm: [0, 1, 3, 2] } })))).toThrow("node 'tp' (Transpose): Transpose is supported only inside a channel shuffle");
    expect(() => readOnnx(unit((n) => (n[1].attrs = { axis: 2 })))).toThrow("node 'split' (Split): Split on axis 2 of [1, 8,6,7] is not supported (only channels, axis 1)");
    expect(() => readOnnx(unit((n) => (n[8].ins = ['sh', 'st', 'en'])))).toThrow("node 'slice' (Slice): Slice of an activation is supported only on channels (axis 1) with step 1");
    // the chunk's split point divided by zero
    const byZero = (n: NodeSpec[]) => n.splice(1, 1,
      { op: 'Shape', ins: ['a'], out: 'shp', name: 'shape' },
      { op: 'Gather', ins: ['shp', 'i1'], out: 'c', name: 'gather', attrs: { axis: 0 } },
      { op: 'Div', ins: ['c', 'zero'], out: 'h', name: 'div' },
      { op: 'Slice', ins: ['a', 'zero', 'h', 'ax'], out: 'a1', name: 'slice1' },
      { op: 'Slice', ins: ['a', 'h', 'h', 'ax'], out: 'a2', name: 'slice2' },
    );
    expect(() => readOnnx(unit(byZero, [['i1', [], [1]], ['zero', [1], [0]]]))).toThrow("node 'div' (Div): Div of constants gives Infinity at index 0 (a division by zero?)");
  });
});

describe('ONNX dilated Conv (atrous): engine = onnxruntime', () => {
  // dense 3 -> 4 channels: PyTorch's padding=dilation, TF-style SAME over the extent (k-1)*d + 1,
  // VALID, stride 2 with dilation 3
  const cases: Array<[string, number, number, number, NodeSpec['attrs'], string]> = [
    ['3x3 d2, pads 2 (PyTorch padding=dilation)', 13, 17, 3, { dilations: [2, 2], pads: [2, 2, 2, 2] }, 'same'],
    ['3x3 d3 stride 2, TensorFlow SAME pads [3, 2, 3, 3] on 15x12', 15, 12, 3, { dilations: [3, 3], strides: [2, 2], pads: [3, 2, 3, 3] }, 'tf-same'],
    ['3x3 d2 stride 2, pads [1, 1, 2, 2] (TensorFlow SAME on an even size)', 10, 10, 3, { dilations: [2, 2], strides: [2, 2], pads: [1, 1, 2, 2] }, 'tf-same'],
    ['5x5 d2, no padding', 14, 16, 5, { dilations: [2, 2] }, 'none'],
    ['5x5 d3 stride 2, pads 6', 19, 23, 5, { dilations: [3, 3], strides: [2, 2], pads: [6, 6, 6, 6] }, 'same'],
  ];
  it.each(cases)('%s', async (_n, H, W, k, attrs, pad) => {
    const bytes = convModel(H, W, k, attrs);
    const { ir, slim } = importModel(bytes, {});
    expect(ir.nodes[0]).toMatchObject({ op: 'conv2d', k, dilation: (attrs!.dilations as number[])[0], pad });
    const x = randn(3 * H * W, 19);
    const want = await ortRun(bytes, x, [1, 3, H, W]);
    expect(maxRel(referenceForward(ir, x), want)).toBeLessThan(1e-5);
    for (const build of BUILDS) expect(maxRel(engineRun(slim, build, x), want), build).toBeLessThan(1e-5);
  });

  it('depthwise dilated convs (group = channels) run through conv2d, then a dense dilated one', async () => {
    const C = 6, H = 16, W = 19;
    const bytes = onnxBytes({
      C, H, W, out: 'z',
      inits: [['dw', [C, 1, 3, 3], randn(C * 9, 41, 0.5)], ['dwb', [C], randn(C, 42, 0.3)], ['dw5', [C, 1, 5, 5], randn(C * 25, 43, 0.3)],
        ['pw', [4, C, 3, 3], randn(4 * C * 9, 44, 0.3)]],
      nodes: [
        { op: 'Conv', ins: ['x', 'dw', 'dwb'], out: 'a', name: 'dw3', attrs: { group: C, dilations: [2, 2], pads: [2, 2, 2, 2] } },
        { op: 'Relu', ins: ['a'], out: 'ar' },
        { op: 'Conv', ins: ['ar', 'dw5'], out: 'b', name: 'dw5', attrs: { group: C, dilations: [2, 2], strides: [2, 2], pads: [3, 4, 4, 4] } },
        { op: 'Conv', ins: ['b', 'pw'], out: 'z', name: 'dense', attrs: { dilations: [3, 3], pads: [3, 3, 3, 3] } },
      ],
    });
    const { ir, slim } = importModel(bytes, {});
    expect(ir.nodes.map((n) => (n.op === 'conv2d' ? [n.groups, n.k, n.stride, n.dilation, n.pad, n.act] : n.op))).toEqual([
      [C, 3, 1, 2, 'same', 'relu'], [C, 5, 2, 2, 'tf-same', 'none'], [1, 3, 1, 3, 'same', 'none'],
    ]);
    // the depthwise layers are grouped conv2d records (opcode 1) in the plan: dwconv has dilation 1
    const plan = readBlob(slim).graphs[0].plan;
    let r = plan[PH.rec];
    for (let n = 0; n < plan[PH.nrec]; n++) {
      expect(plan[r]).toBe(OPCODES.conv2d);
      expect(plan[r + 1]).toBe(25);
      r += RECORD_HEADER_WORDS + plan[r + 1];
    }
    for (const seed of [51, 52]) {
      const x = randn(C * H * W, seed);
      const want = await ortRun(bytes, x, [1, C, H, W]);
      expect(maxRel(referenceForward(ir, x), want)).toBeLessThan(1e-5);
      for (const build of BUILDS) expect(maxRel(engineRun(slim, build, x), want), build).toBeLessThan(1e-5);
    }
  });
});

describe('ONNX ops beyond torch 1.13\'s exports: engine = onnxruntime on models built here', () => {
  const W3 = (cin: number, cout: number): Array<[string, number[], ArrayLike<number>]> => [['w', [cout, cin, 3, 3], randn(cout * cin * 9, 5, 0.5)], ['b', [cout], randn(cout, 6, 0.5)]];
  const conv = (cin = 3, cout = 4): NodeSpec => ({ op: 'Conv', ins: ['x', 'w', 'b'], out: 'y', name: 'conv', attrs: { pads: [1, 1, 1, 1] } });
  const cases: Array<[string, { H: number; W: number; nodes: NodeSpec[]; ints?: Array<[string, number[], number[]]>; opset?: number }, string[]]> = [
    ['HardSwish (opset 14) after a conv and on its own', { H: 6, W: 5, opset: 14, nodes: [conv(), { op: 'HardSwish', ins: ['y'], out: 'h' }, { op: 'HardSwish', ins: ['x'], out: 'hx' }, { op: 'Concat', ins: ['h', 'hx', 'h'], out: 'z', attrs: { axis: 1 } }] }, ['conv2d', 'act', 'concat', 'concat']],
    ['HardSigmoid with ONNX\'s default alpha 0.2 and with alpha 0.3, beta 0.4 (an affine layer each)', { H: 5, W: 5, nodes: [conv(), { op: 'HardSigmoid', ins: ['y'], out: 'h1' }, { op: 'HardSigmoid', ins: ['y'], out: 'h2', attrs: { alpha: 0.3, beta: 0.4 } }, { op: 'Mul', ins: ['h1', 'h2'], out: 'z' }] }, ['conv2d', 'scale', 'scale', 'mul']],
    ['x * hardsigmoid(x) with alpha 0.2 is not hard swish: an affine layer and an elementwise mul', { H: 4, W: 4, nodes: [conv(), { op: 'HardSigmoid', ins: ['y'], out: 'h' }, { op: 'Mul', ins: ['y', 'h'], out: 'z' }] }, ['conv2d', 'scale', 'mul']],
    ['Resize linear asymmetric and pytorch_half_pixel to sizes, down and up, odd sizes', {
      H: 7, W: 5,
      ints: [['sz1', [4], [1, 4, 4, 9]], ['sz2', [4], [1, 4, 9, 3]]],
      nodes: [conv(), { op: 'Resize', ins: ['y', '', '', 'sz1'], out: 'r1', attrs: { mode: 'linear', coordinate_transformation_mode: 'asymmetric' } },
        { op: 'Resize', ins: ['y', '', '', 'sz2'], out: 'r2', attrs: { mode: 'linear', coordinate_transformation_mode: 'pytorch_half_pixel' } },
        { op: 'Resize', ins: ['r2', '', '', 'sz1'], out: 'r3', attrs: { mode: 'linear', coordinate_transformation_mode: 'half_pixel' } },
        { op: 'Add', ins: ['r1', 'r3'], out: 'z' }],
    }, ['conv2d', 'resize_bilinear', 'resize_bilinear', 'resize_bilinear', 'add']],
    ['ReduceMean keepdims 1 as a per-channel factor (gate first), softmax over channels inside the network', { H: 5, W: 6, nodes: [conv(), { op: 'ReduceMean', ins: ['y'], out: 'm', attrs: { axes: [2, 3] } }, { op: 'Softmax', ins: ['y'], out: 's', attrs: { axis: 1 } }, { op: 'Mul', ins: ['m', 's'], out: 'z' }] }, ['conv2d', 'gap', 'softmax', 'mul']],
    ['AveragePool 3x3/2 with pads 1, count_include_pad 1 and 0, on an odd size; 2x2/2 without pads', {
      H: 7, W: 9,
      nodes: [conv(), { op: 'AveragePool', ins: ['y'], out: 'p1', attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 } },
        { op: 'AveragePool', ins: ['y'], out: 'p2', attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } },
        { op: 'AveragePool', ins: ['y'], out: 'p3', attrs: { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1, auto_pad: 'SAME_UPPER' } },
        { op: 'Concat', ins: ['p1', 'p2', 'p3'], out: 'z', attrs: { axis: -3 } }],
    }, ['conv2d', 'avgpool', 'avgpool', 'avgpool', 'concat', 'concat']],
  ];
  it.each(cases)('%s', async (_n, m, ops) => {
    const bytes = onnxBytes({ C: 3, H: m.H, W: m.W, inits: W3(3, 4), ints: m.ints, nodes: m.nodes, out: 'z', opset: m.opset });
    const ir = readOnnx(bytes);
    expect(ir.nodes.map((n) => n.op)).toEqual(ops);
    const { slim } = importModel(bytes, {});
    const x = randn(3 * m.H * m.W, 11, 2);
    const want = await ortRun(bytes, x, [1, 3, m.H, m.W]);
    expect(maxRel(referenceForward(ir, x), want)).toBeLessThan(1e-5);
    for (const build of BUILDS) expect(maxRel(engineRun(slim, build, x), want), build).toBeLessThan(1e-5);
  });
});

describe('ONNX DenseNet and GoogLeNet forms: BatchNormalization after a Concat, ceil_mode max pools', () => {
  const bnInits = (name: string, C: number, seed: number): Array<[string, number[], ArrayLike<number>]> => [
    [`${name}.s`, [C], randn(C, seed, 0.5).map((v) => v + 1)], [`${name}.b`, [C], randn(C, seed + 1, 0.3)],
    [`${name}.m`, [C], randn(C, seed + 2, 0.3)], [`${name}.v`, [C], randn(C, seed + 3, 0.5).map((v) => v + 1)],
  ];
  const bn = (x: string, y: string, name: string): NodeSpec => ({ op: 'BatchNormalization', ins: [x, `${name}.s`, `${name}.b`, `${name}.m`, `${name}.v`], out: y, name, attrs: { epsilon: 1e-3 } });
  it('a pre-activation dense layer: BN after a Concat and after the input is a per-channel 1x1 conv, its Relu folded in', async () => {
    // x -> bn0 -> relu -> conv (4) ; cat(x, conv) -> bn1 -> relu -> 1x1 conv
    const H = 6, W = 7;
    const bytes = onnxBytes({
      C: 3, H, W, out: 'z',
      inits: [...bnInits('bn0', 3, 20), ['w', [4, 3, 3, 3], randn(108, 5, 0.5)], ...bnInits('bn1', 7, 30), ['w2', [5, 7, 1, 1], randn(35, 6, 0.5)]],
      nodes: [
        bn('x', 'a', 'bn0'), { op: 'Relu', ins: ['a'], out: 'r' }, { op: 'Conv', ins: ['r', 'w'], out: 'y', attrs: { pads: [1, 1, 1, 1] } },
        { op: 'Concat', ins: ['x', 'y'], out: 'cat', attrs: { axis: 1 } }, bn('cat', 'c', 'bn1'), { op: 'Relu', ins: ['c'], out: 'cr' },
        { op: 'Conv', ins: ['cr', 'w2'], out: 'z' },
      ],
    });
    const ir = readOnnx(bytes);
    expect(ir.nodes.map((n) => (n.op === 'conv2d' ? `conv ${n.groups}/${n.k}/${n.act}` : n.op))).toEqual(['conv 3/1/relu', 'conv 1/3/none', 'concat', 'conv 7/1/relu', 'conv 1/1/none']);
    const x = randn(3 * H * W, 11, 2);
    const want = await ortRun(bytes, x, [1, 3, H, W]);
    expect(maxRel(referenceForward(ir, x), want)).toBeLessThan(1e-5);
    const { slim } = importModel(bytes, {});
    for (const build of BUILDS) expect(maxRel(engineRun(slim, build, x), want), build).toBeLessThan(1e-5);
  });
  it.each([
    ['3x3/2, no pads, even size (GoogLeNet: TF SAME)', 8, 8, { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }, [4, 4]],
    ['3x3/2, no pads, odd size (ceil = floor)', 9, 7, { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }, [4, 3]],
    ['3x3/1, pads 1 (an inception branch: ceil = floor)', 6, 5, { kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], ceil_mode: 1 }, [6, 5]],
    ['2x2/2 on an odd size', 7, 9, { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 }, [4, 5]],
  ])('MaxPool ceil_mode %s', async (_n, H, W, attrs, out) => {
    const bytes = onnxBytes({
      C: 3, H, W, out: 'z', inits: [['w', [4, 3, 3, 3], randn(108, 5, 0.5)]],
      nodes: [{ op: 'Conv', ins: ['x', 'w'], out: 'y', attrs: { pads: [1, 1, 1, 1] } }, { op: 'MaxPool', ins: ['y'], out: 'z', attrs }],
    });
    const ir = readOnnx(bytes);
    expect(ir.tensors.get(ir.output)!.shape).toEqual([4, ...out]);
    const x = randn(3 * H * W, 12, 2);
    const want = await ortRun(bytes, x, [1, 3, H, W]);
    expect(want.length).toBe(4 * out[0] * out[1]);
    const { slim } = importModel(bytes, {});
    for (const build of BUILDS) expect(maxRel(engineRun(slim, build, x), want), build).toBeLessThan(1e-6);
  });
});

describe('ONNX nearest Resize by 2 (FPN/YOLO-style upsampling) is the engine\'s upsample2x', () => {
  it.each([
    ['torch F.interpolate(nearest): asymmetric, floor, by scales', { coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, 'scales'],
    ['ONNX defaults (half_pixel, round_prefer_floor), by sizes', {}, 'sizes'],
    ['TensorFlow half_pixel_centers (tf_half_pixel_for_nn, floor)', { coordinate_transformation_mode: 'tf_half_pixel_for_nn', nearest_mode: 'floor' }, 'scales'],
    ['asymmetric, round_prefer_floor', { coordinate_transformation_mode: 'asymmetric', nearest_mode: 'round_prefer_floor' }, 'scales'],
    ['align_corners, round_prefer_floor (i (n-1) / (2n-1) rounds to i >> 1 as well)', { coordinate_transformation_mode: 'align_corners' }, 'sizes'],
  ])('%s: engine = onnxruntime', async (_n, attrs, by) => {
    const H = 5, W = 7;
    const bytes = onnxBytes({
      C: 3, H, W, out: 'z', opset: 13,
      inits: [['w', [4, 3, 3, 3], randn(108, 5, 0.5)], ['s', [4], [1, 1, 2, 2]]], ints: [['sz', [4], [1, 4, 2 * H, 2 * W]]],
      nodes: [{ op: 'Conv', ins: ['x', 'w'], out: 'y', attrs: { pads: [1, 1, 1, 1] } },
        { op: 'Resize', ins: by === 'scales' ? ['y', '', 's'] : ['y', '', '', 'sz'], out: 'z', attrs: { mode: 'nearest', ...attrs } }],
    });
    const ir = readOnnx(bytes);
    expect(ir.nodes.map((n) => n.op)).toEqual(['conv2d', 'upsample2x']);
    const x = randn(3 * H * W, 13, 2);
    const want = await ortRun(bytes, x, [1, 3, H, W]);
    expect(want.length).toBe(4 * 4 * H * W);
    expect(maxRel(referenceForward(ir, x), want)).toBeLessThan(1e-6);
    const { slim } = importModel(bytes, {});
    for (const build of BUILDS) expect(maxRel(engineRun(slim, build, x), want), build).toBeLessThan(1e-6);
  });
});

describe('ONNX Mul by one constant per channel (a layer scale): a 1x1 conv with a group per channel', () => {
  it.each([[[1, 4, 1, 1]], [[4, 1, 1]]])('constant of shape %j, before and after the activation input, then a Relu folded into it', async (dims) => {
    const H = 6, W = 7;
    const bytes = onnxBytes({
      C: 3, H, W, out: 'z',
      inits: [['w', [4, 3, 3, 3], randn(108, 5, 0.5)], ['b', [4], randn(4, 6, 0.5)], ['g', dims, [0.5, -2, 3.25, 1e-3]]],
      nodes: [
        { op: 'Conv', ins: ['x', 'w', 'b'], out: 'y', name: 'conv', attrs: { pads: [1, 1, 1, 1] } },
        { op: 'Mul', ins: ['y', 'g'], out: 'm1', name: 'scale1' },
        { op: 'Mul', ins: ['g', 'm1'], out: 'm2', name: 'scale2' },
        { op: 'Relu', ins: ['m2'], out: 'z' },
      ],
    });
    const ir = readOnnx(bytes);
    expect(ir.nodes.map((n) => (n.op === 'conv2d' ? [n.k, n.groups, n.act] : n.op))).toEqual([[3, 1, 'none'], [1, 4, 'none'], [1, 4, 'relu']]);
    const { slim } = importModel(bytes, {});
    const x = randn(3 * H * W, 12, 2);
    const want = await ortRun(bytes, x, [1, 3, H, W]);
    expect(maxRel(referenceForward(ir, x), want)).toBeLessThan(1e-6);
    for (const build of BUILDS) expect(maxRel(engineRun(slim, build, x), want), build).toBeLessThan(1e-6);
  });
});

describe('ONNX initializers', () => {
  it('float_data reads the same as raw_data', () => {
    const raw = readOnnx(convModel(6, 6, 3, { pads: [1, 1, 1, 1] }));
    setTypedFields(true);
    const typed = convModel(6, 6, 3, { pads: [1, 1, 1, 1] });
    setTypedFields(false);
    const msg = onnxModelType().decode(typed) as unknown as { graph: { initializer: Array<{ rawData?: Uint8Array; floatData: number[] }> } };
    expect(msg.graph.initializer[0].floatData.length).toBe(4 * 3 * 9);
    expect(msg.graph.initializer[0].rawData?.length ?? 0).toBe(0);
    const ir = readOnnx(typed);
    expect(ir.nodes[0]).toMatchObject({ op: 'conv2d' });
    expect(Array.from((ir.nodes[0] as { w: Float32Array }).w)).toEqual(Array.from((raw.nodes[0] as { w: Float32Array }).w));
    expect(Array.from((ir.nodes[0] as { w: Float32Array }).w)).toEqual(Array.from(randn(4 * 3 * 9, 5, 0.5)));
  });
});

describe('ONNX refusals name the op and node', () => {
  const refuse = (bytes: Uint8Array, msg: string) => expect(() => readOnnx(bytes)).toThrow(msg);

  it('unsupported op', () => {
    refuse(convModel(6, 6, 3, { pads: [1, 1, 1, 1] }, [{ op: 'Tanh', ins: ['y'], out: 'z', name: 'head/tanh' }], 'z'),
      `slimsplit: import: node 'head/tanh' (Tanh): op Tanh is not supported (supported: ${ONNX_SUPPORTED})`);
    refuse(convModel(6, 6, 3, {}, [{ op: 'LeakyRelu', ins: ['y'], out: 'z', name: '' }], 'z'),
      "slimsplit: import: node 1 (LeakyRelu, output 'z'): op LeakyRelu is not supported");
  });
  it('what the engine cannot run exactly', () => {
    refuse(convModel(9, 9, 3, { dilations: [2, 1] }), "slimsplit: import: node 'conv' (Conv): dilations [2,1] differ; the engine needs equal dilations");
    // onnxruntime refuses it too, and ONNX's spec gave it two readings (with and without the dilation)
    refuse(convModel(9, 9, 3, { dilations: [2, 2], auto_pad: 'SAME_UPPER' }), "slimsplit: import: node 'conv' (Conv): auto_pad SAME_UPPER with dilations [2,2] is not supported (onnxruntime refuses it too); give explicit pads");
    refuse(convModel(9, 9, 3, { dilations: [2, 2], pads: [1, 1, 1, 1] }), "slimsplit: import: node 'conv' (Conv): pads [1, 1, 1, 1] (top, left, bottom, right) for a 5x5/1 conv (3x3 dilated by 2) on a 9x9 input are not supported");
    refuse(convModel(9, 9, 3, { pads: [0, 0, 1, 1] }), "slimsplit: import: node 'conv' (Conv): pads [0, 0, 1, 1] (top, left, bottom, right) for a 3x3/1 conv on a 9x9 input are not supported");
    refuse(convModel(9, 9, 3, { strides: [1, 2] }), "slimsplit: import: node 'conv' (Conv): strides [1,2] differ; the engine needs equal strides");
    refuse(convModel(9, 9, 3, { strides: [3, 3] }), "slimsplit: import: node 'conv' (Conv): stride 3 is not supported (the engine's convolutions have stride 1 or 2)");
    refuse(convModel(9, 9, 3, { pads: [2, 2, 0, 0] }), "slimsplit: import: node 'conv' (Conv): pads [2, 2, 0, 0] (top, left, bottom, right) for a 3x3/1 conv on a 9x9 input are not supported");
    refuse(convModel(8, 8, 3, { pads: [1, 1, 1, 1] }, [{ op: 'MaxPool', ins: ['y'], out: 'z', name: 'pool', attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 } }], 'z'),
      "slimsplit: import: node 'pool' (MaxPool): pads [1, 1, 2, 2] (top, left, bottom, right) for a 3x3/2 max pool (ceil_mode 1: the extra window as bottom/right padding) on a 8x8 input are not supported: the engine pads by (k-1)/2 on every side, TensorFlow-style SAME (the odd one at the bottom/right), or not at all");
    refuse(convModel(9, 9, 3, {}, [{ op: 'Relu', ins: ['y'], out: 'lo', name: 'relu' }, { op: 'Clip', ins: ['y', 'lo'], out: 'z', name: 'clip' }], 'z'),
      "slimsplit: import: node 'clip' (Clip): min 'lo' must be a constant (an initializer or a Constant node); computed mins are not supported");
  });
  it('attributes of the newer ops that the engine cannot run exactly', () => {
    const one = (nodes: NodeSpec[], inits: Array<[string, number[], ArrayLike<number>]> = [], H = 8, W = 8, opset?: number) =>
      onnxBytes({ C: 3, H, W, out: 'z', opset, inits: [['w', [4, 3, 3, 3], randn(108, 1)], ...inits], nodes: [{ op: 'Conv', ins: ['x', 'w'], out: 'y', name: 'conv', attrs: { pads: [1, 1, 1, 1] } }, ...nodes] });
    refuse(one([{ op: 'Softmax', ins: ['y'], out: 'z', name: 'sm' }]),
      "slimsplit: import: node 'sm' (Softmax): Softmax over axis -1 of a [1, 4,8,8] tensor is not supported (only over the channel axis, 1)");
    refuse(one([{ op: 'Softmax', ins: ['y'], out: 'z', name: 'sm', attrs: { axis: 1 } }], [], 8, 8, 11),
      "slimsplit: import: node 'sm' (Softmax): Softmax over axis 1 of a [1, 4,8,8] tensor (opset 11: over C, H and W together) is not supported (only over the channel axis, 1)");
    refuse(one([{ op: 'Concat', ins: ['y', 'y'], out: 'z', name: 'cat', attrs: { axis: 2 } }]),
      "slimsplit: import: node 'cat' (Concat): Concat on axis 2 of [1, 4,8,8] tensors is not supported (only the channel axis, 1)");
    refuse(one([{ op: 'Resize', ins: ['y', '', 's'], out: 'z', name: 'up', attrs: { mode: 'cubic' } }], [['s', [4], [1, 1, 2, 2]]]),
      "slimsplit: import: node 'up' (Resize): Resize mode 'cubic' is not supported (only 'linear', the engine's bilinear resize, and 'nearest' by exactly 2)");
    refuse(one([{ op: 'Resize', ins: ['y', '', 's'], out: 'z', name: 'up', attrs: { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'ceil' } }], [['s', [4], [1, 1, 2, 2]]]),
      "slimsplit: import: node 'up' (Resize): nearest Resize of 8x8 to 16x16 with coordinate_transformation_mode 'asymmetric' and nearest_mode 'ceil' is not supported (only an exact 2x, each output reading input i >> 1: torch's and TensorFlow's nearest upsampling by 2)");
    refuse(one([{ op: 'Resize', ins: ['y', '', 's'], out: 'z', name: 'up', attrs: { mode: 'nearest' } }], [['s', [4], [1, 1, 3, 3]]]),
      "slimsplit: import: node 'up' (Resize): nearest Resize of 8x8 to 24x24 with coordinate_transformation_mode 'half_pixel' and nearest_mode 'round_prefer_floor' is not supported (only an exact 2x, each output reading input i >> 1: torch's and TensorFlow's nearest upsampling by 2)");
    refuse(one([{ op: 'Resize', ins: ['y', '', 's'], out: 'z', name: 'up', attrs: { mode: 'linear', coordinate_transformation_mode: 'tf_crop_and_resize' } }], [['s', [4], [1, 1, 2, 2]]]),
      "slimsplit: import: node 'up' (Resize): Resize coordinate_transformation_mode 'tf_crop_and_resize' is not supported (half_pixel, pytorch_half_pixel, align_corners, asymmetric)");
    refuse(one([{ op: 'Resize', ins: ['y', '', 's'], out: 'z', name: 'up', attrs: { mode: 'linear' } }], [['s', [4], [1, 1, 1.3, 1.3]]]),
      "slimsplit: import: node 'up' (Resize): scales [1,1,1.2999999523162842,1.2999999523162842] on a 8x8 map give 10x10, whose ratio to the input is not the scale (the engine's resize maps by in / out); give sizes instead");
    refuse(one([{ op: 'Resize', ins: ['y', '', '', 's'], out: 'z', name: 'up', attrs: { mode: 'linear', coordinate_transformation_mode: 'pytorch_half_pixel' } }], [['s', [4], [1, 4, 1, 5]]]),
      "slimsplit: import: node 'up' (Resize): pytorch_half_pixel to a 1x5 output is not supported (a length-1 output is not half_pixel)");
    refuse(one([{ op: 'Pad', ins: ['y', 'p'], out: 'z', name: 'pad', attrs: { mode: 'reflect' } }], [['p', [8], [0, 0, 1, 1, 0, 0, 1, 1]]]),
      "slimsplit: import: node 'pad' (Pad): Pad mode 'reflect' is not supported (only constant zeros before a Conv or an AveragePool)");
    refuse(one([{ op: 'Pad', ins: ['y', 'p'], out: 'q', name: 'pad' }, { op: 'MaxPool', ins: ['q'], out: 'z', attrs: { kernel_shape: [3, 3] } }], [['p', [8], [0, 0, 1, 1, 0, 0, 1, 1]]]),
      "slimsplit: import: node 'pad' (Pad): Pad is supported only right before a Conv or an AveragePool (where it becomes their padding); 'q' is read by MaxPool");
    refuse(one([{ op: 'Mul', ins: ['y', 'c'], out: 'z', name: 'mulc' }], [['c', [1, 1, 8, 8], randn(64, 3)]]),
      "slimsplit: import: node 'mulc' (Mul): multiplying by the constant 'c' of shape [1,1,8,8] is not supported (only by a single value, or one per channel of a [1, C, H, W] tensor)");
    refuse(one([{ op: 'ReduceMean', ins: ['y'], out: 'm', name: 'rm', attrs: { axes: [1], keepdims: 1 } }, { op: 'Mul', ins: ['y', 'm'], out: 'z' }]),
      "slimsplit: import: node 'rm' (ReduceMean): ReduceMean over axes [1] of a [1, 4,8,8] tensor is not supported (only over H and W, axes [2, 3])");
    refuse(one([{ op: 'AveragePool', ins: ['y'], out: 'z', name: 'ap', attrs: { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 } }]),
      "slimsplit: import: node 'ap' (AveragePool): ceil_mode 1 gives a larger output than floor on this 8x8 input; the engine's average pool floors");
  });

  it('Clip bounds other than 0..6, BatchNormalization after an add (a per-channel conv) and of a flat tensor, constant adds, bad files', () => {
    const clip = (lo: number, hi: number) => onnxBytes({
      C: 3, H: 5, W: 5, out: 'z',
      inits: [['w', [4, 3, 3, 3], randn(108, 1)], ['lo', [], [lo]], ['hi', [], [hi]]],
      nodes: [{ op: 'Conv', ins: ['x', 'w'], out: 'y', name: 'conv', attrs: { pads: [1, 1, 1, 1] } }, { op: 'Clip', ins: ['y', 'lo', 'hi'], out: 'z', name: 'clip' }],
    });
    expect(readOnnx(clip(0, 6)).nodes[0]).toMatchObject({ op: 'conv2d', act: 'relu6' });
    refuse(clip(-1, 1), "slimsplit: import: node 'clip' (Clip): Clip(-1, 1) is not supported (only Clip(0, 6) = relu6 and Clip(0, inf) = relu)");
    const bn = onnxBytes({
      C: 3, H: 5, W: 5, out: 'z',
      inits: [['s', [3], [1, 2, 3]], ['b', [3], [0, 0, 0]], ['m', [3], [0, 0, 0]], ['v', [3], [1, 1, 1]]],
      nodes: [{ op: 'Relu', ins: ['x'], out: 'r', name: 'relu' }, { op: 'Add', ins: ['r', 'r'], out: 'y', name: 'add' }, { op: 'BatchNormalization', ins: ['y', 's', 'b', 'm', 'v'], out: 'z', name: 'bn' }],
    });
    expect(readOnnx(bn).nodes.map((n) => n.op)).toEqual(['act', 'add', 'conv2d']);
    const bn1d = onnxBytes({
      C: 3, H: 5, W: 5, out: 'z',
      inits: [['s', [75], randn(75, 1)], ['b', [75], randn(75, 2)], ['m', [75], randn(75, 3)], ['v', [75], randn(75, 4).map((v) => v + 2)]],
      nodes: [{ op: 'Flatten', ins: ['x'], out: 'f', name: 'flat' }, { op: 'BatchNormalization', ins: ['f', 's', 'b', 'm', 'v'], out: 'z', name: 'bn' }],
    });
    refuse(bn1d, "slimsplit: import: node 'bn' (BatchNormalization): BatchNormalization of a [1, 75] tensor is not supported (only [1, C, H, W])");
    const addc = onnxBytes({ C: 3, H: 5, W: 5, out: 'z', inits: [['c', [1], [1]]], nodes: [{ op: 'Add', ins: ['x', 'c'], out: 'z', name: 'addc' }] });
    refuse(addc, "slimsplit: import: node 'addc' (Add): adding the constant 'c' is not supported (only the sum of two activations)");
    const T = onnxModelType();
    const ext = T.toObject(T.decode(convModel(6, 6, 3, {})), { longs: Number }) as { graph: { initializer: Array<Record<string, unknown>> } };
    Object.assign(ext.graph.initializer[0], { rawData: undefined, dataLocation: 1, externalData: [{ key: 'location', value: 'w.bin' }] });
    refuse(T.encode(T.fromObject(ext)).finish(), "slimsplit: import: initializer 'w': tensor 'w' is stored outside the .onnx file (external data); export with the weights inside the file");
    expect(() => readOnnx(Uint8Array.of(0x08, 0x07, 0x12, 0xff))).toThrow(ImportError);
    expect(() => readOnnx(Uint8Array.of(0x08, 0x07, 0x12, 0xff))).toThrow(/ONNX file cannot be read/);
  });

  it('CLI: import an ONNX file with --mean/--std; a wrong channel count is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onnx-cli-'));
    const cli = async (...argv: string[]) => {
      let out = '', err = '';
      const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) });
      return { code, out, err };
    };
    const ok = await cli('import', join(FIX, 'tiny.onnx'), '-o', join(dir, 't.slim'), '--mean', '0.485,0.456,0.406', '--std', '0.229,0.224,0.225');
    expect(ok.err).toBe('');
    expect(ok.out).toContain('from onnx (Conv x5');
    expect(ok.out).toContain('mean 0.4850,0.4560,0.4060, std 0.2290,0.2240,0.2250');
    const bad = await cli('import', join(FIX, 'tiny.onnx'), '-o', join(dir, 't.slim'), '--mean', '0.5,0.5');
    expect(bad.code).not.toBe(0);
    expect(bad.err).toContain('--mean gives 2 values; the model input has 3 channels (give 1 or 3)');
    rmSync(dir, { recursive: true, force: true });
  });
});

// ---- torchvision's mobilenet_v2 and resnet18 (random weights), generated when torch is there ----

const FULL_MODELS = ['mobilenet_v2', 'resnet18', 'mobilenet_v3_small'];
function haveFull(): boolean {
  // files older than the script that writes them are regenerated
  const script = statSync(join(ROOT, 'train/export_onnx.py')).mtimeMs;
  return FULL_MODELS.every((m) => [`${m}.onnx`, `${m}.torch.json`].every((f) => existsSync(join(FULL, f)) && statSync(join(FULL, f)).mtimeMs >= script));
}
if (!haveFull()) {
  // Debian's torch is in /usr/bin/python3's dist-packages, which a pyenv or venv python3 on PATH does not see
  const py = process.env.SLIMSPLIT_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  const tmp = `${FULL}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  const r = spawnSync(py, [join(ROOT, 'train/export_onnx.py'), tmp], { encoding: 'utf8', timeout: 300_000 });
  if (r.status === 0) {
    mkdirSync(FULL, { recursive: true });
    for (const f of FULL_MODELS.flatMap((m) => [`${m}.onnx`, `${m}.torch.json`])) renameSync(join(tmp, f), join(FULL, f));
  } else {
    const why = (r.stderr || r.error?.message || '').trim().split('\n').pop();
    const msg = `test/import/onnx.test.ts: torchvision's ${FULL_MODELS.join('/')} ONNX files could not be generated (${py} train/export_onnx.py: ${why}); the full-model parity tests are SKIPPED (install Debian's python3-torch python3-torchvision)`;
    if (process.env.SLIMSPLIT_REQUIRE_TORCH === '1') throw new Error(msg);
    console.warn(msg);
  }
  rmSync(tmp, { recursive: true, force: true });
}

describe.skipIf(!haveFull())('torchvision mobilenet_v2, resnet18 and mobilenet_v3_small (random weights, build/onnx): engine vs onnxruntime-node', () => {
  let mnv2: Uint8Array, r18: Uint8Array;
  beforeAll(() => {
    mnv2 = new Uint8Array(readFileSync(join(FULL, 'mobilenet_v2.onnx')));
    r18 = new Uint8Array(readFileSync(join(FULL, 'resnet18.onnx')));
  });

  it('mobilenet_v2: 52 convs with relu6 fused, 10 adds, gap, gemm; 3 inputs on both builds within 1e-4', async () => {
    const ir = readOnnx(mnv2);
    expect(ir.sourceOps).toMatchObject({ Conv: 52, Clip: 35, Add: 10, Gemm: 1 });
    expect(ir.nodes.filter((n) => n.op === 'conv2d' && n.act === 'relu6').length).toBe(35);
    await parity(join(FULL, 'mobilenet_v2.onnx'), { reference: 1 });
  }, 300_000);

  it('resnet18: 7x7/2 stem, 3x3/2 max pool with padding 1, 8 residual adds with relu fused; 3 inputs on both builds within 1e-4', async () => {
    const ir = readOnnx(r18);
    expect(ir.nodes[0]).toMatchObject({ op: 'conv2d', k: 7, stride: 2, pad: 'same', act: 'relu' });
    expect(ir.nodes[1]).toMatchObject({ op: 'maxpool', k: 3, stride: 2, pad: 'same' });
    expect(ir.nodes.filter((n) => n.op === 'add' && n.act === 'relu').length).toBe(8);
    await parity(join(FULL, 'resnet18.onnx'), { reference: 1 });
  }, 300_000);

  it('mobilenet_v3_small: hard swish folded into 18 convs and the classifier Gemm, 9 squeeze-excite gates; 3 inputs on both builds within 1e-4', async () => {
    const ir = readOnnx(new Uint8Array(readFileSync(join(FULL, 'mobilenet_v3_small.onnx'))));
    expect(ir.sourceOps).toMatchObject({ Conv: 52, HardSigmoid: 28, Mul: 28, Relu: 14, GlobalAveragePool: 10, Add: 6, Gemm: 2 });
    const count = (op: string, act?: string) => ir.nodes.filter((n) => n.op === op && (act === undefined || ('act' in n && n.act === act))).length;
    expect([count('conv2d', 'hswish'), count('conv2d', 'hsigmoid'), count('conv2d', 'relu'), count('mul'), count('gap'), count('matmul', 'hswish')]).toEqual([18, 9, 14, 9, 10, 1]);
    // torch 1.13 at opset 13 writes hard swish as x * HardSigmoid(x): no standalone layer is left
    expect(count('act') + count('scale')).toBe(0);
    await parity(join(FULL, 'mobilenet_v3_small.onnx'), { reference: 1 });
  }, 300_000);

  it('mobilenet_v2 split inside a residual block lists the skip tensor; at a block output it is a single cut', () => {
    const ir = readOnnx(mnv2);
    expect(() => lowerGraph(ir, { split: '/features/features.3/conv/conv.0/conv.0.2/Clip_output_0' })).toThrow(
      "slimsplit: import: '/features/features.3/conv/conv.0/conv.0.2/Clip_output_0' is not a single-tensor cut: besides it, the layers after it also read '/features/features.2/conv/conv.2/Conv_output_0' [24, 56, 56]; split after a point where all of those have been consumed",
    );
    const { json } = lowerGraph(ir, { split: '/features/features.3/Add_output_0', splitRange: [-20, 20] });
    const graphs = json.graphs as Record<string, { layers: unknown[] }>;
    expect(Object.keys(graphs)).toEqual(['encoder', 'decoder']);
    // stem, block 1 (2 convs), blocks 2 and 3 (3 convs each), the add, then the quantizer
    expect(graphs.encoder.layers.length).toBe(1 + 2 + 3 + 3 + 1 + 1);
  });
});
