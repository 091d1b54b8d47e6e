import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Arena } from '../../src/engine/wasm.js';
import { affine, affineRef } from '../../src/engine/ops/affine.js';
import { engines, randn, allocGuarded, guardsIntact, put, read, maxRelErr, TOL } from '../util.js';

describe.each(engines())('affine [%s]', (_b, eng) => {
  it('matches the f64 reference on every remainder, leaves the inactive tail alone', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 5 }),
        fc.double({ min: -4, max: 4, noNaN: true }), fc.double({ min: -4, max: 4, noNaN: true }), fc.integer(),
        (n, cut, act, a, b, seed) => {
          const nActive = Math.max(1, Math.min(n, cut));
          const ar = new Arena(eng);
          const x = randn(n, seed, 5);
          const px = put(eng, ar, x), py = allocGuarded(ar, n);
          affine(eng, { x: px, y: py, n, a, b, nActive, act });
          const got = read(eng, py, n);
          expect(maxRelErr(got.subarray(0, nActive), affineRef(x, a, b, nActive, act))).toBeLessThan(TOL.f32);
          for (let i = nActive; i < n; i++) expect(got[i]).toBe(-1234.5);
          expect(guardsIntact(eng, py, n)).toBe(true);
        }),
      { numRuns: 150 },
    );
  });
  it('rejects a non-finite coefficient', () => {
    const ar = new Arena(eng);
    const p = ar.allocF32(4);
    expect(() => affine(eng, { x: p, y: p, n: 4, a: NaN, b: 0 })).toThrow(/affine a must be a finite/);
  });
});
