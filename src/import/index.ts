/**
 * `slimsplit import`: a model from another framework -> a .slim blob.
 *
 *   import { importModel } from './import/index.js';
 *   const { slim, ir } = importModel(readFileSync('mobilenet_v2_1.0_224_quant.tflite'), { labels });
 *   writeFileSync('mobilenet.slim', slim);
 *   const cut = importModel(bytes, { split: 'MobilenetV2/expanded_conv_2/add' });   // encoder + decoder
 *
 * The format is told by the file's own bytes (TFLite: 'TFL3' at byte 4; TF.js: a JSON model; ONNX:
 * a protobuf ModelProto, whose first field is ir_version). The readers make the NCHW
 * IR (graph.ts), lowerGraph turns it into docs/GRAPH.md's JSON, and the ordinary packer
 * (src/pack.ts) validates and compiles it, so an imported blob is checked exactly like an exported one.
 */
import { packGraph } from '../format/pack.js';
import { readBlob } from '../format/reader.js';
import { Runner } from '../engine/plan/runner.js';
import { loadEngine } from '../engine/wasm.js';
import { toInput } from '../model/image.js';
import type { RawImage } from '../model/api.js';
import { readTflite } from './tflite.js';
import { readTfjs } from './tfjs.js';
import { readOnnx } from './onnx.js';
import { ImportError, lowerGraph, findTensor, splitGraph, statedRange, type IrGraph, type LowerOptions } from './graph.js';

export { ImportError, lowerGraph, splitGraph, splitOutputs, findTensor, statedRange, graphMacs, nodeMacs, type IrGraph, type IrNode, type IrOutputPart } from './graph.js';
export { readTflite } from './tflite.js';
export { readTfjs } from './tfjs.js';
export { readOnnx } from './onnx.js';
export { referenceForward, referenceActivations } from './reference.js';

export interface ImportOptions extends LowerOptions {
  /** TF.js: the weight shards, in manifest order */
  weights?: Uint8Array[];
  /** TF.js: import only what these tensors depend on, and make them the output (several: end to end, IrGraph.outputs) */
  output?: string | string[];
  /**
   * with split: sample images whose split codes build the coder tables (default: flat tables); when
   * the model states no range for the split tensor and splitRange is absent, the range is the
   * smallest and largest value the tensor takes on them (calibratedRange)
   */
  calibrate?: Array<RawImage | Uint8Array>;
  /** input H x W other than the model's own */
  inputSize?: [number, number];
  /** model name stored in the blob */
  name?: string;
  /**
   * input normalization, engine input = (pixel / 255 - mean) / std: one value or one per channel.
   * Overrides the model's own (ONNX files state none: torchvision's ImageNet models need
   * mean 0.485,0.456,0.406 and std 0.229,0.224,0.225)
   */
  mean?: number[];
  std?: number[];
}

export type SourceFormat = 'tflite' | 'tfjs' | 'onnx';

export function detectFormat(bytes: Uint8Array): SourceFormat {
  if (bytes.length >= 8 && String.fromCharCode(...bytes.subarray(4, 8)) === 'TFL3') return 'tflite';
  const start = new TextDecoder().decode(bytes.subarray(0, 256)).trimStart();
  if (start.startsWith('{') && /"modelTopology"|"weightsManifest"|"format"/.test(new TextDecoder().decode(bytes.subarray(0, 4096)))) return 'tfjs';
  // ONNX: a ModelProto; exporters write ir_version (field 1, varint: tag 0x08) first
  if (bytes.length >= 2 && bytes[0] === 0x08 && bytes[1] >= 1 && bytes[1] < 0x40) return 'onnx';
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new ImportError(`unknown model format (starts with ${head || 'nothing'}); supported: TFLite (.tflite), TF.js graph model (model.json), ONNX (.onnx)`);
}

/** A TF.js model.json's weight shard paths (relative to the json's folder), in manifest order. */
export function tfjsShardPaths(json: Uint8Array): string[] {
  const m = JSON.parse(new TextDecoder().decode(json)) as { weightsManifest?: Array<{ paths: string[] }> };
  return (m.weightsManifest ?? []).flatMap((g) => g.paths);
}

export function readIr(bytes: Uint8Array, opts: ImportOptions = {}): IrGraph {
  const ir = readFormat(bytes, opts);
  const C = ir.tensors.get(ir.input)!.shape[0];
  const perChannel = (v: number[] | undefined, what: string): number[] | undefined => {
    if (v === undefined) return undefined;
    if (v.length !== 1 && v.length !== C) throw new ImportError(`--${what} gives ${v.length} values; the model input has ${C} channels (give 1 or ${C})`);
    if (!v.every(Number.isFinite) || (what === 'std' && !v.every((x) => x > 0))) throw new ImportError(`--${what} ${v.join(',')}: values must be finite${what === 'std' ? ' and positive' : ''}`);
    return v.length === 1 ? new Array<number>(C).fill(v[0]) : [...v];
  };
  ir.mean = perChannel(opts.mean, 'mean') ?? ir.mean;
  ir.std = perChannel(opts.std, 'std') ?? ir.std;
  return ir;
}

function readFormat(bytes: Uint8Array, opts: ImportOptions): IrGraph {
  const format = detectFormat(bytes);
  if (format === 'onnx') {
    if (opts.output !== undefined) throw new ImportError('--output is supported for TF.js models only');
    return readOnnx(bytes, { inputSize: opts.inputSize, name: opts.name });
  }
  if (format === 'tfjs') {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      throw new ImportError(`model.json is not JSON: ${(e as Error).message}`);
    }
    return readTfjs(json as Parameters<typeof readTfjs>[0], opts.weights ?? [], { output: opts.output, inputSize: opts.inputSize, name: opts.name });
  }
  if (opts.output !== undefined) throw new ImportError('--output is supported for TF.js models only');
  return readTflite(bytes, { inputSize: opts.inputSize, name: opts.name });
}

/**
 * The blob, and where the split tensor's range came from when calibration measured it
 * (`splitRange`: the model stated none and none was given).
 */
export function importModel(bytes: Uint8Array, opts: ImportOptions = {}): { ir: IrGraph; slim: Uint8Array; splitRange?: [number, number] } {
  const ir = readIr(bytes, opts);
  let splitRange: [number, number] | undefined;
  if (opts.split !== undefined && opts.calibrate?.length && !opts.splitRange) {
    const split = findTensor(ir, opts.split);
    if (!statedRange(ir, split)) {
      splitRange = calibratedRange(ir, split, opts.calibrate);
      opts = { ...opts, splitRange };
    }
  }
  const { json, bin } = lowerGraph(ir, opts);
  let slim = packGraph(json, bin);
  if (opts.split !== undefined && opts.calibrate?.length) {
    // a classifier's modes get a reference figure, so pickMode and the rate controller can weigh
    // bytes against fidelity (detector heads have no top-1)
    const stats = calibrationStats(ir, slim, opts.calibrate, !ir.outputs);
    const agreement = stats.top1 && { top1: stats.top1, images: opts.calibrate.length };
    const again = lowerGraph(ir, { ...opts, symbolCounts: stats.symbolCounts, agreement });
    slim = packGraph(again.json, again.bin);
  }
  return { ir, slim, splitRange };
}

/**
 * The smallest and largest value tensor `split` takes on the sample images, run by the engine on
 * the layers it depends on (a graph ending there, packed like any other). Values beyond it on
 * other images are clamped by the split's quantizer: an unbounded tensor (CenterNet's residual
 * add) needs samples like the images it will see.
 */
export function calibratedRange(ir: IrGraph, split: string, images: Array<RawImage | Uint8Array>): [number, number] {
  const { encoder } = splitGraph(ir, split);
  const head: IrGraph = { ...ir, output: split, nodes: encoder, outputs: undefined, outputActivation: undefined };
  const { json, bin } = lowerGraph(head);
  const blob = readBlob(packGraph(json, bin));
  const run = new Runner(loadEngine(), blob, 'classifier');
  const shape = blob.input.shape as [number, number, number];
  let lo = Infinity, hi = -Infinity;
  for (const img of images) {
    toInput(img, shape, blob.input.mean, blob.input.std, run.inputView() as Float32Array);
    const y = run.run() as Float32Array;
    for (let i = 0; i < y.length; i++) {
      if (y[i] < lo) lo = y[i];
      if (y[i] > hi) hi = y[i];
    }
  }
  if (!(hi > lo)) throw new ImportError(`split tensor '${split}' takes the single value ${lo} on all ${images.length} calibration images: no range to quantize over; give one with --split-range lo,hi`);
  return [lo, hi];
}

/**
 * One pass of the sample images through the split model at every bit depth, the encoder run once
 * per image and depth:
 * - `symbolCounts`: the split codes counted per channel, what the coder tables are built from
 *   (src/format/pack.ts countsCoder). Every count starts at 1 so that no code the samples missed
 *   is priced out (the escape would still code it, at a cost).
 * - `top1` (classifiers, when `agreement`): per bit depth ("members,bits" keys, members 1), the
 *   fraction of the images whose top-1 through encoder, quantizer and decoder equals the unsplit
 *   network's top-1 (the engine on both).
 */
export function calibrationStats(ir: IrGraph, slim: Uint8Array, images: Array<RawImage | Uint8Array>, agreement: boolean):
  { symbolCounts: Record<string, number[][]>; top1?: Record<string, number> } {
  const blob = readBlob(slim);
  const enc = new Runner(loadEngine(), blob, 'encoder');
  const shape = blob.input.shape as [number, number, number];
  const bits = blob.axes.find((a) => a.name === 'bits')!.values;
  const split = (JSON.parse(blob.json) as { split: { channelsPerMember: number; H: number; W: number } }).split;
  const per = split.H * split.W;
  const counts: Record<string, number[][]> = {};
  for (const b of bits) counts[String(b)] = Array.from({ length: split.channelsPerMember }, () => new Array<number>(2 ** b).fill(1));
  let ref: { full: ReturnType<typeof readBlob>; run: Runner } | undefined, dec: Runner | undefined;
  if (agreement) {
    const whole = lowerGraph({ ...ir, outputs: undefined });
    const full = readBlob(packGraph(whole.json, whole.bin));
    ref = { full, run: new Runner(loadEngine(), full, 'classifier') };
    dec = new Runner(loadEngine(), blob, 'decoder');
  }
  const same = new Map<number, number>(bits.map((b) => [b, 0]));
  for (const img of images) {
    let want = -1;
    if (ref) {
      toInput(img, shape, ref.full.input.mean, ref.full.input.std, ref.run.inputView() as Float32Array);
      want = argmax(ref.run.run() as Float32Array);
    }
    for (const b of bits) {
      enc.setMode({ bits: b });
      toInput(img, shape, blob.input.mean, blob.input.std, enc.inputView() as Float32Array);
      const codes = enc.run() as Uint8Array;
      const c = counts[String(b)];
      for (let i = 0; i < codes.length; i++) c[Math.floor(i / per)][codes[i]]++;
      if (dec) {
        dec.setMode({ bits: b });
        if (argmax(dec.run(codes) as Float32Array) === want) same.set(b, same.get(b)! + 1);
      }
    }
  }
  const top1 = agreement ? Object.fromEntries(bits.map((b) => [`1,${b}`, same.get(b)! / images.length])) : undefined;
  return { symbolCounts: counts, top1 };
}

function argmax(y: ArrayLike<number>): number {
  let k = 0;
  for (let i = 1; i < y.length; i++) if (y[i] > y[k]) k = i;
  return k;
}
