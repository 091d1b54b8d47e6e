/**
 * One model's single-thread decode time in a fresh process, for bench/serve.bench.ts's efficiency
 * denominator: the golden images' packets in one mode, 200 warm-up decodes (fewer leave the
 * decoder in baseline Liftoff code), then the median of R rounds of 50 decodes. Prints {"ms": ...}.
 *
 *   node --import tsx bench/decode-rate.ts <model> <members> <bits> [rounds]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../src/model/model.js';

const ROOT = join(import.meta.dirname, '..');
const [model, members, bits, rounds = '21'] = process.argv.slice(2);
const pixels = new Uint8Array(readFileSync(join(ROOT, 'test/fixtures/see-cifar10-d4/images.u8')));
const m = await loadModel(join(ROOT, 'weights', `${model}.slim`));
const enc = m.encoder();
const dec = m.decoder();
enc.setMode({ members: Number(members), bits: Number(bits) });
const packets = Array.from({ length: 100 }, (_, i) => enc.encode({ data: pixels.subarray(i * 3072, (i + 1) * 3072), width: 32, height: 32, channels: 3 }));
for (let i = 0; i < 200; i++) dec.decode(packets[i % 100]);
const times: number[] = [];
for (let r = 0; r < Number(rounds); r++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 50; i++) dec.decode(packets[i]);
  times.push(Number(process.hrtime.bigint() - t0) / 50e6);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ ms: times[times.length >> 1] }));
