/**
 * The CIFAR-10 test images as slimsplit's own JPEG decoder (jpeg-js, src/model/image.ts) decodes them, for the
 * PyTorch reference accuracy in train/export_cifar.py.
 *
 *   npx tsx train/js_pixels.ts <test.tar.gz> <out.u8>     # uint8 [N][32][32][3], sorted by member name
 *
 * Why: jpeg-js and Pillow (libjpeg-turbo) decode these files differently (chroma upsampling and IDCT:
 * 69% of the values differ, by 1.45 on average, by up to 85). `slimsplit eval` runs on jpeg-js pixels, so
 * an engine-vs-PyTorch comparison is only about the engine when PyTorch sees the same pixels.
 * The order is Python's (train/data.py sorts the members by name), not the tarball's.
 */
import { writeFileSync } from 'node:fs';
import { readCifarTar } from '../src/eval/cifar.js';
import { decodeImage } from '../src/index.js';

const [src, dst] = process.argv.slice(2);
if (!src || !dst) {
  console.error('usage: npx tsx train/js_pixels.ts <test.tar.gz> <out.u8>');
  process.exit(2);
}
const items: Array<{ name: string; px: Uint8Array }> = [];
for await (const it of readCifarTar(src)) {
  const im = decodeImage(it.bytes);
  if (im.width !== 32 || im.height !== 32) throw new Error(`${it.name}: ${im.width}x${im.height}, expected 32x32`);
  const px = new Uint8Array(32 * 32 * 3);
  for (let i = 0; i < 1024; i++) for (let c = 0; c < 3; c++) px[i * 3 + c] = im.data[i * im.channels + c];
  items.push({ name: it.name, px });
}
items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
const out = new Uint8Array(items.length * 3072);
items.forEach((it, i) => out.set(it.px, i * 3072));
writeFileSync(dst, out);
console.log(`${dst}: ${items.length} images`);
