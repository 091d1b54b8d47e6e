/**
 * The TF.js importer's ops on a small graph model made here (no ../shared needed): Conv2D, a
 * squeeze-excite (Mean, Sigmoid, per-channel Mul), ResizeBilinear in all three conventions
 * (half_pixel_centers, legacy, align_corners) on odd sizes, a three-input ConcatV2 with a Relu
 * folded in, AvgPool 3x3/2 SAME, MaxPool 3x3/1 SAME and Softmax, against tfjs-backend-wasm
 * executing the same model.json, and against the f64 reference, on both builds.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { importModel, readTfjs, referenceForward, type IrGraph } from '../../src/import/index.js';
import { readBlob } from '../../src/format/reader.js';
import { Runner } from '../../src/engine/plan/runner.js';
import { loadEngine } from '../../src/engine/wasm.js';
import { BUILDS, nerr, randn } from '../util.js';
import { b64, T, ints, graphModel, tfjsPeer, type Const, type GraphModel } from './tfjs-graph.js';

const H = 9, W = 11, C = 8;
const pool = (op: string, name: string, x: string, k: number, s: number) => ({
  name, op, input: [x], attr: { ...T, ksize: ints([1, k, k, 1]), strides: ints([1, s, s, 1]), padding: { s: b64('SAME') }, data_format: { s: b64('NHWC') } },
});
const resize = (name: string, x: string, ac: boolean, hp: boolean) => ({ name, op: 'ResizeBilinear', input: [x, `${name}/size`], attr: { ...T, align_corners: { b: ac }, half_pixel_centers: { b: hp } } });

const CONSTS: Record<string, Const> = {
  w1: { shape: [3, 3, 3, C], values: randn(3 * 3 * 3 * C, 7, 0.4) },
  'mean/axes': { shape: [2], dtype: 'int32', values: [1, 2] },
  'r1/size': { shape: [2], dtype: 'int32', values: [17, 13] },
  'r2/size': { shape: [2], dtype: 'int32', values: [18, 22] },
  'r3/size': { shape: [2], dtype: 'int32', values: [17, 13] },
  'cat/axis': { shape: [], dtype: 'int32', values: [-1] },
};

function model(): GraphModel {
  return graphModel(H, W, CONSTS, [
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
  ]);
}

describe('TF.js ops on a made graph model, against tfjs-backend-wasm', () => {
  const { json, bin } = model();
  const x = randn(3 * H * W, 11, 2);
  let ir: IrGraph;
  let peer: Float32Array;
  beforeAll(async () => {
    ir = readTfjs(json as never, [bin]);
    peer = (await tfjsPeer({ json, bin }, x, H, W, 'out')).y;
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

describe('TF.js ResizeNearestNeighbor by 2 in its three conventions: the engine\'s upsample2x, against tfjs-backend-wasm', () => {
  const Hn = 5, Wn = 6;
  const near = (name: string, x: string, ac: boolean, hp: boolean) => ({ name, op: 'ResizeNearestNeighbor', input: [x, 'up/size'], attr: { ...T, align_corners: { b: ac }, half_pixel_centers: { b: hp } } });
  const m = graphModel(Hn, Wn, {
    w1: { shape: [3, 3, 3, 4], values: randn(108, 17, 0.4) },
    'up/size': { shape: [2], dtype: 'int32', values: [2 * Hn, 2 * Wn] },
    'cat/axis': { shape: [], dtype: 'int32', values: [-1] },
  }, [
    { name: 'conv', op: 'Conv2D', input: ['images', 'w1'], attr: { ...T, strides: ints([1, 1, 1, 1]), padding: { s: b64('SAME') }, data_format: { s: b64('NHWC') }, dilations: ints([1, 1, 1, 1]) } },
    near('n1', 'conv', false, false), near('n2', 'conv', true, false), near('n3', 'conv', false, true),
    { name: 'out', op: 'ConcatV2', input: ['n1', 'n2', 'n3', 'cat/axis'], attr: { ...T, N: { i: '3' }, Tidx: { type: 'DT_INT32' } } },
  ]);
  const x = randn(3 * Hn * Wn, 19, 2);
  it('maps each to upsample2x and equals tfjs-backend-wasm on both builds', async () => {
    const ir = readTfjs(m.json as never, [m.bin]);
    expect(ir.nodes.map((n) => n.op)).toEqual(['conv2d', 'upsample2x', 'upsample2x', 'upsample2x', 'concat', 'concat']);
    const peer = await tfjsPeer(m, x, Hn, Wn, 'out');
    expect(peer.shape).toEqual([12, 2 * Hn, 2 * Wn]);
    expect(nerr(peer.y, referenceForward(ir, x))).toBeLessThan(1e-6);
    const { slim } = importModel(new TextEncoder().encode(JSON.stringify(m.json)), { weights: [m.bin] });
    for (const build of BUILDS) expect(nerr(new Runner(loadEngine({ build }), readBlob(slim), 'classifier').run(x) as Float32Array, peer.y), build).toBeLessThan(1e-6);
  });
  it('refuses a nearest resize that is not an exact 2x, naming the node', () => {
    const bad = graphModel(Hn, Wn, { 'up/size': { shape: [2], dtype: 'int32', values: [3 * Hn, 2 * Wn] } }, [near('up', 'images', false, false)]);
    expect(() => readTfjs(bad.json as never, [bad.bin])).toThrow(/node 'up' \(ResizeNearestNeighbor\): nearest resize of 5x6 to 15x12 is not supported \(only an exact 2x\)/);
  });
});
