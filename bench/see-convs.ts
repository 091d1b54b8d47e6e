/**
 * Each convolution of the SEE encoder (train/see.py, N = 4: the members as 4 groups) timed alone
 * with the conv2d kernel, SIMD build, one thread: median of 60 runs after 10 warm-up runs
 * (process CPU time), GFLOP/s as 2 x the direct convolution's multiply-adds / time, and which
 * algorithm the kernel chose (conv2dAlgo). Blocks 4 and 5 have the same shapes: block 4 stands for both.
 *
 *   npx tsx bench/see-convs.ts
 */
import { loadEngine, Arena } from '../src/engine/wasm.js';
import { conv2d, conv2dAlgo, conv2dScratchBytes, conv2dPlan, type Conv2dShape } from '../src/engine/ops/conv2d.js';

const layers: Array<[string, Conv2dShape]> = [
  ['stem 3->6 s2 @384', { cin: 3, cout: 24, groups: 1, H: 384, W: 384, k: 3, stride: 2, pad: 'none' }],
  ['b1 expand 6->6 @191', { cin: 24, cout: 24, groups: 4, H: 191, W: 191, k: 3, stride: 1, pad: 'tf-same' }],
  ['b1 project 6->4 1x1', { cin: 24, cout: 16, groups: 4, H: 191, W: 191, k: 1, stride: 1, pad: 'none' }],
  ['b2 expand 4->4 @191', { cin: 16, cout: 16, groups: 4, H: 191, W: 191, k: 3, stride: 1, pad: 'tf-same' }],
  ['b2 project 4->4 1x1', { cin: 16, cout: 16, groups: 4, H: 191, W: 191, k: 1, stride: 1, pad: 'none' }],
  ['b3 expand 4->24 s2', { cin: 16, cout: 96, groups: 4, H: 191, W: 191, k: 3, stride: 2, pad: 'tf-same' }],
  ['b3 project 24->6 1x1', { cin: 96, cout: 24, groups: 4, H: 96, W: 96, k: 1, stride: 1, pad: 'none' }],
  ['b4/b5 expand 6->36 @96', { cin: 24, cout: 144, groups: 4, H: 96, W: 96, k: 3, stride: 1, pad: 'tf-same' }],
  ['b4/b5 project 36->6 1x1', { cin: 144, cout: 24, groups: 4, H: 96, W: 96, k: 1, stride: 1, pad: 'none' }],
];

const eng = loadEngine({ build: 'simd' });
let total = 0;
console.log('layer (per member, x4 groups)     ms     GFLOP/s  algorithm');
for (const [name, s] of layers) {
  const a = new Arena(eng);
  const pl = conv2dPlan(s);
  const G = s.groups ?? 1;
  const nx = s.cin * s.H * s.W, nw = s.cout * (s.cin / G) * s.k * s.k;
  const x = a.allocF32(nx), w = a.allocF32(nw), y = a.allocF32(s.cout * pl.OH * pl.OW);
  const scratch = a.alloc(conv2dScratchBytes(s));
  const f = eng.f32();
  for (let i = 0; i < nx; i++) f[(x >> 2) + i] = Math.sin(i * 0.37);
  for (let i = 0; i < nw; i++) f[(w >> 2) + i] = Math.cos(i * 0.11);
  const run = () => conv2d(eng, { ...s, x, w, y, scratch });
  for (let i = 0; i < 10; i++) run();
  const ts: number[] = [];
  for (let r = 0; r < 60; r++) {
    const t0 = process.cpuUsage();
    run();
    const t = process.cpuUsage(t0);
    ts.push((t.user + t.system) / 1000);
  }
  ts.sort((p, q) => p - q);
  const ms = ts[30];
  const times = name.startsWith('b4/b5') ? 2 : 1;
  total += ms * times;
  const gflops = (2 * nw * pl.OH * pl.OW) / ms / 1e6;
  console.log(`${name.padEnd(32)} ${ms.toFixed(3).padStart(6)}  ${gflops.toFixed(1).padStart(6)}    ${conv2dAlgo(s)}`);
}
console.log(`all convolutions of one N=4 inference: ${total.toFixed(2)} ms`);
