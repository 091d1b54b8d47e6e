/**
 * Dilated convolutions (DeepLab's atrous rates): the conv2d scratch, and the kernel's time, for
 * ASPP-style layers. The padded copy holds, per kernel row, the rows its taps read for a band of
 * output rows (copyRows in assembly/conv2d.ts) where that is smaller than every row the dilated
 * extent spans, which grows with the rate.
 *
 *   npx tsx bench/dilated-scratch.ts                       # scratch now and with the extent's rows
 *   npx tsx bench/dilated-scratch.ts --a /tmp/old.wasm     # also time an older SIMD build (its scratch
 *                                                          # sized for the extent's rows) against build/simd.wasm
 *
 * Times are CPU time (process.cpuUsage), the minimum of 15 interleaved rounds; outputs compared bit for bit.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Arena, Engine } from '../src/engine/wasm.js';
import { conv2d, conv2dPlan, conv2dScratchBytes, type Conv2dShape } from '../src/engine/ops/conv2d.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const i = process.argv.indexOf('--a');
const OLD = i >= 0 ? process.argv[i + 1] : undefined;

/** The scratch with the copy holding every row of the extent (the layout before copyRows). */
function extentScratch(s: Conv2dShape): number {
  const pl = conv2dPlan(s), d = s.dilation ?? 1;
  const ke = (s.k - 1) * d + 1, OWe = Math.max(pl.OW, 8);
  const Wrow = s.stride === 1 ? OWe - 1 + ke : 2 * (OWe + ((ke - 1) >> 1));
  const band = Math.min(Math.max(Math.floor((256 << 10) / (s.cin * s.stride * Wrow * 4)), 1), pl.OH);
  const extentRows = (band - 1) * s.stride + ke, compact = s.k * ((band - 1) * s.stride + 1);
  const rowsNow = d > 1 && compact < extentRows ? compact : extentRows;
  return conv2dScratchBytes(s) + pl.cinActive * (extentRows - rowsNow) * Wrow * 4;
}

const shapes: Array<[string, Conv2dShape]> = [
  // DeepLab-v3+ on MobileNetV2 (513 input, output stride 16: a 33x33 map of 320 channels), rates 6, 12, 18
  ...[6, 12, 18].map((d): [string, Conv2dShape] => [`ASPP 320->256 @33 d${d}`, { cin: 320, cout: 256, H: 33, W: 33, k: 3, stride: 1, pad: 'same', act: 1, dilation: d }]),
  // DeepLab-v3 on ResNet (output stride 8: 65x65, 2048 channels), rate 36; scratch only (too slow to time here)
  ['ASPP 2048->256 @65 d36', { cin: 2048, cout: 256, H: 65, W: 65, k: 3, stride: 1, pad: 'same', act: 1, dilation: 36 }],
];

const load = (file: string) => new Engine('simd', new WebAssembly.Instance(new WebAssembly.Module(readFileSync(file)), {}));
const builds = [join(ROOT, 'build/simd.wasm'), ...(OLD ? [OLD] : [])].map(load);

console.log(`| layer | scratch now (MB) | copy with every row of the extent (MB) | ${OLD ? 'old ms | ' : ''}now ms | GFLOP/s |`);
console.log(`| --- | --- | --- | ${OLD ? '--- | ' : ''}--- | --- |`);
for (const [name, s] of shapes) {
  const now = conv2dScratchBytes(s), ext = extentScratch(s);
  const pl = conv2dPlan(s);
  const macs = pl.coutActive * pl.OH * pl.OW * (s.cin / (s.groups ?? 1)) * s.k * s.k;
  if (s.cin > 1024) {
    console.log(`| ${name} | ${(now / 1e6).toFixed(1)} | ${(ext / 1e6).toFixed(1)} | ${OLD ? '- | ' : ''}- | - |`);
    continue;
  }
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5;
  const x = Float32Array.from({ length: s.cin * s.H * s.W }, rnd), w = Float32Array.from({ length: s.cout * s.cin * 9 }, rnd);
  const runs = builds.map((eng, b) => {
    const a = new Arena(eng);
    const put = (v: Float32Array) => { const p = a.allocF32(v.length); eng.f32().set(v, p >> 2); return p; };
    const px = put(x), pw = put(w), py = a.allocF32(pl.coutActive * pl.OH * pl.OW);
    const scratch = a.alloc(b === 0 ? now : Math.max(now, ext), 64);
    return { run: () => conv2d(eng, { ...s, x: px, w: pw, y: py, scratch }), out: () => eng.f32().slice(py >> 2, (py >> 2) + pl.coutActive * pl.OH * pl.OW) };
  });
  const best = runs.map(() => Infinity);
  for (let r = 0; r < 15; r++) {
    runs.forEach((q, k) => { const t0 = process.cpuUsage(); q.run(); const t = process.cpuUsage(t0); best[k] = Math.min(best[k], (t.user + t.system) / 1000); });
  }
  const outs = runs.map((q) => q.out());
  if (!outs.every((o) => o.every((v, j) => Object.is(v, outs[0][j])))) throw new Error(`${name}: the builds' outputs differ`);
  console.log(`| ${name} | ${(now / 1e6).toFixed(1)} | ${(ext / 1e6).toFixed(1)} | ${OLD ? best[1].toFixed(2) + ' | ' : ''}${best[0].toFixed(2)} | ${((2 * macs) / best[0] / 1e6).toFixed(1)} |`);
}
