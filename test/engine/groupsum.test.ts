import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Arena, type Engine } from '../../src/engine/wasm.js';
import { groupsum, groupsumRef, groupsumWords } from '../../src/engine/ops/groupsum.js';
import { engines, randn, allocGuarded, guardsIntact, put, read, maxRelErr, TOL } from '../util.js';

interface Case { G: number; C: number; H: number; W: number; gA: number; seed: number }

// C*H*W covers n mod 4 = 0..3 and n < 4.
const caseArb = fc
  .record({
    G: fc.integer({ min: 1, max: 5 }), C: fc.integer({ min: 1, max: 9 }), H: fc.integer({ min: 1, max: 7 }), W: fc.integer({ min: 1, max: 7 }),
    f: fc.double({ min: 0, max: 1, noNaN: true }), seed: fc.integer(),
  })
  .map(({ f, ...r }): Case => ({ ...r, gA: Math.max(1, Math.ceil(r.G * f)) }));

function run(eng: Engine, k: Case, x: Float32Array, w: Float32Array, inPlace = false): Float32Array {
  const a = new Arena(eng), n = k.C * k.H * k.W;
  const px = put(eng, a, x);
  a.allocF32(16); // keep x's tail from touching the weights
  const pw = put(eng, a, w), py = inPlace ? px : allocGuarded(a, n);
  groupsum(eng, { x: px, y: py, G: k.G, C: k.C, H: k.H, W: k.W, weights: pw, gActive: k.gA });
  if (!inPlace) expect(guardsIntact(eng, py, n)).toBe(true);
  // groups past gActive and all groups but group 0 are inputs only
  if (inPlace) expect(Array.from(read(eng, px + n * 4, (k.G - 1) * n))).toEqual(Array.from(x.subarray(n)));
  return read(eng, py, n);
}

describe.each(engines())('groupsum [%s]', (_b, eng) => {
  it('matches the f64 weighted sum over the active groups', () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        const n = k.C * k.H * k.W, x = randn(k.G * n, k.seed, 3), w = randn(k.G, k.seed + 1);
        expect(maxRelErr(run(eng, k, x, w), groupsumRef(x, w, { ...k, gActive: k.gA }))).toBeLessThan(TOL.f32);
      }),
      { numRuns: 80 },
    );
  });

  it('in place (y = x) equals out of place bit for bit; inactive groups are ignored', () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        const n = k.C * k.H * k.W, x = randn(k.G * n, k.seed, 3), w = randn(k.G, k.seed + 1);
        const out = run(eng, k, x, w);
        expect(Array.from(run(eng, k, x, w, true))).toEqual(Array.from(out));
        // poison the inactive groups: nothing changes
        const x2 = x.slice();
        x2.fill(NaN, k.gA * n);
        expect(Array.from(run(eng, k, x2, w))).toEqual(Array.from(out));
      }),
      { numRuns: 30 },
    );
  });

  it('names what is wrong in bad arguments', () => {
    const ok = { x: 1024, y: 4096, G: 4, C: 36, H: 2, W: 2, weights: 8192 };
    expect(() => groupsumWords({ ...ok, gActive: 5 })).toThrow(/groupsum gActive must be an integer in 1\.\.G \(4\), got 5/);
    expect(() => groupsumWords({ ...ok, weights: 0 })).toThrow(/groupsum pointer weights is required/);
    expect(() => groupsumWords({ ...ok, G: 1.5 })).toThrow(/groupsum G must be a positive integer, got 1.5/);
    expect(() => groupsum(eng, { ...ok, y: ok.x + 16 })).toThrow(/groupsum x .* overlaps y/);
  });
});

describe('groupsum: SIMD and scalar builds', () => {
  const [[, simd], [, scalar]] = engines();
  it('give bit-identical outputs (same per-element order)', () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        const n = k.C * k.H * k.W, x = randn(k.G * n, k.seed, 3), w = randn(k.G, k.seed + 1);
        expect(Array.from(run(simd, k, x, w))).toEqual(Array.from(run(scalar, k, x, w)));
      }),
      { numRuns: 40 },
    );
  });
});
