// Packet format: round trips, every documented error, and a fuzz of 11,000
// cases (truncations, byte flips, field edits, random bytes) in which the reader
// may only succeed on a canonical packet or throw PacketError.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  writePacket, readPacket, PacketError, modelIdOf, overheadBytes, MAGIC, VERSION,
  writeCompactPacket, readCompactPacket, splitCompactPacket, isCompactPacket, COMPACT_TAG, COMPACT_OVERHEAD,
  type PacketFields, type PacketErrorCode, type Quant,
} from '../../src/codec/packet.js';
import { crc16 } from '../../src/format/checksum.js';

const quantArb: fc.Arbitrary<Quant> = fc.oneof(
  fc.constant({ kind: 'implied' as const }),
  fc.record({ kind: fc.constant('index' as const), index: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constant(0xffffffff)) }),
  fc.record({
    kind: fc.constant('inline' as const),
    scale: fc.float({ min: Math.fround(1e-30), max: Math.fround(1e30), noNaN: true, noDefaultInfinity: true }),
    zeroPoint: fc.oneof(fc.integer({ min: -300, max: 300 }), fc.constantFrom(-(2 ** 31), 2 ** 31 - 1)),
  }),
);

const dimArb = fc.oneof(fc.integer({ min: 1, max: 130 }), fc.integer({ min: 1, max: 65535 }));

const packetArb = fc
  .record({
    modelId: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 0xffffffff)),
    mode: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 3 }),
    C: dimArb,
    H: dimArb,
    W: fc.option(dimArb),
    quant: quantArb,
    payload: fc.uint8Array({ minLength: 1, maxLength: 300 }),
  })
  .filter((r) => r.C * r.H * (r.W ?? r.H) <= Math.min(1 << 24, r.payload.length * 2 ** 19))
  .map((r) => ({ fields: { modelId: r.modelId, mode: r.mode, shape: [r.C, r.H, r.W ?? r.H] as [number, number, number], quant: r.quant }, payload: r.payload }));

/** Read; the only allowed outcomes are PacketError or a packet that writes back to the same bytes. */
function readOrError(bytes: Uint8Array, modelId?: number): PacketErrorCode | 'ok' {
  try {
    const p = readPacket(bytes, modelId === undefined ? {} : { modelId });
    expect(Buffer.from(writePacket(p.fields, p.payload)).equals(Buffer.from(bytes))).toBe(true);
    return 'ok';
  } catch (e) {
    if (!(e instanceof PacketError)) throw e;
    expect(e.message).toMatch(/^packet: /);
    return e.code;
  }
}

/** Offsets of the header fields of a packet written by writePacket. */
function layoutOf(f: PacketFields, payloadLength: number) {
  const vlen = (v: number) => (v < 2 ** 7 ? 1 : v < 2 ** 14 ? 2 : v < 2 ** 21 ? 3 : v < 2 ** 28 ? 4 : 5);
  const mode = 8, shape = mode + f.mode.length;
  const [C, H, W] = f.shape;
  const quant = shape + vlen(C) + vlen(H) + (H === W ? 0 : vlen(W));
  const q = f.quant;
  const len = quant + (q.kind === 'implied' ? 0 : q.kind === 'index' ? vlen(q.index) : 4 + vlen(((q.zeroPoint << 1) ^ (q.zeroPoint >> 31)) >>> 0));
  const payload = len + vlen(payloadLength);
  return { mode, shape, quant, len, payload };
}

describe('packet', () => {
  it('round-trips every field, with the payload as a view', () => {
    fc.assert(
      fc.property(packetArb, ({ fields, payload }) => {
        const bytes = writePacket(fields, payload);
        const p = readPacket(bytes, { modelId: fields.modelId });
        expect(p.fields).toEqual({ ...fields, mode: [...fields.mode], version: VERSION });
        expect(Array.from(p.payload)).toEqual(Array.from(payload));
        expect(p.payload.buffer).toBe(bytes.buffer);
        expect(bytes.length).toBe(layoutOf(fields, payload.length).payload + payload.length + 2);
      }),
      { numRuns: 1000 },
    );
  });

  it('keeps the header at 16 bytes including the checksum for a typical bottleneck', () => {
    const f: PacketFields = { modelId: modelIdOf(new TextEncoder().encode('weights')), mode: [2, 4], shape: [32, 16, 16], quant: { kind: 'implied' } };
    expect(overheadBytes(f, 2000)).toBe(16);
    expect(overheadBytes({ ...f, quant: { kind: 'index', index: 3 } }, 100)).toBe(16);
    expect(overheadBytes({ ...f, shape: [6, 96, 96] }, 20000)).toBe(17);
  });

  it('pins the byte layout and the hash/checksum check values', () => {
    const bytes = writePacket({ modelId: 0x04030201, mode: [2, 4], shape: [32, 16, 24], quant: { kind: 'inline', scale: 0.5, zeroPoint: -3 } }, Uint8Array.of(0xaa, 0xbb));
    const crc = crc16(bytes, 0, bytes.length - 2);
    expect(Array.from(bytes)).toEqual([0xd3, 0x53, 1, 2 | (2 << 3), 1, 2, 3, 4, 2, 4, 32, 16, 24, 0, 0, 0, 0x3f, 5, 2, 0xaa, 0xbb, crc & 255, crc >> 8]);
    expect(crc16(new TextEncoder().encode('123456789'))).toBe(0x29b1);
    expect(modelIdOf(new Uint8Array(0))).toBe(0x811c9dc5);
    expect(modelIdOf(new TextEncoder().encode('a'))).toBe(0xe40c292c);
  });

  it('names each failure', () => {
    const f: PacketFields = { modelId: 7, mode: [1, 8], shape: [6, 96, 96], quant: { kind: 'index', index: 2 } };
    const good = writePacket(f, new Uint8Array(100).fill(9));
    const code = (b: Uint8Array, modelId?: number) => readOrError(b, modelId);
    const resum = (b: Uint8Array) => {
      const c = crc16(b, 0, b.length - 2);
      b[b.length - 2] = c & 255;
      b[b.length - 1] = c >> 8;
      return b;
    };
    const edit = (i: number, v: number) => {
      const b = good.slice();
      b[i] = v;
      return b;
    };
    expect(code(good, 7)).toBe('ok');
    expect(code(new Uint8Array(0))).toBe('truncated');
    expect(code(good.subarray(0, 1))).toBe('truncated');
    expect(code(good.subarray(0, 9))).toBe('truncated');
    expect(code(good.subarray(0, good.length - 1))).toBe('length-exceeds-packet');
    expect(code(edit(0, 0x89))).toBe('bad-magic');
    expect(code(edit(1, 0x50))).toBe('bad-magic');
    expect(code(edit(2, 2))).toBe('unsupported-version');
    expect(() => readPacket(edit(2, 2))).toThrow(/unsupported version 2/);
    expect(code(edit(3, good[3] | 0x80))).toBe('bad-field');
    expect(code(edit(3, good[3] | 3))).toBe('bad-field');
    expect(code(Uint8Array.from([...good, 0]))).toBe('trailing-garbage');
    expect(code(edit(20, good[20] ^ 1))).toBe('checksum');
    expect(code(edit(good.length - 1, good[good.length - 1] ^ 0x10))).toBe('checksum');
    expect(code(good, 8)).toBe('foreign-model');
    expect(() => readPacket(good, { modelId: 8 })).toThrow(/for model 00000007, this reader has 00000008/);
    expect(code(resum(edit(10, 0)))).toBe('bad-field'); // C = 0
    expect(code(resum(Uint8Array.from([...good.subarray(0, 10), 0x86, 0x00, ...good.subarray(11)])))).toBe('bad-field'); // non-minimal varint
    expect(() => readPacket(good, { maxElements: 1000 })).toThrow(/over the cap of 1000/);
    // A forged length must not be trusted: both directions are refused before any use.
    const L = layoutOf(f, 100).len; // index of the payload-length varint
    expect(good[L]).toBe(100);
    expect(code(resum(edit(L, 50)))).toBe('trailing-garbage');
    expect(code(edit(L, 0xff))).toBe('length-exceeds-packet');
    expect(() => writePacket({ ...f, shape: [0, 1, 1] }, good)).toThrow(PacketError);
    expect(() => writePacket({ ...f, mode: [1, 2, 3, 4] }, good)).toThrow(/mode must be 0-3 bytes/);
    expect(() => writePacket({ ...f, quant: { kind: 'inline', scale: NaN, zeroPoint: 0 } }, good)).toThrow(/finite f32/);
    expect(() => writePacket(f, new Uint8Array(0))).toThrow(/more than a 0-byte payload can code/);
  });

  // Fuzz: 2000 + 3000 + 3000 + 3000 = 11,000 cases.
  it('fuzz: every truncation fails with truncated or length-exceeds-packet', () => {
    fc.assert(
      fc.property(packetArb, fc.nat(), ({ fields, payload }, k) => {
        const bytes = writePacket(fields, payload);
        const code = readOrError(bytes.subarray(0, k % bytes.length));
        expect(['truncated', 'length-exceeds-packet']).toContain(code);
      }),
      { numRuns: 2000 },
    );
  });

  it('fuzz: byte flips fail (checksum when the layout is untouched) or yield a canonical packet', () => {
    fc.assert(
      fc.property(packetArb, fc.nat(), fc.integer({ min: 1, max: 255 }), ({ fields, payload }, k, x) => {
        const bytes = writePacket(fields, payload);
        const i = k % bytes.length;
        bytes[i] ^= x;
        const code = readOrError(bytes, fields.modelId);
        const lay = layoutOf(fields, payload.length);
        // Model id, mode bytes, payload and checksum do not steer the parse: the CRC-16
        // catches each such flip (every error burst up to 16 bits). A flip in flags or a
        // varint re-frames the packet; readOrError then demands an error or a canonical packet.
        if (i < 2) expect(code).toBe('bad-magic');
        else if (i === 2) expect(code).toBe('unsupported-version');
        else if ((i >= 4 && i < lay.shape) || i >= lay.payload) expect(code).toBe('checksum');
      }),
      { numRuns: 3000 },
    );
  });

  it('fuzz: field edits with a recomputed checksum fail with the right code or stay canonical', () => {
    fc.assert(
      fc.property(packetArb, fc.integer({ min: 0, max: 5 }), fc.nat(), ({ fields, payload }, which, r) => {
        const bytes = writePacket(fields, payload);
        const lay = layoutOf(fields, payload.length);
        let b = bytes.slice();
        let want: PacketErrorCode | 'ok' | null = null;
        if (which === 0) {
          b[2] = 2 + (r % 254); // version
          want = 'unsupported-version';
        } else if (which === 1) {
          b[4 + (r % 4)] ^= 1 + (r % 255); // model id
          want = 'foreign-model';
        } else if (which === 2) {
          b[3] = r & 255; // flags: reserved bits, other quant kind, other mode length
          want = null;
        } else if (which === 3) {
          b = Uint8Array.from([...b.subarray(0, lay.len), ...varintBytes(r % 2 ** 32), ...b.subarray(lay.payload)]); // payload length
          want = null;
        } else if (which === 4) {
          b = Uint8Array.from([...b.subarray(0, lay.shape), ...varintBytes(r % 70000), ...b.subarray(lay.shape)]); // extra dim varint
          want = null;
        } else {
          b = Uint8Array.from([...b, r & 255]); // trailing byte
          want = 'trailing-garbage';
        }
        if (which !== 5) {
          const c = crc16(b, 0, b.length - 2);
          b[b.length - 2] = c & 255;
          b[b.length - 1] = c >> 8;
        }
        const code = readOrError(b, fields.modelId);
        if (want !== null) expect(code).toBe(want);
        else if (which === 3 && (r % 2 ** 32) !== payload.length) expect(['length-exceeds-packet', 'trailing-garbage', 'bad-field']).toContain(code);
      }),
      { numRuns: 3000 },
    );
  });

  it('fuzz: random bytes (some with a valid prefix) never crash or hang', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: 0, max: 3 }), (junk, prefix) => {
        const head = [MAGIC[0], MAGIC[1], VERSION, 0].slice(0, prefix + 1);
        const b = prefix === 0 ? junk : Uint8Array.from([...head, ...junk]);
        const t = performance.now();
        readOrError(b);
        expect(performance.now() - t).toBeLessThan(500);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('packet canonical form', () => {
  it('refuses W written out when it equals H (the writer sets the square flag instead)', () => {
    const good = writePacket({ modelId: 9, mode: [1, 1], shape: [4, 16, 16], quant: { kind: 'implied' } }, Uint8Array.of(1, 2, 3));
    // flags at byte 3: clear the square bit; C, H at bytes 10, 11 (after 2 mode bytes); insert W = 16
    const b = Uint8Array.from([...good.subarray(0, 3), good[3] & ~4, ...good.subarray(4, 12), 16, ...good.subarray(12)]);
    const c = crc16(b, 0, b.length - 2);
    b[b.length - 2] = c & 255;
    b[b.length - 1] = c >> 8;
    expect(() => readPacket(b)).toThrow(/W = H = 16 spelled out with the square flag clear/);
    b[12] = 17;
    const c2 = crc16(b, 0, b.length - 2);
    b[b.length - 2] = c2 & 255;
    b[b.length - 1] = c2 >> 8;
    expect(readPacket(b).fields.shape).toEqual([4, 16, 17]);
  });
});

describe('compact packet', () => {
  const arb = fc.record({ modelId: fc.integer({ min: 0, max: 0xffffffff }), mode: fc.integer({ min: 0, max: 255 }), payload: fc.uint8Array({ maxLength: 300 }) });

  it('is tag, mode, payload, CRC-16 over the model id and the rest: 4 bytes of overhead', () => {
    const b = writeCompactPacket(0x04030201, 7, Uint8Array.of(0xaa, 0xbb));
    const crc = crc16(Uint8Array.of(1, 2, 3, 4, COMPACT_TAG, 7, 0xaa, 0xbb));
    expect(Array.from(b)).toEqual([COMPACT_TAG, 7, 0xaa, 0xbb, crc & 255, crc >>> 8]);
    expect(COMPACT_OVERHEAD).toBe(4);
    expect(isCompactPacket(b)).toBe(true);
    expect(COMPACT_TAG).not.toBe(MAGIC[0]);
    const full = writePacket({ modelId: 1, mode: [1, 1], shape: [4, 16, 16], quant: { kind: 'implied' } }, Uint8Array.of(1));
    expect(isCompactPacket(full)).toBe(false);
    expect(() => readCompactPacket(full, 1)).toThrow(/not a compact packet's tag/);
  });

  it('round-trips; any flip, cut or other model id is refused with a PacketError', () => {
    fc.assert(
      fc.property(arb, fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean(), ({ modelId, mode, payload }, at, x, cut) => {
        const b = writeCompactPacket(modelId, mode, payload);
        const r = readCompactPacket(b, modelId);
        expect(r.mode).toBe(mode);
        expect(Buffer.from(r.payload).equals(Buffer.from(payload))).toBe(true);
        expect(() => readCompactPacket(b, (modelId ^ (1 << (at % 32))) >>> 0)).toThrow(/another model/);
        const bad = cut ? b.slice(0, at % b.length) : b.slice();
        if (!cut) bad[at % bad.length] ^= x;
        // CRC-16 catches every burst of up to 16 bits, so one changed byte always fails; so does any cut
        // (a cut of up to 2 bytes shifts the CRC into the data; longer cuts leave 2^-16 odds).
        let err: unknown = null;
        try {
          readCompactPacket(bad, modelId);
        } catch (e) {
          err = e;
        }
        if (!cut || b.length - (at % b.length) <= 2 || bad.length < COMPACT_OVERHEAD) {
          expect(err).toBeInstanceOf(PacketError);
          expect(['checksum', 'truncated', 'bad-magic']).toContain((err as PacketError).code);
        } else if (err !== null) expect(err).toBeInstanceOf(PacketError);
      }),
      { numRuns: 2000 },
    );
  });

  it('names what is wrong', () => {
    expect(() => readCompactPacket(Uint8Array.of(COMPACT_TAG, 0, 0), 1)).toThrow(/3 bytes: a compact packet has at least 4/);
    expect(() => readCompactPacket(new Uint8Array(0), 1)).toThrow(/0 bytes/);
    expect(() => writeCompactPacket(1, 256, new Uint8Array(1))).toThrow(/one byte/);
    expect(() => writeCompactPacket(-1, 0, new Uint8Array(1))).toThrow(/u32/);
    // without the model id: fields only, no checksum (for tools)
    const b = writeCompactPacket(5, 9, Uint8Array.of(1, 2, 3));
    b[3] ^= 1;
    const parts = splitCompactPacket(b);
    expect(parts.mode).toBe(9);
    expect(Array.from(parts.payload)).toEqual([1, 3, 3]);
    expect(() => readCompactPacket(b, 5)).toThrow(/checksum mismatch/);
    expect(() => splitCompactPacket(Uint8Array.of(0xd3, 0x53, 1, 0))).toThrow(/not a compact packet's tag/);
  });
});

function varintBytes(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
