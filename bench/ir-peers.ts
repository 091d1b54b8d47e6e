/**
 * An imported network (the importers' NCHW IR, src/import/graph.ts) as the peers run it: an ONNX
 * model for onnxruntime-web and onnxruntime-node, and a tfjs forward pass (NHWC) for
 * tfjs-backend-wasm. Same weights, same padding (TF's asymmetric SAME written out as explicit
 * pads for ONNX, tfjs's own 'same'), same fused activations: the same work as the engine's blob.
 *
 *   const { bytes, output } = irToOnnx(ir);     // for ort.InferenceSession.create; output's name
 *   const tfx = irToTfjs(ir); tfx.run(xNchw);   // one inference, output NCHW-ordered
 */
import * as tf from '@tensorflow/tfjs-core';
import { convGeometry } from '../src/engine/ops/types.js';
import type { IrGraph, IrNode } from '../src/import/graph.js';
import { tensorProto, valueInfo, attrInts, attrInt, onnxModel, type OnnxObject } from './peers.js';

/** An ONNX model (opset 17): input 'x' [1, C, H, W] -> `output`. */
export function irToOnnx(g: IrGraph): { bytes: Uint8Array; output: string } {
  const names = new Map<string, string>([[g.input, 'x']]);
  const nm = (t: string): string => {
    if (!names.has(t)) names.set(t, `t${names.size}`);
    return names.get(t)!;
  };
  const nodes: OnnxObject[] = [];
  const inits: OnnxObject[] = [];
  const node = (op: string, ins: string[], out: string, attrs: OnnxObject[] = []): void => {
    nodes.push({ input: ins, output: [out], name: `n${nodes.length}`, opType: op, attribute: attrs });
  };
  inits.push(tensorProto('zero', [], Float32Array.of(0)), tensorProto('six', [], Float32Array.of(6)));
  /** `pre` then the activation into `out` */
  const activate = (act: string, pre: string, out: string): void => {
    if (act === 'relu') node('Relu', [pre], out);
    else if (act === 'relu6') node('Clip', [pre, 'zero', 'six'], out);
    else if (act === 'sigmoid') node('Sigmoid', [pre], out);
    else if (act === 'none') node('Identity', [pre], out);
    else throw new Error(`bench: no ONNX form for activation ${act}`);
  };
  let outShape: number[] = [];
  for (const n of g.nodes) {
    const y = nm(n.y);
    const shape = g.tensors.get(n.y)!.shape;
    outShape = shape.length === 3 ? [1, ...shape] : [1, ...shape];
    switch (n.op) {
      case 'conv2d': {
        const [, H, W] = g.tensors.get(n.x)!.shape;
        const d = n.dilation ?? 1;
        const geo = convGeometry(H, W, n.k, n.stride, n.pad, d);
        const w = `${y}.w`, b = `${y}.b`;
        inits.push(tensorProto(w, [n.cout, n.cin / n.groups, n.k, n.k], n.w));
        inits.push(tensorProto(b, [n.cout], n.bias ?? new Float32Array(n.cout)));
        const pre = n.act === 'none' ? y : `${y}.pre`;
        node('Conv', [nm(n.x), w, b], pre, [
          attrInts('kernel_shape', [n.k, n.k]), attrInts('strides', [n.stride, n.stride]),
          attrInts('pads', [geo.padT, geo.padL, geo.padB, geo.padR]), attrInts('dilations', [d, d]), attrInt('group', n.groups),
        ]);
        if (n.act !== 'none') activate(n.act, pre, y);
        break;
      }
      case 'add': {
        const pre = n.act === 'none' ? y : `${y}.pre`;
        node('Add', [nm(n.a), nm(n.b)], pre);
        if (n.act !== 'none') activate(n.act, pre, y);
        break;
      }
      case 'gap':
        node('GlobalAveragePool', [nm(n.x)], y);
        break;
      case 'act':
        activate(n.act, nm(n.x), y);
        break;
      case 'scale':
        if (n.b || (n.act && n.act !== 'none')) throw new Error('bench: no ONNX form for a scale with an offset or activation');
        inits.push(tensorProto(`${y}.a`, [], Float32Array.of(n.a)));
        node('Mul', [nm(n.x), `${y}.a`], y);
        break;
      case 'alias':
        node('Flatten', [nm(n.x)], y, [attrInt('axis', 1)]);
        break;
      default:
        throw new Error(`bench: no ONNX form for ${(n as IrNode).op}`);
    }
  }
  const bytes = onnxModel({
    node: nodes, name: 'imported', initializer: inits,
    input: [valueInfo('x', [1, ...g.tensors.get(g.input)!.shape])], output: [valueInfo(nm(g.output), outShape)],
  });
  return { bytes, output: nm(g.output) };
}

export function nchwToNhwc(x: Float32Array, C: number, H: number, W: number): Float32Array {
  const o = new Float32Array(x.length);
  for (let c = 0; c < C; c++) for (let i = 0; i < H * W; i++) o[i * C + c] = x[c * H * W + i];
  return o;
}

/** The IR as tfjs ops on NHWC tensors (weights uploaded once); run() returns the output NCHW-ordered. */
export function irToTfjs(g: IrGraph): { run(x?: Float32Array): void; runNhwc(x: Float32Array): void; output(): Float32Array; dispose(): void } {
  type Step = (env: Map<string, tf.Tensor>) => void;
  const steps: Step[] = [];
  const keep: tf.Tensor[] = [];
  const fusedAct = (a: string): 'relu' | 'relu6' | 'sigmoid' | 'linear' => (a === 'none' ? 'linear' : (a as 'relu' | 'relu6' | 'sigmoid'));
  const apply = (a: string, t: tf.Tensor): tf.Tensor => (a === 'none' ? t : a === 'relu' ? tf.relu(t) : a === 'relu6' ? tf.relu6(t) : tf.sigmoid(t));
  for (const n of g.nodes) {
    switch (n.op) {
      case 'conv2d': {
        const { k, cin, cout, groups } = n;
        const dilations = n.dilation ?? 1;
        // tfjs's 'same' is TensorFlow's (the odd pixel at the bottom/right), as the engine's tf-same
        const pad = n.pad === 'tf-same' ? 'same' : n.pad === 'none' ? 'valid' : (((k - 1) * dilations) >> 1);
        const bias = tf.tensor1d(n.bias ?? new Float32Array(cout));
        keep.push(bias);
        if (groups === 1) {
          const f = new Float32Array(k * k * cin * cout);
          for (let co = 0; co < cout; co++) for (let ci = 0; ci < cin; ci++) for (let t = 0; t < k * k; t++) f[(t * cin + ci) * cout + co] = n.w[(co * cin + ci) * k * k + t];
          const filter = tf.tensor4d(f, [k, k, cin, cout]);
          keep.push(filter);
          steps.push((env) => env.set(n.y, tf.fused.conv2d({ x: env.get(n.x) as tf.Tensor4D, filter, strides: n.stride, pad, dilations, bias, activation: fusedAct(n.act) })));
        } else if (groups === cin && cin === cout) {
          const f = new Float32Array(k * k * cin);
          for (let c = 0; c < cin; c++) for (let t = 0; t < k * k; t++) f[t * cin + c] = n.w[c * k * k + t];
          const filter = tf.tensor4d(f, [k, k, cin, 1]);
          keep.push(filter);
          steps.push((env) => env.set(n.y, tf.fused.depthwiseConv2d({ x: env.get(n.x) as tf.Tensor4D, filter, strides: n.stride, pad, dilations, bias, activation: fusedAct(n.act) })));
        } else throw new Error('bench: tfjs has no grouped conv');
        break;
      }
      case 'add':
        steps.push((env) => env.set(n.y, apply(n.act, tf.add(env.get(n.a)!, env.get(n.b)!))));
        break;
      case 'gap':
        steps.push((env) => env.set(n.y, tf.mean(env.get(n.x)!, [1, 2], true)));
        break;
      case 'act':
        steps.push((env) => env.set(n.y, apply(n.act, env.get(n.x)!)));
        break;
      case 'scale':
        if (n.b || (n.act && n.act !== 'none')) throw new Error('bench: no tfjs form for a scale with an offset or activation');
        steps.push((env) => env.set(n.y, tf.mul(env.get(n.x)!, n.a)));
        break;
      case 'alias':
        steps.push((env) => env.set(n.y, tf.reshape(env.get(n.x)!, [1, -1])));
        break;
      default:
        throw new Error(`bench: no tfjs form for ${(n as IrNode).op}`);
    }
  }
  const [C, H, W] = g.tensors.get(g.input)!.shape;
  let input: tf.Tensor4D | null = null;
  let out: tf.Tensor | null = null;
  const exec = (): void => {
    out?.dispose();
    const inp = input!;
    out = tf.tidy(() => {
      const env = new Map<string, tf.Tensor>([[g.input, inp]]);
      for (const s of steps) s(env);
      return env.get(g.output)!;
    });
  };
  return {
    run(x?: Float32Array) {
      if (x) {
        input?.dispose();
        input = tf.tensor4d(nchwToNhwc(x, C, H, W), [1, H, W, C]);
      }
      if (!input) throw new Error('bench: tfjs run() needs an input first');
      exec();
    },
    /** one inference on input already in tfjs's layout, uploaded as a new tensor (what a caller does per frame) */
    runNhwc(x: Float32Array) {
      input?.dispose();
      input = tf.tensor4d(x, [1, H, W, C]);
      exec();
    },
    output() {
      const d = out!.dataSync() as Float32Array;
      const s = out!.shape;
      if (s.length === 4 && s[1] * s[2] > 1) {
        const [, h, w, c] = s;
        const o = new Float32Array(d.length);
        for (let i = 0; i < h * w; i++) for (let ch = 0; ch < c; ch++) o[ch * h * w + i] = d[i * c + ch];
        return o;
      }
      return Float32Array.from(d);
    },
    dispose() {
      out?.dispose();
      input?.dispose();
      for (const t of keep) t.dispose();
    },
  };
}
