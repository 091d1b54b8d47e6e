// resize_bilinear: TensorFlow's three coordinate conventions against the f64 reference on both
// builds (up, down, identity, one-pixel sides), the legacy-2x SIMD path on every width remainder,
// hand-computed values for each mode, and the two builds bit-identical.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Arena, type Engine } from '../../src/engine/wasm.js';
import { resizeBilinear, resizeRef, resizeScratchBytes, resizeWords, resizeCoord, RESIZE_MODES } from '../../src/engine/ops/resize.js';
import { engines, randn, allocGuarded, guardsIntact, put, read, maxRelErr, TOL, GUARD_VALUE } from '../util.js';

const all = engines();

interface S { C: number; H: number; W: number; OH: number; OW: number; mode: number; cActive?: number }
function run(eng: Engine, x: Float32Array, s: S): Float32Array {
  const ar = new Arena(eng);
  const n = s.C * s.OH * s.OW, py = allocGuarded(ar, n);
  resizeBilinear(eng, { ...s, x: put(eng, ar, x), y: py, scratch: ar.alloc(resizeScratchBytes(s)) });
  expect(guardsIntact(eng, py, n)).toBe(true);
  return read(eng, py, n);
}

const side = fc.integer({ min: 1, max: 13 });
const arb = fc.record({
  C: fc.integer({ min: 1, max: 3 }), H: side, W: side, OH: side, OW: fc.integer({ min: 1, max: 29 }),
  mode: fc.integer({ min: 0, max: 2 }), f: fc.double({ min: 0, max: 1, noNaN: true }), seed: fc.integer(),
});

describe.each(all)('resize_bilinear [%s]', (_b, eng) => {
  it('matches the f64 reference on random sizes, all three modes, with cActive', () => {
    fc.assert(
      fc.property(arb, ({ C, H, W, OH, OW, mode, f, seed }) => {
        const cA = Math.max(1, Math.ceil(C * f));
        const x = randn(C * H * W, seed, 3);
        const s = { C, H, W, OH, OW, mode, cActive: cA };
        const y = run(eng, x, s);
        const used = cA * OH * OW;
        expect(maxRelErr(y.subarray(0, used), resizeRef(x, s))).toBeLessThan(TOL.f32);
        expect(y.subarray(used).every((v) => v === GUARD_VALUE)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('legacy 2x (the SIMD interleave) on every width 1..21 and a few heights', () => {
    for (let W = 1; W <= 21; W++) {
      for (const H of [1, 2, 5]) {
        const x = randn(2 * H * W, 100 * W + H, 3);
        const s = { C: 2, H, W, OH: 2 * H, OW: 2 * W, mode: RESIZE_MODES.legacy };
        expect(maxRelErr(run(eng, x, s), resizeRef(x, s))).toBeLessThan(TOL.f32);
      }
    }
  });

  it('hand-computed values: legacy, align_corners and half_pixel on a 1 x 3 row to 5', () => {
    const x = Float32Array.of(0, 10, 20);
    const r = (mode: number): number[] => Array.from(run(eng, x, { C: 1, H: 1, W: 3, OH: 1, OW: 5, mode }));
    // legacy: sources 0, 0.6, 1.2, 1.8, 2.4 (the last clamped to pixel 2)
    expect(r(0).map((v) => +v.toFixed(4))).toEqual([0, 6, 12, 18, 20]);
    // align corners: 0, 0.5, 1, 1.5, 2
    expect(r(1)).toEqual([0, 5, 10, 15, 20]);
    // half pixel: -0.2 (clamped), 0.4, 1, 1.6, 2.2 (clamped)
    expect(r(2).map((v) => +v.toFixed(4))).toEqual([0, 4, 10, 16, 20]);
  });

  it('the same size is the identity in every mode', () => {
    const x = randn(2 * 4 * 7, 5, 3);
    for (const mode of [0, 1, 2]) expect(Array.from(run(eng, x, { C: 2, H: 4, W: 7, OH: 4, OW: 7, mode }))).toEqual(Array.from(x));
  });

  it('names what is wrong in bad arguments', () => {
    expect(() => resizeWords({ x: 64, y: 64, scratch: 64, C: 1, H: 2, W: 2, OH: 0, OW: 2, mode: 0 })).toThrow(/resize_bilinear OH must be a positive integer, got 0/);
    expect(() => resizeWords({ x: 64, y: 64, scratch: 64, C: 1, H: 2, W: 2, OH: 2, OW: 2, mode: 3 })).toThrow(/resize_bilinear mode must be an integer in 0..2, got 3/);
  });
});

describe('resize_bilinear: coordinates and the two builds', () => {
  it('coordinates follow TensorFlow: clamped neighbours, f32 source positions', () => {
    expect(resizeCoord(4, 3, 5, 0)).toEqual({ lo: 2, hi: 2, t: expect.closeTo(0.4, 6) });
    expect(resizeCoord(0, 3, 5, 2)).toEqual({ lo: 0, hi: 0, t: expect.closeTo(0.8, 6) });
    expect(resizeCoord(3, 4, 1, 1)).toEqual({ lo: 3, hi: 3, t: 0 });
  });
  it('SIMD and scalar agree bit for bit (legacy 2x and general sizes)', () => {
    const [[, simd], [, scalar]] = all;
    for (const s of [
      { C: 3, H: 8, W: 8, OH: 16, OW: 16, mode: 0 }, { C: 2, H: 5, W: 11, OH: 10, OW: 22, mode: 0 },
      { C: 2, H: 7, W: 9, OH: 13, OW: 5, mode: 1 }, { C: 2, H: 6, W: 5, OH: 9, OW: 19, mode: 2 },
    ]) {
      const x = randn(s.C * s.H * s.W, s.OW, 4);
      expect(Array.from(run(simd, x, s))).toEqual(Array.from(run(scalar, x, s)));
    }
  });
});
