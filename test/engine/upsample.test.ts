import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Arena } from '../../src/engine/wasm.js';
import { upsample2x, upsample2xRef, upsample2xWords } from '../../src/engine/ops/upsample.js';
import { engines, randn, allocGuarded, guardsIntact, put, read, GUARD_VALUE } from '../util.js';

describe.each(engines())('upsample2x [%s]', (_b, eng) => {
  it('repeats every pixel 2 x 2 (exact) for every width remainder and cActive', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 19 }),
        fc.double({ min: 0, max: 1, noNaN: true }), fc.integer(),
        (C, H, W, f, seed) => {
          const cA = Math.max(1, Math.ceil(C * f)), n = 4 * C * H * W, used = 4 * cA * H * W;
          const a = new Arena(eng), x = randn(C * H * W, seed);
          const py = allocGuarded(a, n);
          upsample2x(eng, { x: put(eng, a, x), y: py, C, H, W, cActive: cA });
          const y = read(eng, py, n);
          expect(Array.from(y.subarray(0, used))).toEqual(Array.from(upsample2xRef(x, { C, H, W, cActive: cA })));
          expect(y.subarray(used).every((v) => v === GUARD_VALUE)).toBe(true);
          expect(guardsIntact(eng, py, n)).toBe(true);
        },
      ),
      { numRuns: 80 },
    );
  });

  it('names what is wrong in bad arguments', () => {
    expect(() => upsample2xWords({ x: 1024, y: 2048, C: 2, H: 0, W: 3 })).toThrow(/upsample2x H must be a positive integer, got 0/);
    expect(() => upsample2x(eng, { x: 1024, y: 1040, C: 2, H: 2, W: 3 })).toThrow(/upsample2x x .* overlaps y/);
  });
});
