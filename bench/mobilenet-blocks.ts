/**
 * Where MobileNetV2's CPU time goes between layers: each inverted-residual block (from an expanding
 * 1x1 conv to the next) run as one graph, against the sum of its layers run one by one, and the
 * total over the blocks (compare it with the whole network in bench/mobilenet-ab.ts). CPU time,
 * minimum of 15 rounds. Not a peer comparison; nothing is written.
 *
 *   npx tsx bench/mobilenet-blocks.ts [build/simd.wasm]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../src/engine/wasm.js';
import { Runner } from '../src/engine/plan/runner.js';
import { readBlob } from '../src/format/reader.js';
import { importModel, referenceActivations, type IrGraph, type IrNode } from '../src/import/index.js';
import { lowerGraph } from '../src/import/graph.js';
import { packGraph } from '../src/format/pack.js';
const file = process.argv[2] ?? 'build/simd.wasm';
const MODEL = join(import.meta.dirname, '../../shared/models/mobilenet-v2/mobilenet_v2_1.0_224_quant.tflite');
const eng = () => new Engine('simd', new WebAssembly.Instance(new WebAssembly.Module(readFileSync(file)), {}));
const { ir } = importModel(new Uint8Array(readFileSync(MODEL)));
const [C, H, W] = ir.tensors.get(ir.input)!.shape;
const x = new Float32Array(C * H * W);
for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) * 2;
const acts = referenceActivations(ir, x);
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
function timeSub(nodes: IrNode[], input: string, output: string, reps: number): number {
  const g: IrGraph = { ...ir, input, output, nodes, outputActivation: undefined, mean: [], std: [] };
  const { json, bin } = lowerGraph(g);
  const r = new Runner(eng(), readBlob(packGraph(json, bin)), 'classifier');
  const inp = Float32Array.from(acts.get(input)!);
  for (let w = 0; w < 5; w++) r.run(inp);
  let best = Infinity;
  for (let k = 0; k < 15; k++) { const t0 = cpu(); for (let i = 0; i < reps; i++) r.run(inp); best = Math.min(best, (cpu() - t0) / reps); }
  return best;
}
const real = ir.nodes.filter((n) => n.op !== 'alias');
function inputOf(n: IrNode): string {
  if (n.op === 'add' || n.op === 'mul' || n.op === 'concat') return n.a;
  if (n.op === 'alias') throw new Error('alias');
  return n.x;
}
// blocks: start at each pw whose cout > cin (expand), or at index 0
const starts: number[] = [0];
real.forEach((n, i) => { if (i > 0 && n.op === 'conv2d' && n.k === 1 && n.groups === 1 && n.cout > n.cin && real[i - 1].op !== 'gap') starts.push(i); });
starts.push(real.length);
let totS = 0, totB = 0;
for (let b = 0; b + 1 < starts.length; b++) {
  const ns = real.slice(starts[b], starts[b + 1]);
  const inp = inputOf(ns[0]);
  const out = ns[ns.length - 1].y;
  const blockMs = timeSub(ns, inp, out, 5);
  let sum = 0;
  for (const n of ns) sum += timeSub([n.op === 'add' ? { ...n, b: n.a } : n], inputOf(n), n.y, 10);
  totS += sum; totB += blockMs;
  console.log(`block ${b} nodes ${starts[b]}-${starts[b + 1] - 1} out ${ir.tensors.get(out)!.shape.join('x')}: block ${blockMs.toFixed(3)} sum ${sum.toFixed(3)} over ${(blockMs - sum).toFixed(3)}`);
}
console.log(`total block ${totB.toFixed(3)} sum ${totS.toFixed(3)}`);
