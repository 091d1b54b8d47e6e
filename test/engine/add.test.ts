import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Arena } from '../../src/engine/wasm.js';
import { actRef } from '../../src/engine/ops/act.js';
import { engines, randn, allocGuarded, guardsIntact, put, read, params, maxRelErr, TOL } from '../util.js';

describe.each(engines())('add + act [%s]', (_b, eng) => {
  it('matches the f64 reference for every n remainder and activation', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 67 }), fc.integer({ min: 0, max: 6 }), fc.integer(), (n, act, seed) => {
        const a = new Arena(eng);
        const x = randn(n, seed, 8), y = randn(n, seed + 1, 8);
        const px = put(eng, a, x), py = put(eng, a, y), po = allocGuarded(a, n);
        eng.kernel('add')(params(eng, a, [px, py, po, n, act]));
        const ref = Array.from(x, (v, i) => actRef(v + y[i], act));
        expect(maxRelErr(read(eng, po, n), ref)).toBeLessThan(TOL.f32);
        expect(guardsIntact(eng, po, n)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
