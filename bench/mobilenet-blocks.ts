/**
 * Where MobileNetV2's CPU time goes between layers, in one run: the whole network; each
 * inverted-residual block (from an expanding 1x1 conv to the next) run as one graph; and each of
 * its layers run alone. CPU time, minimum of 15 rounds. Not a peer comparison; nothing is written.
 *
 *   npx tsx bench/mobilenet-blocks.ts [build/simd.wasm]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../src/engine/wasm.js';
import { Runner } from '../src/engine/plan/runner.js';
import { readBlob } from '../src/format/reader.js';
import { importModel, referenceActivations, type IrGraph } from '../src/import/index.js';
import { lowerGraph, nodeInputs } from '../src/import/graph.js';
import { packGraph } from '../src/format/pack.js';
import { subgraph, layerAlone } from './subgraph.js';

const file = process.argv[2] ?? 'build/simd.wasm';
const MODEL = join(import.meta.dirname, '../../shared/models/mobilenet-v2/mobilenet_v2_1.0_224_quant.tflite');
const { ir } = importModel(new Uint8Array(readFileSync(MODEL)));
const [C, H, W] = ir.tensors.get(ir.input)!.shape;
const x = new Float32Array(C * H * W);
for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) * 2;
const acts = referenceActivations(ir, x);
const cpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Minimum CPU ms per run of graph g on its input's reference activations. */
function time(g: IrGraph, reps: number): number {
  const { json, bin } = lowerGraph(g);
  const eng = new Engine('simd', new WebAssembly.Instance(new WebAssembly.Module(readFileSync(file)), {}));
  const r = new Runner(eng, readBlob(packGraph(json, bin)), 'classifier');
  const inp = Float32Array.from(g.input === ir.input ? x : acts.get(g.input)!);
  for (let w = 0; w < 5; w++) r.run(inp);
  let best = Infinity;
  for (let k = 0; k < 15; k++) {
    const t0 = cpu();
    for (let i = 0; i < reps; i++) r.run(inp);
    best = Math.min(best, (cpu() - t0) / reps);
  }
  return best;
}

const real = ir.nodes.filter((n) => n.op !== 'alias');
// blocks start at index 0 and at each 1x1 conv that expands the channels (not the classifier)
const starts: number[] = [0];
real.forEach((n, i) => {
  if (i > 0 && n.op === 'conv2d' && n.k === 1 && n.groups === 1 && n.cout > n.cin && real[i - 1].op !== 'gap') starts.push(i);
});
starts.push(real.length);
const whole = time(subgraph(ir, ir.nodes, ir.input, ir.output), 3);
let totS = 0, totB = 0;
for (let b = 0; b + 1 < starts.length; b++) {
  const ns = real.slice(starts[b], starts[b + 1]);
  const out = ns[ns.length - 1].y;
  const blockMs = time(subgraph(ir, ns, nodeInputs(ns[0])[0], out), 5);
  let sum = 0;
  for (const n of ns) sum += time(layerAlone(ir, n)!, 10);
  totS += sum;
  totB += blockMs;
  console.log(`block ${b} nodes ${starts[b]}-${starts[b + 1] - 1} out ${ir.tensors.get(out)!.shape.join('x')}: block ${blockMs.toFixed(3)} ms, its layers alone ${sum.toFixed(3)} ms`);
}
console.log(`whole network ${whole.toFixed(3)} ms; blocks run apart ${totB.toFixed(3)} ms; their layers run alone ${totS.toFixed(3)} ms`);
