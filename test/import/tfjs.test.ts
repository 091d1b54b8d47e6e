/**
 * TF.js graph model import (../shared/models/centernet): the backbone up to the model's one
 * single-tensor cut (tower_0/MobilenetV3/expanded_conv_2/add), float16 weights, fused convs,
 * TensorFlow's hard swish folded into the conv, against tfjs-backend-wasm executing the same
 * model.json to the same node, and against the f64 reference, on both builds. The whole detector:
 * test/import/centernet.test.ts. Skipped, with a message, when ../shared is missing.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { importModel, readTfjs, referenceForward, ImportError } from '../../src/import/index.js';
import { loadModel } from '../../src/model/model.js';
import { Runner } from '../../src/engine/plan/runner.js';
import { loadEngine } from '../../src/engine/wasm.js';
import { decodeImage, toInput } from '../../src/model/image.js';
import { BUILDS, nerr } from '../util.js';

const DIR = join(import.meta.dirname, '../../../shared/models/centernet');
const IMG = join(import.meta.dirname, '../../../shared/datasets/coco-val128/images/000000000139.jpg');
const have = existsSync(join(DIR, 'centernet.json')) && existsSync(IMG);
if (!have) console.warn(`test/import/tfjs.test.ts: ${DIR}/centernet.json or ${IMG} is missing: the CenterNet tests are SKIPPED (they need the ../shared folder beside the repository)`);

const CUT = 'tower_0/MobilenetV3/expanded_conv_2/add';

describe.skipIf(!have)('TF.js CenterNet backbone prefix (../shared)', () => {
  let json: Parameters<typeof readTfjs>[0];
  let shards: Uint8Array[];
  let x: Float32Array;
  beforeAll(() => {
    json = JSON.parse(readFileSync(join(DIR, 'centernet.json'), 'utf8'));
    shards = [new Uint8Array(readFileSync(join(DIR, 'centernet.bin')))];
    // the package feeds 512x512 pixel values 0..255: mean 0, std 1/255 in the blob
    x = new Float32Array(3 * 512 * 512);
    toInput(decodeImage(new Uint8Array(readFileSync(IMG))), [3, 512, 512], [0, 0, 0], [1 / 255, 1 / 255, 1 / 255], x);
  });

  it('reads the prefix: hard swish folded into the stem conv, a scale for the float16 1/6, 12 engine layers', () => {
    const ir = readTfjs(json, shards, { output: CUT });
    expect(ir.nodes[0]).toMatchObject({ op: 'conv2d', act: 'hswish', k: 3, stride: 2, pad: 'tf-same', cin: 3, cout: 16 });
    expect(ir.nodes[1]).toMatchObject({ op: 'scale' });
    // 1/6 stored as float16
    expect((ir.nodes[1] as { a: number }).a).toBeCloseTo(6 * 0.1666259765625, 7);
    expect(ir.tensors.get(ir.output)!.shape).toEqual([24, 128, 128]);
    expect(ir.nodes.length).toBe(12);
    expect(ir.sourceOps).toMatchObject({ _FusedConv2D: 6, FusedDepthwiseConv2dNative: 3, Relu6: 1 });
  });

  it('an op the importer lacks is refused, naming the op and the node (the whole model: its decoding ops)', () => {
    expect(() => readTfjs(json, shards, { output: 'tower_0/Equal' })).toThrow(ImportError);
    expect(() => readTfjs(json, shards, { output: 'tower_0/Equal' })).toThrow(/node 'tower_0\/Equal' \(Equal\): op Equal is not supported by the TF.js importer/);
  });

  it('tfjs-backend-wasm executing model.json to the cut agrees with the f64 reference of the imported prefix', async () => {
    setThreadsCount(1);
    await tf.setBackend('wasm');
    const model = await loadGraphModel({
      load: async () => ({ modelTopology: (json as { modelTopology: object }).modelTopology, weightSpecs: (json as { weightsManifest: Array<{ weights: object[] }> }).weightsManifest.flatMap((g) => g.weights) as never, weightData: shards[0].slice().buffer }),
    });
    const nhwc = new Float32Array(x.length);
    for (let c = 0; c < 3; c++) for (let i = 0; i < 512 * 512; i++) nhwc[i * 3 + c] = x[c * 512 * 512 + i];
    const inp = tf.tensor4d(nhwc, [1, 512, 512, 3]);
    const out = model.execute(inp, CUT) as tf.Tensor;
    const d = out.dataSync() as Float32Array;
    const peer = new Float32Array(d.length);
    for (let c = 0; c < 24; c++) for (let i = 0; i < 128 * 128; i++) peer[c * 128 * 128 + i] = d[i * 24 + c];
    inp.dispose();
    out.dispose();
    const ref = referenceForward(readTfjs(json, shards, { output: CUT }), x);
    expect(nerr(peer, ref)).toBeLessThan(1e-5);
  });

  for (const build of BUILDS) {
    it(`${build}: the engine runs the imported prefix within 1e-5 of the f64 reference`, async () => {
      const { slim, ir } = importModel(new TextEncoder().encode(JSON.stringify(json)), { weights: shards, output: CUT });
      const m = await loadModel(slim, { build });
      const run = new Runner(loadEngine({ build }), m.blob, 'classifier');
      const got = run.run(x) as Float32Array;
      expect(got.length).toBe(24 * 128 * 128);
      expect(nerr(got, referenceForward(ir, x))).toBeLessThan(1e-5);
    });
  }
});
