// concat: a's values then b's (the channel axis at batch 1 in NCHW) with a fused activation, on
// both builds, exact against the f64 reference (a copy and an activation), the builds identical.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Arena, type Engine } from '../../src/engine/wasm.js';
import { concat, concatRef, concatWords } from '../../src/engine/ops/concat.js';
import { engines, randn, allocGuarded, guardsIntact, put, read, maxRelErr, TOL } from '../util.js';

const all = engines();

function run(eng: Engine, a: Float32Array, b: Float32Array, act: number): Float32Array {
  const ar = new Arena(eng);
  // odd offsets: a and b start off a 16-byte boundary, so unaligned v128 loads are exercised
  const pa = put(eng, ar, new Float32Array(a.length + 1)) + 4, pb = put(eng, ar, new Float32Array(b.length + 3)) + 12;
  eng.f32().set(a, pa >> 2);
  eng.f32().set(b, pb >> 2);
  const n = a.length + b.length, py = allocGuarded(ar, n);
  concat(eng, { a: pa, b: pb, y: py, na: a.length, nb: b.length, act });
  expect(guardsIntact(eng, py, n)).toBe(true);
  return read(eng, py, n);
}

describe.each(all)('concat [%s]', (_b, eng) => {
  it('copies a then b and applies the activation, for every length remainder', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 0, max: 6 }), fc.integer(), (na, nb, act, seed) => {
        const a = randn(na, seed, 6), b = randn(nb, seed + 1, 6);
        const y = run(eng, a, b, act);
        expect(maxRelErr(y, concatRef(a, b, na, nb, act))).toBeLessThan(TOL.f32);
        if (act === 0) expect(Array.from(y)).toEqual([...a, ...b]);
      }),
      { numRuns: 150 },
    );
  });

  it('names what is wrong in bad arguments', () => {
    expect(() => concatWords({ a: 64, b: 64, y: 64, na: 0, nb: 3 })).toThrow(/concat na must be a positive integer, got 0/);
    expect(() => concat(eng, { a: 1024, b: 2048, y: 1028, na: 8, nb: 8 })).toThrow(/concat y .* overlaps a/);
  });
});

describe('concat: SIMD and scalar builds agree bit for bit', () => {
  const [[, simd], [, scalar]] = all;
  it('on every length pair up to 20 with relu and sigmoid', () => {
    for (let na = 1; na <= 20; na++) {
      for (let nb = 1; nb <= 20; nb += 3) {
        for (const act of [1, 5]) {
          const a = randn(na, na * 7 + nb, 4), b = randn(nb, na + nb * 11, 4);
          expect(Array.from(run(simd, a, b, act))).toEqual(Array.from(run(scalar, a, b, act)));
        }
      }
    }
  });
});
