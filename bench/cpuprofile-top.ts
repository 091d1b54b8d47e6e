/**
 * Where a thread's time went, from one node --cpu-prof profile: self time by function (file:line)
 * and by file, idle excluded, as shares of the busy samples.
 *
 *   npx tsx bench/cpuprofile-top.ts CPU.*.0.001.cpuprofile [--top 30] [--skip 3] [--tail 1]
 *
 * --skip s / --tail s leave out the profile's first and last seconds (start-up, shutdown).
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

const file = process.argv[2];
const arg = (k: string, d: number): number => (process.argv.includes(k) ? Number(process.argv[process.argv.indexOf(k) + 1]) : d);
const top = arg('--top', 30);
const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };
const from = prof.startTime + arg('--skip', 0) * 1e6;
const to = prof.endTime - arg('--tail', 0) * 1e6;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
let at = prof.startTime;
for (let i = 0; i < prof.samples.length; i++) {
  at += prof.timeDeltas[i] ?? 0;
  if (at < from || at > to) continue;
  selfUs.set(prof.samples[i], (selfUs.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
const short = (u: string): string => u.replace(/^file:\/\/.*?\/node_modules\//, 'nm/').replace(/^file:\/\/.*?\/(dist|src|bench)\//, '$1/');
const fn = new Map<string, number>();
const files = new Map<string, number>();
let busy = 0;
let idle = 0;
for (const [id, us] of selfUs) {
  const n = byId.get(id)!;
  const name = n.callFrame.functionName || '(anonymous)';
  if (name === '(idle)') {
    idle += us;
    continue;
  }
  busy += us;
  const k = `${name} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  fn.set(k, (fn.get(k) ?? 0) + us);
  const f = short(n.callFrame.url) || name;
  files.set(f, (files.get(f) ?? 0) + us);
}
console.log(`${file}: busy ${(busy / 1e3).toFixed(0)} ms, idle ${(idle / 1e3).toFixed(0)} ms`);
const show = (m: Map<string, number>, n: number): void => {
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${((100 * us) / busy).toFixed(1).padStart(5)}%  ${k}`);
};
console.log('-- by file');
show(files, 20);
console.log('-- by function');
show(fn, top);
