/**
 * TF.js dilated (atrous) convolutions on a graph model made here: Conv2D, DepthwiseConv2dNative,
 * FusedDepthwiseConv2dNative and _FusedConv2D with NHWC dilations [1, d, d, 1] (d 2 and 3, k 3
 * and 5, SAME and VALID; TF allows dilation only at stride 1), against tfjs-backend-wasm executing
 * the same model.json and against the f64 reference, on both builds; unequal H and W dilations
 * are refused by node.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { importModel, readTfjs, referenceForward, type IrGraph } from '../../src/import/index.js';
import { readBlob } from '../../src/format/reader.js';
import { Runner } from '../../src/engine/plan/runner.js';
import { loadEngine } from '../../src/engine/wasm.js';
import { BUILDS, nerr, randn } from '../util.js';
import { b64, T, ints, graphModel, tfjsPeer, type Const, type GraphModel } from './tfjs-graph.js';

const H = 13, W = 15, C = 8;
const convAttr = (pad: string, d: number[]) => ({ ...T, strides: ints([1, 1, 1, 1]), padding: { s: b64(pad) }, data_format: { s: b64('NHWC') }, dilations: ints(d) });
const fused = (ops: string[]) => ({ fused_ops: { list: { s: ops.map(b64) } }, num_args: { i: '1' }, epsilon: { f: 0 } });

const CONSTS: Record<string, Const> = {
  w1: { shape: [3, 3, 3, C], values: randn(3 * 3 * 3 * C, 21, 0.4) },
  dw1: { shape: [3, 3, C, 1], values: randn(9 * C, 22, 0.5) },
  dw2: { shape: [5, 5, C, 1], values: randn(25 * C, 23, 0.3) },
  dw2b: { shape: [C], values: randn(C, 24, 0.2) },
  w3: { shape: [5, 5, C, 6], values: randn(25 * C * 6, 25, 0.15) },
  w3b: { shape: [6], values: randn(6, 26, 0.2) },
};

// images 13x15x3 -> c1 Conv2D 3x3 d2 SAME -> dw1 DepthwiseConv2dNative 3x3 d3 SAME
//   -> dw2 FusedDepthwiseConv2dNative 5x5 d2 SAME + BiasAdd + Relu6 -> out _FusedConv2D 5x5 d2 VALID + BiasAdd + Relu (5x7x6)
function model(dw1Dilations = [1, 3, 3, 1], outDilations = [1, 2, 2, 1]): GraphModel {
  return graphModel(H, W, CONSTS, [
    { name: 'aspp/c1', op: 'Conv2D', input: ['images', 'w1'], attr: convAttr('SAME', [1, 2, 2, 1]) },
    { name: 'aspp/dw1', op: 'DepthwiseConv2dNative', input: ['aspp/c1', 'dw1'], attr: convAttr('SAME', dw1Dilations) },
    { name: 'aspp/dw2', op: 'FusedDepthwiseConv2dNative', input: ['aspp/dw1', 'dw2', 'dw2b'], attr: { ...convAttr('SAME', [1, 2, 2, 1]), ...fused(['BiasAdd', 'Relu6']) } },
    { name: 'out', op: '_FusedConv2D', input: ['aspp/dw2', 'w3', 'w3b'], attr: { ...convAttr('VALID', outDilations), ...fused(['BiasAdd', 'Relu']) } },
  ]);
}

describe('TF.js dilated convolutions, against tfjs-backend-wasm', () => {
  const { json, bin } = model();
  const x = randn(3 * H * W, 31, 1);
  let ir: IrGraph;
  let peer: Float32Array;
  beforeAll(async () => {
    ir = readTfjs(json as never, [bin]);
    const p = await tfjsPeer({ json, bin }, x, H, W, 'out');
    expect(p.shape).toEqual([6, 5, 7]);
    peer = p.y;
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
