// A stand-in split model whose answers are known, and small CIFAR-style data sets for it: shared by
// the CLI and evaluation tests.
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { PNG } from 'pngjs';
import tar from 'tar-stream';
import type { SplitModel, ClassifierModel } from '../src/eval/eval.js';
import { CLASSES, type CifarItem } from '../src/eval/cifar.js';
import { toInput } from '../src/model/image.js';
import { writePacket, readPacket } from '../src/codec/packet.js';
import type { ImageInput, Mode } from '../src/model/api.js';

// ------------------------------------------------------------------------------------------------
// A stand-in model: predicts floor(10 * mean red) with 2 members, always class 0 with 1 member;
// its packet is a real packet whose payload is members * bits bytes (so packet = payload + 16).
// ------------------------------------------------------------------------------------------------

export const FAKE_ID = 0x5eed1234;
const x = new Float32Array(3 * 32 * 32);
export function guess(img: ImageInput): number {
  // the stand-in takes what the CLI and eval tests hand it: pixels or image bytes
  if (typeof img === 'string' || img instanceof ArrayBuffer) throw new Error('the stand-in model takes pixels or image bytes');
  toInput(img, [3, 32, 32], [], [], x);
  let s = 0;
  for (let i = 0; i < 1024; i++) s += x[i];
  return Math.min(9, Math.floor((10 * s) / 1024));
}
function logitsFor(top1: number): Float32Array {
  const l = new Float32Array(10);
  l[top1] = 5;
  return l;
}

export function fakeModel(): SplitModel & ClassifierModel {
  const axes = { members: [1, 2], bits: [2, 8] };
  return {
    info: { name: 'fake', inputShape: [3, 32, 32], mean: [], std: [], axes, classes: [...CLASSES], modelId: new Uint8Array(4), blobBytes: 1234 },
    modes: () => axes.members.flatMap((members) => axes.bits.map((bits) => ({ members, bits }))),
    encoder() {
      const enc = {
        mode: { members: 2, bits: 8 } as Mode,
        setMode(m: Mode) {
          if (m.members !== undefined && !axes.members.includes(m.members)) throw new Error(`bad members ${m.members}`);
          if (m.bits !== undefined && !axes.bits.includes(m.bits)) throw new Error(`bad bits ${m.bits}`);
          enc.mode = { ...enc.mode, ...m };
        },
        encode(img: ImageInput) {
          const { members = 2, bits = 8 } = enc.mode;
          const payload = new Uint8Array(members * bits);
          payload[0] = members === 2 ? guess(img) : 0;
          return writePacket({ modelId: FAKE_ID, mode: [members, bits], shape: [1, 1, payload.length], quant: { kind: 'implied' } }, payload);
        },
        close() {},
      };
      return enc;
    },
    decoder: () => ({
      decode(packet: Uint8Array) {
        const { fields, payload } = readPacket(packet, { modelId: FAKE_ID });
        const top1 = payload[0];
        return { logits: logitsFor(top1), top1, label: CLASSES[top1], mode: { members: fields.mode[0], bits: fields.mode[1] } };
      },
      close() {},
    }),
    classifier: () => ({
      classify(img: ImageInput) {
        const top1 = guess(img);
        return { logits: logitsFor(top1), top1, label: CLASSES[top1] };
      },
      close() {},
    }),
  };
}
/** A 32x32 PNG of constant red level `red` (green/blue vary so files differ). */
export function redPng(red: number, seed: number): Uint8Array {
  const png = new PNG({ width: 32, height: 32 });
  for (let i = 0; i < 1024; i++) png.data.set([red, (i * seed) % 256, (i >> 5) * 8, 255], 4 * i);
  return new Uint8Array(PNG.sync.write(png));
}

/** 20 images: red 12, 24, ..., 240; the first 15 labelled as the fake guesses, the last 5 not. */
const REDS = Array.from({ length: 20 }, (_, i) => 12 * (i + 1));
export const ITEMS: CifarItem[] = REDS.map((r, i) => {
  const g = Math.min(9, Math.floor((10 * r) / 255));
  return { name: `test/${CLASSES[g]}/${i}.png`, label: i < 15 ? g : (g + 1) % 10, bytes: redPng(r, i + 1) };
});

/** A gzipped tarball laid out like the CIFAR-10 JPEG one: test/<class>/000k.png, 2 images per class, and a stray file. */
export async function writeMiniTar(path: string): Promise<void> {
  const pack = tar.pack();
  pack.entry({ name: 'test/', type: 'directory' });
  pack.entry({ name: 'test/README.txt' }, 'not an image');
  // the classes one after another, as in the real tarball: 2 images each
  for (let c = 0; c < 10; c++) {
    for (let k = 0; k < 2; k++) pack.entry({ name: `test/${CLASSES[c]}/000${k}.png` }, Buffer.from(redPng(12 + 25 * c, k + 1)));
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const ch of pack) chunks.push(ch as Buffer);
  writeFileSync(path, gzipSync(Buffer.concat(chunks)));
}
