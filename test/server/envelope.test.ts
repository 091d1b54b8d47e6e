import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { readEnvelope, writeEnvelope, EnvelopeError, dueAt, type EnvelopeFields } from '../../src/server/envelope.js';
import { crc16 } from '../../src/format/checksum.js';
import { topKOf, httpStatusOf } from '../../src/server/result.js';

const deviceArb = fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/);
const fieldsArb: fc.Arbitrary<EnvelopeFields> = fc.record(
  {
    seq: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constantFrom(0, 127, 128, 0xffffffff)),
    captureMs: fc.oneof(fc.constant(0), fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 }), fc.constant(Number.MAX_SAFE_INTEGER)),
    deadlineMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5000 }), fc.constant(0xffffffff)),
    device: deviceArb,
    modelId: fc.integer({ min: 0, max: 0xffffffff }),
  },
  { requiredKeys: ['seq', 'captureMs', 'deadlineMs'] },
);
const packetArb = fc.uint8Array({ minLength: 1, maxLength: 200 });

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof EnvelopeError) return e.code;
    throw e;
  }
  return 'accepted';
}

describe('envelope', () => {
  it('round-trips every field, with the packet as a view', () => {
    fc.assert(
      fc.property(fieldsArb, packetArb, (fields, packet) => {
        const bytes = writeEnvelope(fields, packet);
        const env = readEnvelope(bytes);
        expect(env.fields).toEqual({ version: 1, ...fields });
        expect(env.packet).toEqual(packet);
        expect(env.packet.buffer).toBe(bytes.buffer);
        expect(env.headerBytes + packet.length).toBe(bytes.length);
      }),
    );
  });

  it('pins the byte layout', () => {
    const bytes = writeEnvelope({ seq: 300, captureMs: 1, deadlineMs: 200, device: 'pi', modelId: 0x11223344 }, Uint8Array.of(0xc1, 9));
    const head = [0xd3, 0x45, 1, 3, 0xac, 0x02, 1, 0xc8, 0x01, 2, 0x70, 0x69, 0x44, 0x33, 0x22, 0x11];
    const crc = crc16(Uint8Array.from(head));
    expect(Array.from(bytes)).toEqual([...head, crc & 255, crc >>> 8, 0xc1, 9]);
    // the smallest: no device, no model, zero fields: 9 header bytes
    expect(writeEnvelope({ seq: 0, captureMs: 0, deadlineMs: 0 }, Uint8Array.of(1)).length).toBe(10);
  });

  it('names each failure', () => {
    const good = writeEnvelope({ seq: 5, captureMs: 0, deadlineMs: 0, device: 'abc' }, Uint8Array.of(0xd3, 0x53, 1));
    const edit = (i: number, v: number): Uint8Array => {
      const b = good.slice();
      b[i] = v;
      return b;
    };
    const resum = (b: Uint8Array, headerEnd: number): Uint8Array => {
      const c = crc16(b, 0, headerEnd);
      b[headerEnd] = c & 255;
      b[headerEnd + 1] = c >>> 8;
      return b;
    };
    expect(code(() => readEnvelope(new Uint8Array(0)))).toBe('truncated');
    expect(code(() => readEnvelope(edit(0, 0)))).toBe('bad-magic');
    expect(() => readEnvelope(Uint8Array.of(0xd3, 0x53, 1, 0))).toThrow(/bare packet/);
    expect(() => readEnvelope(Uint8Array.of(0xc1, 0, 1, 2))).toThrow(/bare compact packet/);
    expect(code(() => readEnvelope(edit(2, 2)))).toBe('unsupported-version');
    expect(code(() => readEnvelope(edit(3, 0x81)))).toBe('bad-field');
    expect(code(() => readEnvelope(edit(4, 6)))).toBe('checksum');
    // header: magic 2, version, flags, seq, capture, deadline, len, 'abc' = 11 bytes, then CRC
    expect(code(() => readEnvelope(resum(edit(7, 0), 11)))).toBe('bad-field'); // device id length 0
    expect(code(() => readEnvelope(resum(edit(8, 0x20), 11)))).toBe('bad-field'); // a space in the id
    expect(() => readEnvelope(resum(edit(8, 0x20), 11))).toThrow(/device id "a bc"|device id "ab c"|device id " bc"/);
    expect(code(() => readEnvelope(good.subarray(0, 13)))).toBe('empty-packet');
    expect(() => readEnvelope(good.subarray(0, 13))).toThrow(/no packet/);
    // a non-minimal seq varint: 0x85 0x00
    const nm = Uint8Array.of(0xd3, 0x45, 1, 0, 0x85, 0x00, 0, 0, 0, 0, 1);
    expect(code(() => readEnvelope(resum(nm, 8)))).toBe('bad-field');
    expect(code(() => writeEnvelope({ seq: -1, captureMs: 0, deadlineMs: 0 }, Uint8Array.of(1)))).toBe('bad-field');
    expect(code(() => writeEnvelope({ seq: 0, captureMs: 0, deadlineMs: 0, device: 'a/b' }, Uint8Array.of(1)))).toBe('bad-field');
    expect(code(() => writeEnvelope({ seq: 0, captureMs: 0, deadlineMs: 0 }, new Uint8Array(0)))).toBe('empty-packet');
  });

  it('fuzz: every truncation of the header fails with truncated, checksum or empty-packet', () => {
    fc.assert(
      fc.property(fieldsArb, packetArb, fc.nat(), (fields, packet, k) => {
        const bytes = writeEnvelope(fields, packet);
        const env = readEnvelope(bytes);
        const cut = k % (env.headerBytes + 1);
        expect(['truncated', 'empty-packet']).toContain(code(() => readEnvelope(bytes.subarray(0, cut))));
      }),
    );
  });

  it('fuzz: a flipped header byte fails with a named code; one in the packet passes through untouched', () => {
    fc.assert(
      fc.property(fieldsArb, packetArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (fields, packet, k, x) => {
        const bytes = writeEnvelope(fields, packet);
        const i = k % bytes.length;
        const b = bytes.slice();
        b[i] ^= x;
        const headerBytes = bytes.length - packet.length;
        if (i >= headerBytes) {
          expect(readEnvelope(b).fields).toEqual(readEnvelope(bytes).fields);
          return;
        }
        const c = code(() => readEnvelope(b));
        // a flip that keeps the layout is caught by the CRC; one that moves it by a named check,
        // unless the moved header happens to checksum (2^-16): then it must re-encode identically
        if (c === 'accepted') {
          const env = readEnvelope(b);
          const { version: _v, ...f } = env.fields;
          expect(writeEnvelope(f, env.packet)).toEqual(b);
        } else expect(['truncated', 'bad-magic', 'unsupported-version', 'bad-field', 'checksum', 'empty-packet']).toContain(c);
      }),
      { numRuns: 3000 },
    );
  });

  it('fuzz: random bytes never crash the reader, and what it accepts re-encodes byte for byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (tail, withMagic) => {
        const b = withMagic ? Uint8Array.from([0xd3, 0x45, 1, ...tail]) : tail;
        const c = code(() => readEnvelope(b));
        if (c === 'accepted') {
          const env = readEnvelope(b);
          const { version: _v, ...f } = env.fields;
          expect(writeEnvelope(f, env.packet)).toEqual(b);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('dates a deadline from capture when the device has a clock, else from receipt', () => {
    expect(dueAt({ captureMs: 1000, deadlineMs: 50 }, 9999)).toBe(1050);
    expect(dueAt({ captureMs: 0, deadlineMs: 50 }, 9999)).toBe(10049);
    expect(dueAt({ captureMs: 1000, deadlineMs: 0 }, 9999)).toBe(Infinity);
  });
});

describe('result', () => {
  it('scores the top-k by softmax, ties to the lower class', () => {
    const t = topKOf(Float32Array.of(1, 3, 3, 0), 3, ['a', 'b', 'c', 'd']);
    const z = Math.exp(1 - 3) + 2 + Math.exp(-3);
    expect(t).toEqual([
      { class: 1, label: 'b', score: 1 / z },
      { class: 2, label: 'c', score: 1 / z },
      { class: 0, label: 'a', score: Math.exp(-2) / z },
    ]);
    expect(topKOf([0.5], 5, [])).toEqual([{ class: 0, label: '0', score: 1 }]);
  });
  it('maps outcomes to HTTP statuses', () => {
    expect(httpStatusOf({ outcome: 'ok' })).toBe(200);
    expect(httpStatusOf({ outcome: 'refused', error: { code: 'too-large', message: '' } })).toBe(413);
    expect(httpStatusOf({ outcome: 'refused', error: { code: 'queue-full', message: '' } })).toBe(429);
    expect(httpStatusOf({ outcome: 'late' })).toBe(504);
  });
});
