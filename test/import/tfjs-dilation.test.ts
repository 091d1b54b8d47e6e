/**
 * TF.js dilated (atrous) convolutions on a graph model made here: Conv2D, DepthwiseConv2dNative,
 * FusedDepthwiseConv2dNative and _FusedConv2D with NHWC dilations [1, d, d, 1] (d 2 and 3, k 3
 * and 5, SAME and VALID; TF allows dilation only at stride 1), against tfjs-backend-wasm executing
 * the same model.json and against the f64 reference, on both builds; unequal H and W dilations
 * are refused by node.
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

const H = 13, W = 15, C = 8;
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const T = { T: { type: 'DT_FLOAT' } };
const ints = (v: number[]): { list: { i: string[] } } => ({ list: { i: v.map(String) } });
const convAttr = (pad: string, d: number[]) => ({ ...T, strides: ints([1, 1, 1, 1]), padding: { s: b64(pad) }, data_format: { s: b64('NHWC') }, dilations: ints(d) });
const fused = (ops: string[]) => ({ fused_ops: { list: { s: ops.map(b64) } }, num_args: { i: '1' }, epsilon: { f: 0 } });

const CONSTS: Record<string, [number[], number[]]> = {
  w1: [[3, 3, 3, C], Array.from(randn(3 * 3 * 3 * C, 21, 0.4))],
  dw1: [[3, 3, C, 1], Array.from(randn(9 * C, 22, 0.5))],
  dw2: [[5, 5, C, 1], Array.from(randn(25 * C, 23, 0.3))],
  dw2b: [[C], Array.from(randn(C, 24, 0.2))],
  w3: [[5, 5, C, 6], Array.from(randn(25 * C * 6, 25, 0.15))],
  w3b: [[6], Array.from(randn(6, 26, 0.2))],
};

// images 13x15x3 -> c1 Conv2D 3x3 d2 SAME -> dw1 DepthwiseConv2dNative 3x3 d3 SAME
//   -> dw2 FusedDepthwiseConv2dNative 5x5 d2 SAME + BiasAdd + Relu6 -> out _FusedConv2D 5x5 d2 VALID + BiasAdd + Relu (5x7x6)
function model(dw1Dilations = [1, 3, 3, 1], outDilations = [1, 2, 2, 1]) {
  const node: object[] = [
    { name: 'images', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [1, H, W, 3].map((d) => ({ size: String(d) })) } } } },
    ...Object.entries(CONSTS).map(([name, [shape]]) => ({ name, op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: shape.map((d) => ({ size: String(d) })) } } } } })),
    { name: 'aspp/c1', op: 'Conv2D', input: ['images', 'w1'], attr: convAttr('SAME', [1, 2, 2, 1]) },
    { name: 'aspp/dw1', op: 'DepthwiseConv2dNative', input: ['aspp/c1', 'dw1'], attr: convAttr('SAME', dw1Dilations) },
    { name: 'aspp/dw2', op: 'FusedDepthwiseConv2dNative', input: ['aspp/dw1', 'dw2', 'dw2b'], attr: { ...convAttr('SAME', [1, 2, 2, 1]), ...fused(['BiasAdd', 'Relu6']) } },
    { name: 'out', op: '_FusedConv2D', input: ['aspp/dw2', 'w3', 'w3b'], attr: { ...convAttr('VALID', outDilations), ...fused(['BiasAdd', 'Relu']) } },
  ];
  const parts = Object.values(CONSTS).map(([, v]) => new Uint8Array(Float32Array.from(v).buffer));
  const bin = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bin.set(p, at);
    at += p.length;
  }
  const weights = Object.entries(CONSTS).map(([name, [shape]]) => ({ name, shape, dtype: 'float32' }));
  return { json: { format: 'graph-model', modelTopology: { node, library: {}, versions: { producer: 1 } }, weightsManifest: [{ paths: ['w.bin'], weights }] }, bin };
}

describe('TF.js dilated convolutions, against tfjs-backend-wasm', () => {
  const { json, bin } = model();
  const x = randn(3 * H * W, 31, 1);
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
    expect([oc, oh, ow]).toEqual([6, 5, 7]);
    peer = new Float32Array(d.length);
    for (let c = 0; c < oc; c++) for (let i = 0; i < oh * ow; i++) peer[c * oh * ow + i] = d[i * oc + c];
    inp.dispose();
    out.dispose();
  });

  it('reads each conv\'s dilation: dense and depthwise, SAME as tf-same over the dilated extent, VALID', () => {
    expect(ir.nodes.map((n) => (n.op === 'conv2d' ? [n.groups, n.k, n.dilation, n.pad, n.act] : n.op))).toEqual([
      [1, 3, 2, 'tf-same', 'none'], [C, 3, 3, 'tf-same', 'none'], [C, 5, 2, 'tf-same', 'relu6'], [1, 5, 2, 'none', 'relu'],
    ]);
    expect(ir.tensors.get(ir.output)!.shape).toEqual([6, 5, 7]);
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

  it('refuses unequal H and W dilations and an empty dilated VALID output, naming the node and the values', () => {
    const bad = model([1, 3, 2, 1]);
    expect(() => readTfjs(bad.json as never, [bad.bin])).toThrow(
      "node 'aspp/dw1' (DepthwiseConv2dNative): dilations [1,3,2,1] are not supported (equal H and W dilations, [1, d, d, 1])");
    // VALID with a dilated extent (5x5 at d 4: 17) larger than the 13x15 input
    const big = model(undefined, [1, 4, 4, 1]);
    expect(() => readTfjs(big.json as never, [big.bin])).toThrow(
      "slimsplit: import: node 'out' (_FusedConv2D): conv 5x5/1 dilation 4 (extent 17x17) on 13x15 gives an empty output");
  });
});
