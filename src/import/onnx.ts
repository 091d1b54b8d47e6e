/**
 * ONNX (`.onnx`) -> the importers' NCHW IR (src/import/graph.ts).
 *
 *   import { readOnnx } from './onnx.js';
 *   const ir = readOnnx(readFileSync('resnet18.onnx'));
 *   ir.nodes.length;     // 30: convs (BatchNorm folded), relus fused, max pool, adds, gap, gemm
 *
 * The file is a protobuf ModelProto, decoded with the npm `protobufjs` runtime from descriptors
 * generated from ONNX's onnx.proto (onnx_proto.ts, scripts/gen-onnx-proto.mjs): no hand-written
 * protobuf code. ONNX is NCHW with OIHW filters already, so layouts pass through; what changes is
 * form: BatchNormalization after a conv is folded into its weights and bias (elsewhere it is a 1x1
 * conv with a group per channel), Relu and Clip(0, 6)
 * after a conv, Gemm or Add become its fused activation, Flatten/Reshape/Identity/Dropout become
 * aliases (no layer), x * sigmoid(x) and x * hardsigmoid(x) (torch's SiLU and hard swish) become one
 * swish / hswish activation, a Pad of zeros before a Conv or an AveragePool becomes its padding, and
 * the shape arithmetic torch writes for a Resize (Shape, Slice, Concat of constants) is folded
 * into constants. Explicit pads are carried exactly when they are one of the engine's modes
 * (none, symmetric (k-1)/2, TensorFlow's SAME; a dilated conv's over its extent (k-1)*d + 1);
 * anything else the engine cannot run exactly (unequal dilations, auto_pad SAME with a dilation,
 * unequal strides, asymmetric pads of another kind, an average pool's ceil_mode that changes the
 * size, other ops; a max pool's ceil_mode is extra bottom/right padding, kept where that is a mode)
 * is refused with the node named, never approximated.
 *
 * ONNX models take already-normalized float input: the IR's normalization is x = pixel / 255
 * (mean 0, std 1) unless the caller states the model's own (ImportOptions mean/std; torchvision:
 * 0.485,0.456,0.406 and 0.229,0.224,0.225).
 */
import protobuf from 'protobufjs/light.js';
import { onnxDescriptor } from './onnx_proto.js';
import { convGeometry, type Padding } from '../engine/ops/types.js';
import type { ActName } from '../engine/ops/act.js';
import { ImportError, explicitPadMode, nearestIsTwice, type IrGraph, type IrNode, type IrTensor } from './graph.js';

export interface OnnxOptions {
  /** run at another input size than the file's (fully convolutional models) */
  inputSize?: [number, number];
  /** model name (default: the graph's name, else 'onnx') */
  name?: string;
}

// The parts of onnx.proto's messages the reader uses, as protobufjs's toObject gives them
// (camelCase fields, int64 as numbers, enums as numbers, bytes as Uint8Array).
interface OnnxTensor {
  name?: string;
  dims: number[];
  dataType?: number;
  floatData: number[];
  int32Data: number[];
  int64Data: number[];
  doubleData: number[];
  rawData?: Uint8Array;
  dataLocation?: number;
}
interface OnnxAttribute {
  name?: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: OnnxTensor;
  floats: number[];
  ints: number[];
}
interface OnnxNode {
  input: string[];
  output: string[];
  name?: string;
  opType?: string;
  domain?: string;
  attribute: OnnxAttribute[];
}
interface OnnxValueInfo {
  name?: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim: Array<{ dimValue?: number; dimParam?: string }> } } };
}
interface OnnxGraph {
  node: OnnxNode[];
  name?: string;
  initializer: OnnxTensor[];
  input: OnnxValueInfo[];
  output: OnnxValueInfo[];
  valueInfo: OnnxValueInfo[];
}
interface OnnxModel {
  irVersion?: number;
  opsetImport: Array<{ domain?: string; version?: number }>;
  producerName?: string;
  graph?: OnnxGraph;
}

/** TensorProto.DataType values the reader converts. */
const DT = { FLOAT: 1, INT32: 6, INT64: 7, FLOAT16: 10, DOUBLE: 11 } as const;
const DT_NAMES: Record<number, string> = {
  0: 'UNDEFINED', 1: 'FLOAT', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32', 7: 'INT64', 8: 'STRING',
  9: 'BOOL', 10: 'FLOAT16', 11: 'DOUBLE', 12: 'UINT32', 13: 'UINT64', 16: 'BFLOAT16',
};

export const ONNX_SUPPORTED = 'Conv, BatchNormalization (folded into a Conv before it, else a per-channel scale and shift), Relu, Clip (0..6 or 0..inf), Sigmoid, HardSigmoid, HardSwish, Add, Mul (by a constant of one value or one per channel, same shapes or per channel), Concat (channels), GlobalAveragePool, AveragePool, Pad (zeros, before a Conv or an AveragePool), ReduceMean (over H, W), MaxPool, Resize (linear; nearest by exactly 2), Softmax (channels), Flatten, Reshape, Gemm, Identity, Dropout, Constant, Shape, Gather, Add, Sub, Mul, Div, Cast (on constants), Slice (of constants, or of channels), Split (channels), Reshape + Transpose + Reshape as a channel shuffle';

let modelType: protobuf.Type | undefined;

/** Decodes a ModelProto; throws ImportError when the bytes are not one. */
export function decodeOnnx(bytes: Uint8Array): OnnxModel {
  modelType ??= protobuf.Root.fromJSON(onnxDescriptor as unknown as protobuf.INamespace).lookupType('onnx.ModelProto');
  try {
    const msg = modelType.decode(bytes);
    return modelType.toObject(msg, { longs: Number, enums: Number, arrays: true }) as OnnxModel;
  } catch (e) {
    throw new ImportError(`ONNX file cannot be read: ${(e as Error).message}`);
  }
}

/** The ModelProto type, for tests and tools that write ONNX files (encode/fromObject). */
export function onnxModelType(): protobuf.Type {
  modelType ??= protobuf.Root.fromJSON(onnxDescriptor as unknown as protobuf.INamespace).lookupType('onnx.ModelProto');
  return modelType;
}

export function readOnnx(bytes: Uint8Array, opts: OnnxOptions = {}): IrGraph {
  const model = decodeOnnx(bytes);
  if (!model.graph || !model.graph.node.length) throw new ImportError('ONNX file has no graph (or an empty one)');
  return new OnnxReader(model, model.graph, opts).read();
}

const f16 = (h: number): number => {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
};

/** A constant's values (FLOAT as stored, the other types as float64, exact) and its dims. */
function tensorValues(t: OnnxTensor, what: string): Const {
  const dims = t.dims.map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const type = t.dataType ?? 0;
  const tn = DT_NAMES[type] ?? `type ${type}`;
  if (t.dataLocation === 1) throw new ImportError(`${what}: tensor '${t.name}' is stored outside the .onnx file (external data); export with the weights inside the file`);
  const raw = t.rawData && t.rawData.length ? t.rawData : undefined;
  const size = type === DT.FLOAT || type === DT.INT32 ? 4 : type === DT.INT64 || type === DT.DOUBLE ? 8 : type === DT.FLOAT16 ? 2 : 0;
  if (size === 0) throw new ImportError(`${what}: tensor '${t.name}' has data type ${tn}; FLOAT, FLOAT16, DOUBLE, INT32 or INT64 constants are supported`);
  if (raw) {
    if (raw.length !== n * size) throw new ImportError(`${what}: tensor '${t.name}' holds ${raw.length} bytes, its dims [${dims}] of ${tn} need ${n * size}`);
    if (type === DT.FLOAT) {
      // little-endian like the blob and WebAssembly; a copy, since raw may be unaligned
      const f = new Float32Array(n);
      new Uint8Array(f.buffer).set(raw);
      return { data: f, dims };
    }
  }
  const data = new Float64Array(n);
  if (raw) {
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < n; i++) {
      if (type === DT.FLOAT) data[i] = dv.getFloat32(4 * i, true);
      else if (type === DT.INT32) data[i] = dv.getInt32(4 * i, true);
      else if (type === DT.INT64) data[i] = Number(dv.getBigInt64(8 * i, true));
      else if (type === DT.DOUBLE) data[i] = dv.getFloat64(8 * i, true);
      else data[i] = f16(dv.getUint16(2 * i, true));
    }
    return { data, dims, int: type === DT.INT32 || type === DT.INT64 };
  }
  // typed fields: FLOAT in float_data, INT32 and FLOAT16 (as bits) in int32_data, INT64, DOUBLE
  const src = type === DT.FLOAT ? t.floatData : type === DT.INT64 ? t.int64Data : type === DT.DOUBLE ? t.doubleData : t.int32Data;
  if (src.length !== n) throw new ImportError(`${what}: tensor '${t.name}' holds ${src.length} values, its dims [${dims}] need ${n}`);
  for (let i = 0; i < n; i++) data[i] = type === DT.FLOAT16 ? f16(Number(src[i])) : Number(src[i]);
  return { data, dims, int: type === DT.INT32 || type === DT.INT64 };
}

/** A Reshape's target dims: 0 copies the input's dim (unless allowzero), one -1 takes what is left. */
function reshapeDims(shape: number[], inDims: number[], allowzero: boolean): number[] {
  const dims = shape.map((d, i) => (d === 0 && !allowzero ? inDims[i] : d));
  const total = inDims.reduce((p, c) => p * c, 1);
  const known = dims.filter((d) => d !== -1).reduce((p, c) => p * c, 1);
  return dims.map((d) => (d === -1 ? total / known : d));
}

/**
 * Shape arithmetic on constants (a chunk's split point computed from Shape, as PyTorch exports
 * `x.chunk(2, dim=1)`): elementwise with a scalar broadcast; integer Div truncates, as ONNX's does.
 */
function constArith(op: string, a: Const, b: Const, where: string): Const {
  const n = Math.max(a.data.length, b.data.length);
  if (!(a.data.length === n || a.data.length === 1) || !(b.data.length === n || b.data.length === 1)) throw new ImportError(`${where}: ${op} of constants of ${a.data.length} and ${b.data.length} values is not supported`);
  const int = !!a.int && !!b.int;
  const f = (x: number, y: number): number => (op === 'Add' ? x + y : op === 'Sub' ? x - y : op === 'Mul' ? x * y : int ? Math.trunc(x / y) : x / y);
  const data = Float64Array.from({ length: n }, (_, i) => f(a.data[a.data.length === 1 ? 0 : i], b.data[b.data.length === 1 ? 0 : i]));
  const bad = data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new ImportError(`${where}: ${op} of constants gives ${data[bad]} at index ${bad} (a division by zero?)`);
  return { data, dims: a.data.length === n ? a.dims : b.dims, int };
}

interface Const {
  data: Float32Array | Float64Array;
  dims: number[];
  /** an INT32 or INT64 tensor (integer Div truncates) */
  int?: boolean;
}

class OnnxReader {
  private readonly tensors = new Map<string, IrTensor>();
  private readonly nodes: IrNode[] = [];
  private readonly sourceOps: Record<string, number> = {};
  /** ONNX tensor name -> IR activation name (aliases map several ONNX names to one) */
  private readonly act = new Map<string, string>();
  private readonly consts = new Map<string, Const>();
  /** IR tensor -> the IR node that makes it */
  private readonly producer = new Map<string, IrNode>();
  /** how many node inputs (and graph outputs) read each ONNX tensor */
  private readonly uses = new Map<string, number>();
  /** shapes the file states (value_info, inputs, outputs), batch first */
  private readonly stated = new Map<string, Array<number | undefined>>();
  private readonly usedNames = new Set<string>();
  /** ONNX tensor -> the indices of the nodes that read it */
  private readonly readers = new Map<string, number[]>();
  /** Mul node index -> x, for x * sigmoid(x) and x * hardsigmoid(x) (the gate node makes no layer) */
  private readonly swish = new Map<number, { x: string; act: ActName }>();
  /** Pad output -> its input and [top, left, bottom, right], taken by the AveragePool that reads it */
  private readonly padded = new Map<string, { x: string; pads: number[] }>();
  /** a channel shuffle on its way (Reshape to [1, g, C/g, H, W], then Transpose): ONNX tensor -> input and groups */
  private readonly grouped = new Map<string, { x: string; groups: number; step: 'reshape' | 'transpose' }>();

  constructor(
    private readonly model: OnnxModel,
    private readonly g: OnnxGraph,
    private readonly opts: OnnxOptions,
  ) {}

  private where(k: number, n: OnnxNode): string {
    return n.name ? `node '${n.name}' (${n.opType})` : `node ${k} (${n.opType}, output '${n.output[0]}')`;
  }

  /** Registers ONNX tensor `onnxName` as an activation of the given IR shape, checked against the file's. */
  private output(onnxName: string, shape: number[], where: string): string {
    const st = this.stated.get(onnxName);
    if (st && !this.opts.inputSize) {
      const mine = [1, ...shape];
      // a rank-2 [1, n] file shape is the IR's [n]; [1, C, 1, 1] is the IR's [C, 1, 1]
      const ok = st.length === mine.length && st.every((d, i) => d === undefined || d === mine[i]);
      if (!ok) throw new ImportError(`${where}: output '${onnxName}' has shape [${st.map((d) => d ?? '?')}] in the file, the importer computes [${mine}]`);
    }
    // blob names are at most 255 bytes, and unique
    let name = onnxName.slice(0, 200) || `t${this.tensors.size}`;
    if (this.usedNames.has(name)) name = `${name}#${this.tensors.size}`;
    this.usedNames.add(name);
    this.tensors.set(name, { name, shape, sourceName: onnxName !== name ? onnxName : undefined });
    this.act.set(onnxName, name);
    return name;
  }

  private input(onnxName: string, where: string): string {
    const n = this.act.get(onnxName);
    if (n !== undefined) return n;
    if (this.consts.has(onnxName)) throw new ImportError(`${where}: input '${onnxName}' is a constant where an activation is expected (constant activations are not supported)`);
    throw new ImportError(`${where}: input '${onnxName}' is neither the model input nor made by an earlier node`);
  }

  private constant(onnxName: string | undefined, where: string, what: string): Const {
    if (!onnxName) throw new ImportError(`${where}: ${what} is missing`);
    const c = this.consts.get(onnxName);
    if (!c) throw new ImportError(`${where}: ${what} '${onnxName}' must be a constant (an initializer or a Constant node); computed ${what}s are not supported`);
    return c;
  }

  private shape(name: string): number[] {
    return this.tensors.get(name)!.shape;
  }

  private push(n: IrNode): void {
    this.nodes.push(n);
    this.producer.set(n.y, n);
  }

  /**
   * The node that makes IR tensor x, when this node is its only reader (so it can absorb a
   * following BatchNormalization or activation); undefined otherwise.
   */
  private soleProducer(onnxX: string, x: string, readers = 1): IrNode | undefined {
    if (this.uses.get(onnxX) !== readers) return undefined;
    // an alias (Identity, Flatten) in between: other names may read the same values
    for (const [o, t] of this.act) if (t === x && o !== onnxX) return undefined;
    return this.producer.get(x);
  }

  /** Renames the output of node p (which `onnxOld` named) to ONNX tensor `onnxNew`. */
  private retarget(p: IrNode, onnxOld: string, onnxNew: string, where: string): void {
    const shape = this.shape(p.y);
    this.tensors.delete(p.y);
    this.producer.delete(p.y);
    this.act.delete(onnxOld);
    p.y = this.output(onnxNew, shape, where);
    this.producer.set(p.y, p);
  }

  private attrs(n: OnnxNode): Map<string, OnnxAttribute> {
    return new Map(n.attribute.map((a) => [a.name ?? '', a]));
  }

  /** Explicit pads [t, l, b, r] from `pads` or `auto_pad` (ONNX's 4-value order is t, l, b, r). */
  private pads(a: Map<string, OnnxAttribute>, H: number, W: number, k: number, s: number, where: string): number[] {
    const auto = a.get('auto_pad')?.s ? new TextDecoder().decode(a.get('auto_pad')!.s) : 'NOTSET';
    if (auto === 'NOTSET' || auto === '') {
      const p = a.get('pads')?.ints.map(Number) ?? [0, 0, 0, 0];
      if (p.length !== 4) throw new ImportError(`${where}: pads [${p}] must have 4 values (2-D)`);
      if (p.some((v) => v < 0)) throw new ImportError(`${where}: negative pads [${p}] (cropping) are not supported`);
      return p;
    }
    if (auto === 'VALID') return [0, 0, 0, 0];
    if (auto !== 'SAME_UPPER' && auto !== 'SAME_LOWER') throw new ImportError(`${where}: auto_pad '${auto}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`);
    const tot = (n: number): number => Math.max((Math.ceil(n / s) - 1) * s + k - n, 0);
    const th = tot(H), tw = tot(W);
    // SAME_UPPER puts the odd one at the end (TensorFlow's SAME), SAME_LOWER at the start
    const lo = (v: number): number => (auto === 'SAME_UPPER' ? v >> 1 : v - (v >> 1));
    return [lo(th), lo(tw), th - lo(th), tw - lo(tw)];
  }

  /** kernel k, stride s (and a conv's dilation d) of a 2-D window op; refuses what the engine cannot do. */
  private window(a: Map<string, OnnxAttribute>, kDefault: number[] | undefined, where: string, op: string): { k: number; s: number; d: number } {
    const ks = a.get('kernel_shape')?.ints.map(Number) ?? kDefault;
    if (!ks || ks.length !== 2) throw new ImportError(`${where}: kernel_shape [${ks ?? ''}] is not 2-D`);
    if (kDefault && ks.join() !== kDefault.join()) throw new ImportError(`${where}: kernel_shape [${ks}] differs from the weights' [${kDefault}]`);
    if (ks[0] !== ks[1]) throw new ImportError(`${where}: ${op} kernel ${ks[0]}x${ks[1]} is not square`);
    const st = a.get('strides')?.ints.map(Number) ?? [1, 1];
    if (st.length !== 2 || st[0] !== st[1]) throw new ImportError(`${where}: strides [${st}] differ; the engine needs equal strides`);
    const dil = a.get('dilations')?.ints.map(Number) ?? [1, 1];
    if (op === 'conv') {
      if (dil.length !== 2 || dil[0] !== dil[1]) throw new ImportError(`${where}: dilations [${dil}] differ; the engine needs equal dilations`);
      if (!(Number.isInteger(dil[0]) && dil[0] >= 1)) throw new ImportError(`${where}: dilations [${dil}] are not positive integers`);
    } else if (dil.some((d) => d !== 1)) throw new ImportError(`${where}: dilations [${dil}] are not supported (the engine's pools have dilation 1)`);
    return { k: ks[0], s: st[0], d: op === 'conv' ? dil[0] : 1 };
  }

  /**
   * y0 = act(x): folded into the layer that made x when the `readers` nodes of this pattern are
   * all that read x (1, or 2 for x * gate(x)), else a standalone activation layer.
   */
  private activation(onnxX: string, y0: string, act: ActName, name: string, where: string, readers = 1): void {
    const x = this.input(onnxX, where);
    const p = this.soleProducer(onnxX, x, readers);
    if (p && (p.op === 'conv2d' || p.op === 'matmul' || p.op === 'add' || p.op === 'mul' || p.op === 'concat') && p.act === 'none') {
      p.act = act;
      this.retarget(p, onnxX, y0, where);
    } else {
      this.push({ op: 'act', name, x, y: this.output(y0, this.shape(x), where), act });
    }
  }

  /** The index of the Mul node that computes x * gate when gate node n (gate = f(x)) is read by nothing else. */
  private swishMul(n: OnnxNode): number | undefined {
    const x = n.input[0], gate = n.output[0];
    const r = this.readers.get(gate) ?? [];
    if (r.length !== 1 || this.uses.get(gate) !== 1 || !this.act.has(x)) return undefined;
    const m = this.g.node[r[0]];
    if (m.opType !== 'Mul' || (m.domain && m.domain !== 'ai.onnx') || m.input.length !== 2) return undefined;
    const [i0, i1] = m.input;
    return (i0 === x && i1 === gate) || (i1 === x && i0 === gate) ? r[0] : undefined;
  }

  /**
   * A max pool's ceil_mode as padding: the extra last window (ceil's, dropped where it would start in
   * the bottom or right padding, as onnxruntime and PyTorch do) reads rows and columns past the input,
   * which a max ignores, so it is the floor output of pads grown at the bottom and right. padMode
   * then says whether the engine has that geometry (GoogLeNet's 3x3/2 pools on even sizes: TF's SAME).
   */
  private ceilPads(a: Map<string, OnnxAttribute>, h: number, w: number, k: number, s: number, p: number[]): number[] {
    if (Number(a.get('ceil_mode')?.i ?? 0) !== 1) return p;
    const grow = (n: number, p0: number, p1: number): number => {
      let out = Math.ceil((n + p0 + p1 - k) / s) + 1;
      if ((out - 1) * s >= n + p0) out--;
      return Math.max(p1, (out - 1) * s + k - n - p0);
    };
    return [p[0], p[1], grow(h, p[0], p[2]), grow(w, p[1], p[3])];
  }

  /** y0 = x * w[c] + bias[c] per channel c of x [C, H, W]: a 1x1 conv with one group per channel (an activation after it folds in). */
  private perChannel(name: string, x: string, y0: string, w: Float32Array, bias: Float32Array | undefined, where: string): void {
    const s = this.shape(x), C = s[0];
    this.push({ op: 'conv2d', name, x, y: this.output(y0, s, where), w, bias, cin: C, cout: C, groups: C, k: 1, stride: 1, pad: 'none', act: 'none' });
  }

  /** Checks a pool's ceil_mode against the engine's floor. */
  private ceilMode(a: Map<string, OnnxAttribute>, h: number, w: number, k: number, s: number, p: number[], where: string, op: string): void {
    if (Number(a.get('ceil_mode')?.i ?? 0) !== 1) return;
    const fl = (n2: number, p0: number, p1: number): number => Math.floor((n2 + p0 + p1 - k) / s) + 1;
    const ce = (n2: number, p0: number, p1: number): number => Math.ceil((n2 + p0 + p1 - k) / s) + 1;
    if (fl(h, p[0], p[2]) !== ce(h, p[0], p[2]) || fl(w, p[1], p[3]) !== ce(w, p[1], p[3])) {
      throw new ImportError(`${where}: ceil_mode 1 gives a larger output than floor on this ${h}x${w} input; the engine's ${op} floors`);
    }
  }

  private str(a: Map<string, OnnxAttribute>, key: string, dflt: string): string {
    const v = a.get(key)?.s;
    return v && v.length ? new TextDecoder().decode(v) : dflt;
  }

  read(): IrGraph {
    const g = this.g;
    const opset = this.model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0;
    for (const t of g.initializer) this.consts.set(t.name ?? '', tensorValues(t, `initializer '${t.name}'`));
    for (const v of [...g.valueInfo, ...g.input, ...g.output]) {
      const d = v.type?.tensorType?.shape?.dim;
      if (v.name && d) this.stated.set(v.name, d.map((x) => (x.dimValue !== undefined && x.dimValue !== null && !x.dimParam ? Number(x.dimValue) : undefined)));
    }
    for (const n of g.node) for (const i of n.input) if (i) this.uses.set(i, (this.uses.get(i) ?? 0) + 1);
    g.node.forEach((n, k) => {
      for (const i of new Set(n.input)) if (i) (this.readers.get(i) ?? this.readers.set(i, []).get(i)!).push(k);
    });
    for (const o of g.output) this.uses.set(o.name ?? '', (this.uses.get(o.name ?? '') ?? 0) + 1);

    // the image input: the graph inputs that are not initializers (older exporters list both)
    const inputs = g.input.filter((v) => !this.consts.has(v.name ?? ''));
    if (inputs.length !== 1) throw new ImportError(`ONNX model has ${inputs.length} inputs (${inputs.map((v) => `'${v.name}'`).join(', ')}); one image input is supported`);
    if (g.output.length !== 1) throw new ImportError(`ONNX model has ${g.output.length} outputs; one is supported`);
    const inV = inputs[0];
    const inName = inV.name ?? '';
    const et = inV.type?.tensorType?.elemType;
    if (et !== DT.FLOAT) throw new ImportError(`input '${inName}' has element type ${DT_NAMES[et ?? 0] ?? et}; FLOAT inputs are supported`);
    const inShape = this.stated.get(inName) ?? [];
    if (inShape.length !== 4 || (inShape[0] !== undefined && inShape[0] !== 1)) throw new ImportError(`input '${inName}' has shape [${inShape.map((d) => d ?? '?')}]; expected [1, C, H, W]`);
    const [H, W] = this.opts.inputSize ?? [inShape[2], inShape[3]];
    const Cin = inShape[1];
    if (!Cin || !H || !W) throw new ImportError(`input '${inName}' has shape [${inShape.map((d) => d ?? '?')}] with symbolic C, H or W; give the size with --input-size HxW`);
    const irIn = this.output(inName, [Cin, H, W], 'model input');
    const outName = g.output[0].name ?? '';
    let outputActivation: 'softmax' | undefined;

    g.node.forEach((n, k) => {
      const op = n.opType ?? '';
      this.sourceOps[op] = (this.sourceOps[op] ?? 0) + 1;
      const where = this.where(k, n);
      if (n.domain && n.domain !== 'ai.onnx') throw new ImportError(`${where}: op ${n.domain}.${op} is not supported (only the default ONNX domain; supported: ${ONNX_SUPPORTED})`);
      const a = this.attrs(n);
      const y0 = n.output[0];
      const name = n.name || `${k}:${op}`;
      switch (op) {
        case 'Conv': {
          // a Pad (zeros) right before (tf2onnx writes TF's SAME at stride 2 so): the conv's own pads
          const pre = this.padded.get(n.input[0]);
          const x = pre ? pre.x : this.input(n.input[0], where);
          const [C, h, w] = this.shape(x);
          const wt = this.constant(n.input[1], where, 'weight');
          const bias = n.input[2] ? this.constant(n.input[2], where, 'bias') : undefined;
          if (wt.dims.length !== 4) throw new ImportError(`${where}: weight dims [${wt.dims}] are not 2-D OIHW`);
          const [cout, cinG, kh, kw] = wt.dims;
          const { k: kk, s, d } = this.window(a, [kh, kw], where, 'conv');
          const groups = Number(a.get('group')?.i ?? 1);
          if (groups < 1 || C % groups !== 0 || cout % groups !== 0 || cinG * groups !== C) {
            throw new ImportError(`${where}: weight [${wt.dims}] with group ${groups} does not fit ${C} input channels`);
          }
          if (kk !== 1 && kk !== 3 && kk !== 5 && kk !== 7) throw new ImportError(`${where}: kernel ${kk}x${kk} is not supported (the engine's convolutions are 1x1, 3x3, 5x5 or 7x7)`);
          if (s !== 1 && s !== 2) throw new ImportError(`${where}: stride ${s} is not supported (the engine's convolutions have stride 1 or 2)`);
          if (bias && bias.data.length !== cout) throw new ImportError(`${where}: bias has ${bias.data.length} values for ${cout} output channels`);
          // a dilated kernel pads and sizes by the extent it reads, (k-1)*d + 1
          const ke = (kk - 1) * d + 1;
          const auto = a.get('auto_pad')?.s ? new TextDecoder().decode(a.get('auto_pad')!.s) : '';
          if (d > 1 && auto.startsWith('SAME')) throw new ImportError(`${where}: auto_pad ${auto} with dilations [${d},${d}] is not supported (onnxruntime refuses it too); give explicit pads`);
          const own = this.pads(a, h, w, ke, s, where);
          const pads = pre ? own.map((v, i) => v + pre.pads[i]) : own;
          const pad = explicitPadMode(h, w, ke, s, pads, where, d > 1 ? `conv (${kk}x${kk} dilated by ${d})` : 'conv');
          const geo = convGeometry(h, w, kk, s, pad, d);
          const y = this.output(y0, [cout, geo.OH, geo.OW], where);
          this.push({
            op: 'conv2d', name, x, y, w: new Float32Array(wt.data), bias: bias ? new Float32Array(bias.data) : undefined,
            cin: C, cout, groups, k: kk, stride: s, ...(d > 1 ? { dilation: d } : {}), pad, act: 'none',
          });
          break;
        }
        case 'BatchNormalization': {
          if (n.output.filter(Boolean).length > 1) throw new ImportError(`${where}: training-mode BatchNormalization (running mean/var outputs) is not supported`);
          const x = this.input(n.input[0], where);
          const p = this.soleProducer(n.input[0], x);
          const [gamma, beta, mean, vari] = [1, 2, 3, 4].map((i) => this.constant(n.input[i], where, ['scale', 'bias', 'mean', 'var'][i - 1]).data);
          const eps = a.get('epsilon')?.f ?? 1e-5;
          if (!p || p.op !== 'conv2d' || p.act !== 'none') {
            // not foldable (after a Concat, an Add, an activation: DenseNet's pre-activation
            // blocks): y = x * f + (beta - mean * f) per channel, a 1x1 conv with a group per channel
            const sx = this.shape(x);
            if (sx.length !== 3) throw new ImportError(`${where}: BatchNormalization of a [1, ${sx}] tensor is not supported (only [1, C, H, W])`);
            const C = sx[0];
            for (const v of [gamma, beta, mean, vari]) if (v.length !== C) throw new ImportError(`${where}: parameters have ${v.length} values for ${C} channels`);
            const w = new Float32Array(C), bias = new Float32Array(C);
            for (let c = 0; c < C; c++) {
              const f = gamma[c] / Math.sqrt(vari[c] + eps);
              w[c] = f;
              bias[c] = beta[c] - mean[c] * f;
            }
            this.perChannel(name, x, y0, w, bias, where);
            break;
          }
          for (const v of [gamma, beta, mean, vari]) if (v.length !== p.cout) throw new ImportError(`${where}: parameters have ${v.length} values for ${p.cout} channels`);
          const per = p.w.length / p.cout;
          const w2 = new Float32Array(p.w.length), b2 = new Float32Array(p.cout);
          for (let c = 0; c < p.cout; c++) {
            const f = gamma[c] / Math.sqrt(vari[c] + eps);
            for (let i = 0; i < per; i++) w2[c * per + i] = p.w[c * per + i] * f;
            b2[c] = ((p.bias ? p.bias[c] : 0) - mean[c]) * f + beta[c];
          }
          p.w = w2;
          p.bias = b2;
          this.retarget(p, n.input[0], y0, where);
          break;
        }
        case 'Relu':
        case 'Clip': {
          let act: ActName = 'relu';
          if (op === 'Clip') {
            // opset < 11: min/max attributes; from 11 on: optional inputs 1 and 2
            const lo = opset < 11 ? (a.get('min')?.f ?? -Infinity) : n.input[1] ? this.constant(n.input[1], where, 'min').data[0] : -Infinity;
            const hi = opset < 11 ? (a.get('max')?.f ?? Infinity) : n.input[2] ? this.constant(n.input[2], where, 'max').data[0] : Infinity;
            if (lo === 0 && hi === 6) act = 'relu6';
            else if (!(lo === 0 && hi === Infinity)) throw new ImportError(`${where}: Clip(${lo}, ${hi}) is not supported (only Clip(0, 6) = relu6 and Clip(0, inf) = relu)`);
          }
          const x = this.input(n.input[0], where);
          const p = this.soleProducer(n.input[0], x);
          if (p && (p.op === 'conv2d' || p.op === 'matmul' || p.op === 'add') && p.act === 'none') {
            p.act = act;
            this.retarget(p, n.input[0], y0, where);
          } else {
            const y = this.output(y0, this.shape(x), where);
            this.push({ op: 'act', name, x, y, act });
          }
          break;
        }
        case 'Add': {
          if (this.consts.has(n.input[0]) && this.consts.has(n.input[1])) {
            this.consts.set(y0, constArith(op, this.consts.get(n.input[0])!, this.consts.get(n.input[1])!, where));
            break;
          }
          for (const i of n.input) if (this.consts.has(i)) throw new ImportError(`${where}: adding the constant '${i}' is not supported (only the sum of two activations)`);
          const x1 = this.input(n.input[0], where), x2 = this.input(n.input[1], where);
          if (this.shape(x1).join() !== this.shape(x2).join()) throw new ImportError(`${where}: broadcasting add of [${this.shape(x1)}] and [${this.shape(x2)}] is not supported`);
          const y = this.output(y0, this.shape(x1), where);
          this.push({ op: 'add', name, a: x1, b: x2, y, act: 'none' });
          break;
        }
        case 'GlobalAveragePool': {
          const x = this.input(n.input[0], where);
          const y = this.output(y0, [this.shape(x)[0], 1, 1], where);
          this.push({ op: 'gap', name, x, y });
          break;
        }
        case 'AveragePool': {
          // a Pad (zeros) right before: its pads, counted in the mean (PyTorch's count_include_pad export)
          const pre = this.padded.get(n.input[0]);
          const x = pre ? pre.x : this.input(n.input[0], where);
          const [C, h, w] = this.shape(x);
          if (this.shape(x).length !== 3) throw new ImportError(`${where}: average pool of a [${this.shape(x)}] tensor is not supported (2-D maps)`);
          const ks = a.get('kernel_shape')?.ints.map(Number) ?? [];
          const st = a.get('strides')?.ints.map(Number) ?? [1, 1];
          const own = this.pads(a, h, w, ks[0] ?? 0, st[0] ?? 1, where);
          if (pre && own.some((v) => v !== 0)) throw new ImportError(`${where}: an average pool with pads [${own}] after a Pad is not supported (one of the two may pad)`);
          if (!pre && ks[0] === h && ks[1] === w && own.every((v) => v === 0) && Number(a.get('ceil_mode')?.i ?? 0) === 0) {
            // the whole map: global average pooling
            this.push({ op: 'gap', name, x, y: this.output(y0, [C, 1, 1], where) });
            break;
          }
          const { k: kk, s: ss } = this.window(a, undefined, where, 'average pool');
          const p = pre ? pre.pads : own;
          this.ceilMode(a, h, w, kk, ss, p, where, 'average pool');
          const pad = explicitPadMode(h, w, kk, ss, p, where, 'average pool');
          const geo = convGeometry(h, w, kk, ss, pad);
          if (Math.max(geo.padT, geo.padL, geo.padB, geo.padR) >= kk) throw new ImportError(`${where}: pads [${p}] must be below the kernel size ${kk}`);
          // count_include_pad 1: the mean over k x k, padding counted as zeros; 0: over the pixels inside
          const countPad = !!pre || Number(a.get('count_include_pad')?.i ?? 0) === 1;
          this.push({ op: 'avgpool', name, x, y: this.output(y0, [C, geo.OH, geo.OW], where), k: kk, stride: ss, pad, countPad });
          break;
        }
        case 'Pad': {
          const x = this.input(n.input[0], where);
          const mode = this.str(a, 'mode', 'constant');
          if (mode !== 'constant') throw new ImportError(`${where}: Pad mode '${mode}' is not supported (only constant zeros before a Conv or an AveragePool)`);
          // opset < 11: pads and value as attributes; from 11 on: inputs 1 and 2
          const pads = opset < 11 ? (a.get('pads')?.ints.map(Number) ?? []) : Array.from(this.constant(n.input[1], where, 'pads').data);
          const value = opset < 11 ? (a.get('value')?.f ?? 0) : n.input[2] ? this.constant(n.input[2], where, 'constant_value').data[0] : 0;
          if (n.input[3]) throw new ImportError(`${where}: Pad with an axes input is not supported`);
          if (pads.length !== 8 || pads[0] || pads[1] || pads[4] || pads[5] || pads.some((v) => v < 0)) throw new ImportError(`${where}: pads [${pads}] are not supported (only non-negative padding of H and W of a [1, C, H, W] tensor)`);
          if (value !== 0) throw new ImportError(`${where}: padding with ${value} is not supported (only zeros)`);
          const tlbr = [pads[2], pads[3], pads[6], pads[7]];
          if (tlbr.every((v) => v === 0)) {
            this.act.set(y0, x);
            break;
          }
          const rd = (this.readers.get(y0) ?? []).map((r) => this.g.node[r].opType);
          if (!rd.length || rd.some((o) => o !== 'AveragePool' && o !== 'Conv') || this.uses.get(y0) !== rd.length) {
            throw new ImportError(`${where}: Pad is supported only right before a Conv or an AveragePool (where it becomes their padding); '${y0}' is read by ${rd.length ? rd.join(', ') : 'the graph output'}`);
          }
          this.padded.set(y0, { x, pads: tlbr });
          break;
        }
        case 'ReduceMean': {
          const x = this.input(n.input[0], where);
          const s = this.shape(x);
          // opset < 18: axes attribute; from 18 on: an optional input
          const axes = opset < 18 ? a.get('axes')?.ints.map(Number) : n.input[1] ? Array.from(this.constant(n.input[1], where, 'axes').data) : undefined;
          const ax = (axes ?? []).map((v) => (v < 0 ? v + s.length + 1 : v)).sort().join();
          if (s.length !== 3 || ax !== '2,3') throw new ImportError(`${where}: ReduceMean over axes [${axes ?? 'all'}] of a [1, ${s}] tensor is not supported (only over H and W, axes [2, 3])`);
          const keep = Number(a.get('keepdims')?.i ?? 1) === 1;
          this.push({ op: 'gap', name, x, y: this.output(y0, keep ? [s[0], 1, 1] : [s[0]], where) });
          break;
        }
        case 'MaxPool': {
          if (n.output.filter(Boolean).length > 1) throw new ImportError(`${where}: the Indices output of MaxPool is not supported`);
          const x = this.input(n.input[0], where);
          const [C, h, w] = this.shape(x);
          const { k: kk, s } = this.window(a, undefined, where, 'max pool');
          const given = this.pads(a, h, w, kk, s, where);
          const p = this.ceilPads(a, h, w, kk, s, given);
          const pad = explicitPadMode(h, w, kk, s, p, where, p === given ? 'max pool' : 'max pool (ceil_mode 1: the extra window as bottom/right padding)');
          const geo = convGeometry(h, w, kk, s, pad);
          if (Math.max(geo.padT, geo.padL, geo.padB, geo.padR) >= kk) throw new ImportError(`${where}: pads [${p}] must be below the kernel size ${kk}`);
          const y = this.output(y0, [C, geo.OH, geo.OW], where);
          this.push({ op: 'maxpool', name, x, y, k: kk, stride: s, pad });
          break;
        }
        case 'Flatten':
        case 'Reshape': {
          const gs = this.grouped.get(n.input[0]);
          if (op === 'Reshape' && gs?.step === 'transpose') {
            // the end of ShuffleNet's channel shuffle: [1, C/g, g, H, W] back to [1, C, H, W]
            const [C, h, w] = this.shape(gs.x);
            const shp = Array.from(this.constant(n.input[1], where, 'shape').data);
            const full = reshapeDims(shp, [1, C / gs.groups, gs.groups, h, w], !!Number(a.get('allowzero')?.i ?? 0));
            if (full.join() !== [1, C, h, w].join()) throw new ImportError(`${where}: a channel shuffle must reshape back to [1, ${C}, ${h}, ${w}], not [${shp}]`);
            this.push({ op: 'chshuffle', name, x: gs.x, y: this.output(y0, [C, h, w], where), groups: gs.groups, c0: 0 });
            break;
          }
          const x = this.input(n.input[0], where);
          const s = this.shape(x);
          const total = s.reduce((p, c) => p * c, 1);
          let out: number[];
          if (op === 'Flatten') {
            const axis = Number(a.get('axis')?.i ?? 1);
            if (axis !== 0 && axis !== 1 && axis !== -s.length - 1) throw new ImportError(`${where}: Flatten axis ${axis} is not supported (only 1: [N, C*H*W])`);
            out = [total];
          } else {
            const shp = Array.from(this.constant(n.input[1], where, 'shape').data);
            const inDims = [1, ...s];
            const full = reshapeDims(shp, inDims, !!Number(a.get('allowzero')?.i ?? 0));
            if (full.some((d) => !Number.isInteger(d) || d < 1) || full.reduce((p, c) => p * c, 1) !== total) throw new ImportError(`${where}: reshape of [${inDims}] to [${shp}] does not keep ${total} values`);
            // NCHW order is the buffer's order: batch 1 and any C, H, W (or [1, n]) is the same memory
            if (full.length === 2 && full[0] === 1) out = [full[1]];
            else if (full.length === 4 && full[0] === 1) out = full.slice(1);
            else if (full.length === 5 && full[0] === 1 && s.length === 3 && full[1] * full[2] === s[0] && full[3] === s[1] && full[4] === s[2]) {
              // ShuffleNet's channel shuffle begins: [1, g, C/g, H, W], then Transpose [0, 2, 1, 3, 4], then back
              const rd = (this.readers.get(y0) ?? []).map((r) => this.g.node[r]);
              const tp = rd[0];
              const perm = tp ? (this.attrs(tp).get('perm')?.ints.map(Number) ?? []) : [];
              if (rd.length !== 1 || this.uses.get(y0) !== 1 || tp.opType !== 'Transpose' || perm.join() !== '0,2,1,3,4') {
                throw new ImportError(`${where}: reshape to [${full}] is supported only as the start of a channel shuffle (Reshape [1, g, C/g, H, W], Transpose perm [0, 2, 1, 3, 4], Reshape [1, C, H, W]); '${y0}' is read by ${rd.length ? rd.map((q) => q.opType + (q.opType === 'Transpose' ? ` perm [${perm}]` : '')).join(', ') : 'the graph output'}`);
              }
              this.grouped.set(y0, { x, groups: full[1], step: 'reshape' });
              break;
            } else throw new ImportError(`${where}: reshape to [${full}] is not supported (only [1, n], [1, C, H, W], or a channel shuffle's [1, g, C/g, H, W])`);
          }
          const y = this.output(y0, out, where);
          this.push({ op: 'alias', name, x, y });
          break;
        }
        case 'Gemm': {
          const x = this.input(n.input[0], where);
          const s = this.shape(x);
          if (s.length !== 1) throw new ImportError(`${where}: Gemm on a [${s}] activation is not supported (flatten it to [1, n] first)`);
          if (Number(a.get('transA')?.i ?? 0) !== 0) throw new ImportError(`${where}: transA = 1 is not supported`);
          const b = this.constant(n.input[1], where, 'B');
          const transB = Number(a.get('transB')?.i ?? 0) === 1;
          if (b.dims.length !== 2) throw new ImportError(`${where}: B dims [${b.dims}] are not 2-D`);
          const [cin, cout] = transB ? [b.dims[1], b.dims[0]] : b.dims;
          if (cin !== s[0]) throw new ImportError(`${where}: B [${b.dims}]${transB ? ' (transposed)' : ''} expects ${cin} inputs, the activation has ${s[0]}`);
          const alpha = a.get('alpha')?.f ?? 1, beta = a.get('beta')?.f ?? 1;
          const w = new Float32Array(cout * cin);
          for (let o = 0; o < cout; o++) for (let i = 0; i < cin; i++) w[o * cin + i] = alpha * (transB ? b.data[o * cin + i] : b.data[i * cout + o]);
          let bias: Float32Array | undefined;
          if (n.input[2]) {
            const c = this.constant(n.input[2], where, 'C');
            if (c.data.length !== cout && c.data.length !== 1) throw new ImportError(`${where}: C has ${c.data.length} values for ${cout} outputs`);
            bias = Float32Array.from({ length: cout }, (_, o) => beta * c.data[c.data.length === 1 ? 0 : o]);
          }
          const y = this.output(y0, [cout], where);
          this.push({ op: 'matmul', name, x, y, w, bias, cin, cout, act: 'none' });
          break;
        }
        case 'Identity':
        case 'Dropout': {
          if (n.output.slice(1).some((o) => o && this.uses.get(o))) throw new ImportError(`${where}: the mask output of Dropout is read by a later node; only inference-mode Dropout (an identity) is supported`);
          const c = this.consts.get(n.input[0]);
          if (c) this.consts.set(y0, c);
          else this.act.set(y0, this.input(n.input[0], where));
          break;
        }
        case 'Constant': {
          const v = a.get('value');
          if (v?.t) this.consts.set(y0, tensorValues(v.t, where));
          else if (a.has('value_float')) this.consts.set(y0, { data: Float64Array.of(a.get('value_float')!.f ?? 0), dims: [] });
          else if (a.has('value_floats')) this.consts.set(y0, { data: Float64Array.from(a.get('value_floats')!.floats), dims: [a.get('value_floats')!.floats.length] });
          else if (a.has('value_int')) this.consts.set(y0, { data: Float64Array.of(Number(a.get('value_int')!.i ?? 0)), dims: [], int: true });
          else if (a.has('value_ints')) this.consts.set(y0, { data: Float64Array.from(a.get('value_ints')!.ints.map(Number)), dims: [a.get('value_ints')!.ints.length], int: true });
          else throw new ImportError(`${where}: Constant with attribute ${[...a.keys()].join(', ')} is not supported (value, value_float(s), value_int(s))`);
          break;
        }
        case 'Softmax': {
          const x = this.input(n.input[0], where);
          const s = this.shape(x), rank = s.length + 1;
          const axis0 = Number(a.get('axis')?.i ?? (opset < 13 ? 1 : -1));
          const axis = axis0 < 0 ? axis0 + rank : axis0;
          // opset < 13 flattens from `axis` on: over C, H and W together, the channels only when H = W = 1
          const channels = rank === 2 ? axis === 1 : rank === 4 && axis === 1 && (opset >= 13 || s[1] * s[2] === 1);
          if (!channels) throw new ImportError(`${where}: Softmax over axis ${axis0} of a [1, ${s}] tensor${opset < 13 && rank === 4 && axis === 1 ? ` (opset ${opset}: over C, H and W together)` : ''} is not supported (only over the channel axis, 1)`);
          if (y0 === outName && rank === 2) {
            // a classifier's final softmax: dropped (argmax is unchanged; classify() reports logits)
            outputActivation = 'softmax';
            this.act.set(y0, x);
            break;
          }
          this.push({ op: 'softmax', name, x, y: this.output(y0, s, where) });
          break;
        }
        case 'Sigmoid':
        case 'HardSigmoid':
        case 'HardSwish': {
          const alpha = a.get('alpha')?.f ?? 0.2, beta = a.get('beta')?.f ?? 0.5;
          // torch's hardsigmoid: alpha f32(1/6), beta 0.5, the engine's hsigmoid relu6(x + 3) / 6
          const exact = op !== 'HardSigmoid' || (Math.fround(alpha) === Math.fround(1 / 6) && beta === 0.5);
          if (op === 'HardSwish') {
            this.activation(n.input[0], y0, 'hswish', name, where);
            break;
          }
          // x * sigmoid(x) is swish, x * hardsigmoid(x) hard swish (opset < 14 has no HardSwish op)
          const m = exact ? this.swishMul(n) : undefined;
          if (m !== undefined) {
            this.swish.set(m, { x: n.input[0], act: op === 'Sigmoid' ? 'swish' : 'hswish' });
            break;
          }
          if (exact) {
            this.activation(n.input[0], y0, op === 'Sigmoid' ? 'sigmoid' : 'hsigmoid', name, where);
            break;
          }
          // clamp(alpha x + beta, 0, 1) = hsigmoid(6 alpha x + 6 beta - 3)
          if (!Number.isFinite(alpha) || !Number.isFinite(beta)) throw new ImportError(`${where}: alpha ${alpha} and beta ${beta} must be finite`);
          const x = this.input(n.input[0], where);
          this.push({ op: 'scale', name, x, y: this.output(y0, this.shape(x), where), a: 6 * alpha, b: 6 * beta - 3, act: 'hsigmoid' });
          break;
        }
        case 'Mul': {
          const sw = this.swish.get(k);
          if (sw) {
            this.activation(sw.x, y0, sw.act, name, where, 2);
            break;
          }
          if (n.input.length !== 2) throw new ImportError(`${where}: Mul with ${n.input.length} inputs`);
          const c0 = this.consts.get(n.input[0]), c1 = this.consts.get(n.input[1]);
          if (c0 && c1) {
            this.consts.set(y0, constArith(op, c0, c1, where));
            break;
          }
          if (c0 || c1) {
            const c = (c0 ?? c1)!;
            const x = this.input(n.input[c0 ? 1 : 0], where);
            const sx = this.shape(x);
            // one value per channel ([1, C, 1, 1] or [C, 1, 1]: a layer scale, a fixed normalization)
            // is a 1x1 conv with one group per channel and no bias
            const lead = c.dims.length === 4 ? c.dims[0] : 1, dc = c.dims.slice(-3);
            if (sx.length === 3 && c.data.length === sx[0] && sx[0] > 1 && lead === 1 && dc.length === 3 && dc[0] === sx[0] && dc[1] === 1 && dc[2] === 1) {
              this.perChannel(name, x, y0, Float32Array.from(c.data), undefined, where);
              break;
            }
            if (c.data.length !== 1 || c.dims.length > sx.length + 1) throw new ImportError(`${where}: multiplying by the constant '${n.input[c0 ? 0 : 1]}' of shape [${c.dims}] is not supported (only by a single value, or one per channel of a [1, C, H, W] tensor)`);
            this.push({ op: 'scale', name, x, y: this.output(y0, sx, where), a: c.data[0] });
            break;
          }
          let x1 = this.input(n.input[0], where), x2 = this.input(n.input[1], where);
          const [s1, s2] = [this.shape(x1), this.shape(x2)];
          const perChannel = (p: number[], q: number[]): boolean => p.length === 3 && q.length === 3 && q[0] === p[0] && q[1] === 1 && q[2] === 1;
          // the one-value-per-channel side goes second (squeeze-excite: x * gate in either order)
          if (s1.join() !== s2.join() && perChannel(s2, s1)) [x1, x2] = [x2, x1];
          const [A, B] = [this.shape(x1), this.shape(x2)];
          if (A.join() !== B.join() && !perChannel(A, B)) throw new ImportError(`${where}: broadcasting mul of [1, ${s1}] and [1, ${s2}] is not supported (same shapes, or [1, C, H, W] by [1, C, 1, 1])`);
          this.push({ op: 'mul', name, a: x1, b: x2, y: this.output(y0, A, where), act: 'none' });
          break;
        }
        case 'Concat': {
          const ins = n.input.filter(Boolean);
          const axis = Number(a.get('axis')?.i ?? 1);
          if (ins.every((i) => this.consts.has(i))) {
            // shape arithmetic (a Resize's sizes): 1-D constants end to end
            const cs = ins.map((i) => this.consts.get(i)!);
            if (cs.some((c) => c.dims.length !== 1) || (axis !== 0 && axis !== -1)) throw new ImportError(`${where}: Concat of constants is supported only for 1-D ones`);
            this.consts.set(y0, { data: Float64Array.from(cs.flatMap((c) => Array.from(c.data))), dims: [cs.reduce((t, c) => t + c.data.length, 0)] });
            break;
          }
          for (const i of ins) if (this.consts.has(i)) throw new ImportError(`${where}: concatenating the constant '${i}' is not supported (only activations)`);
          const parts = ins.map((i) => this.input(i, where));
          const s0 = this.shape(parts[0]), rank = s0.length + 1;
          if ((axis < 0 ? axis + rank : axis) !== 1) throw new ImportError(`${where}: Concat on axis ${axis} of [1, ${s0}] tensors is not supported (only the channel axis, 1)`);
          for (const t of parts) {
            const st = this.shape(t);
            if (st.length !== s0.length || st.slice(1).join() !== s0.slice(1).join()) throw new ImportError(`${where}: inputs of different sizes ([1, ${s0}] and [1, ${st}]) cannot be concatenated on the channel axis`);
          }
          if (parts.length === 1) {
            this.act.set(y0, parts[0]);
            break;
          }
          // more than two inputs: a chain of two-input concats, the last one named after the output
          let acc = parts[0];
          for (let j = 1; j < parts.length; j++) {
            const c = this.shape(acc)[0] + this.shape(parts[j])[0];
            const y = this.output(j === parts.length - 1 ? y0 : `${y0}/part${j}`, [c, ...s0.slice(1)], where);
            this.push({ op: 'concat', name, a: acc, b: parts[j], y, act: 'none' });
            acc = y;
          }
          break;
        }
        case 'Resize': {
          const x = this.input(n.input[0], where);
          const s = this.shape(x);
          if (s.length !== 3) throw new ImportError(`${where}: resizing a [1, ${s}] tensor is not supported (2-D maps)`);
          const [C, h, w] = s;
          const mode = this.str(a, 'mode', 'nearest');
          if (mode !== 'linear' && mode !== 'nearest') throw new ImportError(`${where}: Resize mode '${mode}' is not supported (only 'linear', the engine's bilinear resize, and 'nearest' by exactly 2)`);
          // opset 10 has no coordinate_transformation_mode: its Resize is asymmetric
          const ct = this.str(a, 'coordinate_transformation_mode', opset < 11 ? 'asymmetric' : 'half_pixel');
          for (const [key, ok] of [['exclude_outside', 0], ['antialias', 0]] as const) {
            const v = Number(a.get(key)?.i ?? 0);
            if (v !== ok) throw new ImportError(`${where}: Resize ${key} = ${v} is not supported`);
          }
          if (a.has('axes')) throw new ImportError(`${where}: Resize with an axes attribute is not supported`);
          const policy = this.str(a, 'keep_aspect_ratio_policy', 'stretch');
          if (policy !== 'stretch') throw new ImportError(`${where}: Resize keep_aspect_ratio_policy '${policy}' is not supported (stretch)`);
          // opset 10: (X, scales); from 11 on: (X, roi, scales, sizes), the roi only for tf_crop_and_resize
          const scalesIn = opset < 11 ? n.input[1] : n.input[2], sizesIn = opset < 11 ? undefined : n.input[3];
          let OH: number, OW: number, sh: number | undefined, sw2: number | undefined;
          if (sizesIn) {
            const sz = Array.from(this.constant(sizesIn, where, 'sizes').data);
            if (sz.length !== 4 || sz[0] !== 1 || sz[1] !== C) throw new ImportError(`${where}: sizes [${sz}] for a [1, ${s}] input are not supported (only H and W change)`);
            [OH, OW] = [sz[2], sz[3]];
          } else {
            const sc = Array.from(this.constant(scalesIn, where, 'scales').data);
            if (sc.length !== 4 || sc[0] !== 1 || sc[1] !== 1) throw new ImportError(`${where}: scales [${sc}] are not supported (only H and W change)`);
            [sh, sw2] = [sc[2], sc[3]];
            [OH, OW] = [Math.floor(h * sh), Math.floor(w * sw2)];
            // the coordinates use the stated scale, the engine's in / out: the same when out = in * scale
            if (Math.fround(OH / h) !== Math.fround(sh) || Math.fround(OW / w) !== Math.fround(sw2)) {
              throw new ImportError(`${where}: scales [${sc}] on a ${h}x${w} map give ${OH}x${OW}, whose ratio to the input is not the scale (the engine's resize maps by in / out); give sizes instead`);
            }
          }
          if (!(Number.isInteger(OH) && Number.isInteger(OW) && OH >= 1 && OW >= 1)) throw new ImportError(`${where}: output size ${OH}x${OW} is not supported`);
          if (mode === 'nearest') {
            // the engine's nearest resize is upsample2x, y[i] = x[i >> 1]: taken when ONNX's own
            // source index (coordinate mode, then rounding, then clamp) is i >> 1 for every output
            const nm = this.str(a, 'nearest_mode', 'round_prefer_floor');
            if (!nearestIsTwice(h, OH, ct, nm) || !nearestIsTwice(w, OW, ct, nm)) {
              throw new ImportError(`${where}: nearest Resize of ${h}x${w} to ${OH}x${OW} with coordinate_transformation_mode '${ct}' and nearest_mode '${nm}' is not supported (only an exact 2x, each output reading input i >> 1: torch's and TensorFlow's nearest upsampling by 2)`);
            }
            this.push({ op: 'upsample2x', name, x, y: this.output(y0, [C, OH, OW], where) });
            break;
          }
          let rm: 'legacy' | 'align_corners' | 'half_pixel';
          if (ct === 'half_pixel') rm = 'half_pixel';
          else if (ct === 'align_corners') rm = 'align_corners';
          else if (ct === 'asymmetric') rm = 'legacy';
          else if (ct === 'pytorch_half_pixel') {
            // half_pixel, except that a length-1 output samples 0 instead of the middle
            if ((OH === 1 && h > 1) || (OW === 1 && w > 1)) throw new ImportError(`${where}: pytorch_half_pixel to a ${OH}x${OW} output is not supported (a length-1 output is not half_pixel)`);
            rm = 'half_pixel';
          } else throw new ImportError(`${where}: Resize coordinate_transformation_mode '${ct}' is not supported (half_pixel, pytorch_half_pixel, align_corners, asymmetric)`);
          this.push({ op: 'resize_bilinear', name, x, y: this.output(y0, [C, OH, OW], where), mode: rm });
          break;
        }
        case 'Shape': {
          // shape arithmetic (a Resize's sizes computed from the input's): a constant here
          const x = this.input(n.input[0], where);
          const full = [1, ...this.shape(x)];
          const r = full.length;
          const cl = (v: number): number => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
          const start = cl(Number(a.get('start')?.i ?? 0)), end = a.has('end') ? cl(Number(a.get('end')!.i ?? r)) : r;
          const v = full.slice(start, end);
          this.consts.set(y0, { data: Float64Array.from(v), dims: [v.length], int: true });
          break;
        }
        case 'Transpose': {
          const g = this.grouped.get(n.input[0]);
          const rd = (this.readers.get(y0) ?? []).map((r) => this.g.node[r]);
          if (!g || g.step !== 'reshape') throw new ImportError(`${where}: Transpose is supported only inside a channel shuffle (Reshape [1, g, C/g, H, W], Transpose perm [0, 2, 1, 3, 4], Reshape [1, C, H, W])`);
          if (rd.length !== 1 || this.uses.get(y0) !== 1 || rd[0].opType !== 'Reshape') throw new ImportError(`${where}: the channel shuffle's Transpose must be read by one Reshape back to [1, C, H, W]`);
          this.grouped.set(y0, { ...g, step: 'transpose' });
          break;
        }
        case 'Split': {
          // channel split (ShuffleNet's chunk): each part a gather of consecutive channels
          const x = this.input(n.input[0], where);
          const s = this.shape(x);
          const axis = Number(a.get('axis')?.i ?? 0);
          if (s.length !== 3 || (axis !== 1 && axis !== -3)) throw new ImportError(`${where}: Split on axis ${axis} of [1, ${s}] is not supported (only channels, axis 1)`);
          const outs = n.output;
          const given = n.input[1] ? Array.from(this.constant(n.input[1], where, 'split').data) : a.get('split')?.ints.map(Number);
          const q = Math.ceil(s[0] / outs.length); // opset 18's num_outputs: the last part may be smaller
          const sizes = given ?? outs.map((_, k) => Math.min(q, s[0] - q * k));
          if (sizes.length !== outs.length || sizes.some((v) => !(Number.isInteger(v) && v >= 1)) || sizes.reduce((p, c) => p + c, 0) !== s[0]) {
            throw new ImportError(`${where}: split sizes [${sizes}] do not divide ${s[0]} channels into ${outs.length} parts`);
          }
          let c0 = 0;
          outs.forEach((o, k) => {
            if (o) this.push({ op: 'chshuffle', name: outs.length > 1 ? `${name}/${k}` : name, x, y: this.output(o, [sizes[k], s[1], s[2]], where), groups: 1, c0 });
            c0 += sizes[k];
          });
          break;
        }
        case 'Slice': {
          if (opset < 10) throw new ImportError(`${where}: Slice before opset 10 is not supported`);
          if (this.act.has(n.input[0])) {
            // channels of an activation: a gather of consecutive channels
            const x = this.input(n.input[0], where);
            const s = this.shape(x);
            const [st, en] = [1, 2].map((i) => this.constant(n.input[i], where, ['starts', 'ends'][i - 1]).data);
            const axes = n.input[3] ? Array.from(this.constant(n.input[3], where, 'axes').data) : Array.from(st, (_, i) => i);
            const steps = n.input[4] ? Array.from(this.constant(n.input[4], where, 'steps').data) : [1];
            if (s.length !== 3 || st.length !== 1 || !(axes[0] === 1 || axes[0] === -3) || steps.some((v) => v !== 1)) throw new ImportError(`${where}: Slice of an activation is supported only on channels (axis 1) with step 1`);
            const C = s[0];
            const cl = (v: number): number => Math.min(Math.max(v < 0 ? v + C : v, 0), C);
            const c0 = cl(st[0]), c1 = cl(en[0]);
            if (c1 <= c0) throw new ImportError(`${where}: Slice of channels [${st[0]}, ${en[0]}) of ${C} is empty`);
            this.push({ op: 'chshuffle', name, x, y: this.output(y0, [c1 - c0, s[1], s[2]], where), groups: 1, c0 });
            break;
          }
          // shape arithmetic on 1-D constants
          const d = this.constant(n.input[0], where, 'data');
          const [st, en] = [1, 2].map((i) => this.constant(n.input[i], where, ['starts', 'ends'][i - 1]).data[0]);
          const axes = n.input[3] ? Array.from(this.constant(n.input[3], where, 'axes').data) : [0];
          const steps = n.input[4] ? Array.from(this.constant(n.input[4], where, 'steps').data) : [1];
          if (d.dims.length !== 1 || !(axes.length === 1 && (axes[0] === 0 || axes[0] === -1)) || steps.length !== 1 || steps[0] !== 1) throw new ImportError(`${where}: Slice is supported only on 1-D constants with step 1 (shape arithmetic)`);
          const len = d.data.length;
          const cl = (v: number): number => Math.min(Math.max(v < 0 ? v + len : v, 0), len);
          const v = Array.from(d.data).slice(cl(st), cl(en));
          this.consts.set(y0, { data: Float64Array.from(v), dims: [v.length] });
          break;
        }
        case 'Gather':
        case 'Div':
        case 'Sub': {
          const c0 = this.consts.get(n.input[0]), c1 = this.consts.get(n.input[1]);
          if (!c0 || !c1) throw new ImportError(`${where}: ${op} is supported only on constants (shape arithmetic)`);
          if (op !== 'Gather') {
            this.consts.set(y0, constArith(op, c0, c1, where));
            break;
          }
          if (c0.dims.length !== 1 || Number(a.get('axis')?.i ?? 0) !== 0) throw new ImportError(`${where}: Gather is supported only from a 1-D constant (shape arithmetic)`);
          const len = c0.data.length;
          const idx = Array.from(c1.data, (v) => (v < 0 ? v + len : v));
          if (idx.some((v) => !(Number.isInteger(v) && v >= 0 && v < len))) throw new ImportError(`${where}: Gather indices [${Array.from(c1.data)}] out of range for ${len} values`);
          this.consts.set(y0, { data: Float64Array.from(idx, (i) => c0.data[i]), dims: c1.dims, int: c0.int });
          break;
        }
        case 'Cast': {
          this.consts.set(y0, this.constant(n.input[0], where, 'input'));
          break;
        }
        default:
          throw new ImportError(`${where}: op ${op} is not supported (supported: ${ONNX_SUPPORTED})`);
      }
    });
    const output = this.act.get(outName);
    if (output === undefined) throw new ImportError(`the model output '${outName}' is ${this.consts.has(outName) ? 'a constant' : 'made by no node'}`);
    if (output === irIn) throw new ImportError(`the model output '${outName}' is the model input`);
    const C = Cin;
    return {
      name: this.opts.name ?? (this.g.name || 'onnx'), format: 'onnx', input: irIn, output, tensors: this.tensors, nodes: this.nodes,
      mean: new Array<number>(C).fill(0), std: new Array<number>(C).fill(1), outputActivation, sourceOps: this.sourceOps,
    };
  }
}
