/**
 * The importers' shared middle: a small NCHW graph (IR) that every format reader (tflite.ts, and
 * later TF.js and ONNX) produces, and its lowering to the engine's exported-graph JSON
 * (docs/GRAPH.md), which src/pack.ts turns into a .slim blob as for the project's own models.
 *
 *   import { readTflite } from './tflite.js';
 *   import { lowerGraph, splitGraph } from './graph.js';
 *   const ir = readTflite(readFileSync('mobilenet_v2_1.0_224_quant.tflite'));
 *   const { json, bin } = lowerGraph(ir, { labels });                 // one 'classifier' graph
 *   const cut = lowerGraph(ir, { split: 'MobilenetV2/expanded_conv_2/add' }); // 'encoder' + 'decoder'
 *   const slim = packGraph(json, bin);
 *
 * The IR is already in the engine's conventions: activations [C, H, W] (batch 1) or [n], conv
 * weights OIHW, float32 everything (readers dequantize). Shapes are the reader's own inference,
 * checked against the file where it states them. Graph outputs are what the reader keeps: a
 * trailing softmax is dropped by the reader and noted in `outputActivation` (argmax unchanged;
 * the classifier reports logits).
 */
import { convGeometry, type ConvGeometry, type Padding } from '../engine/ops/types.js';
import type { ActName } from '../engine/ops/act.js';
import { RESIZE_MODES } from '../engine/ops/resize.js';

/** An activation tensor: [C, H, W] or [n]; `range` is the value range the source model states (quantized models). */
export interface IrTensor {
  name: string;
  shape: number[];
  range?: [number, number];
  /** the source's full name where it differs (TFLite's ';'-joined fused names) */
  sourceName?: string;
}

interface NodeBase {
  /** the source model's node (TFLite: op index and its output name) for messages */
  name: string;
  y: string;
}
export interface IrConv extends NodeBase {
  op: 'conv2d';
  x: string;
  /** OIHW [cout][cin/groups][k][k] */
  w: Float32Array;
  bias?: Float32Array;
  cin: number;
  cout: number;
  groups: number;
  k: number;
  stride: number;
  /** taps d pixels apart (atrous / dilated conv); absent means 1 */
  dilation?: number;
  pad: Padding;
  act: ActName;
}
export interface IrDense extends NodeBase {
  op: 'matmul';
  x: string;
  /** [cout][cin] */
  w: Float32Array;
  bias?: Float32Array;
  cin: number;
  cout: number;
  act: ActName;
}
export interface IrAdd extends NodeBase {
  op: 'add';
  a: string;
  b: string;
  act: ActName;
}
export interface IrGap extends NodeBase {
  op: 'gap';
  x: string;
}
export interface IrMaxpool extends NodeBase {
  op: 'maxpool';
  x: string;
  k: number;
  stride: number;
  pad: Padding;
}
/** y = act(x): a standalone activation. */
export interface IrAct extends NodeBase {
  op: 'act';
  x: string;
  act: ActName;
}
/** y = act(x * a + b) (a folded constant factor, e.g. a float16 1/6 that is not exactly 1/6; b and act default to 0 and none). */
export interface IrScale extends NodeBase {
  op: 'scale';
  x: string;
  a: number;
  b?: number;
  act?: ActName;
}
/** The same values under another shape (NCHW order unchanged): lowers to no layer at all. */
export interface IrAlias extends NodeBase {
  op: 'alias';
  x: string;
}
/** y = act(a * b): b the same shape as a, or [C] / [C, 1, 1] (one factor per channel of a). */
export interface IrMul extends NodeBase {
  op: 'mul';
  a: string;
  b: string;
  act: ActName;
}
/** y = act(a ++ b) on the channel axis (same H, W), or of the flat values (graph outputs). */
export interface IrConcat extends NodeBase {
  op: 'concat';
  a: string;
  b: string;
  act: ActName;
}
/** Bilinear resize of x [C, H, W] to y's [C, OH, OW] (TF's ResizeBilinear conventions). */
export interface IrResize extends NodeBase {
  op: 'resize_bilinear';
  x: string;
  mode: 'legacy' | 'align_corners' | 'half_pixel';
}
/** Nearest-neighbour 2x upsampling of x [C, H, W] to [C, 2H, 2W]: y[c][i][j] = x[c][i >> 1][j >> 1]. */
export interface IrUpsample extends NodeBase {
  op: 'upsample2x';
  x: string;
}
/** Channel gather (the engine's chshuffle): y[j] = x[(c % groups) * (C / groups) + floor(c / groups)], c = c0 + j, for y's channels. */
export interface IrChshuffle extends NodeBase {
  op: 'chshuffle';
  x: string;
  groups: number;
  c0: number;
}
/** k x k average pool over the pixels inside the image (TF's AvgPool), or over k x k with padding counted as zeros (countPad). */
export interface IrAvgpool extends NodeBase {
  op: 'avgpool';
  x: string;
  k: number;
  stride: number;
  pad: Padding;
  countPad?: boolean;
}
/** Softmax over the channel axis at every position (a vector: over its values). */
export interface IrSoftmax extends NodeBase {
  op: 'softmax';
  x: string;
}
export type IrNode = IrConv | IrDense | IrAdd | IrGap | IrMaxpool | IrAct | IrScale | IrAlias | IrMul | IrConcat | IrResize | IrUpsample | IrAvgpool | IrSoftmax | IrChshuffle;

/** One of several model outputs laid end to end in the graph's one output tensor. */
export interface IrOutputPart {
  /** the source model's tensor name */
  name: string;
  shape: number[];
  /** first element in the output tensor */
  offset: number;
}

export interface IrGraph {
  name: string;
  /** 'tflite' | 'tfjs' | 'onnx' */
  format: string;
  input: string;
  output: string;
  tensors: Map<string, IrTensor>;
  /** in execution order */
  nodes: IrNode[];
  /** input normalization: engine input = (pixel / 255 - mean) / std */
  mean: number[];
  std: number[];
  /** what the source applied after `output` and the importer left to the caller (argmax-neutral) */
  outputActivation?: 'softmax';
  /** source op counts, for inspect and the README */
  sourceOps: Record<string, number>;
  /** several outputs (detection heads): `output` is their concatenation, in this order */
  outputs?: IrOutputPart[];
}

/** A model that cannot be imported; names the op and node, or the tensor, that is the problem. */
export class ImportError extends Error {
  constructor(message: string) {
    super(`slimsplit: import: ${message}`);
    this.name = 'ImportError';
  }
}

/** convGeometry for the node `where`: an empty output (a kernel, dilated or not, larger than its VALID input) names the node. */
export function convGeometryAt(where: string, H: number, W: number, k: number, stride: number, pad: Padding, dilation = 1): ConvGeometry {
  try {
    return convGeometry(H, W, k, stride, pad, dilation);
  } catch (e) {
    throw new ImportError(`${where}: ${(e as Error).message.replace(/^slimsplit: /, '')}`);
  }
}

export function nodeInputs(n: IrNode): string[] {
  return n.op === 'add' || n.op === 'mul' || n.op === 'concat' ? [n.a, n.b] : [n.x];
}

/** The values of each output part, out of the (concatenated) output tensor. */
export function splitOutputs<T extends { subarray(a: number, b: number): T; length: number }>(parts: IrOutputPart[], y: T): Record<string, T> {
  const out: Record<string, T> = {};
  for (const p of parts) out[p.name] = y.subarray(p.offset, p.offset + p.shape.reduce((a, b) => a * b, 1));
  return out;
}

/**
 * The input index a nearest resize reads for output index i, in ONNX Resize's terms (the coordinate
 * transformation, then nearest_mode's rounding, then clamped to the input; TensorFlow's conventions
 * are three of its cases); NaN for an unknown mode. The importers map a resize to the engine's
 * upsample2x when this is i >> 1 for every output.
 */
export function nearestSource(i: number, len: number, out: number, ct: string, nm: string): number {
  const scale = out / len;
  let x: number;
  if (ct === 'half_pixel') x = (i + 0.5) / scale - 0.5;
  else if (ct === 'pytorch_half_pixel') x = out > 1 ? (i + 0.5) / scale - 0.5 : 0;
  else if (ct === 'align_corners') x = out > 1 ? (i * (len - 1)) / (out - 1) : 0;
  else if (ct === 'asymmetric') x = i / scale;
  else if (ct === 'tf_half_pixel_for_nn') x = (i + 0.5) / scale;
  else return NaN;
  let r: number;
  if (nm === 'floor') r = Math.floor(x);
  else if (nm === 'ceil') r = Math.ceil(x);
  else if (nm === 'round_prefer_floor') r = x - Math.floor(x) === 0.5 ? Math.floor(x) : Math.round(x);
  else if (nm === 'round_prefer_ceil') r = x - Math.floor(x) === 0.5 ? Math.ceil(x) : Math.round(x);
  else return NaN;
  return Math.min(Math.max(r, 0), len - 1);
}

/** Whether a nearest resize of a length-`len` axis to `out` reads input i >> 1 for every output i (upsample2x). */
export function nearestIsTwice(len: number, out: number, ct: string, nm: string): boolean {
  if (out !== 2 * len) return false;
  for (let i = 0; i < out; i++) if (nearestSource(i, len, out, ct, nm) !== i >> 1) return false;
  return true;
}

/**
 * The engine's padding mode that reads the same input rows and columns as explicit pads
 * [top, left, bottom, right] and gives the same output size (k: the window's extent, dilation
 * included); bottom/right padding that no output reads does not matter. ONNX's pads and a TFLite
 * or ONNX Pad before a conv or pool come this way.
 */
export function explicitPadMode(H: number, W: number, k: number, s: number, pads: number[], where: string, op: string): Padding {
  const [t, l, b, r] = pads;
  const OH = Math.floor((H + t + b - k) / s) + 1, OW = Math.floor((W + l + r - k) / s) + 1;
  if (OH < 1 || OW < 1) throw new ImportError(`${where}: ${op} ${k}x${k}/${s} with pads [${pads}] on a ${H}x${W} input gives an empty output`);
  for (const mode of ['none', 'same', 'tf-same'] as Padding[]) {
    let g;
    try {
      g = convGeometry(H, W, k, s, mode);
    } catch {
      continue;
    }
    if (g.padT === t && g.padL === l && g.OH === OH && g.OW === OW) return mode;
  }
  throw new ImportError(`${where}: pads [${t}, ${l}, ${b}, ${r}] (top, left, bottom, right) for a ${k}x${k}/${s} ${op} on a ${H}x${W} input are not supported: the engine pads by (k-1)/2 on every side, TensorFlow-style SAME (the odd one at the bottom/right), or not at all`);
}

/** Multiply-adds of one node (convs and dense layers; adds and pools count as 0). */
export function nodeMacs(n: IrNode, g: IrGraph): number {
  if (n.op === 'conv2d') {
    const y = g.tensors.get(n.y)!.shape;
    return y[0] * y[1] * y[2] * (n.cin / n.groups) * n.k * n.k;
  }
  if (n.op === 'matmul') return n.cin * n.cout;
  return 0;
}

export function graphMacs(g: IrGraph): number {
  return g.nodes.reduce((s, n) => s + nodeMacs(n, g), 0);
}

/**
 * Finds a tensor by the name the user gave: the exact name, or one of the ';'-joined names TFLite
 * gives a fused tensor, or a unique prefix of the first one ('MobilenetV2/expanded_conv_2/add').
 */
export function findTensor(g: IrGraph, name: string): string {
  if (g.tensors.has(name)) return name;
  const all = [...g.tensors.keys()];
  const parts = all.filter((t) => (g.tensors.get(t)!.sourceName ?? t).split(';').includes(name));
  if (parts.length === 1) return parts[0];
  const pre = all.filter((t) => t.split(';')[0].startsWith(name));
  if (parts.length === 0 && pre.length === 1) return pre[0];
  const cands = (parts.length ? parts : pre).slice(0, 8);
  throw new ImportError(
    cands.length
      ? `tensor '${name}' is ambiguous; it matches ${cands.map((c) => `'${c}'`).join(', ')}`
      : `the model has no tensor '${name}'; activation tensors include ${all.slice(0, 6).map((c) => `'${c.split(';')[0]}'`).join(', ')}, ... (slimsplit import --list-tensors)`,
  );
}

/**
 * The two halves of a cut at `split`: every node the split tensor depends on, then the rest.
 * Throws, listing them, if any other tensor of the first half is also read by the second (or the
 * second reads the graph input): the cut would have to send more than one tensor.
 */
export function splitGraph(g: IrGraph, split: string): { encoder: IrNode[]; decoder: IrNode[] } {
  const producer = new Map<string, IrNode>();
  for (const n of g.nodes) producer.set(n.y, n);
  if (split === g.input) throw new ImportError(`split tensor '${split}' is the model input; split after some layer`);
  if (split === g.output) throw new ImportError(`split tensor '${split}' is the model output; nothing would be left for the decoder`);
  if (!producer.has(split)) throw new ImportError(`split tensor '${split}' is produced by no node`);
  const need = new Set<IrNode>();
  const stack = [split];
  while (stack.length) {
    const t = stack.pop()!;
    const p = producer.get(t);
    if (!p || need.has(p)) continue;
    need.add(p);
    stack.push(...nodeInputs(p));
  }
  const encoder = g.nodes.filter((n) => need.has(n));
  const decoder = g.nodes.filter((n) => !need.has(n));
  const made = new Set<string>([g.input, ...encoder.map((n) => n.y)]);
  const crossing = new Set<string>();
  for (const n of decoder) for (const t of nodeInputs(n)) if (made.has(t) && t !== split) crossing.add(t);
  if (made.has(g.output)) crossing.add(g.output);
  if (crossing.size) {
    throw new ImportError(
      `'${split}' is not a single-tensor cut: besides it, the layers after it also read ${[...crossing].map((t) => `'${t}' ${fmt(g.tensors.get(t)!.shape)}`).join(', ')}; split after a point where all of those have been consumed`,
    );
  }
  if (!decoder.some((n) => nodeInputs(n).includes(split))) throw new ImportError(`split tensor '${split}' is read by no later layer`);
  return { encoder, decoder };
}

const fmt = (s: number[]): string => `[${s.join(', ')}]`;

export interface LowerOptions {
  /** split tensor name (findTensor rules); without it, one 'classifier' graph */
  split?: string;
  /** bit depths the split tensor is sent at (default 2, 4, 6, 8) */
  bits?: number[];
  /** value range of the split tensor when the model states none */
  splitRange?: [number, number];
  /** class names, one per output */
  labels?: string[];
  /** with split: code counts per bit depth, [channel][2^bits] (calibration); default flat */
  symbolCounts?: Record<string, number[][]>;
  /** with split: per mode ("members,bits"), the fraction of calibration images whose top-1 equals the unsplit model's */
  agreement?: { top1: Record<string, number>; images: number };
}

/** An exported graph (docs/GRAPH.md) and its tensors.bin, ready for packGraph. */
export interface Lowered {
  json: Record<string, unknown>;
  bin: Uint8Array;
}

/** Lowers the IR to the engine's graph JSON: one graph, or an encoder and a decoder around the split. */
export function lowerGraph(g: IrGraph, opts: LowerOptions = {}): Lowered {
  const chunks: Float32Array[] = [];
  const tensors: Record<string, { shape: number[]; offset: number }> = {};
  let offset = 0;
  const addTensor = (name: string, data: Float32Array, shape: number[]): string => {
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) throw new ImportError(`weight ${name} value ${i} is ${data[i]}`);
    tensors[name] = { shape, offset };
    chunks.push(data);
    offset += Math.ceil((data.length * 4) / 16) * 16;
    return name;
  };
  const shapeOf = (t: string): number[] => g.tensors.get(t)!.shape;
  const elems = (t: string): number => shapeOf(t).reduce((a, b) => a * b, 1);
  // alias nodes: their output is the input's buffer under another name
  const bufOf = new Map<string, string>();
  const buf = (t: string): string => bufOf.get(t) ?? t;
  const layersOf = (nodes: IrNode[], buffers: Record<string, number[]>): Record<string, unknown>[] => {
    const out: Record<string, unknown>[] = [];
    const use = (t: string): string => {
      const b = buf(t);
      buffers[b] ??= shapeOf(b);
      return b;
    };
    nodes.forEach((n) => {
      const id = `l${g.nodes.indexOf(n)}`;
      switch (n.op) {
        case 'conv2d': {
          const L: Record<string, unknown> = {
            op: 'conv2d', x: use(n.x), y: use(n.y), w: addTensor(`${id}.w`, n.w, [n.cout, n.cin / n.groups, n.k, n.k]),
            cin: n.cin, cout: n.cout, groups: n.groups, k: n.k, stride: n.stride, pad: n.pad, act: n.act,
          };
          if (n.bias) L.bias = addTensor(`${id}.b`, n.bias, [n.cout]);
          // only when it changes something: an undilated layer is written as it always was
          if ((n.dilation ?? 1) > 1 && n.k > 1) L.dilation = n.dilation;
          out.push(L);
          break;
        }
        case 'matmul': {
          const L: Record<string, unknown> = { op: 'matmul', x: use(n.x), y: use(n.y), w: addTensor(`${id}.w`, n.w, [n.cout, n.cin]), cin: n.cin, cout: n.cout, n: 1, act: n.act };
          if (n.bias) L.bias = addTensor(`${id}.b`, n.bias, [n.cout]);
          out.push(L);
          break;
        }
        case 'add':
          out.push({ op: 'add', a: use(n.a), b: use(n.b), y: use(n.y), n: elems(n.y), act: n.act });
          break;
        case 'gap': {
          const [C, H, W] = shapeOf(n.x);
          out.push({ op: 'gap', x: use(n.x), y: use(n.y), C, H, W });
          break;
        }
        case 'maxpool': {
          const [C, H, W] = shapeOf(n.x);
          out.push({ op: 'maxpool', x: use(n.x), y: use(n.y), C, H, W, k: n.k, stride: n.stride, pad: n.pad });
          break;
        }
        case 'act':
          // affine rather than act: act works in place, and x may still be read after this node
          out.push({ op: 'affine', x: use(n.x), y: use(n.y), n: elems(n.y), a: 1, b: 0, act: n.act });
          break;
        case 'scale':
          out.push({ op: 'affine', x: use(n.x), y: use(n.y), n: elems(n.y), a: n.a, b: n.b ?? 0, act: n.act ?? 'none' });
          break;
        case 'alias':
          bufOf.set(n.y, buf(n.x));
          break;
        case 'mul': {
          const [Cm] = shapeOf(n.a);
          out.push({ op: 'mul', a: use(n.a), b: use(n.b), y: use(n.y), C: Cm, HW: elems(n.a) / Cm, act: n.act });
          break;
        }
        case 'concat':
          out.push({ op: 'concat', a: use(n.a), b: use(n.b), y: use(n.y), na: elems(n.a), nb: elems(n.b), act: n.act });
          break;
        case 'avgpool': {
          const [Ca, H, W] = shapeOf(n.x);
          out.push({ op: 'avgpool', x: use(n.x), y: use(n.y), C: Ca, H, W, k: n.k, stride: n.stride, pad: n.pad, countPad: n.countPad ? 1 : 0 });
          break;
        }
        case 'softmax': {
          const [Cs] = shapeOf(n.x);
          out.push({ op: 'softmax', x: use(n.x), y: use(n.y), C: Cs, HW: elems(n.x) / Cs });
          break;
        }
        case 'resize_bilinear': {
          const [Cr, H, W] = shapeOf(n.x), [, OH, OW] = shapeOf(n.y);
          out.push({ op: 'resize_bilinear', x: use(n.x), y: use(n.y), C: Cr, H, W, OH, OW, mode: RESIZE_MODES[n.mode] });
          break;
        }
        case 'upsample2x': {
          const [Cu, H, W] = shapeOf(n.x);
          out.push({ op: 'upsample2x', x: use(n.x), y: use(n.y), C: Cu, H, W });
          break;
        }
        case 'chshuffle': {
          const sx = shapeOf(n.x), sy = shapeOf(n.y);
          out.push({ op: 'chshuffle', x: use(n.x), y: use(n.y), C: sx[0], HW: elems(n.x) / sx[0], groups: n.groups, c0: n.c0, n: sy[0] });
          break;
        }
      }
    });
    return out;
  };

  const C = g.tensors.get(g.input)!.shape;
  const meta: Record<string, unknown> = {
    source: { format: g.format, name: g.name, ops: g.sourceOps },
    macs: graphMacs(g),
  };
  if (opts.labels) {
    const outN = elems(g.output);
    if (opts.labels.length !== outN) throw new ImportError(`--labels gives ${opts.labels.length} class names, the model has ${outN} outputs`);
    meta.classes = opts.labels;
  }
  if (g.outputActivation) meta.outputActivation = g.outputActivation;
  if (g.outputs) meta.outputs = g.outputs;
  if (opts.agreement) {
    meta.referenceTop1 = opts.agreement.top1;
    meta.referenceTop1Kind = `top-1 agreement with the unsplit model on ${opts.agreement.images} calibration images`;
  }
  const json: Record<string, unknown> = {
    name: g.name,
    input: { shape: C, mean: g.mean, std: g.std },
    tensors,
    meta,
  };
  if (opts.split === undefined) {
    const buffers: Record<string, number[]> = {};
    const layers = layersOf(g.nodes, buffers);
    json.graphs = { classifier: { input: g.input, output: buf(g.output), buffers, layers } };
  } else {
    const split = findTensor(g, opts.split);
    const { encoder, decoder } = splitGraph(g, split);
    const shape = g.tensors.get(split)!.shape;
    const n = elems(split);
    const bits = opts.bits ?? [2, 4, 6, 8];
    const range = opts.splitRange ?? statedRange(g, split);
    if (!range) throw new ImportError(`split tensor '${split}' has no stated value range (the model is not quantized there and its last op has no bounded activation); give one with --split-range lo,hi, or --calibrate <dir> to measure it on images`);
    const [lo, hi] = range;
    if (!(hi > lo)) throw new ImportError(`split range [${lo}, ${hi}] is empty`);
    // one uniform quantizer per bit depth over the stated range (zero exactly representable, as TFLite's)
    const scales = bits.map((b) => Math.fround((hi - lo) / (2 ** b - 1)));
    const zps = bits.map((b, i) => Math.min(Math.max(Math.round(-lo / scales[i]), 0), 2 ** b - 1));
    const eb: Record<string, number[]> = {}, db: Record<string, number[]> = {};
    const el = layersOf(encoder, eb);
    const codesName = 'split.codes', zName = 'split.z';
    eb[codesName] = shape;
    el.push({ op: 'quantize', x: buf(split), y: codesName, n, active: { scale: { bits: scales }, zeroPoint: { bits: zps } } });
    db[codesName] = shape;
    db[zName] = shape;
    const dl: Record<string, unknown>[] = [{ op: 'dequantize', x: codesName, y: zName, n, active: { scale: { bits: scales }, zeroPoint: { bits: zps } } }];
    bufOf.set(split, zName);
    dl.push(...layersOf(decoder, db));
    json.modes = { members: [1], bits };
    json.graphs = {
      encoder: { input: g.input, output: codesName, buffers: eb, layers: el },
      decoder: { input: codesName, output: buf(g.output), buffers: db, layers: dl },
    };
    // Without calibration counts there is no data to count symbols on: flat tables (every code
    // equally likely) at each depth.
    const [Cs, Hs, Ws] = shape.length === 3 ? shape : [shape[0], 1, 1];
    meta.symbolCounts = opts.symbolCounts ?? Object.fromEntries(bits.map((b) => [String(b), Array.from({ length: Cs }, () => new Array<number>(2 ** b).fill(1))]));
    meta.split = { tensor: split, channelsPerMember: Cs, H: Hs, W: Ws, range: [lo, hi] };
  }
  const bin = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    bin.set(new Uint8Array(c.buffer, c.byteOffset, c.byteLength), at);
    at += Math.ceil(c.byteLength / 16) * 16;
  }
  return { json, bin };
}

/** The value range the model itself gives tensor t: its quantization (TFLite), else a bounded activation's. */
export function statedRange(g: IrGraph, t: string): [number, number] | undefined {
  return g.tensors.get(t)?.range ?? actRange(g, t);
}

/** The range a bounded fused activation gives its output (relu6: [0, 6]). */
function actRange(g: IrGraph, t: string): [number, number] | undefined {
  const p = g.nodes.find((n) => n.y === t);
  if (p && 'act' in p && p.act === 'relu6') return [0, 6];
  if (p && 'act' in p && (p.act === 'sigmoid' || p.act === 'hsigmoid')) return [0, 1];
  return undefined;
}
