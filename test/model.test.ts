// The split API on the shipped CIFAR-10 model: parity with PyTorch on golden images for every mode,
// both builds; packet round trips; damaged and foreign packets rejected with the right error.
import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, Model, SplitEncoder, SplitDecoder } from '../src/model.js';
import { PacketError, readPacket, writePacket } from '../src/packet.js';
import { CoderError } from '../src/coder.js';
import type { RawImage } from '../src/api.js';
import { BUILDS, nerr } from './util.js';

const ROOT = join(import.meta.dirname, '..');
const FIX = join(ROOT, 'test/fixtures/cifar');

interface Golden {
  count: number;
  labels: number[];
  modes: Array<{ members: number; bits: number; top1: number[]; acc: number; logits: number[][] }>;
}
const golden = JSON.parse(readFileSync(join(FIX, 'golden.json'), 'utf8')) as Golden;
const pixels = new Uint8Array(readFileSync(join(FIX, 'images.u8')));
const image = (i: number): RawImage => ({ data: pixels.subarray(i * 3072, (i + 1) * 3072), width: 32, height: 32, channels: 3 });

describe.each(BUILDS)('see-cifar10 split model [%s]', (build) => {
  let model: Model, enc: SplitEncoder, dec: SplitDecoder;
  beforeAll(async () => {
    model = await loadModel(join(ROOT, 'weights/see-cifar10.slim'), { build });
    enc = model.encoder();
    dec = model.decoder();
  });

  // Metric: per image, ||logits - logits_torch||_2 / ||logits_torch||_2 (normalized error). Codes can
  // differ from PyTorch's where a value sits within float rounding of a quantization boundary, so the
  // test allows a few images over the tolerance, but top-1 accuracy must match within one image.
  it('matches PyTorch on the golden images in every mode (top-1 within 1 image, logits nerr < 1e-3 on >= 97%)', () => {
    expect(golden.modes.length).toBe(16);
    for (const g of golden.modes) {
      enc.setMode({ members: g.members, bits: g.bits });
      let correct = 0, close = 0;
      for (let i = 0; i < golden.count; i++) {
        const r = dec.decode(enc.encode(image(i)));
        expect(r.mode).toEqual({ members: g.members, bits: g.bits });
        if (r.top1 === golden.labels[i]) correct++;
        if (nerr(r.logits, g.logits[i]) < 1e-3) close++;
      }
      const torchCorrect = Math.round(g.acc * golden.count);
      expect(Math.abs(correct - torchCorrect), `mode ${g.members},${g.bits}: engine ${correct} vs torch ${torchCorrect}`).toBeLessThanOrEqual(1);
      expect(close / golden.count, `mode ${g.members},${g.bits}`).toBeGreaterThanOrEqual(0.97);
    }
  });

  it('decodes a packet to the mode it was made in, whatever the decoder did before', () => {
    const packets = model.modes().map((m) => {
      enc.setMode(m);
      return { m, p: enc.encode(image(3)) };
    });
    for (const { m, p } of packets.reverse()) {
      const fields = readPacket(p).fields;
      expect(fields.mode).toEqual([m.members, m.bits]);
      const { channelsPerMember: cpm, H, W } = model.split();
      expect(fields.shape).toEqual([cpm * m.members!, H, W]);
      expect(dec.decode(p).mode).toEqual(m);
    }
  });

  it('refuses damaged, truncated and foreign packets with a PacketError or CoderError, never anything else', () => {
    enc.setMode({ members: 2, bits: 4 });
    const good = enc.encode(image(5));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 1, max: 255 }), fc.boolean(), (at, x, cut) => {
        const bad = cut ? good.slice(0, at) : good.slice();
        if (!cut) bad[at] ^= x;
        try {
          dec.decode(bad);
        } catch (e) {
          expect(e instanceof PacketError || e instanceof CoderError, String(e)).toBe(true);
          return;
        }
        // a change the checksum cannot see (CRC-16 collisions are 1 in 65536) must still decode cleanly
      }),
      { numRuns: 2000 },
    );
    const p = readPacket(good);
    const foreign = writePacket({ ...p.fields, modelId: (p.fields.modelId ^ 1) >>> 0 }, p.payload);
    expect(() => dec.decode(foreign)).toThrow(/model/);
    const wrongMode = writePacket({ ...p.fields, mode: [3, 4] }, p.payload);
    expect(() => dec.decode(wrongMode)).toThrow(PacketError);
  });

  it('rejects a mode the model does not have, naming the valid ones', () => {
    expect(() => enc.setMode({ members: 5 })).toThrow(/members in \{1, 2, 3, 4\}/);
    expect(() => enc.setMode({ bits: 3 })).toThrow(/bits in \{1, 2, 4, 8\}/);
  });
});
