/**
 * The in-place activation kernel (assembly/act.ts, act_apply in assembly/common.ts) on the largest
 * activation tensor of the SEE encoder at N = 4 (4 x 36 channels x 96 x 96 = 1,327,104 values), both
 * builds, one thread: median of 41 runs, process CPU time.
 *
 *   npx tsx bench/act.bench.ts
 */
import { loadEngine, Arena, type Build } from '../src/engine/wasm.js';
import { Act } from '../src/engine/ops/act.js';

const N = 4 * 36 * 96 * 96;
const RUNS = 41;

function bench(build: Build, act: number): number {
  const eng = loadEngine({ build });
  const a = new Arena(eng);
  const p = a.allocF32(N);
  const src = new Float32Array(N);
  for (let i = 0; i < N; i++) src[i] = 4 * Math.sin(i); // swish's working range, both signs
  const words = Int32Array.of(p, N, act);
  const ts: number[] = [];
  for (let k = 0; k < RUNS; k++) {
    eng.f32().set(src, p >> 2); // every run sees the same inputs (the kernel works in place)
    const t = process.cpuUsage();
    eng.call('act', words);
    const d = process.cpuUsage(t);
    ts.push((d.user + d.system) / 1000);
  }
  ts.sort((x, y) => x - y);
  return ts[RUNS >> 1];
}

console.log(`act on ${N.toLocaleString('en-US')} f32 values, node ${process.version}, 1 thread, median of ${RUNS} (process CPU time)`);
console.log('act      build    ms       M values/s');
for (const name of ['relu', 'swish', 'sigmoid'] as const) {
  for (const build of ['simd', 'scalar'] as const) {
    const ms = bench(build, Act[name]);
    console.log(`${name.padEnd(8)} ${build.padEnd(7)} ${ms.toFixed(3).padStart(7)}  ${(N / ms / 1e3).toFixed(0).padStart(6)}`);
  }
}
