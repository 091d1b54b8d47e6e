// The fast f32 exp (assembly/common.ts expf/exp4) and the swish/sigmoid built on it:
// accuracy against Math.exp, edge cases, and bit-identity of the SIMD and scalar builds
// (the 4-lane and scalar twins perform the same float operations in the same order).
import { describe, it, expect } from 'vitest';
import { Arena, type Engine } from '../../src/engine/wasm.js';
import { Act, actRef } from '../../src/engine/ops/act.js';
import { engines, rng, put, read } from '../util.js';

const all = engines();

function runExp(eng: Engine, x: Float32Array): Float32Array {
  const a = new Arena(eng);
  const p = put(eng, a, x), y = a.allocF32(x.length);
  eng.call('exp_f32', Int32Array.of(p, y, x.length));
  return read(eng, y, x.length);
}

function runAct(eng: Engine, x: Float32Array, act: number): Float32Array {
  const a = new Arena(eng);
  const p = put(eng, a, x);
  eng.call('act', Int32Array.of(p, x.length, act));
  return read(eng, p, x.length);
}

/** Random f32 inputs over [lo, hi], odd length so the scalar remainder runs too. */
function uniform(n: number, lo: number, hi: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}

const EDGES = Float32Array.from([
  0, -0, 1, -1, 0.5, -0.5, 1e-8, -1e-8, 0.34657359, -0.34657359, 0.3465736, 88.5, 88.7228, 88.73, 89, 100, 1e30,
  -87.3, -87.4, -100, -103.9, -104, -105, -1e30, Infinity, -Infinity, NaN, 3.4028235e38, -3.4028235e38,
  1.4e-45, -1.4e-45, 20, -20, 15.9, -16.1,
]);

describe.each(all)('fast exp [%s]', (_b, eng) => {
  it('is within 1e-6 relative (about 2 ulp) of Math.exp over [-87, 88.7]', () => {
    const x = uniform(200_001, -87, 88.7, 1);
    const y = runExp(eng, x);
    let worst = 0;
    for (let i = 0; i < x.length; i++) {
      const ref = Math.exp(x[i]);
      const e = Math.abs(y[i] - ref) / ref;
      if (!(e <= worst)) worst = e;
    }
    expect(worst).toBeLessThan(1e-6);
  });

  it('is accurate where swish and sigmoid evaluate it most, [-20, 20]', () => {
    const x = uniform(100_003, -20, 20, 2);
    const y = runExp(eng, x);
    let worst = 0;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(y[i] - Math.exp(x[i])) / Math.exp(x[i]));
    expect(worst).toBeLessThan(1e-6);
  });

  it('edge cases: exp(0) = 1, overflow to +inf, underflow to 0, NaN stays NaN', () => {
    const y = runExp(eng, Float32Array.from([0, -0, 89, 1e30, Infinity, -104, -1e30, -Infinity, NaN, 88.72, -87.33]));
    expect(y[0]).toBe(1);
    expect(y[1]).toBe(1);
    expect(y[2]).toBe(Infinity);
    expect(y[3]).toBe(Infinity);
    expect(y[4]).toBe(Infinity);
    expect(y[5]).toBe(0);
    expect(y[6]).toBe(0);
    expect(y[7]).toBe(0);
    expect(Number.isNaN(y[8])).toBe(true);
    expect(Number.isFinite(y[9])).toBe(true);
    expect(Math.abs(y[9] - Math.exp(Math.fround(88.72))) / Math.exp(Math.fround(88.72))).toBeLessThan(1e-6);
    expect(Math.abs(y[10] - Math.exp(Math.fround(-87.33))) / Math.exp(Math.fround(-87.33))).toBeLessThan(1e-6);
    // Monotone across the denormal range down to 0.
    const d = runExp(eng, Float32Array.from({ length: 171 }, (_, i) => -87 - i * 0.1));
    for (let i = 1; i < d.length; i++) expect(d[i]).toBeLessThanOrEqual(d[i - 1]);
    expect(d[d.length - 1]).toBe(0);
  });

  it.each([['swish', Act.swish], ['sigmoid', Act.sigmoid]] as const)('%s matches the f64 reference', (_n, act) => {
    const x = uniform(50_001, -30, 30, 3 + act);
    const y = runAct(eng, x, act);
    let worst = 0;
    for (let i = 0; i < x.length; i++) {
      const ref = actRef(x[i], act);
      worst = Math.max(worst, Math.abs(y[i] - ref) / (1e-30 + Math.abs(ref)));
    }
    expect(worst).toBeLessThan(1e-6);
  });

  it('swish and sigmoid edge cases', () => {
    const x = Float32Array.from([Infinity, -Infinity, NaN, 0, -0, 200, -200, 1e30, -1e30]);
    const s = runAct(eng, x, Act.swish);
    expect(s[0]).toBe(Infinity);
    expect(Object.is(s[1], -0)).toBe(true); // -100 / exp(100) = -100 / inf
    expect(Number.isNaN(s[2])).toBe(true);
    expect(Object.is(s[3], 0)).toBe(true);
    expect(Object.is(s[4], -0)).toBe(true);
    expect(s[5]).toBe(200);
    expect(Math.abs(s[6])).toBe(0);
    expect(s[7]).toBe(Math.fround(1e30));
    expect(Math.abs(s[8])).toBe(0);
    const g = runAct(eng, x, Act.sigmoid);
    expect(g[0]).toBe(1);
    expect(g[1]).toBe(0);
    expect(Number.isNaN(g[2])).toBe(true);
    expect(g[3]).toBe(0.5);
    expect(g[4]).toBe(0.5);
    expect(g[5]).toBe(1);
    expect(g[6]).toBe(0);
  });
});

describe('fast exp, swish, sigmoid: SIMD and scalar builds agree bit for bit', () => {
  const [[, simd], [, scalar]] = all;
  const inputs = new Float32Array(EDGES.length + 60_001 + 60_001);
  inputs.set(EDGES);
  inputs.set(uniform(60_001, -110, 110, 7), EDGES.length);
  // Raw bit patterns: every exponent, denormals, NaNs with payloads.
  const r = rng(8), u = new Uint32Array(inputs.buffer, (EDGES.length + 60_001) * 4, 60_001);
  for (let i = 0; i < u.length; i++) u[i] = (r() * 4294967296) >>> 0;

  const same = (a: Float32Array, b: Float32Array) => {
    for (let i = 0; i < a.length; i++) {
      if (Number.isNaN(a[i]) || Number.isNaN(b[i])) expect(Number.isNaN(a[i]) && Number.isNaN(b[i]), `index ${i}`).toBe(true);
      else if (!Object.is(a[i], b[i])) expect(`${i}: ${a[i]}`).toBe(`${i}: ${b[i]}`);
    }
  };
  it('exp', () => same(runExp(simd, inputs), runExp(scalar, inputs)));
  it.each(Object.entries(Act))('act %s', (_n, act) => same(runAct(simd, inputs, act), runAct(scalar, inputs, act)));
  it('on every length 1..40 (the 16-wide loop, the 4-wide loop and the scalar tail)', () => {
    for (let n = 1; n <= 40; n++) {
      const x = uniform(n, -12, 12, 100 + n);
      for (const act of [Act.swish, Act.sigmoid]) same(runAct(simd, x, act), runAct(scalar, x, act));
    }
  });
});

describe.each(all)('hard sigmoid [%s]', (_b, eng) => {
  it('is relu6(x + 3) / 6: exact at the knees, within 1 ulp of the f64 reference elsewhere', () => {
    const x = Float32Array.from([-10, -3, -1.5, 0, 1.5, 3, 10, -0, Infinity, -Infinity]);
    const y = runAct(eng, x, Act.hsigmoid);
    expect(Array.from(y.subarray(0, 7))).toEqual([0, 0, Math.fround(1.5 * Math.fround(1 / 6)), 0.5, Math.fround(4.5 * Math.fround(1 / 6)), 1, 1]);
    expect([y[8], y[9]]).toEqual([1, 0]);
    const u = uniform(10_001, -8, 8, 9);
    const v = runAct(eng, u, Act.hsigmoid);
    for (let i = 0; i < u.length; i++) expect(Math.abs(v[i] - actRef(u[i], Act.hsigmoid))).toBeLessThan(1.2e-7);
  });
});
