// softmax over channels at every position: against the f64 reference on both builds for every
// position remainder (the SIMD build does 4 positions at once), large logits (no overflow: the
// max is subtracted first), in place, and the two builds bit-identical.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Arena, type Engine } from '../../src/engine/wasm.js';
import { softmax, softmaxRef, softmaxWords } from '../../src/engine/ops/softmax.js';
import { engines, randn, allocGuarded, guardsIntact, put, read, maxRelErr } from '../util.js';

const all = engines();

function run(eng: Engine, x: Float32Array, C: number, HW: number, inPlace = false): Float32Array {
  const a = new Arena(eng);
  const px = put(eng, a, x), py = inPlace ? px : allocGuarded(a, C * HW);
  softmax(eng, { x: px, y: py, C, HW });
  if (!inPlace) expect(guardsIntact(eng, py, C * HW)).toBe(true);
  return read(eng, py, C * HW);
}

describe.each(all)('softmax [%s]', (_b, eng) => {
  it('matches the f64 reference (2e-6 per value) for every HW remainder, in place or not', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 23 }), fc.boolean(), fc.integer(), (C, HW, inPlace, seed) => {
        const x = randn(C * HW, seed, 12);
        const y = run(eng, x, C, HW, inPlace);
        expect(maxRelErr(y, softmaxRef(x, C, HW))).toBeLessThan(2e-6);
        for (let i = 0; i < HW; i++) {
          let s = 0;
          for (let c = 0; c < C; c++) s += y[c * HW + i];
          expect(Math.abs(s - 1)).toBeLessThan(1e-5);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('large logits do not overflow; equal logits give equal shares', () => {
    expect(Array.from(run(eng, Float32Array.of(1000, 1000, 1000, 1000), 4, 1))).toEqual([0.25, 0.25, 0.25, 0.25]);
    const y = run(eng, Float32Array.of(80, -80, 0), 3, 1);
    expect(y[0]).toBeCloseTo(1, 6);
    expect(y[1]).toBeLessThan(1e-30);
  });

  it('names what is wrong in bad arguments', () => {
    expect(() => softmaxWords({ x: 64, y: 64, C: 0, HW: 1 })).toThrow(/softmax C must be a positive integer, got 0/);
  });
});

describe('softmax: SIMD and scalar builds agree bit for bit', () => {
  it('on every HW 1..20 with 1..5 channels', () => {
    const [[, simd], [, scalar]] = all;
    for (let HW = 1; HW <= 20; HW++) {
      for (let C = 1; C <= 5; C++) {
        const x = randn(C * HW, HW * 10 + C, 20);
        expect(Array.from(run(simd, x, C, HW))).toEqual(Array.from(run(scalar, x, C, HW)));
      }
    }
  });
});
