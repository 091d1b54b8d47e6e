/**
 * ONNX import parity, measured: for each model, the engine's outputs (SIMD and scalar builds) and
 * the f64 reference of the IR against onnxruntime-node and torch on the export's fixed inputs, as
 * max |diff| / max |ref| (the issue's bound is 1e-4; test/import/onnx.test.ts asserts it).
 *
 *   /usr/bin/python3 train/export_onnx.py [--more]                # build/onnx/{mobilenet_v2,resnet18,mobilenet_v3_small}.onnx
 *   npx tsx bench/onnx-parity.ts [build/onnx/mobilenet_v2.onnx ...] [--reference]
 *
 * Without files: every model train/export_onnx.py (--more) writes that is in build/onnx, and
 * test/fixtures/onnx's three. Errors, not timings.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { importModel, referenceForward } from '../src/import/index.js';
import { readBlob } from '../src/format/reader.js';
import { Runner } from '../src/engine/plan/runner.js';
import { loadEngine, type Build } from '../src/engine/wasm.js';
import { randn } from '../test/util.js';

const ROOT = join(import.meta.dirname, '..');
const args = process.argv.slice(2);
const withRef = args.includes('--reference');
let files = args.filter((a) => !a.startsWith('--'));
if (!files.length) {
  const full = ['mobilenet_v2', 'resnet18', 'mobilenet_v3_small', 'mobilenet_v3_large', 'efficientnet_b0', 'squeezenet1_1', 'mnasnet0_5', 'regnet_y_400mf', 'densenet121', 'googlenet'].map((m) => `build/onnx/${m}.onnx`);
  files = [...full, 'test/fixtures/onnx/tiny.onnx', 'test/fixtures/onnx/tiny-bn.onnx', 'test/fixtures/onnx/tiny-v3.onnx'].map((f) => join(ROOT, f)).filter(existsSync);
}

const maxRel = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
};

for (const file of files) {
  const bytes = new Uint8Array(readFileSync(file));
  const torch = JSON.parse(readFileSync(file.replace(/\.onnx$/, '.torch.json'), 'utf8')) as { input: number[]; inputSeeds: number[]; outputs: Record<string, number[]> };
  const { ir, slim } = importModel(bytes, {});
  const sess = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const n = torch.input.reduce((a, b) => a * b, 1);
  const runners = (['simd', 'scalar'] as Build[]).map((b) => [b, new Runner(loadEngine({ build: b }), readBlob(slim), 'classifier')] as const);
  console.log(`${file}: ${ir.nodes.length} IR nodes from ${Object.entries(ir.sourceOps).map(([k, v]) => `${k} x${v}`).join(', ')}`);
  for (const seed of torch.inputSeeds) {
    const x = randn(n, seed);
    const o = await sess.run({ [sess.inputNames[0]]: new ort.Tensor('float32', x, torch.input) });
    const want = o[sess.outputNames[0]].data as Float32Array;
    const tw = torch.outputs[String(seed)];
    const row = [`  seed ${seed}: max|ort| ${Math.max(...Array.from(want, Math.abs)).toFixed(3)}`, `torch vs ort ${maxRel(tw, want).toExponential(2)}`];
    for (const [b, r] of runners) {
      const got = Float32Array.from(r.run(x) as Float32Array);
      row.push(`${b} vs ort ${maxRel(got, want).toExponential(2)}, vs torch ${maxRel(got, tw).toExponential(2)}`);
    }
    if (withRef) row.push(`f64 reference vs ort ${maxRel(referenceForward(ir, x), want).toExponential(2)}`);
    console.log(row.join('; '));
  }
  await sess.release();
}
