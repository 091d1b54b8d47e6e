/**
 * A/B of two kernel builds on the imported MobileNetV2 1.0 @224: the whole network and every layer
 * run alone, build A against build B in the same process, interleaved, with the outputs compared
 * bit for bit. For kernel work on a shared machine: it times CPU time of this process
 * (process.cpuUsage), not wall time, so other jobs' time slices do not land in the numbers, and
 * it reports per layer the minimum of each build and the median of the per-round B/A ratios.
 *
 *   cp build/simd.wasm /tmp/old-simd.wasm      # before the change
 *   npm run asbuild:simd                       # after it
 *   npx tsx bench/mobilenet-ab.ts --a /tmp/old-simd.wasm --b build/simd.wasm --layers
 *   npx tsx bench/mobilenet-ab.ts --a ... --layers --only 'dw3x3/1'     # a regex on the layer text
 *   npx tsx bench/mobilenet-ab.ts --a ... --cold    # caches evicted before every run, as between
 *                                                   # engines in bench:mobilenet (one run per sample)
 *
 * A file whose name contains "scalar" is loaded as the scalar build. Not a peer comparison
 * (that is bench/mobilenet.bench.ts); nothing is written.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../src/engine/wasm.js';
import { Runner } from '../src/engine/plan/runner.js';
import { readBlob } from '../src/format/reader.js';
import { importModel, referenceActivations, nodeMacs, type IrGraph, type IrNode } from '../src/import/index.js';
import { lowerGraph } from '../src/import/graph.js';
import { packGraph } from '../src/format/pack.js';
import { abTime, type AbTimes } from './ab-time.js';
import { layerAlone } from './subgraph.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const A = arg('--a');
const B = arg('--b') ?? join(ROOT, 'build/simd.wasm');
if (!A) throw new Error('mobilenet-ab: --a <build.wasm> is required (the build to compare against)');
const ROUNDS = Number(arg('--rounds') ?? 15);
const ONLY = arg('--only');
const COLD = process.argv.includes('--cold');
// --cold: 64 MB written before each timed run pushes weights and activations out of L1-L3
const flushBuf = COLD ? new Uint8Array(64 << 20) : null;
let flushV = 0;
const flush = (): void => {
  flushV = (flushV + 1) & 255;
  flushBuf!.fill(flushV);
};
const MODEL = arg('--model') ?? join(ROOT, '../shared/models/mobilenet-v2/mobilenet_v2_1.0_224_quant.tflite');

const engine = (file: string): Engine =>
  new Engine(file.includes('scalar') ? 'scalar' : 'simd', new WebAssembly.Instance(new WebAssembly.Module(readFileSync(file)), {}));

interface Ab extends AbTimes { identical: boolean }

/** Both builds on graph g: minimum ms per run of each, median per-round B/A, bit identity. */
function ab(g: IrGraph, input: Float32Array, reps: number): Ab {
  const { json, bin } = lowerGraph(g);
  const blob = readBlob(packGraph(json, bin));
  const rs = [new Runner(engine(A!), blob, 'classifier'), new Runner(engine(B), blob, 'classifier')];
  const outs = rs.map((r) => new Uint32Array(Float32Array.from(r.run(input) as Float32Array).buffer));
  const identical = outs[0].every((v, i) => v === outs[1][i]);
  for (let w = 0; w < 5; w++) for (const r of rs) r.run(input); // past the baseline tier
  return { ...abTime(() => rs[0].run(input), () => rs[1].run(input), ROUNDS, COLD ? 1 : reps, COLD ? flush : undefined), identical };
}


const { ir } = importModel(new Uint8Array(readFileSync(MODEL)));
const [C, H, W] = ir.tensors.get(ir.input)!.shape;
const x = new Float32Array(C * H * W);
for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) * 2;
console.log(`A ${A}\nB ${B}\n${ROUNDS} interleaved rounds, CPU time${COLD ? ', caches evicted before each run' : ''}; ms = minimum per run, B/A = median of the per-round ratios`);
const whole = ab(ir, x, 3);
console.log(`whole network: A ${whole.a.toFixed(3)} ms, B ${whole.b.toFixed(3)} ms, B/A ${whole.ratio.toFixed(3)}, outputs ${whole.identical ? 'bit-identical' : 'DIFFER'}`);
if (process.argv.includes('--layers')) {
  console.log('\n| # | layer | out | A ms | B ms | B/A | B GFLOP/s | bits |\n| --- | --- | --- | --- | --- | --- | --- | --- |');
  const acts = referenceActivations(ir, x);
  for (let i = 0; i < ir.nodes.length; i++) {
    const n = ir.nodes[i];
    if (n.op === 'alias') continue;
    const desc = n.op === 'conv2d' ? `${n.groups > 1 ? 'dw' : n.k === 1 ? 'pw' : 'conv'}${n.k}x${n.k}/${n.stride} ${n.cin}->${n.cout}` : n.op;
    const out = ir.tensors.get(n.y)!.shape.join('x');
    if (ONLY && !new RegExp(ONLY).test(`${desc} ${out}`)) continue;
    const sub = layerAlone(ir, n);
    if (!sub) continue;
    const r = ab(sub, Float32Array.from(acts.get(sub.input)!), 20);
    const gf = (2 * nodeMacs(n, ir)) / r.b / 1e6;
    console.log(`| ${i} | ${desc} | ${out} | ${r.a.toFixed(4)} | ${r.b.toFixed(4)} | ${r.ratio.toFixed(3)} | ${gf.toFixed(1)} | ${r.identical ? 'same' : 'DIFFER'} |`);
  }
}
