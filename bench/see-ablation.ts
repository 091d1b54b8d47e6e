/**
 * Where the SEE encoder's time goes: the graph with one kind of layer stripped (outputs are then
 * meaningless; only the time counts), repacked and timed at N = 4 against the full graph, SIMD build,
 * one thread, median of 25 runs after 10 warm-up runs (process CPU time). What no row claims is
 * mostly the convolutions.
 *
 *   /usr/bin/python3 train/see.py          # writes train/out/see/see-384-random.{graph.json,tensors.bin}
 *   npx tsx bench/see-ablation.ts
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadEngine } from '../src/engine/wasm.js';
import { readBlob } from '../src/format/reader.js';
import { Runner } from '../src/engine/plan/runner.js';
import { packGraph } from '../src/format/pack.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const GRAPH = join(ROOT, 'train/out/see/see-384-random.graph.json');
const TENSORS = join(ROOT, 'train/out/see/see-384-random.tensors.bin');
if (!existsSync(GRAPH) || !existsSync(TENSORS)) {
  console.error(`${GRAPH} is missing: run /usr/bin/python3 train/see.py first`);
  process.exit(1);
}
type Layer = { op: string; act?: string };
const graph = JSON.parse(readFileSync(GRAPH, 'utf8')) as { graphs: { encoder: { layers: Layer[] } } };
const tensors = new Uint8Array(readFileSync(TENSORS));

function timeGraph(edit: (layers: Layer[]) => Layer[]): number {
  const g = structuredClone(graph);
  g.graphs.encoder.layers = edit(g.graphs.encoder.layers);
  const r = new Runner(loadEngine({ build: 'simd' }), readBlob(packGraph(g, tensors)), 'encoder');
  r.setMode({ members: 4 });
  const inp = r.inputView() as Float32Array;
  for (let i = 0; i < inp.length; i++) inp[i] = Math.sin(i);
  for (let k = 0; k < 10; k++) r.run(); // past V8's tier-up
  const ts: number[] = [];
  for (let k = 0; k < 25; k++) {
    const t = process.cpuUsage();
    r.run();
    const d = process.cpuUsage(t);
    ts.push((d.user + d.system) / 1000);
  }
  return ts.sort((a, b) => a - b)[12];
}

const full = timeGraph((l) => l);
const rows: Array<[string, (l: Layer[]) => Layer[]]> = [
  ['swish after InstanceNorm', (l) => l.map((x) => (x.op === 'instnorm' && x.act === 'swish' ? { ...x, act: 'none' } : x))],
  ['InstanceNorm (with its swish)', (l) => l.filter((x) => x.op !== 'instnorm')],
  ['squeeze-excite', (l) => l.filter((x) => x.op !== 'se')],
];
// (convolutions cannot be stripped: later layers would read buffers nothing wrote; they are the rest)
console.log(`SEE encoder N=4, full graph: ${full.toFixed(2)} ms`);
for (const [what, edit] of rows) {
  const t = timeGraph(edit);
  console.log(`without ${what.padEnd(30)} ${t.toFixed(2).padStart(6)} ms: ${(full - t).toFixed(2).padStart(6)} ms, ${((100 * (full - t)) / full).toFixed(0).padStart(3)}%`);
}
