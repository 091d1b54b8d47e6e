/**
 * TFLite FlatBuffers -> the importers' NCHW IR (src/import/graph.ts).
 *
 *   import { readTflite } from './tflite.js';
 *   const ir = readTflite(readFileSync('mobilenet_v2_1.0_224_quant.tflite'));
 *   ir.nodes.length; ir.mean; ir.std;      // 65 nodes; normalization from the input's quantization
 *
 * The file is read with the npm `flatbuffers` runtime and the reader flatc generates from
 * TensorFlow's schema (tflite_schema.ts, scripts/gen-tflite-schema.sh): no hand-written FlatBuffers
 * code. Quantized weights (uint8/int8, per tensor or per channel, int32 biases) are dequantized to
 * float32 with f = scale * (q - zeroPoint); NHWC activations become NCHW, conv filters OHWI become
 * OIHW, depthwise filters [1][kh][kw][C] become [C][1][kh][kw]. Padding SAME is TensorFlow's
 * (the odd row/column at the bottom/right: the engine's 'tf-same'), VALID is 'none'. Pools average
 * over the pixels inside the map, as the engine's avgpool does; a fused activation on a pool becomes
 * an act node after it. A SOFTMAX is over NHWC's last axis, the engine's channel axis. A PAD of
 * zeros before a VALID conv becomes the conv's padding; a DEQUANTIZE of a constant (float16
 * weights) is a constant (docs/IMPORT.md lists every op). What the
 * engine cannot run exactly (dilation > 1, unequal strides, depth multipliers, other activations,
 * softmax beta) is refused with the op and node named, never approximated.
 */
import * as flatbuffers from 'flatbuffers';
import * as T from './tflite_schema.js';
import { convGeometry, type Padding } from '../engine/ops/types.js';
import type { ActName } from '../engine/ops/act.js';
import { ImportError, convGeometryAt, explicitPadMode, nearestIsTwice, type IrGraph, type IrNode, type IrTensor } from './graph.js';

export interface TfliteOptions {
  /** run at another input size than the file's (fully convolutional models) */
  inputSize?: [number, number];
  /** model name (default 'tflite') */
  name?: string;
}

const ACTS: Partial<Record<number, ActName>> = {
  [T.ActivationFunctionType.NONE]: 'none',
  [T.ActivationFunctionType.RELU]: 'relu',
  [T.ActivationFunctionType.RELU6]: 'relu6',
};

const SUPPORTED = 'CONV_2D, DEPTHWISE_CONV_2D (with a PAD of zeros before them), FULLY_CONNECTED, ADD, MUL (same shape, per channel, or by a constant), CONCATENATION (channels), AVERAGE_POOL_2D, MAX_POOL_2D, MEAN (over H, W), RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR (by 2), RESHAPE/SQUEEZE to [1, n], RELU, RELU6, LOGISTIC, HARD_SWISH, SOFTMAX, DEQUANTIZE of constants';

/** IEEE half (binary16 bits) -> number: float16 weights. */
function half(h: number): number {
  const e = (h >> 10) & 0x1f, m = h & 0x3ff, sign = h & 0x8000 ? -1 : 1;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

export function readTflite(bytes: Uint8Array, opts: TfliteOptions = {}): IrGraph {
  if (bytes.length < 8 || String.fromCharCode(...bytes.subarray(4, 8)) !== 'TFL3') {
    throw new ImportError(`not a TFLite file (no 'TFL3' identifier at byte 4)`);
  }
  let model: T.Model;
  try {
    model = T.Model.getRootAsModel(new flatbuffers.ByteBuffer(bytes));
    if (model.subgraphsLength() < 1) throw new Error('no subgraphs');
  } catch (e) {
    throw new ImportError(`TFLite file cannot be read: ${(e as Error).message}`);
  }
  if (model.subgraphsLength() !== 1) throw new ImportError(`TFLite model has ${model.subgraphsLength()} subgraphs; only single-subgraph models are supported`);
  const sg = model.subgraphs(0)!;
  return new TfliteReader(model, sg, opts).read();
}

class TfliteReader {
  private readonly tensors = new Map<string, IrTensor>();
  private readonly nodes: IrNode[] = [];
  private readonly sourceOps: Record<string, number> = {};
  /** tflite tensor index -> IR name, for the activation tensors made so far */
  private readonly act = new Map<number, string>();
  /** DEQUANTIZE outputs of constants (float16 weights): tensor index -> the float32 values */
  private readonly consts = new Map<number, { data: Float32Array; shape: number[] }>();
  /** PAD outputs read only by convs: tensor index -> the unpadded input and [top, left, bottom, right] */
  private readonly padded = new Map<number, { x: string; pads: number[] }>();
  /** tensor index -> the indices of the ops that read it */
  private readonly readers = new Map<number, number[]>();

  constructor(
    private readonly model: T.Model,
    private readonly sg: T.SubGraph,
    private readonly opts: TfliteOptions,
  ) {}

  private tname(i: number): string {
    return this.sg.tensors(i)?.name() ?? `tensor${i}`;
  }

  private where(k: number, op: string): string {
    return `op ${k} ${op} (output '${this.tname(this.sg.operators(k)!.outputs(0)!)}')`;
  }

  /** Dequantized constant data of tensor i, float32, in the file's layout. */
  private constant(i: number, what: string): { data: Float32Array; shape: number[] } {
    const made = this.consts.get(i);
    if (made) return made;
    const t = this.sg.tensors(i);
    if (!t) throw new ImportError(`${what}: tensor ${i} does not exist`);
    const b = this.model.buffers(t.buffer());
    const raw = b?.dataArray();
    const shape = Array.from(t.shapeArray() ?? []);
    const n = shape.reduce((a, c) => a * c, 1);
    if (!raw || raw.length === 0) throw new ImportError(`${what}: tensor '${t.name()}' is not a constant (no data buffer)`);
    const type = t.type();
    const q = t.quantization();
    const scales = q?.scaleArray() ?? null;
    const zp = (k: number): number => (q && q.zeroPointLength() > k ? Number(q.zeroPoint(k)) : 0);
    const qdim = q?.quantizedDimension() ?? 0;
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const data = new Float32Array(n);
    const size = type === T.TensorType.FLOAT32 || type === T.TensorType.INT32 ? 4 : type === T.TensorType.FLOAT16 ? 2 : type === T.TensorType.UINT8 || type === T.TensorType.INT8 ? 1 : 0;
    if (size === 0) throw new ImportError(`${what}: tensor '${t.name()}' has type ${T.TensorType[type]}; weights must be FLOAT32, FLOAT16, UINT8, INT8 or INT32`);
    if (raw.length !== n * size) throw new ImportError(`${what}: tensor '${t.name()}' holds ${raw.length} bytes, its shape [${shape}] of ${T.TensorType[type]} needs ${n * size}`);
    if (type === T.TensorType.FLOAT32) {
      for (let k = 0; k < n; k++) data[k] = dv.getFloat32(4 * k, true);
      return { data, shape };
    }
    if (type === T.TensorType.FLOAT16) {
      for (let k = 0; k < n; k++) data[k] = half(dv.getUint16(2 * k, true));
      return { data, shape };
    }
    if (!scales || scales.length === 0) throw new ImportError(`${what}: ${T.TensorType[type]} tensor '${t.name()}' has no quantization scale`);
    // per-channel: scale index = the coordinate along quantized_dimension
    const inner = shape.slice(qdim + 1).reduce((a, c) => a * c, 1);
    const per = scales.length > 1;
    if (per && scales.length !== shape[qdim]) throw new ImportError(`${what}: tensor '${t.name()}' has ${scales.length} scales for dimension ${qdim} of size ${shape[qdim]}`);
    for (let k = 0; k < n; k++) {
      const c = per ? Math.floor(k / inner) % shape[qdim] : 0;
      const v = type === T.TensorType.UINT8 ? raw[k] : type === T.TensorType.INT8 ? dv.getInt8(k) : dv.getInt32(4 * k, true);
      data[k] = Math.fround(scales[c] * (v - zp(c)));
    }
    return { data, shape };
  }

  /** Whether tensor i holds constant data (a buffer, or a DEQUANTIZE of one). */
  private isConstant(i: number): boolean {
    if (this.consts.has(i)) return true;
    const t = this.sg.tensors(i);
    const raw = t ? this.model.buffers(t.buffer())?.dataArray() : null;
    return !!raw && raw.length > 0;
  }

  /** An INT32 (or INT64) constant's values: shapes, axes, paddings. */
  private intConstant(i: number, what: string): number[] {
    const t = this.sg.tensors(i);
    const raw = t ? this.model.buffers(t.buffer())?.dataArray() : null;
    if (!t || !raw || raw.length === 0) throw new ImportError(`${what}: tensor '${this.tname(i)}' is not a constant`);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    if (t.type() === T.TensorType.INT32) return Array.from({ length: raw.length / 4 }, (_, k) => dv.getInt32(4 * k, true));
    if (t.type() === T.TensorType.INT64) return Array.from({ length: raw.length / 8 }, (_, k) => Number(dv.getBigInt64(8 * k, true)));
    throw new ImportError(`${what}: tensor '${t.name()}' has type ${T.TensorType[t.type()]}; INT32 or INT64 expected`);
  }

  /** The value range a quantized activation can hold (scale * (qmin - zp) .. scale * (qmax - zp)). */
  private range(i: number): [number, number] | undefined {
    const t = this.sg.tensors(i)!;
    const q = t.quantization();
    const s = q?.scaleArray();
    if (!q || !s || s.length !== 1) return undefined;
    const z = q.zeroPointLength() ? Number(q.zeroPoint(0)) : 0;
    const [lo, hi] = t.type() === T.TensorType.UINT8 ? [0, 255] : t.type() === T.TensorType.INT8 ? [-128, 127] : [NaN, NaN];
    if (Number.isNaN(lo)) return undefined;
    return [s[0] * (lo - z), s[0] * (hi - z)];
  }

  /** Registers tensor i as an activation of the given NCHW shape, checked against the file's NHWC one. */
  private output(i: number, shape: number[], where: string): string {
    const t = this.sg.tensors(i)!;
    const full = t.name() ?? `tensor${i}`;
    // TFLite joins the names of fused tensors with ';': the first is the op's own (blob names are <= 255 bytes)
    let name = full.split(';')[0].slice(0, 200) || `tensor${i}`;
    if (this.tensors.has(name)) name = `${name}#${i}`;
    const fileShape = Array.from(t.shapeArray() ?? []);
    const nhwc = shape.length === 3 ? [1, shape[1], shape[2], shape[0]] : [1, ...shape];
    if (!this.opts.inputSize && fileShape.length && fileShape.join() !== nhwc.join()) {
      throw new ImportError(`${where}: output '${name}' has shape [${fileShape}] in the file, the importer computes [${nhwc}]`);
    }
    this.tensors.set(name, { name, shape, range: this.range(i), sourceName: full });
    this.act.set(i, name);
    return name;
  }

  private input(i: number, where: string): string {
    const n = this.act.get(i);
    if (n === undefined) throw new ImportError(`${where}: input '${this.tname(i)}' is neither the model input nor made by an earlier op (constant activations are not supported)`);
    return n;
  }

  private shape(name: string): number[] {
    return this.tensors.get(name)!.shape;
  }

  private fusedAct(code: number, where: string): ActName {
    const a = ACTS[code];
    if (a === undefined) throw new ImportError(`${where}: fused activation ${T.ActivationFunctionType[code] ?? code} is not supported (NONE, RELU, RELU6)`);
    return a;
  }

  private padding(p: number): Padding {
    return p === T.Padding.SAME ? 'tf-same' : 'none';
  }

  read(): IrGraph {
    const sg = this.sg;
    if (sg.inputsLength() !== 1) throw new ImportError(`TFLite model has ${sg.inputsLength()} inputs; one image input is supported`);
    if (sg.outputsLength() !== 1) throw new ImportError(`TFLite model has ${sg.outputsLength()} outputs; one is supported`);
    const inIdx = sg.inputs(0)!;
    const inT = sg.tensors(inIdx)!;
    const inShape = Array.from(inT.shapeArray() ?? []);
    if (inShape.length !== 4 || inShape[0] !== 1) throw new ImportError(`input '${inT.name()}' has shape [${inShape}]; expected [1, H, W, C]`);
    const [H, W] = this.opts.inputSize ?? [inShape[1], inShape[2]];
    const Cin = inShape[3];
    const inName = this.output(inIdx, [Cin, H, W], 'model input');
    // Input normalization: a quantized input's real value is scale * (q - zeroPoint) for the pixel q,
    // i.e. (q / 255 - zeroPoint / 255) / (1 / (255 * scale)); a float input is taken as q / 255.
    let mean = new Array<number>(Cin).fill(0), std = new Array<number>(Cin).fill(1);
    const iq = inT.quantization();
    const isc = iq?.scaleArray();
    if (inT.type() === T.TensorType.UINT8 && isc && isc.length === 1) {
      const z = iq!.zeroPointLength() ? Number(iq!.zeroPoint(0)) : 0;
      mean = mean.map(() => z / 255);
      std = std.map(() => 1 / (255 * isc[0]));
    } else if (inT.type() !== T.TensorType.FLOAT32) {
      throw new ImportError(`input '${inT.name()}' has type ${T.TensorType[inT.type()]}; UINT8 (quantized) or FLOAT32 inputs are supported`);
    }
    const outIdx = sg.outputs(0)!;
    for (let k = 0; k < sg.operatorsLength(); k++) {
      for (const i of sg.operators(k)!.inputsArray() ?? []) (this.readers.get(i) ?? this.readers.set(i, []).get(i)!).push(k);
    }
    let outputActivation: 'softmax' | undefined;
    let output = '';
    for (let k = 0; k < sg.operatorsLength(); k++) {
      const op = sg.operators(k)!;
      const code = this.model.operatorCodes(op.opcodeIndex());
      const opName = code ? (T.BuiltinOperator[code.builtinCode()] ?? `builtin ${code.builtinCode()}`) : `opcode ${op.opcodeIndex()}`;
      this.sourceOps[opName] = (this.sourceOps[opName] ?? 0) + 1;
      const where = this.where(k, opName);
      const ins = Array.from(op.inputsArray() ?? []);
      const outs = Array.from(op.outputsArray() ?? []);
      if (outs.length !== 1) throw new ImportError(`${where}: ${outs.length} outputs; one is supported`);
      const yIdx = outs[0];
      const name = `${k}:${opName}`;
      switch (code?.builtinCode()) {
        case T.BuiltinOperator.CONV_2D:
        case T.BuiltinOperator.DEPTHWISE_CONV_2D: {
          const dw = code.builtinCode() === T.BuiltinOperator.DEPTHWISE_CONV_2D;
          const o = dw ? (op.builtinOptions(new T.DepthwiseConv2DOptions()) as T.DepthwiseConv2DOptions) : (op.builtinOptions(new T.Conv2DOptions()) as T.Conv2DOptions);
          if (!o) throw new ImportError(`${where}: has no options`);
          const pd = this.padded.get(ins[0]);
          const x = pd ? pd.x : this.input(ins[0], where);
          const [C, h, w] = this.shape(x);
          const f = this.constant(ins[1], `${where} filter`);
          const bias = ins.length > 2 && ins[2] >= 0 ? this.constant(ins[2], `${where} bias`).data : undefined;
          const dil = o.dilationHFactor();
          if (dil !== o.dilationWFactor()) throw new ImportError(`${where}: dilation factors ${o.dilationHFactor()} (height) and ${o.dilationWFactor()} (width) differ; the engine needs equal dilations`);
          if (!(dil >= 1)) throw new ImportError(`${where}: dilation factor ${dil} is not a positive integer`);
          if (o.strideH() !== o.strideW()) throw new ImportError(`${where}: strides ${o.strideH()}x${o.strideW()} differ; the engine needs equal strides`);
          const [d0, kh, kw, d3] = f.shape;
          if (kh !== kw) throw new ImportError(`${where}: filter ${kh}x${kw} is not square`);
          const k = kh, stride = o.strideH();
          let pad = this.padding(o.padding());
          if (pd) {
            // a PAD of zeros before a VALID conv (Keras's ZeroPadding2D before a stride-2 conv) is the conv's padding
            if (pad !== 'none') throw new ImportError(`${where}: a PAD before a conv with SAME padding is not supported (only before VALID)`);
            pad = explicitPadMode(h, w, (k - 1) * dil + 1, stride, pd.pads, where, 'conv after PAD');
          }
          let cout: number, groups: number, wt: Float32Array;
          if (dw) {
            const dm = (o as T.DepthwiseConv2DOptions).depthMultiplier();
            if (d3 !== C || d0 !== 1 || (dm !== 1 && dm !== 0)) throw new ImportError(`${where}: depthwise filter [${f.shape}] on ${C} channels (depth multiplier ${dm}); only multiplier 1 is supported`);
            cout = C;
            groups = C;
            wt = new Float32Array(C * k * k);
            for (let c = 0; c < C; c++) for (let t = 0; t < k * k; t++) wt[c * k * k + t] = f.data[t * C + c];
          } else {
            if (d3 !== C) throw new ImportError(`${where}: filter [${f.shape}] expects ${d3} input channels, the input has ${C}`);
            cout = d0;
            groups = 1;
            wt = new Float32Array(cout * C * k * k);
            for (let co = 0; co < cout; co++) for (let t = 0; t < k * k; t++) for (let ci = 0; ci < C; ci++) wt[(co * C + ci) * k * k + t] = f.data[(co * k * k + t) * C + ci];
          }
          if (bias && bias.length !== cout) throw new ImportError(`${where}: bias has ${bias.length} values for ${cout} output channels`);
          const g = convGeometryAt(where, h, w, k, stride, pad, dil);
          const y = this.output(yIdx, [cout, g.OH, g.OW], where);
          this.nodes.push({ op: 'conv2d', name, x, y, w: wt, bias, cin: C, cout, groups, k, stride, ...(dil > 1 ? { dilation: dil } : {}), pad, act: this.fusedAct(o.fusedActivationFunction(), where) });
          break;
        }
        case T.BuiltinOperator.ADD: {
          const o = op.builtinOptions(new T.AddOptions()) as T.AddOptions | null;
          const a = this.input(ins[0], where), b = this.input(ins[1], where);
          if (this.shape(a).join() !== this.shape(b).join()) throw new ImportError(`${where}: broadcasting add of [${this.shape(a)}] and [${this.shape(b)}] is not supported`);
          const y = this.output(yIdx, this.shape(a), where);
          this.nodes.push({ op: 'add', name, a, b, y, act: this.fusedAct(o?.fusedActivationFunction() ?? 0, where) });
          break;
        }
        case T.BuiltinOperator.AVERAGE_POOL_2D:
        case T.BuiltinOperator.MAX_POOL_2D: {
          const o = op.builtinOptions(new T.Pool2DOptions()) as T.Pool2DOptions;
          if (!o) throw new ImportError(`${where}: has no options`);
          const x = this.input(ins[0], where);
          const [C, h, w] = this.shape(x);
          const act = this.fusedAct(o.fusedActivationFunction(), where);
          const fh = o.filterHeight(), fw = o.filterWidth();
          const avg = code.builtinCode() === T.BuiltinOperator.AVERAGE_POOL_2D;
          // VALID over the whole map (MobileNet's head): a global average
          const global = avg && fh === h && fw === w && (o.padding() === T.Padding.VALID || (h === 1 && w === 1));
          if (!global && (fh !== fw || o.strideH() !== o.strideW())) throw new ImportError(`${where}: ${avg ? 'average' : 'max'} pool ${fh}x${fw}/${o.strideH()}x${o.strideW()} must be square with equal strides (or, averaging, cover the whole map)`);
          const pad = this.padding(o.padding());
          let outShape: number[];
          try {
            outShape = global ? [C, 1, 1] : ((g) => [C, g.OH, g.OW])(convGeometry(h, w, fh, o.strideH(), pad));
          } catch (e) {
            throw new ImportError(`${where}: ${(e as Error).message.replace(/^slimsplit: /, '')}`);
          }
          // a fused activation: the pool into a tensor of its own, then the activation into the op's output
          let py: string;
          if (act === 'none') py = this.output(yIdx, outShape, where);
          else {
            py = `${name}/pool`;
            this.tensors.set(py, { name: py, shape: outShape });
          }
          if (global) this.nodes.push({ op: 'gap', name, x, y: py });
          else if (avg) this.nodes.push({ op: 'avgpool', name, x, y: py, k: fh, stride: o.strideH(), pad });
          else this.nodes.push({ op: 'maxpool', name, x, y: py, k: fh, stride: o.strideH(), pad });
          if (act !== 'none') this.nodes.push({ op: 'act', name, x: py, y: this.output(yIdx, outShape, where), act });
          break;
        }
        case T.BuiltinOperator.RESHAPE:
        case T.BuiltinOperator.SQUEEZE: {
          const x = this.input(ins[0], where);
          const s = this.shape(x);
          // NHWC and NCHW hold the same order only when at most one of C, H*W is above 1
          if (!(s.length === 1 || s[1] * s[2] === 1)) throw new ImportError(`${where}: reshaping [${s}] (NCHW) would reorder values; only [C, 1, 1] -> [C] is supported`);
          const outShape = Array.from(this.sg.tensors(yIdx)!.shapeArray() ?? []);
          const n = s.reduce((a, c) => a * c, 1);
          if (outShape.reduce((a, c) => a * c, 1) !== n || !(outShape.length === 2 && outShape[0] === 1)) throw new ImportError(`${where}: reshape [${s}] -> [${outShape}] is not supported (only to [1, n])`);
          const y = this.output(yIdx, [n], where);
          this.nodes.push({ op: 'alias', name, x, y });
          break;
        }
        case T.BuiltinOperator.RELU:
        case T.BuiltinOperator.RELU6:
        case T.BuiltinOperator.LOGISTIC: {
          const x = this.input(ins[0], where);
          const y = this.output(yIdx, this.shape(x), where);
          const act: ActName = code.builtinCode() === T.BuiltinOperator.RELU ? 'relu' : code.builtinCode() === T.BuiltinOperator.RELU6 ? 'relu6' : 'sigmoid';
          this.nodes.push({ op: 'act', name, x, y, act });
          break;
        }
        case T.BuiltinOperator.SOFTMAX: {
          const x = this.input(ins[0], where);
          const o = op.builtinOptions(new T.SoftmaxOptions()) as T.SoftmaxOptions | null;
          if (o && o.beta() !== 1 && o.beta() !== 0) throw new ImportError(`${where}: softmax beta ${o.beta()} is not 1 (the engine's softmax has no beta)`);
          if (yIdx === outIdx && k === sg.operatorsLength() - 1) {
            // as the model's last op it is dropped: argmax is unchanged, and classify() reports logits
            outputActivation = 'softmax';
            output = x;
            this.act.set(yIdx, x);
            continue;
          }
          // TFLite's softmax is over the last axis: NHWC's channels, the engine's channel axis
          this.nodes.push({ op: 'softmax', name, x, y: this.output(yIdx, this.shape(x), where) });
          break;
        }
        case T.BuiltinOperator.DEQUANTIZE: {
          // float16 (or quantized) weights made float32 by an op: a constant like any other
          if (!this.isConstant(ins[0])) throw new ImportError(`${where}: DEQUANTIZE of an activation is not supported (only of constant weights, as float16 models have)`);
          this.consts.set(yIdx, this.constant(ins[0], where));
          continue;
        }
        case T.BuiltinOperator.PAD: {
          const x = this.input(ins[0], where);
          const p = Array.from(this.intConstant(ins[1], `${where} paddings`));
          if (p.length !== 8 || p[0] || p[1] || p[6] || p[7] || p.some((v) => v < 0)) throw new ImportError(`${where}: paddings [${p}] are not supported (only non-negative padding of H and W of a [1, H, W, C] tensor)`);
          const rd = (this.readers.get(yIdx) ?? []).map((r) => this.model.operatorCodes(sg.operators(r)!.opcodeIndex())?.builtinCode());
          const convs = [T.BuiltinOperator.CONV_2D, T.BuiltinOperator.DEPTHWISE_CONV_2D];
          if (!rd.length || rd.some((c) => c === undefined || !convs.includes(c)) || yIdx === outIdx) {
            throw new ImportError(`${where}: PAD is supported only right before a CONV_2D or DEPTHWISE_CONV_2D (where it becomes their padding); '${this.tname(yIdx)}' is read by ${rd.length ? rd.map((c) => T.BuiltinOperator[c!] ?? c).join(', ') : 'the graph output'}`);
          }
          this.padded.set(yIdx, { x, pads: [p[2], p[4], p[3], p[5]] });
          continue;
        }
        case T.BuiltinOperator.MEAN: {
          const x = this.input(ins[0], where);
          const s = this.shape(x);
          const axes = Array.from(this.intConstant(ins[1], `${where} axes`)).map((v) => (v < 0 ? v + 4 : v)).sort();
          if (s.length !== 3 || axes.join() !== '1,2') throw new ImportError(`${where}: MEAN over axes [${axes}] of a [1, H, W, C] tensor is not supported (only over H and W, axes [1, 2])`);
          const o = op.builtinOptions(new T.ReducerOptions()) as T.ReducerOptions | null;
          this.nodes.push({ op: 'gap', name, x, y: this.output(yIdx, o?.keepDims() ? [s[0], 1, 1] : [s[0]], where) });
          break;
        }
        case T.BuiltinOperator.FULLY_CONNECTED: {
          const o = op.builtinOptions(new T.FullyConnectedOptions()) as T.FullyConnectedOptions | null;
          if (o && o.weightsFormat() !== T.FullyConnectedOptionsWeightsFormat.DEFAULT) throw new ImportError(`${where}: weights format ${T.FullyConnectedOptionsWeightsFormat[o.weightsFormat()]} is not supported (DEFAULT)`);
          const x = this.input(ins[0], where);
          const s = this.shape(x);
          // NHWC flattening equals NCHW's only when at most one of C and H*W is above 1
          if (s.length === 3 && s[1] * s[2] !== 1) throw new ImportError(`${where}: a fully connected layer over a [${s[1]}, ${s[2]}, ${s[0]}] map would read NHWC order; only vectors and [1, 1, C] maps are supported`);
          const wt = this.constant(ins[1], `${where} weights`);
          const cin = s.reduce((a, c) => a * c, 1);
          if (wt.shape.length !== 2 || wt.shape[1] !== cin) throw new ImportError(`${where}: weights [${wt.shape}] do not match an input of ${cin} values`);
          const cout = wt.shape[0];
          const bias = ins.length > 2 && ins[2] >= 0 ? this.constant(ins[2], `${where} bias`).data : undefined;
          if (bias && bias.length !== cout) throw new ImportError(`${where}: bias has ${bias.length} values for ${cout} outputs`);
          const keep = !!o?.keepNumDims() && s.length === 3;
          const y = this.output(yIdx, keep ? [cout, 1, 1] : [cout], where);
          this.nodes.push({ op: 'matmul', name, x, y, w: wt.data, bias, cin, cout, act: this.fusedAct(o?.fusedActivationFunction() ?? 0, where) });
          break;
        }
        case T.BuiltinOperator.HARD_SWISH: {
          const x = this.input(ins[0], where);
          this.nodes.push({ op: 'act', name, x, y: this.output(yIdx, this.shape(x), where), act: 'hswish' });
          break;
        }
        case T.BuiltinOperator.MUL: {
          const o = op.builtinOptions(new T.MulOptions()) as T.MulOptions | null;
          const act = this.fusedAct(o?.fusedActivationFunction() ?? 0, where);
          const ca = this.isConstant(ins[0]), cb = this.isConstant(ins[1]);
          if (ca && cb) throw new ImportError(`${where}: MUL of two constants is not supported`);
          if (ca || cb) {
            // by a constant: one factor (a scale node) or one per channel (a 1x1 conv with a group per channel)
            const x = this.input(ca ? ins[1] : ins[0], where);
            const s = this.shape(x);
            const k = this.constant(ca ? ins[0] : ins[1], `${where} factor`);
            const C = s[0];
            const y = this.output(yIdx, s, where);
            if (k.data.length === 1) this.nodes.push({ op: 'scale', name, x, y, a: k.data[0], act });
            else if (k.data.length === C && k.shape[k.shape.length - 1] === C && s.length === 3) {
              this.nodes.push({ op: 'conv2d', name, x, y, w: Float32Array.from(k.data), cin: C, cout: C, groups: C, k: 1, stride: 1, pad: 'none', act });
            } else throw new ImportError(`${where}: MUL by a constant of shape [${k.shape}] on [1, ${s[1] ?? 1}, ${s[2] ?? 1}, ${C}] is not supported (one factor, or one per channel)`);
            break;
          }
          let a = this.input(ins[0], where), b = this.input(ins[1], where);
          let sa = this.shape(a), sb = this.shape(b);
          const vec = (q: number[]) => q.length === 1 || (q.length === 3 && q[1] * q[2] === 1);
          if (sa.join() !== sb.join() && vec(sa) && !vec(sb)) {
            [a, b] = [b, a];
            [sa, sb] = [sb, sa];
          }
          if (sa.join() !== sb.join() && !(vec(sb) && sb[0] === sa[0])) throw new ImportError(`${where}: broadcasting MUL of [${sa}] and [${sb}] (NCHW) is not supported (the same shape, or one factor per channel)`);
          this.nodes.push({ op: 'mul', name, a, b, y: this.output(yIdx, sa, where), act });
          break;
        }
        case T.BuiltinOperator.CONCATENATION: {
          const o = op.builtinOptions(new T.ConcatenationOptions()) as T.ConcatenationOptions;
          const parts = ins.map((i) => this.input(i, where));
          const s0 = this.shape(parts[0]);
          const axis = o ? o.axis() : 0;
          if (s0.length !== 3 || (axis !== 3 && axis !== -1)) throw new ImportError(`${where}: concatenation on axis ${axis} of [1, ${s0.slice(1)}, ${s0[0]}] is not supported (the channel axis, 3 or -1)`);
          for (const q of parts) {
            const sq = this.shape(q);
            if (sq.length !== 3 || sq[1] !== s0[1] || sq[2] !== s0[2]) throw new ImportError(`${where}: inputs of ${s0[1]}x${s0[2]} and ${sq[1]}x${sq[2]} cannot be concatenated on channels`);
          }
          const act = this.fusedAct(o?.fusedActivationFunction() ?? 0, where);
          // more than two inputs: a chain of two-input concats, the activation on the last
          let acc = parts[0], C = s0[0];
          for (let j = 1; j < parts.length; j++) {
            C += this.shape(parts[j])[0];
            const last = j === parts.length - 1;
            let y: string;
            if (last) y = this.output(yIdx, [C, s0[1], s0[2]], where);
            else {
              y = `${name}/concat${j}`;
              this.tensors.set(y, { name: y, shape: [C, s0[1], s0[2]] });
            }
            this.nodes.push({ op: 'concat', name: last ? name : `${name}/${j}`, a: acc, b: parts[j], y, act: last ? act : 'none' });
            acc = y;
          }
          if (parts.length === 1) this.act.set(yIdx, parts[0]);
          break;
        }
        case T.BuiltinOperator.RESIZE_BILINEAR:
        case T.BuiltinOperator.RESIZE_NEAREST_NEIGHBOR: {
          const bil = code.builtinCode() === T.BuiltinOperator.RESIZE_BILINEAR;
          const o = bil ? (op.builtinOptions(new T.ResizeBilinearOptions()) as T.ResizeBilinearOptions | null) : (op.builtinOptions(new T.ResizeNearestNeighborOptions()) as T.ResizeNearestNeighborOptions | null);
          const ac = !!o?.alignCorners(), hp = !!o?.halfPixelCenters();
          if (ac && hp) throw new ImportError(`${where}: align_corners and half_pixel_centers together are not supported (TensorFlow refuses them too)`);
          const x = this.input(ins[0], where);
          const [C, h, w] = this.shape(x);
          const size = Array.from(this.intConstant(ins[1], `${where} size`));
          if (size.length !== 2 || !(size[0] >= 1 && size[1] >= 1)) throw new ImportError(`${where}: size [${size}] is not [height, width]`);
          const [OH, OW] = size;
          if (bil) {
            this.nodes.push({ op: 'resize_bilinear', name, x, y: this.output(yIdx, [C, OH, OW], where), mode: ac ? 'align_corners' : hp ? 'half_pixel' : 'legacy' });
          } else {
            // the engine's nearest resize is upsample2x, which TensorFlow's conventions all compute for an exact 2x
            const [ct, nm] = ac ? ['align_corners', 'round_prefer_ceil'] : hp ? ['tf_half_pixel_for_nn', 'floor'] : ['asymmetric', 'floor'];
            if (!nearestIsTwice(h, OH, ct, nm) || !nearestIsTwice(w, OW, ct, nm)) throw new ImportError(`${where}: nearest resize of ${h}x${w} to ${OH}x${OW} is not supported (only an exact 2x)`);
            this.nodes.push({ op: 'upsample2x', name, x, y: this.output(yIdx, [C, OH, OW], where) });
          }
          break;
        }
        default:
          throw new ImportError(`${where}: op ${opName} is not supported (supported: ${SUPPORTED})`);
      }
      output = this.act.get(yIdx)!;
    }
    if (this.act.get(outIdx) === undefined) throw new ImportError(`the model output '${this.tname(outIdx)}' is made by no op`);
    return {
      name: this.opts.name ?? 'tflite', format: 'tflite', input: inName, output, tensors: this.tensors, nodes: this.nodes,
      mean, std, outputActivation, sourceOps: this.sourceOps,
    };
  }
}
