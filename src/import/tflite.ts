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
 * an act node after it. A SOFTMAX is over NHWC's last axis, the engine's channel axis. What the
 * engine cannot run exactly (dilation > 1, unequal strides, depth multipliers, other activations,
 * softmax beta) is refused with the op and node named, never approximated.
 */
import * as flatbuffers from 'flatbuffers';
import * as T from './tflite_schema.js';
import { convGeometry, type Padding } from '../engine/ops/types.js';
import type { ActName } from '../engine/ops/act.js';
import { ImportError, convGeometryAt, type IrGraph, type IrNode, type IrTensor } from './graph.js';

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
    const size = type === T.TensorType.FLOAT32 || type === T.TensorType.INT32 ? 4 : type === T.TensorType.UINT8 || type === T.TensorType.INT8 ? 1 : 0;
    if (size === 0) throw new ImportError(`${what}: tensor '${t.name()}' has type ${T.TensorType[type]}; weights must be FLOAT32, UINT8, INT8 or INT32`);
    if (raw.length !== n * size) throw new ImportError(`${what}: tensor '${t.name()}' holds ${raw.length} bytes, its shape [${shape}] of ${T.TensorType[type]} needs ${n * size}`);
    if (type === T.TensorType.FLOAT32) {
      for (let k = 0; k < n; k++) data[k] = dv.getFloat32(4 * k, true);
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
          const x = this.input(ins[0], where);
          const [C, h, w] = this.shape(x);
          const f = this.constant(ins[1], `${where} filter`);
          const bias = ins.length > 2 && ins[2] >= 0 ? this.constant(ins[2], `${where} bias`).data : undefined;
          const dil = o.dilationHFactor();
          if (dil !== o.dilationWFactor()) throw new ImportError(`${where}: dilation factors ${o.dilationHFactor()} (height) and ${o.dilationWFactor()} (width) differ; the engine needs equal dilations`);
          if (!(dil >= 1)) throw new ImportError(`${where}: dilation factor ${dil} is not a positive integer`);
          if (o.strideH() !== o.strideW()) throw new ImportError(`${where}: strides ${o.strideH()}x${o.strideW()} differ; the engine needs equal strides`);
          const [d0, kh, kw, d3] = f.shape;
          if (kh !== kw) throw new ImportError(`${where}: filter ${kh}x${kw} is not square`);
          const k = kh, stride = o.strideH(), pad = this.padding(o.padding());
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
        default:
          throw new ImportError(`${where}: op ${opName} is not supported (supported: CONV_2D, DEPTHWISE_CONV_2D, ADD, AVERAGE_POOL_2D, MAX_POOL_2D, RESHAPE/SQUEEZE to [1, n], RELU, RELU6, LOGISTIC, SOFTMAX)`);
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
