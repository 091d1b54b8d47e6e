/**
 * conv2d GFLOP/s on the benchmark shapes (batch 1), both builds, against tfjs-wasm
 * (XNNPACK, 1 thread) measured in the same run.
 *
 *   npx tsx bench/conv2d.bench.ts            # all shapes
 *   npx tsx bench/conv2d.bench.ts f g        # a subset by letter
 *   npx tsx bench/conv2d.bench.ts --no-peer  # skip tfjs
 *
 * FLOPs = 2 * MACs of the conv. Every contender is warmed up past V8's baseline tier, then
 * the contenders take turns in rounds of ~20 ms each, so background load hits them alike.
 * Reported: the best round by wall time (the least disturbed one: the figure to compare on a
 * shared machine), the median by wall time and the median by this process's CPU time.
 *   npx tsx bench/conv2d.bench.ts --rounds=50   # more rounds on a busy machine
 */
import * as tf from '@tensorflow/tfjs-core';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { loadEngine, Arena, type Build } from '../src/engine/wasm.js';
import { conv2d, conv2dPlan, conv2dScratchBytes, type Conv2dShape } from '../src/engine/ops/conv2d.js';

interface Case { id: string; what: string; shape: Conv2dShape }

const CASES: Case[] = [
  { id: 'a', what: 'conv3x3 s2 p1 3->32 @224', shape: { cin: 3, cout: 32, H: 224, W: 224, k: 3, stride: 2, pad: 'same' } },
  { id: 'f', what: 'conv3x3 s1 p1 64->64 @32', shape: { cin: 64, cout: 64, H: 32, W: 32, k: 3, stride: 1, pad: 'same' } },
  { id: 'g', what: 'conv3x3 s1 p1 16->16 @32', shape: { cin: 16, cout: 16, H: 32, W: 32, k: 3, stride: 1, pad: 'same' } },
  { id: 'h', what: 'SEE block 3x3 s1 tf-same 4x(6->36) @96', shape: { cin: 24, cout: 144, groups: 4, H: 96, W: 96, k: 3, stride: 1, pad: 'tf-same' } },
  { id: 'i', what: 'SEE stem 3x3 s2 none 3->24 @384', shape: { cin: 3, cout: 24, H: 384, W: 384, k: 3, stride: 2, pad: 'none' } },
];

function flops(s: Conv2dShape): number {
  const pl = conv2dPlan(s);
  return 2 * pl.coutActive * pl.OH * pl.OW * pl.cinG * s.k * s.k;
}

type Fn = () => void;

function ours(build: Build, s: Conv2dShape): Fn {
  const eng = loadEngine({ build });
  const a = new Arena(eng);
  const pl = conv2dPlan(s);
  const nx = s.cin * s.H * s.W, nw = s.cout * pl.cinG * s.k * s.k;
  const x = a.allocF32(nx), w = a.allocF32(nw), bias = a.allocF32(s.cout);
  const y = a.allocF32(pl.coutActive * pl.OH * pl.OW);
  const scratch = a.alloc(conv2dScratchBytes(s));
  const f = eng.f32();
  for (let i = 0; i < nx; i++) f[(x >> 2) + i] = Math.sin(i * 0.37);
  for (let i = 0; i < nw; i++) f[(w >> 2) + i] = Math.cos(i * 0.11) * 0.1;
  const args = { ...s, x, w, y, bias, scratch, act: 1 };
  return () => conv2d(eng, args);
}

/** tfjs fused conv (bias + relu), NHWC; a grouped conv runs as one call per group. */
function peer(s: Conv2dShape): Fn {
  const pl = conv2dPlan(s);
  const G = pl.groups;
  const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [pl.padT, pl.padB], [pl.padL, pl.padR], [0, 0]];
  const xs = Array.from({ length: G }, () => tf.randomNormal([1, s.H, s.W, pl.cinG]) as tf.Tensor4D);
  const ws = Array.from({ length: G }, () => tf.randomNormal([s.k, s.k, pl.cinG, pl.coutG], 0, 0.1) as tf.Tensor4D);
  const bs = Array.from({ length: G }, () => tf.zeros([pl.coutG]) as tf.Tensor1D);
  return () => {
    for (let g = 0; g < G; g++) {
      const y = tf.fused.conv2d({ x: xs[g], filter: ws[g], strides: s.stride, pad, bias: bs[g], activation: 'relu' });
      y.dispose();
    }
  };
}

interface Stat { best: number; wall: number; cpu: number; first: number }

function measure(fns: Fn[], fl: number): Stat[] {
  const first = fns.map((f) => {
    const t = performance.now();
    f();
    return performance.now() - t;
  });
  // warm-up: 150 ms each so the optimizing tier has replaced baseline code
  const iters = fns.map((f) => {
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < 150) { f(); n++; }
    return Math.max(1, Math.round((n * 20) / 150));
  });
  const wall: number[][] = fns.map(() => []), cpu: number[][] = fns.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    fns.forEach((f, j) => {
      const c0 = process.cpuUsage(), t0 = performance.now();
      for (let i = 0; i < iters[j]; i++) f();
      const dt = performance.now() - t0, dc = process.cpuUsage(c0);
      wall[j].push(fl / (dt / iters[j]) / 1e6);
      cpu[j].push(fl / ((dc.user + dc.system) / 1000 / iters[j]) / 1e6);
    });
  }
  const med = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1];
  return fns.map((_, j) => ({ best: Math.max(...wall[j]), wall: med(wall[j]), cpu: med(cpu[j]), first: first[j] }));
}

const args = process.argv.slice(2);
const noPeer = args.includes('--no-peer');
const only = args.filter((x) => !x.startsWith('--'));
const roundsArg = args.find((x) => x.startsWith('--rounds='));
const ROUNDS = roundsArg ? Number(roundsArg.slice(9)) : 25;
if (!noPeer) {
  setThreadsCount(1);
  await tf.setBackend('wasm');
  await tf.ready();
}
console.log(`GFLOP/s over ${ROUNDS} interleaved rounds of ~20 ms: best by wall clock | median by wall clock | median by CPU time; first = first call (ms)`);
console.log('shape                                     simd best|med|cpu     scalar best|med|cpu   tfjs best|med|cpu     simd/tfjs(best)  first simd/scalar');
for (const c of CASES) {
  if (only.length && !only.includes(c.id)) continue;
  const fns = [ours('simd', c.shape), ours('scalar', c.shape)];
  if (!noPeer) fns.push(peer(c.shape));
  const [s, sc, p] = measure(fns, flops(c.shape));
  const trio = (x?: Stat) => (x ? `${x.best.toFixed(1).padStart(5)}|${x.wall.toFixed(1).padStart(5)}|${x.cpu.toFixed(1).padStart(5)}` : '        -        ');
  console.log(
    `${(c.id + ' ' + c.what).padEnd(41)} ${trio(s)}   ${trio(sc)}   ${trio(p)}   ${p ? (s.best / p.best).toFixed(2).padStart(6) + 'x' : '      -'}          ${s.first.toFixed(1)} / ${sc.first.toFixed(1)}`,
  );
}
