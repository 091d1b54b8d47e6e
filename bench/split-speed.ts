/**
 * Device and server time per image of each shipped CIFAR-10 split model, SIMD build, one thread:
 * encoder (network + quantization + rANS + compact packet) and decoder (packet -> logits), at the
 * smallest and largest modes, on the 4x4 model's 100 golden images. Median of 41 rounds of 50
 * images, after 200 warm-up images.
 *
 *   npx tsx bench/split-speed.ts
 *
 * Before/after a kernel change: build the old kernels (`git stash; npm run asbuild:simd`), run
 * this, then the new ones, in the same quiet minute.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../src/model/model.js';

const ROOT = join(import.meta.dirname, '..');

async function main(): Promise<void> {
  const pixels = new Uint8Array(readFileSync(join(ROOT, 'test/fixtures/see-cifar10-d4/images.u8')));
  const img = (i: number) => ({ data: pixels.subarray(i * 3072, (i + 1) * 3072), width: 32, height: 32, channels: 3 as const });
  console.log('model             mode    encoder ms  decoder ms');
  for (const name of ['see-cifar10-d4r', 'see-cifar10-d4', 'see-cifar10-d8', 'see-cifar10']) {
    const m = await loadModel(join(ROOT, 'weights', `${name}.slim`), { build: 'simd' });
    const enc = m.encoder({ packet: 'compact' }), dec = m.decoder();
    for (const mode of [{ members: 1, bits: 1 }, { members: 4, bits: 8 }]) {
      enc.setMode(mode);
      for (let i = 0; i < 200; i++) dec.decode(enc.encode(img(i % 100)));
      const te: number[] = [], td: number[] = [];
      for (let r = 0; r < 41; r++) {
        let t0 = process.hrtime.bigint();
        const ps: Uint8Array[] = [];
        for (let i = 0; i < 50; i++) ps.push(enc.encode(img(i)));
        te.push(Number(process.hrtime.bigint() - t0) / 50e6);
        t0 = process.hrtime.bigint();
        for (const p of ps) dec.decode(p);
        td.push(Number(process.hrtime.bigint() - t0) / 50e6);
      }
      te.sort((a, b) => a - b);
      td.sort((a, b) => a - b);
      console.log(`${name.padEnd(16)}  (${mode.members},${mode.bits})  ${te[20].toFixed(3).padStart(10)}  ${td[20].toFixed(3).padStart(10)}`);
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
