import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Arena } from '../../src/engine/wasm.js';
import { chshuffle, chshuffleRef, chshuffleWords, chshuffleSource } from '../../src/engine/ops/chshuffle.js';
import { engines, randn, allocGuarded, guardsIntact, put, read } from '../util.js';

describe.each(engines())('chshuffle [%s]', (_b, eng) => {
  it('copies the gathered planes bit for bit for every plane-size remainder, group count and slice', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 23 }),
        fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer(),
        (per, groups, HW, f0, fn, seed) => {
          const C = per * groups;
          const c0 = Math.min(C - 1, Math.floor(f0 * C)), n = Math.max(1, Math.ceil(fn * (C - c0)));
          const a = new Arena(eng), x = randn(C * HW, seed);
          const py = allocGuarded(a, n * HW);
          chshuffle(eng, { x: put(eng, a, x), y: py, C, HW, groups, c0, n });
          expect(Array.from(read(eng, py, n * HW))).toEqual(Array.from(chshuffleRef(x, { C, HW, groups, c0, n })));
          expect(guardsIntact(eng, py, n * HW)).toBe(true);
        },
      ),
      { numRuns: 120 },
    );
  });

  it('keeps NaN payloads, infinities and signed zeros', () => {
    const x = new Float32Array(new Uint32Array([0x7fc00001, 0xffa00002, 0x80000000, 0x7f800000, 0xff800000, 0, 0x3f800000, 0x80000001]).buffer);
    const a = new Arena(eng), py = allocGuarded(a, 8);
    chshuffle(eng, { x: put(eng, a, x), y: py, C: 4, HW: 2, groups: 2, c0: 0, n: 4 });
    const got = new Uint32Array(read(eng, py, 8).buffer.slice(0));
    // 2 groups of 2: output channels read inputs 0, 2, 1, 3
    expect(Array.from(got)).toEqual([0x7fc00001, 0xffa00002, 0xff800000, 0, 0x80000000, 0x7f800000, 0x3f800000, 0x80000001]);
  });

  it('shuffles as ShuffleNet does: reshape [g][C/g], transpose, flatten', () => {
    const C = 12, g = 3;
    const order = Array.from({ length: C }, (_, j) => chshuffleSource(C, g, 0, j));
    // x viewed as [g][C/g]; the transpose [C/g][g] read row-major
    const want = Array.from({ length: C / g }, (_, i) => Array.from({ length: g }, (_, k) => k * (C / g) + i)).flat();
    expect(order).toEqual(want);
  });

  it('names what is wrong in bad arguments', () => {
    expect(() => chshuffleWords({ x: 1024, y: 2048, C: 6, HW: 4, groups: 4, c0: 0, n: 6 })).toThrow(/chshuffle groups 4 must divide C 6/);
    expect(() => chshuffleWords({ x: 1024, y: 2048, C: 6, HW: 4, groups: 2, c0: 4, n: 3 })).toThrow(/chshuffle n must be an integer in 1..2, got 3/);
    expect(() => chshuffleWords({ x: 1024, y: 2048, C: 6, HW: 4, groups: 2, c0: 6, n: 1 })).toThrow(/chshuffle c0 must be an integer in 0..5, got 6/);
    expect(() => chshuffle(eng, { x: 1024, y: 1040, C: 2, HW: 3, groups: 1, c0: 0, n: 2 })).toThrow(/chshuffle x .* overlaps y/);
  });
});
