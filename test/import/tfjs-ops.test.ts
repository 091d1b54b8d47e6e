/**
 * The TF.js importer's ops on a small graph model made here (no ../shared needed): Conv2D, a
 * squeeze-excite (Mean, Sigmoid, per-channel Mul), ResizeBilinear in all three conventions
 * (half_pixel_centers, legacy, align_corners) on odd sizes, a three-input ConcatV2 with a Relu
 * folded in, AvgPool 3x3/2 SAME, MaxPool 3x3/1 SAME and Softmax, against tfjs-backend-wasm
 * executing the same model.json, and against the f64 reference, on both builds.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { importModel, readTfjs, referenceForward, type IrGraph } from '../../src/import/index.js';
import { readBlob } from '../../src/format/reader.js';
import { Runner } from '../../src/engine/plan/runner.js';
import { loadEngine } from '../../src/engine/wasm.js';
import { BUILDS, nerr, randn } from '../util.js';

const H = 9, W = 11, C = 8;
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const T = { T: { type: 'DT_FLOAT' } };
const ints = (v: number[]): { list: { i: string[] } } => ({ list: { i: v.map(String) } });
const pool = (op: string, name: string, x: string, k: number, s: number) => ({
  name, op, input: [x], attr: { ...T, ksize: ints([1, k, k, 1]), strides: ints([1, s, s, 1]), padding: { s: b64('SAME') }, data_format: { s: b64('NHWC') } },
});
const resize = (name: string, x: string, ac: boolean, hp: boolean) => ({ name, op: 'ResizeBilinear', input: [x, `${name}/size`], attr: { ...T, align_corners: { b: ac }, half_pixel_centers: { b: hp } } });

/** name -> [shape, dtype, values] */
const CONSTS: Record<string, [number[], 'float32' | 'int32', number[]]> = {
  w1: [[3, 3, 3, C], 'float32', Array.from(randn(3 * 3 * 3 * C, 7, 0.4))],
  'mean/axes': [[2], 'int32', [1, 2]],
  'r1/size': [[2], 'int32', [17, 13]],
  'r2/size': [[2], 'int32', [18, 22]],
  'r3/size': [[2], 'int32', [17, 13]],
  'cat/axis': [[], 'int32', [-1]],
};

function model(): { json: { modelTopology: { node: object[]; library: object; versions: object }; weightsManifest: Array<{ paths: string[]; weights: object[] }>; format: string }; bin: Uint8Array } {
  const node: object[] = [
    { name: 'images', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [1, H, W, 3].map((d) => ({ size: String(d) })) } } } },
    ...Object.entries(CONSTS).map(([name, [shape, dt]]) => ({ name, op: 'Const', attr: { dtype: { type: dt === 'int32' ? 'DT_INT32' : 'DT_FLOAT' }, value: { tensor: { dtype: dt === 'int32' ? 'DT_INT32' : 'DT_FLOAT', tensorShape: { dim: shape.map((d) => ({ size: String(d) })) } } } } })),
    { name: 'conv', op: 'Conv2D', input: ['images', 'w1'], attr: { ...T, strides: ints([1, 1, 1, 1]), padding: { s: b64('SAME') }, data_format: { s: b64('NHWC') }, dilations: ints([1, 1, 1, 1]) } },
    { name: 'mean', op: 'Mean', input: ['conv', 'mean/axes'], attr: { ...T, keep_dims: { b: true }, Tidx: { type: 'DT_INT32' } } },
    { name: 'gate', op: 'Sigmoid', input: ['mean'], attr: T },
    { name: 'se', op: 'Mul', input: ['gate', 'conv'], attr: T },
    resize('r1', 'se', false, true),
    resize('r2', 'se', false, false),
    resize('r3', 'r2', true, false),
    { name: 'cat', op: 'ConcatV2', input: ['r1', 'r3', 'r1', 'cat/axis'], attr: { ...T, N: { i: '3' }, Tidx: { type: 'DT_INT32' } } },
    { name: 'relu', op: 'Relu', input: ['cat'], attr: T },
    pool('AvgPool', 'avg', 'relu', 3, 2),
    pool('MaxPool', 'max', 'avg', 3, 1),
    { name: 'out', op: 'Softmax', input: ['max'], attr: T },
  ];
  const parts: Uint8Array[] = [];
  const weights = Object.entries(CONSTS).map(([name, [shape, dtype, v]]) => {
    parts.push(new Uint8Array((dtype === 'int32' ? Int32Array.from(v) : Float32Array.from(v)).buffer));
    return { name, shape, dtype };
  });
  const bin = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bin.set(p, at);
    at += p.length;
  }
  return { json: { format: 'graph-model', modelTopology: { node, library: {}, versions: { producer: 1 } }, weightsManifest: [{ paths: ['w.bin'], weights }] }, bin };
}

describe('TF.js ops on a made graph model, against tfjs-backend-wasm', () => {
  const { json, bin } = model();
  const x = randn(3 * H * W, 11, 2);
  let ir: IrGraph;
  let peer: Float32Array;
  beforeAll(async () => {
    ir = readTfjs(json as never, [bin]);
    setThreadsCount(1);
    await tf.setBackend('wasm');
    const m = await loadGraphModel({ load: async () => ({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights as never, weightData: bin.slice().buffer }) });
    const nhwc = new Float32Array(x.length);
    for (let c = 0; c < 3; c++) for (let i = 0; i < H * W; i++) nhwc[i * 3 + c] = x[c * H * W + i];
    const inp = tf.tensor4d(nhwc, [1, H, W, 3]);
    const out = m.execute(inp, 'out') as tf.Tensor;
    const d = out.dataSync() as Float32Array;
    const [, oh, ow, oc] = out.shape;
    peer = new Float32Array(d.length);
    for (let c = 0; c < oc; c++) for (let i = 0; i < oh * ow; i++) peer[c * oh * ow + i] = d[i * oc + c];
    inp.dispose();
    out.dispose();
  });

  it('maps every op: the sigmoid and relu folded, three resizes, a concat chain, both pools, a softmax', () => {
    expect(ir.nodes.map((n) => n.op + ('act' in n && n.act !== 'none' ? `:${n.act}` : '') + ('mode' in n ? `:${n.mode}` : ''))).toEqual([
      'conv2d', 'gap', 'act:sigmoid', 'mul', 'resize_bilinear:half_pixel', 'resize_bilinear:legacy', 'resize_bilinear:align_corners',
      'concat', 'concat:relu', 'avgpool', 'maxpool', 'softmax',
    ]);
    expect(ir.tensors.get(ir.output)!.shape).toEqual([3 * C, 9, 7]);
  });

  it('the f64 reference of the import equals tfjs-backend-wasm (1e-5 normalized)', () => {
    expect(nerr(peer, referenceForward(ir, x))).toBeLessThan(1e-5);
  });

  for (const build of BUILDS) {
    it(`${build}: the engine equals tfjs-backend-wasm (1e-5 normalized)`, () => {
      const { slim } = importModel(new TextEncoder().encode(JSON.stringify(json)), { weights: [bin] });
      const y = new Runner(loadEngine({ build }), readBlob(slim), 'classifier').run(x) as Float32Array;
      expect(nerr(y, peer)).toBeLessThan(1e-5);
    });
  }
});
