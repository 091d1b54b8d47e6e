// mul: elementwise and per-channel (squeeze-excite) products with every activation, against the
// f64 reference on both builds, and the two builds against each other bit for bit (the same f32
// products and activations in the same order).
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Arena, type Engine } from '../../src/engine/wasm.js';
import { mul, mulRef, mulWords } from '../../src/engine/ops/mul.js';
import { engines, randn, allocGuarded, guardsIntact, put, read, maxRelErr, TOL } from '../util.js';

const all = engines();

function run(eng: Engine, a: Float32Array, b: Float32Array, C: number, HW: number, perChannel: boolean, act: number, inPlace = false): Float32Array {
  const ar = new Arena(eng);
  const pa = put(eng, ar, a), pb = put(eng, ar, b);
  const py = inPlace ? pa : allocGuarded(ar, C * HW);
  mul(eng, { a: pa, b: pb, y: py, C, HW, perChannel, act });
  if (!inPlace) expect(guardsIntact(eng, py, C * HW)).toBe(true);
  return read(eng, py, C * HW);
}

const arb = fc.record({
  C: fc.integer({ min: 1, max: 6 }), HW: fc.integer({ min: 1, max: 37 }), perChannel: fc.boolean(),
  act: fc.integer({ min: 0, max: 6 }), inPlace: fc.boolean(), seed: fc.integer(),
});

describe.each(all)('mul [%s]', (_b, eng) => {
  it('matches the f64 reference for every HW remainder, both layouts of b, every activation, in place or not', () => {
    fc.assert(
      fc.property(arb, ({ C, HW, perChannel, act, inPlace, seed }) => {
        const a = randn(C * HW, seed, 4), b = randn(perChannel ? C : C * HW, seed + 1, 2);
        const y = run(eng, a, b, C, HW, perChannel, act, inPlace);
        expect(maxRelErr(y, mulRef(a, b, { C, HW, perChannel, act }))).toBeLessThan(TOL.f32);
      }),
      { numRuns: 150 },
    );
  });

  it('per channel: channel c is scaled by b[c] exactly (act none)', () => {
    const a = Float32Array.from({ length: 2 * 5 }, (_, i) => i + 1), b = Float32Array.of(0.5, -2);
    expect(Array.from(run(eng, a, b, 2, 5, true, 0))).toEqual([0.5, 1, 1.5, 2, 2.5, -12, -14, -16, -18, -20]);
  });

  it('names what is wrong in bad arguments', () => {
    expect(() => mulWords({ a: 64, b: 64, y: 64, C: 0, HW: 3 })).toThrow(/mul C must be a positive integer, got 0/);
    expect(() => mulWords({ a: 64, b: 64, y: 64, C: 2, HW: 3, act: 9 })).toThrow(/mul act must be an integer in 0..6, got 9/);
    expect(() => mul(eng, { a: 1024, b: 2048, y: 2048, C: 2, HW: 8, perChannel: true })).toThrow(/mul y may not be the per-channel factors b/);
  });
});

describe('mul: SIMD and scalar builds agree bit for bit', () => {
  const [[, simd], [, scalar]] = all;
  it('on every HW 1..24, both layouts, every activation', () => {
    for (let HW = 1; HW <= 24; HW++) {
      for (const perChannel of [false, true]) {
        for (let act = 0; act <= 6; act++) {
          const a = randn(3 * HW, HW * 31 + act, 5), b = randn(perChannel ? 3 : 3 * HW, HW * 17 + act, 2);
          expect(Array.from(run(simd, a, b, 3, HW, perChannel, act))).toEqual(Array.from(run(scalar, a, b, 3, HW, perChannel, act)));
        }
      }
    }
  });
});
