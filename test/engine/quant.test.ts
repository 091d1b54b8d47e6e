import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Arena, type Engine } from '../../src/engine/wasm.js';
import {
  quantize, dequantize, quantizeRef, dequantizeRef, quantizeWords, quantizePerChannel, dequantizePerChannel,
  quantizePcWords, nearestEven, MAX_ZERO_POINT,
} from '../../src/engine/ops/quant.js';
import { engines, randn, put, read } from '../util.js';

const GUARD_BYTES = 16, GUARD_BYTE = 0xa5;

interface Q { bits: number; scale: number; zeroPoint: number }

/** Codes from one engine, with guard bytes after them checked. */
function codes(eng: Engine, x: Float32Array, q: Q, nActive = x.length): Uint8Array {
  const a = new Arena(eng), n = x.length;
  const px = put(eng, a, x), py = a.alloc(n + GUARD_BYTES, 1);
  eng.u8().fill(GUARD_BYTE, py, py + n + GUARD_BYTES);
  quantize(eng, { x: px, y: py, n, ...q, nActive });
  const out = eng.u8().slice(py, py + n + GUARD_BYTES);
  expect(out.subarray(nActive).every((b) => b === GUARD_BYTE)).toBe(true);
  return out.slice(0, n);
}

function dequant(eng: Engine, c: Uint8Array, q: Q): Float32Array {
  const a = new Arena(eng), n = c.length;
  const pc = a.alloc(n, 1);
  eng.u8().set(c, pc);
  const py = a.allocF32(n + GUARD_BYTES);
  eng.f32().fill(-7, py >> 2, (py >> 2) + n + GUARD_BYTES);
  dequantize(eng, { x: pc, y: py, n, ...q });
  const out = read(eng, py, n + GUARD_BYTES);
  expect(out.subarray(n).every((v) => v === -7)).toBe(true);
  return out.slice(0, n);
}

const qArb = fc.record({
  bits: fc.integer({ min: 1, max: 8 }),
  // any positive finite f32, subnormals and huge values included
  scale: fc.float({ min: Math.fround(1.401298464324817e-45), max: Math.fround(3.4e38), noNaN: true }),
  zeroPoint: fc.oneof(fc.integer({ min: -300, max: 300 }), fc.constantFrom(-MAX_ZERO_POINT, MAX_ZERO_POINT, 0)),
});
/** Float inputs that include NaN, +-inf, -0 and subnormals. */
const floatsArb = fc.array(fc.float(), { minLength: 1, maxLength: 70 }).map((a) => Float32Array.from(a));
/** Raw bit patterns: every NaN payload and sign. */
const bitsArb = fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 70 }).map((a) => new Float32Array(Uint32Array.from(a).buffer));
/** Values spread over the code range, so codes are not all clamped. */
const inRangeArb = fc.record({ q: qArb, seed: fc.integer(), n: fc.integer({ min: 1, max: 70 }) }).map(({ q, seed, n }) => {
  const s = 0.01 + (Math.abs(q.scale) % 1), zp = Math.abs(q.zeroPoint) % (2 ** q.bits);
  const span = (2 ** q.bits) * s;
  return { q: { bits: q.bits, scale: s, zeroPoint: zp }, x: randn(n, seed, span) };
});

describe('quantize / dequantize: SIMD, scalar and the TS reference', () => {
  const [[, simd], [, scalar]] = engines();

  it('give identical codes on arbitrary f32 values (NaN, inf, subnormal, any scale)', () => {
    fc.assert(
      fc.property(floatsArb, qArb, (x, q) => {
        const ref = Array.from(quantizeRef(x, q));
        expect(Array.from(codes(simd, x, q))).toEqual(ref);
        expect(Array.from(codes(scalar, x, q))).toEqual(ref);
      }),
      { numRuns: 150 },
    );
  });

  it('give identical codes on arbitrary 32-bit patterns', () => {
    fc.assert(
      fc.property(bitsArb, qArb, (x, q) => {
        const ref = Array.from(quantizeRef(x, q));
        expect(Array.from(codes(simd, x, q))).toEqual(ref);
        expect(Array.from(codes(scalar, x, q))).toEqual(ref);
      }),
      { numRuns: 150 },
    );
  });

  it('give identical codes on in-range values, with nActive < n leaving the rest untouched', () => {
    fc.assert(
      fc.property(inRangeArb, fc.double({ min: 0, max: 1, noNaN: true }), ({ q, x }, f) => {
        const nA = Math.max(1, Math.ceil(x.length * f));
        const ref = Array.from(quantizeRef(x.subarray(0, nA), q));
        expect(Array.from(codes(simd, x, q, nA).subarray(0, nA))).toEqual(ref);
        expect(Array.from(codes(scalar, x, q, nA).subarray(0, nA))).toEqual(ref);
      }),
      { numRuns: 80 },
    );
  });

  it('dequantize exactly and round-trip within scale / 2 inside the code range', () => {
    fc.assert(
      fc.property(inRangeArb, ({ q, x }) => {
        const c = quantizeRef(x, q), qmax = 2 ** q.bits - 1;
        const ref = Array.from(dequantizeRef(c, q));
        for (const eng of [simd, scalar]) {
          const y = dequant(eng, c, q);
          expect(Array.from(y)).toEqual(ref);
          for (let i = 0; i < x.length; i++) {
            const t = x[i] / Math.fround(q.scale) + q.zeroPoint;
            if (t >= 0 && t <= qmax) expect(Math.abs(y[i] - x[i])).toBeLessThanOrEqual(q.scale * 0.5 * (1 + 1e-6) + 1e-6);
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  it('dequantize every byte value the same in both builds', () => {
    const c = Uint8Array.from({ length: 256 + 13 }, (_, i) => i & 255);
    const q = { bits: 8, scale: 0.037, zeroPoint: -77 };
    const ref = Array.from(dequantizeRef(c, q));
    expect(Array.from(dequant(simd, c, q))).toEqual(ref);
    expect(Array.from(dequant(scalar, c, q))).toEqual(ref);
  });

  it.each([['simd', simd], ['scalar', scalar]] as const)('documents the special values [%s]', (_n, eng) => {
    const q = { bits: 4, scale: 0.5, zeroPoint: 6 };
    // NaN -> zero point; +-inf clamp; ties go to even (2.5 -> 2, 3.5 -> 4, -0.5 -> -0)
    // tiled to 27 and 20 values so the 16-wide SIMD block sees every case, not just the tail
    const tile = (v: number[], k: number) => Array.from({ length: k }, () => v).flat();
    const x = Float32Array.from(tile([NaN, Infinity, -Infinity, 1.25, 1.75, -0.25, 1e30, -1e30, -0], 3));
    expect(Array.from(codes(eng, x, q))).toEqual(tile([6, 15, 0, 8, 10, 6, 15, 0, 6], 3));
    // a zero point outside the range clamps for NaN too
    expect(Array.from(codes(eng, new Float32Array(20).fill(NaN), { bits: 2, scale: 1, zeroPoint: 9 }))).toEqual(tile([3], 20));
    expect(Array.from(codes(eng, new Float32Array(20).fill(NaN), { bits: 2, scale: 1, zeroPoint: -9 }))).toEqual(tile([0], 20));
    // 1 bit
    expect(Array.from(codes(eng, Float32Array.from(tile([-1, 0.4, 0.6, 7], 5)), { bits: 1, scale: 1, zeroPoint: 0 }))).toEqual(tile([0, 0, 1, 1], 5));
  });

  it('nearestEven is WASM f32.nearest', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999998, 8388607.5, 1e30, -Infinity].map(nearestEven)).toEqual([0, 2, 2, -0, -2, -2, 2, 8388608, 1e30, -Infinity]);
  });

  it('per-channel codes equal per-tensor codes applied channel by channel', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 37 }), fc.integer({ min: 1, max: 8 }), fc.integer(), fc.double({ min: 0, max: 1, noNaN: true }),
        (C, len, bits, seed, f) => {
          const cA = Math.max(1, Math.ceil(C * f));
          const x = randn(C * len, seed, 4);
          x[0] = NaN;
          const scales = Float32Array.from({ length: C }, (_, c) => 0.01 + 0.1 * c);
          const zps = Int32Array.from({ length: C }, (_, c) => (c * 3) % (2 ** bits));
          const ref: number[] = [];
          for (let c = 0; c < cA; c++) ref.push(...quantizeRef(x.subarray(c * len, (c + 1) * len), { bits, scale: scales[c], zeroPoint: zps[c] }));
          for (const eng of [simd, scalar]) {
            const a = new Arena(eng);
            const px = put(eng, a, x), ps = put(eng, a, scales), pz = a.alloc(C * 4);
            eng.i32().set(zps, pz >> 2);
            const pq = a.alloc(C * len + GUARD_BYTES, 1);
            eng.u8().fill(GUARD_BYTE, pq, pq + C * len + GUARD_BYTES);
            const args = { x: px, y: pq, C, len, bits, scales: ps, zeroPoints: pz, cActive: cA };
            quantizePerChannel(eng, args);
            const got = eng.u8().slice(pq, pq + C * len + GUARD_BYTES);
            expect(Array.from(got.subarray(0, cA * len))).toEqual(ref);
            expect(got.subarray(cA * len).every((b) => b === GUARD_BYTE)).toBe(true);
            const py = a.allocF32(C * len);
            dequantizePerChannel(eng, { ...args, x: pq, y: py });
            const back = read(eng, py, cA * len);
            for (let c = 0; c < cA; c++) {
              const want = dequantizeRef(got.subarray(c * len, (c + 1) * len), { scale: scales[c], zeroPoint: zps[c] });
              expect(Array.from(back.subarray(c * len, (c + 1) * len))).toEqual(Array.from(want));
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('names what is wrong in bad arguments', () => {
    const ok = { x: 1024, y: 4096, n: 8, bits: 4, scale: 0.1, zeroPoint: 3 };
    expect(() => quantizeWords({ ...ok, bits: 9 })).toThrow(/quantize bits must be an integer in 1\.\.8, got 9/);
    expect(() => quantizeWords({ ...ok, scale: 0 })).toThrow(/quantize scale must be a finite positive f32, got 0/);
    expect(() => quantizeWords({ ...ok, scale: 1e39 })).toThrow(/quantize scale must be a finite positive f32/);
    expect(() => quantizeWords({ ...ok, zeroPoint: 1.5 })).toThrow(/quantize zeroPoint must be an integer/);
    expect(() => quantizeWords({ ...ok, nActive: 9 })).toThrow(/quantize nActive must be an integer in 1\.\.n \(8\), got 9/);
    expect(() => quantizeWords({ ...ok, x: 1026 })).toThrow(/quantize pointer x=1026 must be a non-negative multiple of 4/);
    expect(() => quantizePcWords({ x: 1024, y: 4096, C: 2, len: 4, bits: 0, scales: 8192, zeroPoints: 8200 })).toThrow(/quantize_pc bits/);
    const a = new Arena(simd), ps = put(simd, a, Float32Array.of(0.1, -1)), pz = a.alloc(8);
    simd.i32().fill(0, pz >> 2, (pz >> 2) + 2);
    expect(() => quantizePerChannel(simd, { x: a.alloc(64), y: a.alloc(16, 1), C: 2, len: 4, bits: 4, scales: ps, zeroPoints: pz })).toThrow(/quantize_pc scales\[1\] must be a finite positive f32, got -1/);
  });
});
