// The device path inside the module (assembly/device.ts) as the split encoder runs it: packets
// byte-identical to the pre-move TypeScript encoder's (test/fixtures/device/golden-packets.json,
// made from commit f2935ed) for every shipped split model, mode, packet kind and test image in both
// builds; device blob validation and status codes; the server decodes the device's packets.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { loadModel, type Model } from '../../src/model/model.js';
import { loadEngine, type Build } from '../../src/engine/wasm.js';
import { makeDeviceBlob, readDeviceBlobInfo, DeviceBlobError } from '../../src/device/blob.js';
import { DeviceCore, DeviceError } from '../../src/device/core.js';
import { deviceBudget } from '../../src/device/budget.js';
import { testImages, synthetic } from '../fixtures/device/images.js';

const ROOT = join(import.meta.dirname, '../..');
const MODELS = ['see-cifar10', 'see-cifar10-d8', 'see-cifar10-d4', 'see-cifar10-d4r'];
const golden = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/device/golden-packets.json'), 'utf8')) as { images: string[]; packets: Record<string, Record<string, string[]>> };
const images = testImages(ROOT);
const digest = (p: Uint8Array): string => `${p.length}:${createHash('sha256').update(p).digest('hex').slice(0, 24)}`;
const fullBytes = (name: string): Uint8Array => new Uint8Array(readFileSync(join(ROOT, 'weights', `${name}.slim`)));

describe.each(MODELS)('device path, %s', (name) => {
  it.each(['scalar', 'simd'] as Build[])('packets equal the pre-move encoder for every mode, kind and image (%s)', async (build) => {
    expect(golden.images).toEqual(images.map((i) => i.name));
    const model = await loadModel(fullBytes(name), { build });
    for (const packet of ['full', 'compact'] as const) {
      const enc = model.encoder({ packet });
      expect(enc.eng.build).toBe(build);
      for (const m of model.modes()) {
        enc.setMode(m);
        const want = golden.packets[name][`${name} ${packet} ${m.members},${m.bits}`];
        expect(want).toHaveLength(images.length);
        images.forEach((im, i) => expect(digest(enc.encode(im.image)), `${packet} ${m.members},${m.bits} ${im.name}`).toBe(want[i]));
      }
    }
  });

  it('device blobs for one members count (their own arena) give the golden packets, both builds', () => {
    const full = fullBytes(name);
    for (const members of [1, 2, 3, 4]) {
      const dev = makeDeviceBlob(full, { members: [members] });
      for (const build of ['scalar', 'simd'] as Build[]) {
        const c = new DeviceCore(loadEngine({ build }), dev);
        c.modes.forEach((m, i) => {
          if (!m.kept) return;
          c.setMode(i);
          const want = golden.packets[name][`${name} full ${m.members},${m.bits}`];
          images.forEach((im, j) => expect(digest(c.encode(im.image)), `${build} ${m.members},${m.bits} ${im.name}`).toBe(want[j]));
        });
      }
    }
  });

  it('the server decodes the device packets to their mode (full and compact)', async () => {
    const model = await loadModel(fullBytes(name));
    const dec = model.decoder();
    for (const packet of ['full', 'compact'] as const) {
      const enc = model.encoder({ packet });
      for (const m of [{ members: 1, bits: 1 }, { members: 4, bits: 8 }, { members: 2, bits: 4 }]) {
        enc.setMode(m);
        const a = dec.decode(enc.encode(images[3].image));
        expect(a.mode).toEqual(m);
        expect(a.logits.every(Number.isFinite)).toBe(true);
      }
    }
  });
});

describe('device blob', () => {
  let model: Model;
  const full = fullBytes('see-cifar10');
  const dev = makeDeviceBlob(full);
  const core = (b: Uint8Array, build: Build = 'scalar') => new DeviceCore(loadEngine({ build }), b);
  const expectStatus = (f: () => unknown, status: number) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(DeviceError);
      expect((e as DeviceError).status).toBe(status);
      return;
    }
    throw new Error(`expected device status ${status}`);
  };

  it('carries the full blob model id, input and 16 modes; the server model accepts it', async () => {
    model = await loadModel(full);
    const info = readDeviceBlobInfo(dev);
    expect(info.modelId).toBe(model.modelId);
    expect(info.input).toEqual([3, 32, 32]);
    expect(info.modes).toHaveLength(16);
    expect(info.modes.map((m) => `${m.members},${m.bits}`)).toEqual(model.modes().map((m) => `${m.members},${m.bits}`));
    expect(info.bytes).toBeLessThan(full.length / 10);
    expect(core(dev).modelId).toBe(model.modelId);
  });

  it('--bits keeps only those coder tables; other modes are refused with E_MODE_BITS (-21)', () => {
    const small = makeDeviceBlob(full, { bits: [2] });
    const info = readDeviceBlobInfo(small);
    expect(info.coderSets.map((s) => s.bits)).toEqual([2]);
    expect(info.bytes).toBeLessThan(dev.length);
    const c = core(small);
    expect(c.modes.filter((m) => m.kept).map((m) => m.bits)).toEqual([2, 2, 2, 2]);
    expect(c.modes[c.mode]).toMatchObject({ members: 4, bits: 2 });
    expectStatus(() => c.setMode(c.modeIndex(1, 8)), -21);
    // a kept mode gives the same packet as the full device blob
    const a = core(dev);
    for (const m of [a.modeIndex(1, 2), a.modeIndex(3, 2)]) {
      a.setMode(m);
      c.setMode(m);
      expect(c.encode(images[0].image)).toEqual(a.encode(images[0].image));
    }
    expect(() => makeDeviceBlob(full, { bits: [3] })).toThrow(DeviceBlobError);
    expect(() => makeDeviceBlob(full, { bits: [3] })).toThrow(/--bits 3: model 'see-cifar10' has coder tables for bits 1, 2, 4, 8/);
  });

  it('--members lays the arena out for those members counts: same packets, less memory, other modes refused with E_MODE_ARENA (-22)', () => {
    const info = readDeviceBlobInfo(dev);
    for (const build of ['scalar', 'simd'] as Build[]) {
      let prev = 0;
      for (const members of [1, 2, 3, 4]) {
        const b = makeDeviceBlob(full, { members: [members] });
        expect(readDeviceBlobInfo(b).arenaBytes).toBeGreaterThan(prev);
        prev = readDeviceBlobInfo(b).arenaBytes;
        const c = core(b, build);
        const a = core(dev, build);
        c.modes.forEach((m, i) => {
          expect(m.kept).toBe(m.members === members);
          if (!m.kept) return expectStatus(() => c.setMode(i), -22);
          c.setMode(i);
          a.setMode(i);
          for (const im of [images[0], images[10], images[11]]) expect(c.encode(im.image, 'compact')).toEqual(a.encode(im.image, 'compact'));
        });
      }
      expect(prev).toBe(info.arenaBytes);
    }
    const one = readDeviceBlobInfo(makeDeviceBlob(full, { members: [1] }));
    expect(one.arenaBytes).toBeLessThan(info.arenaBytes / 3);
    // only the weight rows members = 1 reads: a quarter of every conv's output channels
    expect(one.expandBytes).toBe(info.expandBytes / 4);
    // the target for the default model: members = 1 in at most 256 KiB (met for bits 1 and 8)
    for (const bits of [1, 8]) expect(deviceBudget(makeDeviceBlob(full, { members: [1], bits: [bits] }), loadEngine({ build: 'scalar' }).exports.heap_base()).total).toBeLessThanOrEqual(256 * 1024);
    expect(() => makeDeviceBlob(full, { members: [5] })).toThrow(/--members 5: model 'see-cifar10' has members 1, 2, 3, 4/);
  });

  it('device_init refuses damaged blobs with the documented status', () => {
    const flip = (at: number) => {
      const b = dev.slice();
      b[at] ^= 1;
      return b;
    };
    expectStatus(() => core(flip(0)), -11); // magic
    expectStatus(() => core(flip(4)), -12); // version
    expectStatus(() => core(flip(8)), -10); // size field
    expectStatus(() => core(flip(dev.length - 1)), -13); // a data byte: CRC
    expectStatus(() => core(flip(200)), -13);
    expectStatus(() => core(dev.subarray(0, 40)), -10);
    // a structural error behind a recomputed CRC: plan pointer past the data section
    const b = dev.slice();
    const dv = new DataView(b.buffer);
    const planOff = dv.getUint32(64 + 4, true);
    dv.setUint32(planOff + 2 * 4, 7, true); // plan header 'words'
    dv.setUint32(12, crcOf(b), true);
    expectStatus(() => core(b), -15);
  });

  it('refuses bad modes, pixel formats, sizes and call order', () => {
    const c = core(dev);
    expectStatus(() => c.setMode(16), -20);
    expectStatus(() => c.setMode(-1), -20);
    expectStatus(() => c.encode({ data: new Uint8Array(8), width: 2, height: 2, channels: 2 as never }), -30);
    expectStatus(() => c.encode({ data: new Uint8Array(0), width: 0, height: 2, channels: 3 }), -31);
    expectStatus(() => c.encode({ data: new Uint8Array(3), width: 1, height: 1 << 25, channels: 3 }), -31);
    const eng = loadEngine({ build: 'scalar' });
    const x = eng.exports as unknown as Record<string, (...a: number[]) => number>;
    expect(x.device_encode(0)).toBe(-1);
    expect(x.device_set_mode(0)).toBe(-1);
    const p = x.device_blob_alloc(dev.length);
    expect(x.device_init(p + 64, dev.length)).toBe(-1);
    eng.u8().set(dev, p);
    expect(x.device_init(p, dev.length)).toBe(0);
    expect(x.device_init(p, dev.length)).toBe(-1);
    expect(x.device_encode(0)).toBe(-1); // no frame yet
    expect(x.device_encode(2)).toBe(-32);
  });

  it('gray frames code as the same gray in RGB', async () => {
    model ??= await loadModel(full);
    const enc = model.encoder();
    for (const [w, h] of [[32, 32], [45, 37], [16, 20]]) {
      const rgb = synthetic(w, h, 3, 9);
      const gray = new Uint8Array(w * h).map((_, i) => rgb.data[3 * i + 1]);
      const asRgb = new Uint8Array(3 * w * h).map((_, i) => gray[Math.floor(i / 3)]);
      expect(enc.encode({ data: gray, width: w, height: h, channels: 1 as never })).toEqual(enc.encode({ data: asRgb, width: w, height: h, channels: 3 }));
    }
  });

  it('memory: the module reports what the budget accounts, part by part', () => {
    for (const [bits, members] of [[undefined, undefined], [[1], undefined], [[8], [1]], [[2, 4], [2, 3]]]) {
      const b = makeDeviceBlob(full, { bits, members });
      const c = core(b);
      const m = c.modes.findIndex((q) => q.kept);
      c.setMode(m);
      c.encode({ data: new Uint8Array(32 * 32 * 3), width: 32, height: 32, channels: 3 });
      const budget = deviceBudget(b, loadEngine({ build: 'scalar' }).exports.heap_base());
      expect(c.memory().used).toBe(budget.total);
      expect(budget.total).toBe(Object.values(budget.parts).reduce((s, v) => s + v, 0));
    }
  });
});

function crcOf(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 16; i < b.length; i++) {
    c ^= b[i];
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
