import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Arena, type Engine } from '../../src/engine/wasm.js';
import { se, seRef, seScratchBytes, seWords } from '../../src/engine/ops/se.js';
import { engines, randn, allocGuarded, guardsIntact, put, read, maxRelErr, TOL, GUARD_VALUE } from '../util.js';

interface Case { G: number; cg: number; rg: number; H: number; W: number; cA: number; rA: number; gA: number; act: number; bias: boolean; seed: number }

const caseArb = fc
  .record({
    G: fc.integer({ min: 1, max: 4 }), cg: fc.integer({ min: 1, max: 37 }), rg: fc.integer({ min: 1, max: 9 }),
    H: fc.integer({ min: 1, max: 7 }), W: fc.integer({ min: 1, max: 7 }), act: fc.integer({ min: 0, max: 6 }),
    bias: fc.boolean(), seed: fc.integer(), f: fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
  })
  .map(({ f, ...r }) => ({
    ...r,
    // slicing inside a group is a groups = 1 feature; ensembles slice by groupsActive
    cA: r.G === 1 ? Math.max(1, Math.ceil(r.cg * f[0])) : r.cg,
    rA: r.G === 1 ? Math.max(1, Math.ceil(r.rg * f[1])) : r.rg,
    gA: Math.max(1, Math.ceil(r.G * f[2])),
  }));

function weights(k: Case) {
  const C = k.G * k.cg, R = k.G * k.rg;
  return {
    w1: randn(R * k.cg, k.seed + 1, 0.8), b1: k.bias ? randn(R, k.seed + 2, 0.5) : undefined,
    w2: randn(C * k.rg, k.seed + 3, 0.8), b2: k.bias ? randn(C, k.seed + 4, 0.5) : undefined,
  };
}

function run(eng: Engine, k: Case, x: Float32Array, inPlace = false): Float32Array {
  const a = new Arena(eng), C = k.G * k.cg, R = k.G * k.rg, n = C * k.H * k.W;
  const wt = weights(k);
  const px = put(eng, a, x), py = inPlace ? px : allocGuarded(a, n);
  const shape = { C, R, groups: k.G, H: k.H, W: k.W };
  const scratch = allocGuarded(a, seScratchBytes(shape) / 4);
  se(eng, {
    ...shape, x: px, y: py, w1: put(eng, a, wt.w1), b1: wt.b1 ? put(eng, a, wt.b1) : 0, w2: put(eng, a, wt.w2), b2: wt.b2 ? put(eng, a, wt.b2) : 0,
    act: k.act, cActive: k.cA, rActive: k.rA, groupsActive: k.gA, scratch,
  });
  expect(guardsIntact(eng, scratch, seScratchBytes(shape) / 4)).toBe(true);
  if (!inPlace) expect(guardsIntact(eng, py, n)).toBe(true);
  return read(eng, py, n);
}

describe.each(engines())('se [%s]', (_b, eng) => {
  it('matches the f64 reference across groups, remainders, slicing and biases', () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        const C = k.G * k.cg, HW = k.H * k.W, used = k.gA * k.cA * HW;
        const x = randn(C * HW, k.seed, 3);
        const y = run(eng, k, x);
        const wt = weights(k);
        const ref = seRef(x, wt.w1, wt.b1, wt.w2, wt.b2, { C, R: k.G * k.rg, groups: k.G, HW, act: k.act, cActive: k.cA, rActive: k.rA, groupsActive: k.gA });
        expect(maxRelErr(y.subarray(0, used), ref)).toBeLessThan(TOL.f32);
        expect(y.subarray(used).every((v) => v === GUARD_VALUE)).toBe(true);
      }),
      { numRuns: 80 },
    );
  });

  it('runs the SEE shape (4 members x 36 channels, R = 1 each) in place, each member independent', () => {
    const k: Case = { G: 4, cg: 36, rg: 1, H: 6, W: 5, cA: 36, rA: 1, gA: 4, act: 1, bias: true, seed: 11 };
    const x = randn(144 * 30, 99, 2);
    const all = run(eng, k, x, true);
    const wt = weights(k);
    const ref = seRef(x, wt.w1, wt.b1, wt.w2, wt.b2, { C: 144, R: 4, groups: 4, HW: 30, act: 1 });
    expect(maxRelErr(all, ref)).toBeLessThan(TOL.f32);
    // the first two members alone give exactly the first half of the four-member result
    const two = run(eng, { ...k, gA: 2 }, x);
    expect(Array.from(two.subarray(0, 72 * 30))).toEqual(Array.from(all.subarray(0, 72 * 30)));
  });

  // Pooling adds 64-value blocks in f32 and the blocks in f64 (assembly/reduce.ts): plane
  // sizes of one block, several blocks with a tail, and the SEE's 96x96.
  it.each([[8, 8], [13, 13], [96, 96]])('pools %ix%i planes (64-value blocks and their tail) to f32 rounding', (H, W) => {
    const k: Case = { G: 2, cg: 5, rg: 2, H, W, cA: 5, rA: 2, gA: 2, act: 3, bias: true, seed: H };
    const x = randn(10 * H * W, H + 7, 2);
    for (let i = 0; i < H * W; i++) x[i] += 30; // a large mean: the f32 block sums must hold it
    const wt = weights(k);
    const ref = seRef(x, wt.w1, wt.b1, wt.w2, wt.b2, { C: 10, R: 4, groups: 2, HW: H * W, act: 3 });
    expect(maxRelErr(run(eng, k, x), ref)).toBeLessThan(2e-6);
  });

  it('names what is wrong in bad arguments', () => {
    const ok = { x: 1024, y: 1024, C: 8, R: 2, groups: 2, H: 3, W: 3, w1: 4096, w2: 8192, scratch: 16384 };
    expect(() => seWords({ ...ok, C: 9 })).toThrow(/se C \(9\) is not divisible by groups \(2\)/);
    expect(() => seWords({ ...ok, R: 1 })).toThrow(/se R \(1\) is not divisible by groups/);
    expect(() => seWords({ ...ok, cActive: 2 })).toThrow(/only for groups = 1/);
    expect(() => seWords({ ...ok, groupsActive: 3 })).toThrow(/se groupsActive must be an integer in 1\.\.groups \(2\), got 3/);
    expect(() => seWords({ ...ok, groups: 1, rActive: 3 })).toThrow(/se rActive .*got 3/);
    expect(() => seWords({ ...ok, scratch: 0 })).toThrow(/se pointer scratch is required/);
    expect(() => se(eng, { ...ok, scratch: ok.w1 })).toThrow(/se scratch .* overlaps w1/);
  });
});

describe('se: SIMD and scalar builds', () => {
  const [[, simd], [, scalar]] = engines();
  it('give bit-identical outputs', () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        const x = randn(k.G * k.cg * k.H * k.W, k.seed, 3);
        expect(Array.from(run(simd, k, x))).toEqual(Array.from(run(scalar, k, x)));
      }),
      { numRuns: 40 },
    );
  });
  it('give bit-identical outputs on a 96x96 plane (several pooling blocks)', () => {
    const k: Case = { G: 4, cg: 36, rg: 1, H: 96, W: 96, cA: 36, rA: 1, gA: 4, act: 3, bias: true, seed: 5 };
    const x = randn(144 * 9216, 6, 2);
    const a = run(simd, k, x), b = run(scalar, k, x);
    const i = a.findIndex((v, j) => !Object.is(v, b[j]));
    expect(i === -1 ? 'identical' : `output ${i}: simd ${a[i]}, scalar ${b[i]}`).toBe('identical');
  });
});
