/**
 * TF.js graph models made in tests: node attributes, the Placeholder and Const nodes, the weight
 * shard, and tfjs-backend-wasm's own answer on a model (NCHW in and out, as the engine runs).
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

export const b64 = (s: string): string => Buffer.from(s).toString('base64');
export const T = { T: { type: 'DT_FLOAT' } };
export const ints = (v: number[]): { list: { i: string[] } } => ({ list: { i: v.map(String) } });

/** A constant: NHWC / HWIO shape, float32 unless said. */
export interface Const {
  shape: number[];
  values: ArrayLike<number>;
  dtype?: 'float32' | 'int32';
}

export interface GraphModel {
  json: {
    format: string;
    modelTopology: { node: object[]; library: object; versions: object };
    weightsManifest: Array<{ paths: string[]; weights: Array<{ name: string; shape: number[]; dtype: string }> }>;
  };
  bin: Uint8Array;
}

/** model.json and its one shard: Placeholder 'images' [1, H, W, 3], the constants, then `nodes`. */
export function graphModel(H: number, W: number, consts: Record<string, Const>, nodes: object[]): GraphModel {
  const tfType = (c: Const): string => (c.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT');
  const dims = (shape: number[]) => ({ dim: shape.map((d) => ({ size: String(d) })) });
  const node: object[] = [
    { name: 'images', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dims([1, H, W, 3]) } } },
    ...Object.entries(consts).map(([name, c]) => ({ name, op: 'Const', attr: { dtype: { type: tfType(c) }, value: { tensor: { dtype: tfType(c), tensorShape: dims(c.shape) } } } })),
    ...nodes,
  ];
  const parts = Object.values(consts).map((c) => new Uint8Array((c.dtype === 'int32' ? Int32Array.from(c.values) : Float32Array.from(c.values)).buffer));
  const bin = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bin.set(p, at);
    at += p.length;
  }
  const weights = Object.entries(consts).map(([name, c]) => ({ name, shape: c.shape, dtype: c.dtype ?? 'float32' }));
  return { json: { format: 'graph-model', modelTopology: { node, library: {}, versions: { producer: 1 } }, weightsManifest: [{ paths: ['w.bin'], weights }] }, bin };
}

/** tfjs-backend-wasm (one thread) executing the model on x [3][H][W]: output `name` as [C][OH][OW]. */
export async function tfjsPeer(m: GraphModel, x: Float32Array, H: number, W: number, name: string): Promise<{ y: Float32Array; shape: number[] }> {
  setThreadsCount(1);
  await tf.setBackend('wasm');
  const { json, bin } = m;
  const model = await loadGraphModel({ load: async () => ({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights as never, weightData: bin.slice().buffer }) });
  const nhwc = new Float32Array(x.length);
  for (let c = 0; c < 3; c++) for (let i = 0; i < H * W; i++) nhwc[i * 3 + c] = x[c * H * W + i];
  const inp = tf.tensor4d(nhwc, [1, H, W, 3]);
  const out = model.execute(inp, name) as tf.Tensor;
  const d = out.dataSync() as Float32Array;
  const [, oh, ow, oc] = out.shape;
  const y = new Float32Array(d.length);
  for (let c = 0; c < oc; c++) for (let i = 0; i < oh * ow; i++) y[c * oh * ow + i] = d[i * oc + c];
  inp.dispose();
  out.dispose();
  return { y, shape: [oc, oh, ow] };
}
