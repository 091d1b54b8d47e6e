// The split API on the shipped CIFAR-10 models (the 16x16, 8x8 and 4x4 splits, and the 4x4 one with refining members): parity with PyTorch on golden images for every mode,
// both builds; packet round trips; damaged and foreign packets rejected with the right error.
import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, pickMode, Model, SplitEncoder, SplitDecoder, type ModeInfo } from '../../src/model/model.js';
import { sentChannels, splitInfo } from '../../src/codec/modes.js';
import { PacketError, readPacket, writePacket, writeCompactPacket } from '../../src/codec/packet.js';
import { CoderError } from '../../src/codec/coder.js';
import type { RawImage } from '../../src/model/api.js';
import { BUILDS, nerr } from '../util.js';

const ROOT = join(import.meta.dirname, '../..');
// Each shipped model with its golden vectors (train/export_cifar.py writes both).
const MODELS = [
  { name: 'see-cifar10', blob: 'weights/see-cifar10.slim', fix: 'test/fixtures/cifar' },
  { name: 'see-cifar10-d8', blob: 'weights/see-cifar10-d8.slim', fix: 'test/fixtures/see-cifar10-d8' },
  { name: 'see-cifar10-d4', blob: 'weights/see-cifar10-d4.slim', fix: 'test/fixtures/see-cifar10-d4' },
  { name: 'see-cifar10-d4r', blob: 'weights/see-cifar10-d4r.slim', fix: 'test/fixtures/see-cifar10-d4r' },
];

interface Golden {
  count: number;
  labels: number[];
  modes: Array<{ members: number; bits: number; top1: number[]; acc: number; logits: number[][] }>;
}
const CASES = MODELS.flatMap((m) => BUILDS.map((build) => ({ ...m, build })));

describe.each(CASES)('$name split model [$build]', ({ name, blob, fix, build }) => {
  const golden = JSON.parse(readFileSync(join(ROOT, fix, 'golden.json'), 'utf8')) as Golden;
  const pixels = new Uint8Array(readFileSync(join(ROOT, fix, 'images.u8')));
  const image = (i: number): RawImage => ({ data: pixels.subarray(i * 3072, (i + 1) * 3072), width: 32, height: 32, channels: 3 });
  let model: Model, enc: SplitEncoder, dec: SplitDecoder;
  beforeAll(async () => {
    model = await loadModel(join(ROOT, blob), { build });
    expect(model.info.name).toBe(name);
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
      const split = model.split();
      expect(fields.shape).toEqual([sentChannels(split, m.members!), split.H, split.W]);
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
    // a header whose tensor shape is not its mode's; relabelled to a mode that sends another number
    // of channels where the model has one (with refining members every mode may send the same)
    const [C, H, W] = p.fields.shape;
    expect(() => dec.decode(writePacket({ ...p.fields, shape: [C + 1, H, W] }, p.payload))).toThrow(/does not match mode members=2,bits=4/);
    const split = model.split();
    const other = model.modes().find((m) => sentChannels(split, m.members!) !== sentChannels(split, 2));
    if (name !== 'see-cifar10-d4r') expect(other).toBeDefined();
    if (other) expect(() => dec.decode(writePacket({ ...p.fields, mode: [other.members!, other.bits!] }, p.payload))).toThrow(PacketError);
  });

  it('compact packets: 11 bytes less than full ones, same logits, every mode; damage and foreign ids refused', () => {
    const cenc = model.encoder({ packet: 'compact' });
    const modes = model.modes();
    for (const m of modes) {
      enc.setMode(m);
      cenc.setMode(m);
      const full = enc.encode(image(7)), compact = cenc.encode(image(7));
      expect(compact[0]).toBe(0xc1);
      expect(compact[1]).toBe(modes.indexOf(m));
      expect(full.length - compact.length, JSON.stringify(m)).toBe(full.length >= 16 + 128 ? 12 : 11);
      const a = dec.decode(full), b = dec.decode(compact);
      expect(b.mode).toEqual(m);
      expect(Array.from(b.logits)).toEqual(Array.from(a.logits));
    }
    const p = cenc.encode(image(2));
    const bad = p.slice();
    bad[5] ^= 0x10;
    expect(() => dec.decode(bad)).toThrow(PacketError);
    expect(() => dec.decode(p.subarray(0, p.length - 1))).toThrow(PacketError);
    const other = writeCompactPacket((model.modelId ^ 0x100) >>> 0, 0, p.subarray(2, p.length - 2));
    expect(() => dec.decode(other)).toThrow(/another model/);
    const noMode = writeCompactPacket(model.modelId, 16, p.subarray(2, p.length - 2));
    expect(() => dec.decode(noMode)).toThrow(new RegExp(`mode byte 16: model '${name}' has modes 0..15`));
    expect(() => model.encoder({ packet: 'tiny' as never })).toThrow(/unknown packet format 'tiny'/);
    const ct = model.modeTable({ packet: 'compact' }), ft = model.modeTable();
    for (let i = 0; i < ct.length; i++) expect(ft[i].expectedBytes - ct[i].expectedBytes).toBeGreaterThanOrEqual(11);
  });

  it('rejects a mode the model does not have, naming the valid ones', () => {
    expect(() => enc.setMode({ members: 5 })).toThrow(/members in \{1, 2, 3, 4\}/);
    expect(() => enc.setMode({ bits: 3 })).toThrow(/bits in \{1, 2, 4, 8\}/);
  });

  it("modeTable's expected bytes are within 5% of the mean packet on the golden images, in every mode", () => {
    const table = model.modeTable();
    expect(table.map((r) => r.mode)).toEqual(model.modes());
    for (const r of table) {
      enc.setMode(r.mode);
      let sum = 0;
      for (let i = 0; i < golden.count; i++) sum += enc.encode(image(i)).length;
      const mean = sum / golden.count;
      expect(Math.abs(r.expectedBytes / mean - 1), `mode ${JSON.stringify(r.mode)}: expected ${r.expectedBytes}, mean ${mean}`).toBeLessThan(0.05);
      const g = golden.modes.find((m) => m.members === r.mode.members && m.bits === r.mode.bits)!;
      expect(r.top1).toBeGreaterThan(g.acc - 0.15); // the exporter's 10,000-image figure, not the 100-image one
    }
  });
});

describe('pickMode on the shipped models', () => {
  it('on the shipped model: the 1-bit mode under 120 B, 2 bits with room, nothing under 50 B', async () => {
    const t = (await loadModel(join(ROOT, 'weights/see-cifar10.slim'))).modeTable();
    expect(pickMode(t, { maxBytes: 120, maxMembers: 1 })).toMatchObject({ info: { mode: { members: 1, bits: 1 } }, fits: true });
    expect(pickMode(t, { maxBytes: 250, maxMembers: 1 })).toMatchObject({ info: { mode: { members: 1, bits: 2 } }, fits: true });
    expect(pickMode(t, { maxBytes: 50 })).toMatchObject({ info: { mode: { bits: 1 } }, fits: false });
    // Member 2 carries information (over a point at the top), members 3-4 learned constant channels:
    // a 0.5-point tolerance never runs more than two members, and runs two once they fit and help.
    for (const maxBytes of [120, 250, 400, 1000, 2000]) {
      const best = pickMode(t, { maxBytes }).info, cheap = pickMode(t, { maxBytes, tolerance: 0.005 }).info;
      expect(cheap.mode.members, `maxBytes ${maxBytes}`).toBeLessThanOrEqual(2);
      expect(cheap.top1!).toBeGreaterThanOrEqual(best.top1! - 0.005);
    }
    expect(pickMode(t, { maxBytes: 1000, tolerance: 0.005 }).info.mode.members).toBe(2);
  });

  it('the shipped models: the 8x8 one fits 85% in 60 B, the 16x16 one does not; the 4x4 one fits 84% in 25 B and 86% in 50; the 16x16 one has the best mode', async () => {
    const [s16, d8, d4] = await Promise.all(MODELS.map(async (m) => (await loadModel(join(ROOT, m.blob))).modeTable({ packet: 'compact' })));
    expect(pickMode(d4, { maxBytes: 25 })).toMatchObject({ info: { mode: { members: 1 } }, fits: true });
    expect(pickMode(d4, { maxBytes: 25 }).info.top1!).toBeGreaterThanOrEqual(0.84);
    expect(pickMode(d8, { maxBytes: 25 }).fits).toBe(false);
    expect(pickMode(d4, { maxBytes: 50 }).info).toMatchObject({ mode: { members: 2 } });
    expect(pickMode(d4, { maxBytes: 50 }).info.top1!).toBeGreaterThanOrEqual(0.86);
    const low = { maxBytes: 60, maxMembers: 1 };
    expect(pickMode(d8, low)).toMatchObject({ info: { mode: { members: 1, bits: 1 } }, fits: true });
    expect(pickMode(d8, low).info.top1!).toBeGreaterThanOrEqual(0.85);
    expect(pickMode(s16, low).fits).toBe(false);
    const best = (t: ModeInfo[]) => Math.max(...t.map((r) => r.top1!));
    expect(best(s16)).toBeGreaterThanOrEqual(0.9);
    expect(best(d8)).toBeLessThan(best(s16));
    expect(best(d4)).toBeLessThan(best(d8));
  });
});

// The 4x4 model learned its quantizer step per bit depth (train/cifar.py --learn-steps 2,4,8): the
// blob's quantize layer carries those steps, so the codes stay inside the levels training used
// (1/step = 1.0, 1.80, 3.12 for 2, 4, 8 bits: codes up to 1, 2, 3) and reach the top one.
describe('the 4x4 split model: learned quantizer steps', () => {
  it('codes stay within the learned levels of each bit depth and use all of them; the coder tables span just those', async () => {
    const golden = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/see-cifar10-d4/golden.json'), 'utf8')) as { count: number };
    const pixels = new Uint8Array(readFileSync(join(ROOT, 'test/fixtures/see-cifar10-d4/images.u8')));
    const model = await loadModel(join(ROOT, 'weights/see-cifar10-d4.slim'));
    const enc = model.encoder();
    const top: Record<number, number> = { 1: 1, 2: 1, 4: 2, 8: 3 };
    // levels 0..top plus the escape: 6-word 8-bit tables, which is what lets 81 contexts per channel fit
    const { meta } = model.coderTables();
    for (const [bits, name] of Object.entries(meta.tables)) {
      expect(model.blob.tensors.find((t) => t.name === name)!.shape[1], `bits ${bits}`).toBe(top[Number(bits)] + 3);
    }
    expect(meta.contexts?.[8]).toEqual({ K: 3, shift: 0, neighbours: 'left,up,up-left,up-right' });
    for (const bits of [1, 2, 4, 8]) {
      enc.setMode({ members: 4, bits });
      let max = 0;
      for (let i = 0; i < golden.count; i++) {
        const c = enc.codes({ data: pixels.subarray(i * 3072, (i + 1) * 3072), width: 32, height: 32, channels: 3 });
        for (const v of c) max = Math.max(max, v);
      }
      expect(max, `bits ${bits}`).toBe(top[bits]);
    }
  });
});

describe('split info', () => {
  it('refining members add no channels (min(members, channelMembers) groups); a bad channelMembers is named', () => {
    const s = { channelsPerMember: 16, H: 4, W: 4 };
    expect([1, 2, 3, 4].map((m) => sentChannels(s, m))).toEqual([16, 32, 48, 64]);
    expect([1, 2, 3, 4].map((m) => sentChannels({ ...s, channelMembers: 2 }, m))).toEqual([16, 32, 32, 32]);
    expect(splitInfo('x', { split: { ...s, channelMembers: 1 } }).channelMembers).toBe(1);
    for (const bad of [0, 1.5, -2, '2']) {
      expect(() => splitInfo('x', { split: { ...s, channelMembers: bad } })).toThrow(/'x'.*channelMembers must be a positive integer/);
    }
  });
});

// The 4x4 model with refining members (train/refine.py --refine 1): members 2-4 add to member 1's
// channels instead of sending their own; member 1, the quantizer steps and the decoder were kept from
// the 4x4 model it was made from (its head's int8 rows now also hold members 2-4's weights; on these
// images member 1 alone still codes exactly as that model does).
describe('the 4x4 split model with refining members', () => {
  it("sends member 1's 256 values in every mode, as the 4x4 model does with one member; each added member changes them", async () => {
    const pixels = new Uint8Array(readFileSync(join(ROOT, 'test/fixtures/see-cifar10-d4r/images.u8')));
    const [r, base] = await Promise.all(['weights/see-cifar10-d4r.slim', 'weights/see-cifar10-d4.slim'].map((b) => loadModel(join(ROOT, b))));
    expect(r.split().channelMembers).toBe(1);
    const enc = r.encoder(), baseEnc = base.encoder();
    const img = (i: number): RawImage => ({ data: pixels.subarray(i * 3072, (i + 1) * 3072), width: 32, height: 32, channels: 3 });
    for (const bits of [1, 4, 8]) {
      let prev: Uint8Array[] = [];
      for (const members of [1, 2, 3, 4]) {
        enc.setMode({ members, bits });
        const codes = Array.from({ length: 20 }, (_, i) => Uint8Array.from(enc.codes(img(i))));
        for (const c of codes) expect(c.length).toBe(16 * 4 * 4);
        if (members === 1) {
          baseEnc.setMode({ members: 1, bits });
          codes.forEach((c, i) => expect(c, `image ${i}, bits ${bits}`).toEqual(Uint8Array.from(baseEnc.codes(img(i)))));
        } else {
          const changed = codes.filter((c, i) => c.some((v, k) => v !== prev[i][k])).length;
          expect(changed, `members ${members}, bits ${bits}`).toBeGreaterThan(0);
        }
        prev = codes;
      }
    }
  });
});
