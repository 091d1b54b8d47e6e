/**
 * Real bottleneck tensors for the codec bench: the shipped CIFAR-10 model's encoder run on the
 * golden test images (test/fixtures/cifar/images.u8, 100 images), one set per bit depth at the
 * largest members count, with the blob's own CDF tables.
 *
 *   import { modelSets } from './codec-sets.js';
 *   const sets = await modelSets();      // [] when weights/see-cifar10.slim is absent
 *
 * Each set concatenates the images' code tensors ([C][16*16] per image, channel-major) so that the
 * general-purpose compressors see one stream with all the cross-image redundancy they can use.
 * With perImage, rANS codes each image as its own stream, as packets do.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../src/model/model.js';
import type { CodecSet } from './codec.bench.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function modelSets(members = 4, perImage = false): Promise<CodecSet[]> {
  const blobPath = join(ROOT, 'weights/see-cifar10.slim');
  const imgPath = join(ROOT, 'test/fixtures/cifar/images.u8');
  if (!existsSync(blobPath) || !existsSync(imgPath)) return [];
  const model = await loadModel(blobPath);
  const enc = model.encoder();
  const { specs, first, meta } = model.coderTables();
  const pixels = new Uint8Array(readFileSync(imgPath));
  const n = pixels.length / 3072;
  const sets: CodecSet[] = [];
  for (const bits of model.info.axes.bits ?? []) {
    enc.setMode({ members, bits });
    const parts: Uint8Array[] = [];
    for (let i = 0; i < n; i++) parts.push(enc.codes({ data: pixels.subarray(i * 3072, (i + 1) * 3072), width: 32, height: 32, channels: 3 }).slice());
    const per = parts[0].length;
    const C = per / meta.groupSize;
    const symbols = new Uint8Array(per * n);
    parts.forEach((p, i) => symbols.set(p, i * per));
    const base = first.get(bits)!;
    const ctx = meta.contexts?.[String(bits)];
    const tablesPer = ctx ? ctx.K ** 3 : 1;
    sets.push({
      tensor: `see-cifar10 N=${members} ${C}x16x16 x${n} ${perImage ? 'packets' : 'images'}`,
      bits,
      symbols,
      tables: specs,
      tableIndex: Int32Array.from({ length: C * n }, (_, g) => base + (g % C) * tablesPer),
      groupSize: meta.groupSize,
      streams: perImage ? n : 1,
      // (in one long stream, an image's first channel takes the previous image's last as its
      // "previous channel", unlike a packet: slightly off the tables' statistics)
      context: ctx ? { W: meta.W!, K: ctx.K, shift: ctx.shift } : undefined,
    });
  }
  return sets;
}
