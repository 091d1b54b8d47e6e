/**
 * TF.js graph models (model.json + weight shards) -> the importers' NCHW IR (src/import/graph.ts).
 *
 *   import { readTfjs } from './tfjs.js';
 *   const ir = readTfjs(JSON.parse(readFileSync('centernet.json', 'utf8')), [readFileSync('centernet.bin')],
 *     { output: 'tower_0/MobilenetV3/expanded_conv_2/add' });
 *
 * model.json is plain JSON (TensorFlow's GraphDef as JSON: nodes with op, inputs and attrs whose
 * strings are base64) and the weights are the manifest's tensors laid end to end in the shards,
 * float32, float16 ('quantization': float16) or uint8/uint16 (min + scale * q): no parser library
 * is needed beyond JSON.parse. Ops handled: _FusedConv2D / Conv2D, (Fused)DepthwiseConv2dNative
 * (fused BiasAdd, Relu, Relu6), Add/AddV2 of two activations, Relu, Relu6, Identity, and
 * TensorFlow's hard-swish subgraph x/6 * relu6(x + 3) folded into the conv before it (the engine's
 * hswish). Everything else is refused with the op and node named; `output` imports the part of
 * the graph that a tensor depends on (a backbone prefix, the device side of a split).
 */
import { convGeometry, type Padding } from '../engine/ops/types.js';
import type { ActName } from '../engine/ops/act.js';
import { ImportError, convGeometryAt, nearestIsTwice, type IrGraph, type IrNode, type IrTensor } from './graph.js';

const SUPPORTED = '_FusedConv2D, Conv2D, (Fused)DepthwiseConv2dNative, Add/AddV2, Mul, Relu, Relu6, Sigmoid, Identity, Mean (over H, W), ResizeBilinear, ResizeNearestNeighbor (by 2), ConcatV2 (channels), MaxPool, AvgPool, Softmax (channels), hard swish and hard sigmoid after a conv';

interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { s?: string; i?: string; f?: number; b?: boolean; list?: { s?: string[]; i?: string[] }; tensor?: unknown; type?: string }>;
}
interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number; original_dtype?: string };
}
interface ModelJson {
  format?: string;
  modelTopology?: { node?: TfNode[] };
  weightsManifest?: Array<{ paths: string[]; weights: WeightSpec[] }>;
}

export interface TfjsOptions {
  /** import only what these tensors depend on, and make them the output (several: concatenated, IrGraph.outputs) */
  output?: string | string[];
  inputSize?: [number, number];
  name?: string;
}

const b64 = (s: string): string => Buffer.from(s, 'base64').toString('utf8');

function f16(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** The manifest's weights by name, float32, in their TF layout. */
function readWeights(model: ModelJson, shards: Uint8Array[]): Map<string, { data: Float32Array; shape: number[] }> {
  const total = shards.reduce((n, s) => n + s.length, 0);
  const all = new Uint8Array(total);
  let at = 0;
  for (const s of shards) {
    all.set(s, at);
    at += s.length;
  }
  const dv = new DataView(all.buffer);
  const out = new Map<string, { data: Float32Array; shape: number[] }>();
  let off = 0;
  for (const group of model.weightsManifest ?? []) {
    for (const w of group.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const q = w.quantization;
      const size = q ? (q.dtype === 'float16' || q.dtype === 'uint16' ? 2 : 1) : w.dtype === 'float32' || w.dtype === 'int32' ? 4 : w.dtype === 'bool' ? 1 : 0;
      if (size === 0) throw new ImportError(`weight '${w.name}' has dtype ${w.dtype}, which the TF.js reader does not know`);
      if (off + n * size > total) throw new ImportError(`weight '${w.name}' runs past the end of the weight shards (${total} bytes)`);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const p = off + i * size;
        if (q?.dtype === 'float16') data[i] = f16(dv.getUint16(p, true));
        else if (q?.dtype === 'uint8') data[i] = (q.min ?? 0) + (q.scale ?? 1) * dv.getUint8(p);
        else if (q?.dtype === 'uint16') data[i] = (q.min ?? 0) + (q.scale ?? 1) * dv.getUint16(p, true);
        else if (w.dtype === 'int32') data[i] = dv.getInt32(p, true);
        else if (w.dtype === 'bool') data[i] = dv.getUint8(p);
        else data[i] = dv.getFloat32(p, true);
      }
      out.set(w.name, { data, shape: w.shape });
      off += n * size;
    }
  }
  if (off !== total) throw new ImportError(`the weight manifest describes ${off} bytes, the shards hold ${total}`);
  return out;
}

export function readTfjs(model: ModelJson, shards: Uint8Array[], opts: TfjsOptions = {}): IrGraph {
  const nodes = model.modelTopology?.node;
  if (!Array.isArray(nodes)) throw new ImportError("model.json has no modelTopology.node list (is it a TF.js graph model? layers models are not supported)");
  const weights = readWeights(model, shards);
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const src = (i: string): string => i.replace(/^\^/, '').replace(/:0$/, '');
  const consumers = new Map<string, TfNode[]>();
  for (const n of nodes) for (const i of n.input ?? []) if (!i.startsWith('^')) (consumers.get(src(i)) ?? consumers.set(src(i), []).get(src(i))!).push(n);
  const placeholders = nodes.filter((n) => n.op === 'Placeholder');
  if (placeholders.length !== 1) throw new ImportError(`the graph has ${placeholders.length} Placeholder inputs; one image input is supported`);
  const inNode = placeholders[0];
  // which nodes to import: all, or what `output` depends on
  let outNames = opts.output === undefined ? undefined : Array.isArray(opts.output) ? opts.output : [opts.output];
  if (outNames !== undefined && !outNames.length) throw new ImportError('--output names no tensor');
  for (const o of outNames ?? []) if (!byName.has(o)) throw new ImportError(`the graph has no node '${o}'`);
  if (outNames && new Set(outNames).size !== outNames.length) throw new ImportError(`--output names a tensor twice (${outNames.join(', ')})`);
  const need = new Set<string>();
  const visit = (name: string): void => {
    const st = [name];
    while (st.length) {
      const t = st.pop()!;
      if (need.has(t)) continue;
      need.add(t);
      for (const i of byName.get(t)?.input ?? []) if (!i.startsWith('^')) st.push(src(i));
    }
  };
  if (outNames !== undefined) for (const o of outNames) visit(o);
  else for (const n of nodes) need.add(n.name);

  const tensors = new Map<string, IrTensor>();
  const ir: IrNode[] = [];
  const sourceOps: Record<string, number> = {};
  const shapeAttr = inNode.attr?.shape as unknown as { shape?: { dim?: Array<{ size: string }> } } | undefined;
  const dims = shapeAttr?.shape?.dim?.map((d) => Number(d.size)) ?? [];
  const [H, W] = opts.inputSize ?? [dims[1], dims[2]];
  const C = dims[3];
  if (!(H > 0 && W > 0 && C > 0)) throw new ImportError(`input '${inNode.name}' has no static [1, H, W, C] shape (${JSON.stringify(dims)}); pass --input-size`);
  tensors.set(inNode.name, { name: inNode.name, shape: [C, H, W] });
  /** activation name -> the IR tensor that holds it (folded patterns point several names at one) */
  const act = new Map<string, string>([[inNode.name, inNode.name]]);
  const done = new Set<string>([inNode.name]);
  const constOf = (name: string): { data: Float32Array; shape: number[] } | undefined => (byName.get(name)?.op === 'Const' ? weights.get(name) : undefined);
  const where = (n: TfNode): string => `node '${n.name}' (${n.op})`;
  const input = (n: TfNode, k: number): string => {
    const t = act.get(src(n.input![k]));
    if (t === undefined) throw new ImportError(`${where(n)}: input '${n.input![k]}' is not an activation the importer has made`);
    return t;
  };
  const shape = (t: string): number[] => tensors.get(t)!.shape;
  /** IR tensor -> the IR node that writes it (for folding a following activation) */
  const irOf = new Map<string, IrNode>();
  const emit = (node: IrNode): IrNode => {
    ir.push(node);
    irOf.set(node.y, node);
    return node;
  };
  const add = (name: string, shp: number[]): string => {
    tensors.set(name, { name, shape: shp });
    act.set(name, name);
    return name;
  };
  const pad = (n: TfNode): Padding => {
    const p = b64(n.attr?.padding?.s ?? '');
    if (p === 'SAME') return 'tf-same';
    if (p === 'VALID') return 'none';
    throw new ImportError(`${where(n)}: padding '${p}' is not supported (SAME, VALID)`);
  };
  /** NHWC dilations [1, d, d, 1] of a conv (TF's atrous convolution): d */
  const dilation = (n: TfNode): number => {
    const d = (n.attr?.dilations?.list?.i ?? ['1', '1', '1', '1']).map(Number);
    if (d.length !== 4 || d[0] !== 1 || d[3] !== 1 || d[1] !== d[2]) throw new ImportError(`${where(n)}: dilations [${d}] are not supported (equal H and W dilations, [1, d, d, 1])`);
    if (!(Number.isInteger(d[1]) && d[1] >= 1)) throw new ImportError(`${where(n)}: dilations [${d}] are not positive integers`);
    return d[1];
  };
  /** A ResizeBilinear's or ResizeNearestNeighbor's input, constant output size and convention. */
  const resizeArgs = (n: TfNode): { x: string; c: number; OH: number; OW: number; ac: boolean; hp: boolean } => {
    const x = input(n, 0);
    const sizeIn = (n.input ?? []).filter((i) => !i.startsWith('^'))[1] ?? '';
    const size = constOf(src(sizeIn));
    if (!size || size.data.length !== 2) throw new ImportError(`${where(n)}: the output size '${sizeIn}' is not a constant [height, width]`);
    const ac = !!n.attr?.align_corners?.b, hp = !!n.attr?.half_pixel_centers?.b;
    if (ac && hp) throw new ImportError(`${where(n)}: align_corners and half_pixel_centers together are not supported (TensorFlow refuses them too)`);
    return { x, c: shape(x)[0], OH: size.data[0], OW: size.data[1], ac, hp };
  };
  const stride = (n: TfNode): number => {
    const s = (n.attr?.strides?.list?.i ?? ['1', '1', '1', '1']).map(Number);
    const d = (n.attr?.dilations?.list?.i ?? ['1', '1', '1', '1']).map(Number);
    // a conv's dilations are read by dilation(); a pool has none
    if (!/Conv/.test(n.op) && d.some((v) => v !== 1)) throw new ImportError(`${where(n)}: dilations [${d}] are not supported`);
    if (s[1] !== s[2] || s[0] !== 1 || s[3] !== 1) throw new ImportError(`${where(n)}: strides [${s}] are not supported (equal H and W strides)`);
    if (n.attr?.data_format?.s && b64(n.attr.data_format.s) !== 'NHWC') throw new ImportError(`${where(n)}: data format ${b64(n.attr.data_format.s)} is not supported (NHWC)`);
    return s[1];
  };
  const fused = (n: TfNode): { bias: boolean; act: ActName } => {
    const ops = (n.attr?.fused_ops?.list?.s ?? []).map(b64);
    let bias = false, a: ActName = 'none';
    for (const o of ops) {
      if (o === 'BiasAdd') bias = true;
      else if (o === 'Relu') a = 'relu';
      else if (o === 'Relu6') a = 'relu6';
      else throw new ImportError(`${where(n)}: fused op ${o} is not supported (BiasAdd, Relu, Relu6)`);
    }
    return { bias, act: a };
  };
  const scalar = (name: string): number | undefined => {
    const c = constOf(name);
    return c && c.data.length === 1 ? c.data[0] : undefined;
  };

  // inputs before the nodes that read them, whatever order the file lists them in
  const order: TfNode[] = [];
  const state = new Map<string, number>();
  for (const root of nodes) {
    if (state.has(root.name)) continue;
    const st: Array<[TfNode, number]> = [[root, 0]];
    while (st.length) {
      const top = st[st.length - 1];
      const [n, k] = top;
      if (k === 0) state.set(n.name, 1);
      const deps = (n.input ?? []).map(src);
      if (k < deps.length) {
        top[1]++;
        const d = byName.get(deps[k]);
        if (d && !state.has(d.name)) st.push([d, 0]);
        continue;
      }
      st.pop();
      state.set(n.name, 2);
      order.push(n);
    }
  }
  for (const n of order) {
    if (!need.has(n.name) || done.has(n.name)) continue;
    if (n.op === 'Const') continue;
    sourceOps[n.op] = (sourceOps[n.op] ?? 0) + 1;
    const ins = (n.input ?? []).filter((i) => !i.startsWith('^'));
    switch (n.op) {
      case '_FusedConv2D':
      case 'Conv2D':
      case 'DepthwiseConv2dNative':
      case 'FusedDepthwiseConv2dNative': {
        const x = input(n, 0);
        const [cin, h, w] = shape(x);
        const f = constOf(src(ins[1]));
        if (!f) throw new ImportError(`${where(n)}: filter '${ins[1]}' is not a constant`);
        const [kh, kw, fi, fo] = f.shape;
        if (kh !== kw) throw new ImportError(`${where(n)}: filter ${kh}x${kw} is not square`);
        const dw = n.op.includes('Depthwise');
        const { bias: hasBias, act: a } = n.op === 'Conv2D' || n.op === 'DepthwiseConv2dNative' ? { bias: false, act: 'none' as ActName } : fused(n);
        if (ins.length !== (hasBias ? 3 : 2)) throw new ImportError(`${where(n)}: ${ins.length} inputs for fused ops [${(n.attr?.fused_ops?.list?.s ?? []).map(b64)}]`);
        const k = kh, s = stride(n), p = pad(n), d = dilation(n);
        let cout: number, groups: number, wt: Float32Array;
        if (dw) {
          if (fi !== cin || fo !== 1) throw new ImportError(`${where(n)}: depthwise filter [${f.shape}] on ${cin} channels; only channel multiplier 1 is supported`);
          cout = cin;
          groups = cin;
          wt = new Float32Array(cin * k * k);
          for (let c = 0; c < cin; c++) for (let t = 0; t < k * k; t++) wt[c * k * k + t] = f.data[t * cin + c];
        } else {
          if (fi !== cin) throw new ImportError(`${where(n)}: filter [${f.shape}] expects ${fi} input channels, the input has ${cin}`);
          cout = fo;
          groups = 1;
          wt = new Float32Array(cout * cin * k * k);
          for (let co = 0; co < cout; co++) for (let ci = 0; ci < cin; ci++) for (let t = 0; t < k * k; t++) wt[(co * cin + ci) * k * k + t] = f.data[(t * cin + ci) * cout + co];
        }
        let bias: Float32Array | undefined;
        if (hasBias) {
          const b = constOf(src(ins[2]));
          if (!b || b.data.length !== cout) throw new ImportError(`${where(n)}: bias '${ins[2]}' is not a constant of ${cout} values`);
          bias = b.data;
        }
        const g = convGeometryAt(where(n), h, w, k, s, p, d);
        const y = add(n.name, [cout, g.OH, g.OW]);
        const node = emit({ op: 'conv2d', name: n.name, x, y, w: wt, bias, cin, cout, groups, k, stride: s, ...(d > 1 ? { dilation: d } : {}), pad: p, act: a }) as IrNode & { act: ActName };
        // TensorFlow's hard swish after an unactivated conv: mul = x * (1/6), add = x + 3,
        // relu6 = Relu6(add), out = mul * relu6 (either order of the Mul inputs)
        const hs = a === 'none' ? hardSwish(n.name) : undefined;
        if (hs) {
          node.act = 'hswish';
          for (const t of hs.nodes) done.add(t);
          // the engine's hswish divides by 6; a stored factor that is not f32(1/6) (a float16
          // weight: 0.16662598) is kept exactly as a scale by 6c after it
          if (Math.fround(hs.c) === Math.fround(1 / 6)) act.set(hs.out, y);
          else ir.push({ op: 'scale', name: `${n.name}/hard_swish_scale`, x: y, y: add(hs.out, [cout, g.OH, g.OW]), a: Math.fround(hs.c) * 6 });
          sourceOps.Mul = (sourceOps.Mul ?? 0) + 2;
          sourceOps.Add = (sourceOps.Add ?? 0) + 1;
          sourceOps.Relu6 = (sourceOps.Relu6 ?? 0) + 1;
        }
        // TensorFlow's hard sigmoid (MobileNetV3's squeeze-excite gate): relu6(x + 3) * (1/6)
        const hg = a === 'none' && !hs ? hardSigmoid(n.name) : undefined;
        if (hg) {
          node.act = 'hsigmoid';
          for (const t of hg.nodes) done.add(t);
          if (Math.fround(hg.c) === Math.fround(1 / 6)) act.set(hg.out, y);
          else emit({ op: 'scale', name: `${n.name}/hard_sigmoid_scale`, x: y, y: add(hg.out, [cout, g.OH, g.OW]), a: Math.fround(hg.c) * 6 });
          sourceOps.Mul = (sourceOps.Mul ?? 0) + 1;
          sourceOps.Add = (sourceOps.Add ?? 0) + 1;
          sourceOps.Relu6 = (sourceOps.Relu6 ?? 0) + 1;
        }
        break;
      }
      case 'Add':
      case 'AddV2': {
        const a = act.get(src(ins[0])), b = act.get(src(ins[1]));
        if (a === undefined || b === undefined) throw new ImportError(`${where(n)}: adding a constant is supported only inside a hard swish after a conv`);
        if (shape(a).join() !== shape(b).join()) throw new ImportError(`${where(n)}: broadcasting add of [${shape(a)}] and [${shape(b)}] is not supported`);
        emit({ op: 'add', name: n.name, a, b, y: add(n.name, shape(a)), act: 'none' });
        break;
      }
      case 'Relu':
      case 'Relu6':
      case 'Sigmoid': {
        const x = input(n, 0);
        const a: ActName = n.op === 'Relu' ? 'relu' : n.op === 'Relu6' ? 'relu6' : 'sigmoid';
        if (!foldAct(n, x, a)) emit({ op: 'act', name: n.name, x, y: add(n.name, shape(x)), act: a });
        break;
      }
      case 'Identity':
        act.set(n.name, input(n, 0));
        break;
      case 'Mean': {
        const x = input(n, 0);
        const axes = constOf(src(ins[1] ?? ''));
        const ax = axes ? [...axes.data].map((v) => (v < 0 ? v + 4 : v)).sort().join() : '';
        if (ax !== '1,2') throw new ImportError(`${where(n)}: a mean over axes [${axes ? [...axes.data] : '?'}] is not supported (over H and W, axes [1, 2])`);
        const [c] = shape(x);
        emit({ op: 'gap', name: n.name, x, y: add(n.name, n.attr?.keep_dims?.b ? [c, 1, 1] : [c]) });
        break;
      }
      case 'Mul': {
        const ka = scalar(src(ins[0])), kb = scalar(src(ins[1]));
        if (ka !== undefined || kb !== undefined) {
          const x = input(n, ka !== undefined ? 1 : 0);
          emit({ op: 'scale', name: n.name, x, y: add(n.name, shape(x)), a: (ka ?? kb)! });
          break;
        }
        let a = input(n, 0), b = input(n, 1);
        const sa = shape(a), sb = shape(b);
        const elems = (t: number[]): number => t.reduce((u, v) => u * v, 1);
        // the one-value-per-channel side goes second (squeeze-excite: gate * x in either order)
        if (elems(sa) === sa[0] && elems(sb) > sb[0]) [a, b] = [b, a];
        const [A, B] = [shape(a), shape(b)];
        const same = A.join() === B.join(), perChannel = elems(B) === B[0] && A[0] === B[0];
        if (!same && !perChannel) throw new ImportError(`${where(n)}: broadcasting mul of [${sa}] and [${sb}] is not supported (same shapes, or one value per channel)`);
        emit({ op: 'mul', name: n.name, a, b, y: add(n.name, A), act: 'none' });
        break;
      }
      case 'ResizeBilinear': {
        const { x, c, OH, OW, ac, hp } = resizeArgs(n);
        emit({ op: 'resize_bilinear', name: n.name, x, y: add(n.name, [c, OH, OW]), mode: ac ? 'align_corners' : hp ? 'half_pixel' : 'legacy' });
        break;
      }
      case 'ResizeNearestNeighbor': {
        // the engine's nearest resize is upsample2x (y[i] = x[i >> 1]), which TensorFlow's three
        // conventions all compute for an exact 2x (checked index by index, as for ONNX)
        const { x, c, OH, OW, ac, hp } = resizeArgs(n);
        const [, h, w] = shape(x);
        const [ct, nm] = ac ? ['align_corners', 'round_prefer_ceil'] : hp ? ['tf_half_pixel_for_nn', 'floor'] : ['asymmetric', 'floor'];
        if (!nearestIsTwice(h, OH, ct, nm) || !nearestIsTwice(w, OW, ct, nm)) throw new ImportError(`${where(n)}: nearest resize of ${h}x${w} to ${OH}x${OW} is not supported (only an exact 2x)`);
        emit({ op: 'upsample2x', name: n.name, x, y: add(n.name, [c, OH, OW]) });
        break;
      }
      case 'ConcatV2': {
        const axis = scalar(src(ins[ins.length - 1]));
        if (axis !== 3 && axis !== -1) throw new ImportError(`${where(n)}: concat on axis ${axis} is not supported (the channel axis, 3 or -1)`);
        const parts = ins.slice(0, -1).map((_, k) => input(n, k));
        const [, h, w] = shape(parts[0]);
        for (const t of parts) if (shape(t)[1] !== h || shape(t)[2] !== w) throw new ImportError(`${where(n)}: inputs of different sizes ([${shape(parts[0])}] and [${shape(t)}]) cannot be concatenated on the channel axis`);
        // more than two inputs: a chain of two-input concats, the last one named after the node
        let acc = parts[0];
        for (let k = 1; k < parts.length; k++) {
          const c = shape(acc)[0] + shape(parts[k])[0];
          const yName = k === parts.length - 1 ? n.name : `${n.name}/part${k}`;
          emit({ op: 'concat', name: n.name, a: acc, b: parts[k], y: add(yName, [c, h, w]), act: 'none' });
          acc = yName;
        }
        if (parts.length === 1) act.set(n.name, acc);
        break;
      }
      case 'MaxPool':
      case 'AvgPool': {
        const x = input(n, 0);
        const ks = (n.attr?.ksize?.list?.i ?? []).map(Number);
        if (ks.length !== 4 || ks[0] !== 1 || ks[3] !== 1 || ks[1] !== ks[2]) throw new ImportError(`${where(n)}: pool size [${ks}] is not supported (square, [1, k, k, 1])`);
        const k = ks[1], s = stride(n), p = pad(n);
        const [c, h, w] = shape(x);
        const g = convGeometry(h, w, k, s, p);
        emit({ op: n.op === 'MaxPool' ? 'maxpool' : 'avgpool', name: n.name, x, y: add(n.name, [c, g.OH, g.OW]), k, stride: s, pad: p });
        break;
      }
      case 'Softmax': {
        const x = input(n, 0);
        emit({ op: 'softmax', name: n.name, x, y: add(n.name, shape(x)) });
        break;
      }
      default:
        throw new ImportError(`${where(n)}: op ${n.op} is not supported by the TF.js importer (supported: ${SUPPORTED})${outNames === undefined ? '; --output <tensor>[,<tensor>...] imports only what those tensors depend on (CenterNet: --output tower_0/keypoints,tower_0/wh, the decoding left to decodeCenterNet)' : ''}`);
    }
    done.add(n.name);
  }

  /**
   * Folds a standalone activation into the layer that made its input (a conv, add, mul or concat
   * with none of its own), when nothing else reads the values before the activation.
   */
  function foldAct(n: TfNode, x: string, a: ActName): boolean {
    const p = irOf.get(x);
    if (!p || !(p.op === 'conv2d' || p.op === 'add' || p.op === 'mul' || p.op === 'concat') || p.act !== 'none') return false;
    const names = [...act.entries()].filter(([, v]) => v === x).map(([k]) => k);
    const readers = names.flatMap((k) => consumers.get(k) ?? []);
    if (readers.length !== 1 || readers[0] !== n || names.some((k) => outNames?.includes(k))) return false;
    p.act = a;
    act.set(n.name, x);
    return true;
  }

  function hardSigmoid(x: string): { out: string; nodes: string[]; c: number } | undefined {
    const cs = consumers.get(x) ?? [];
    if (cs.length !== 1 || !(cs[0].op === 'Add' || cs[0].op === 'AddV2') || !(cs[0].input ?? []).some((i) => scalar(src(i)) === 3)) return undefined;
    const r6 = consumers.get(cs[0].name) ?? [];
    if (r6.length !== 1 || r6[0].op !== 'Relu6') return undefined;
    const m = consumers.get(r6[0].name) ?? [];
    const sixth = (i: string): boolean => Math.abs((scalar(src(i)) ?? 0) - 1 / 6) < 1e-3;
    if (m.length !== 1 || m[0].op !== 'Mul' || !(m[0].input ?? []).some(sixth)) return undefined;
    return { out: m[0].name, nodes: [cs[0].name, r6[0].name, m[0].name], c: scalar(src(m[0].input!.find(sixth)!))! };
  }

  function hardSwish(x: string): { out: string; nodes: string[]; c: number } | undefined {
    const cs = consumers.get(x) ?? [];
    if (cs.length !== 2) return undefined;
    // 1/6 to float16 precision (0.16662598 when stored as float16)
    const sixth = (i: string): boolean => Math.abs((scalar(src(i)) ?? 0) - 1 / 6) < 1e-3;
    const mul = cs.find((c) => c.op === 'Mul' && (c.input ?? []).some(sixth));
    const addN = cs.find((c) => (c.op === 'Add' || c.op === 'AddV2') && (c.input ?? []).some((i) => scalar(src(i)) === 3));
    if (!mul || !addN) return undefined;
    const r6 = consumers.get(addN.name) ?? [];
    if (r6.length !== 1 || r6[0].op !== 'Relu6') return undefined;
    const m1 = consumers.get(mul.name) ?? [];
    const r6c = consumers.get(r6[0].name) ?? [];
    if (m1.length !== 1 || r6c.length !== 1 || m1[0] !== r6c[0] || m1[0].op !== 'Mul') return undefined;
    return { out: m1[0].name, nodes: [mul.name, addN.name, r6[0].name, m1[0].name], c: scalar(src(mul.input!.find(sixth)!))! };
  }

  if (outNames === undefined) {
    const sinks = nodes.filter((n) => need.has(n.name) && n.op !== 'Const' && !(consumers.get(n.name) ?? []).length);
    if (sinks.length === 0) throw new ImportError('the graph has no output');
    outNames = sinks.map((n) => n.name);
  }
  const made = outNames.map((o) => {
    const t = act.get(o);
    if (t === undefined) throw new ImportError(`output '${o}' was not made`);
    return t;
  });
  let output = made[0];
  let outputs: IrGraph['outputs'];
  if (made.length > 1) {
    // several heads: one output tensor holding them end to end (flat), described by `outputs`
    if (new Set(made).size !== made.length) throw new ImportError(`--output names the same values twice (${outNames.join(', ')})`);
    outputs = [];
    let at = 0;
    for (let k = 0; k < made.length; k++) {
      outputs.push({ name: outNames[k], shape: shape(made[k]), offset: at });
      at += shape(made[k]).reduce((u, v) => u * v, 1);
      if (k === 0) continue;
      const y = k === made.length - 1 ? 'outputs' : `outputs/part${k}`;
      if (tensors.has(y)) throw new ImportError(`the model already has a tensor named '${y}'`);
      emit({ op: 'concat', name: 'outputs', a: output, b: made[k], y: add(y, [at]), act: 'none' });
      output = y;
    }
  }
  return {
    name: opts.name ?? 'tfjs', format: 'tfjs', input: inNode.name, output, outputs, tensors, nodes: ir,
    // the pixel values as they are (the CenterNet package passes 0..255): x = q / 255 * 255
    mean: new Array<number>(C).fill(0), std: new Array<number>(C).fill(1 / 255), sourceOps,
  };
}
