/**
 * conv2d GFLOP/s on the benchmark shapes (batch 1), both builds.
 *
 *   npx tsx bench/conv2d.bench.ts            # all shapes
 *   npx tsx bench/conv2d.bench.ts f g        # a subset by letter
 *
 * FLOPs = 2 * MACs of the active conv. Each shape is warmed up past V8's baseline tier,
 * then timed in rounds of ~50 ms; the median round is reported. The machine is shared,
 * so compare builds and peers only within one run.
 */
import { loadEngine, Arena, type Build } from '../src/wasm.js';
import { conv2d, conv2dPlan, conv2dScratchBytes, type Conv2dShape } from '../src/ops/conv2d.js';

interface Case { id: string; what: string; shape: Conv2dShape; peer?: number }

// peer = tfjs-wasm (XNNPACK) GFLOP/s from /work/shared/PERF-NOTES.md, same machine kind
const CASES: Case[] = [
  { id: 'a', what: 'conv3x3 s2 p1 3->32 @224', shape: { cin: 3, cout: 32, H: 224, W: 224, k: 3, stride: 2, pad: 'same' }, peer: 22.6 },
  { id: 'f', what: 'conv3x3 s1 p1 64->64 @32', shape: { cin: 64, cout: 64, H: 32, W: 32, k: 3, stride: 1, pad: 'same' }, peer: 30.5 },
  { id: 'g', what: 'conv3x3 s1 p1 16->16 @32', shape: { cin: 16, cout: 16, H: 32, W: 32, k: 3, stride: 1, pad: 'same' }, peer: 27.4 },
  { id: 'h', what: 'SEE conv3x3 s1 tf-same 4x(6->36) @96', shape: { cin: 24, cout: 144, groups: 4, H: 96, W: 96, k: 3, stride: 1, pad: 'tf-same' } },
  { id: 'i', what: 'SEE stem conv3x3 s2 none 3->24 @384', shape: { cin: 3, cout: 24, H: 384, W: 384, k: 3, stride: 2, pad: 'none' } },
];

function flops(s: Conv2dShape): number {
  const pl = conv2dPlan(s);
  const ciPerOut = pl.groups === 1 ? pl.cinActive : pl.cinG;
  return 2 * pl.coutActive * pl.OH * pl.OW * ciPerOut * s.k * s.k;
}

function bench(build: Build, c: Case): { ms: number; gflops: number; firstMs: number } {
  const eng = loadEngine({ build });
  const a = new Arena(eng);
  const s = c.shape;
  const pl = conv2dPlan(s);
  const x = a.allocF32(s.cin * s.H * s.W);
  const w = a.allocF32(s.cout * pl.cinG * s.k * s.k);
  const y = a.allocF32(pl.coutActive * pl.OH * pl.OW);
  const bias = a.allocF32(s.cout);
  const scratch = a.alloc(Math.max(conv2dScratchBytes(s), 16));
  const f = eng.f32();
  for (let i = 0; i < s.cin * s.H * s.W; i++) f[(x >> 2) + i] = Math.sin(i * 0.37);
  for (let i = 0; i < s.cout * pl.cinG * s.k * s.k; i++) f[(w >> 2) + i] = Math.cos(i * 0.11) * 0.1;
  const args = { ...s, x, w, y, bias, scratch, act: 1 };
  let t0 = performance.now();
  conv2d(eng, args);
  const firstMs = performance.now() - t0;
  const fl = flops(s);
  // warm-up: at least 200 ms so tier-up has happened
  t0 = performance.now();
  while (performance.now() - t0 < 200) conv2d(eng, args);
  const per = Math.max(1, Math.round(50 / Math.max((performance.now() - t0) / 1e9, firstMs)));
  let iters = 1;
  t0 = performance.now();
  conv2d(eng, args);
  const one = performance.now() - t0;
  iters = Math.max(1, Math.round(50 / Math.max(one, 1e-3)));
  void per;
  const rounds: number[] = [];
  for (let r = 0; r < 15; r++) {
    t0 = performance.now();
    for (let i = 0; i < iters; i++) conv2d(eng, args);
    rounds.push((performance.now() - t0) / iters);
  }
  rounds.sort((p, q) => p - q);
  const ms = rounds[rounds.length >> 1];
  return { ms, gflops: fl / (ms * 1e6), firstMs };
}

const only = process.argv.slice(2);
console.log('shape                                      build    ms      GFLOP/s  first-call ms  peer(tfjs) GFLOP/s');
for (const c of CASES) {
  if (only.length && !only.includes(c.id)) continue;
  for (const b of ['simd', 'scalar'] as Build[]) {
    const r = bench(b, c);
    console.log(
      `${(c.id + ' ' + c.what).padEnd(42)} ${b.padEnd(7)} ${r.ms.toFixed(3).padStart(7)} ${r.gflops.toFixed(1).padStart(8)} ${r.firstMs.toFixed(2).padStart(13)}  ${b === 'simd' && c.peer ? c.peer.toFixed(1) : ''}`,
    );
  }
}
