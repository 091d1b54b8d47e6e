import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Arena, type Engine } from '../../src/engine/wasm.js';
import { matmul, matmulRef, pointwise, pointwiseWords, matmulWords, type MatmulArgs } from '../../src/engine/ops/matmul.js';
import { Act } from '../../src/engine/ops/act.js';
import { engines, randn, allocGuarded, guardsIntact, put, read, maxRelErr, nerr, TOL } from '../util.js';

interface Case {
  cin: number; cout: number; cinA: number; coutA: number; n: number; act: number;
  bias: boolean; scale: boolean; shift: boolean; seed: number;
}

// n values around every remainder: the 8- and 4-wide tiles, the scalar columns, n = 1 (linear)
const nArb = fc.oneof(
  fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16, 17, 23, 24, 25, 31, 33),
  fc.integer({ min: 1, max: 90 }),
);
// channel counts below/at/above multiples of 4 and 8
const chArb = fc.oneof(fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17), fc.integer({ min: 1, max: 40 }));

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    cin: chArb, cout: chArb, n: nArb, act: fc.integer({ min: 0, max: 6 }),
    bias: fc.boolean(), scale: fc.boolean(), shift: fc.boolean(), seed: fc.integer(),
    ia: fc.double({ min: 0, max: 1, noNaN: true }), oa: fc.double({ min: 0, max: 1, noNaN: true }),
    full: fc.boolean(),
  })
  .map((r) => ({
    ...r,
    cinA: r.full ? r.cin : 1 + Math.floor(r.ia * (r.cin - 1 + 0.999)),
    coutA: r.full ? r.cout : 1 + Math.floor(r.oa * (r.cout - 1 + 0.999)),
  }));

/** Runs the kernel on case c; returns the output, its pointer and the f64 reference. */
function run(eng: Engine, c: Case) {
  const a = new Arena(eng);
  const x = randn(c.cinA * c.n, c.seed, 2), w = randn(c.cout * c.cin, c.seed + 1);
  const bias = c.bias ? randn(c.cout, c.seed + 2) : undefined;
  const scale = c.scale ? randn(c.cout, c.seed + 3, 2) : undefined;
  const shift = c.shift ? randn(c.cout, c.seed + 4) : undefined;
  const py = allocGuarded(a, c.coutA * c.n);
  const args: MatmulArgs = {
    x: put(eng, a, x), w: put(eng, a, w), y: py,
    bias: bias && put(eng, a, bias), scale: scale && put(eng, a, scale), shift: shift && put(eng, a, shift),
    cin: c.cin, cout: c.cout, cinActive: c.cinA, coutActive: c.coutA, n: c.n, act: c.act,
  };
  matmul(eng, args);
  const ref = matmulRef(x, w, { cin: c.cin, cinActive: c.cinA, coutActive: c.coutA, n: c.n, act: c.act, bias, scale, shift });
  return { y: read(eng, py, c.coutA * c.n), guards: guardsIntact(eng, py, c.coutA * c.n), ref, x, w, bias, scale, shift };
}

describe.each(engines())('matmul [%s]', (_b, eng) => {
  it('matches the f64 reference over shapes, slices, epilogues and activations', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const r = run(eng, c);
        expect(maxRelErr(r.y, r.ref)).toBeLessThan(TOL.f32);
        expect(r.guards).toBe(true);
      }),
      { numRuns: 250 },
    );
  });

  it('K larger than a panel: several position panels and the remainder in the last', () => {
    // panel width is 6144/K rounded down to 8: K = 200 gives 24, so n = 61 spans 2 panels + 13
    for (const n of [24, 31, 48, 56, 61, 64]) {
      const r = run(eng, { cin: 203, cout: 9, cinA: 200, coutA: 9, n, act: 0, bias: true, scale: false, shift: false, seed: n });
      expect(maxRelErr(r.y, r.ref)).toBeLessThan(TOL.f32);
      expect(r.guards).toBe(true);
    }
  });

  it('active bounds equal the reference on truncated weights', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const r = run(eng, c);
        // the same layer with its weights cut to the active block and laid out densely
        const wt = new Float32Array(c.coutA * c.cinA);
        for (let o = 0; o < c.coutA; o++) for (let i = 0; i < c.cinA; i++) wt[o * c.cinA + i] = r.w[o * c.cin + i];
        const a = new Arena(eng);
        const py = allocGuarded(a, c.coutA * c.n);
        matmul(eng, {
          x: put(eng, a, r.x), w: put(eng, a, wt), y: py,
          bias: r.bias && put(eng, a, r.bias), scale: r.scale && put(eng, a, r.scale), shift: r.shift && put(eng, a, r.shift),
          cin: c.cinA, cout: c.coutA, n: c.n, act: c.act,
        });
        // same summation order, so equal to the bit
        expect(Array.from(read(eng, py, c.coutA * c.n))).toEqual(Array.from(r.y));
        expect(guardsIntact(eng, py, c.coutA * c.n)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('pointwise(conv args) is the matmul over n = H*W', () => {
    const a = new Arena(eng);
    const H = 7, W = 9, cin = 10, cout = 6;
    const x = randn(cin * H * W, 5), w = randn(cout * cin, 6), bias = randn(cout, 7);
    const py = allocGuarded(a, cout * H * W);
    pointwise(eng, { x: put(eng, a, x), w: put(eng, a, w), y: py, bias: put(eng, a, bias), cin, cout, H, W, k: 1, stride: 1, pad: 'same', act: 2 });
    const ref = matmulRef(x, w, { cin, coutActive: cout, n: H * W, act: 2, bias });
    expect(maxRelErr(read(eng, py, cout * H * W), ref)).toBeLessThan(TOL.f32);
    expect(guardsIntact(eng, py, cout * H * W)).toBe(true);
  });
});

/** w [cout][cin] with its first 4*floor(cout/4) rows in plan_bind's packed groups, [group][ci][4]. */
function packRows(w: Float32Array, cout: number, cin: number): Float32Array {
  const out = Float32Array.from(w);
  for (let co = 0; co < (cout & ~3); co++) for (let ci = 0; ci < cin; ci++) out[(co >> 2) * 4 * cin + ci * 4 + (co & 3)] = w[co * cin + ci];
  return out;
}

describe.each(engines())('matmul: packed weight rows [%s]', (_b, eng) => {
  it('give the bits of row-major weights on every tile remainder, slice and panel split', () => {
    // rows packed: cout & ~3; coutActive cutting inside a packed group, at its end, and past it;
    // n > 1 only (plan_bind leaves linear layers as stored)
    // cout 39: leftover columns of a panel (n % 8 of 1-3) run as columns of 16- and 4-row groups
    for (const [cin, cout, cinA] of [[5, 9, 5], [16, 7, 11], [700, 13, 700], [3, 4, 3], [24, 39, 21], [700, 36, 700]]) {
      for (const coutA of new Set([1, 2, 3, 4, 5, 17, 21, cout - 1, cout].filter((v) => v >= 1 && v <= cout))) {
        // fused: relu6 with bias and no scale or shift, which the packed 4x8 tiles apply before storing
        for (const [n, fused] of [2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 17, 49, 50, 51, 61].flatMap((n) => [[n, false], [n, true]] as const)) {
          const c: Case = fused
            ? { cin, cout, cinA, coutA, n, act: 2, bias: true, scale: false, shift: false, seed: n + cin + coutA }
            : { cin, cout, cinA, coutA, n, act: n % 7, bias: true, scale: n % 2 === 0, shift: n % 3 === 0, seed: n + cin + coutA };
          const a = new Arena(eng);
          const x = randn(cinA * n, c.seed, 2), w = randn(cout * cin, c.seed + 1), bias = randn(cout, c.seed + 2);
          const scale = c.scale ? randn(cout, c.seed + 3, 2) : undefined, shift = c.shift ? randn(cout, c.seed + 4) : undefined;
          const args = (wp: number, y: number): MatmulArgs => ({
            x: put(eng, a, x), w: wp, y, bias: put(eng, a, bias), scale: scale && put(eng, a, scale), shift: shift && put(eng, a, shift),
            cin, cout, cinActive: cinA, coutActive: coutA, n, act: c.act,
          });
          const py = allocGuarded(a, coutA * n), pq = allocGuarded(a, coutA * n);
          matmul(eng, args(put(eng, a, w), py));
          const words = matmulWords(args(put(eng, a, packRows(w, cout, cin)), pq));
          words[10] |= ((cout & ~3) >> 2) << 8;
          eng.call('matmul', words);
          const want = new Uint32Array(read(eng, py, coutA * n).buffer.slice(0));
          const got = new Uint32Array(read(eng, pq, coutA * n).buffer.slice(0));
          expect(Array.from(got), `cin ${cin} cout ${cout}/${coutA} n ${n}`).toEqual(Array.from(want));
          expect(guardsIntact(eng, pq, coutA * n)).toBe(true);
        }
      }
    }
  });
});

describe.each(engines())('matmul: bias and relu6 applied in the packed tiles [%s]', (_b, eng) => {
  it('give the bits of the epilogue pass on signed zeros, NaN and infinities in input and bias', () => {
    const cin = 5, cout = 8, n = 19;
    const specials = [0, -0, NaN, Infinity, -Infinity, 1, -1, 7];
    const x = Float32Array.from({ length: cin * n }, (_, i) => (i % 3 === 0 ? specials[i % 8] : i % 2 ? -0 : 0));
    const w = Float32Array.from({ length: cout * cin }, (_, i) => (i % 4 === 0 ? 0 : i % 2 ? -1 : 0.5));
    const bias = Float32Array.from([-0, 0, -0, NaN, 1, -1, Infinity, -0]);
    const a = new Arena(eng);
    const args = (wp: number, y: number): MatmulArgs => ({ x: put(eng, a, x), w: wp, y, bias: put(eng, a, bias), cin, cout, n, act: 2 });
    const py = allocGuarded(a, cout * n), pq = allocGuarded(a, cout * n);
    matmul(eng, args(put(eng, a, w), py));
    const words = matmulWords(args(put(eng, a, packRows(w, cout, cin)), pq));
    words[10] |= (cout >> 2) << 8;
    eng.call('matmul', words);
    expect(Array.from(new Uint32Array(read(eng, pq, cout * n).buffer.slice(0)))).toEqual(Array.from(new Uint32Array(read(eng, py, cout * n).buffer.slice(0))));
    expect(guardsIntact(eng, pq, cout * n)).toBe(true);
  });
});

describe('matmul: SIMD and scalar builds agree', () => {
  const [[, simd], [, scalar]] = engines();
  it('within TOL.builds on every remainder', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const a = run(simd, c), b = run(scalar, c);
        expect(nerr(a.y, b.y)).toBeLessThan(TOL.builds);
        expect(maxRelErr(a.y, b.y)).toBeLessThan(TOL.builds);
      }),
      { numRuns: 80 },
    );
  });

  it('bit for bit on every column remainder and panel split (both builds sum each output over ci in order)', () => {
    // n 2..60 and 196: overlapped last tiles after 8- and 4-wide tiles; K 700 splits the
    // positions into several panels whose last one takes the remainder
    for (const [cin, cout] of [[5, 9], [16, 7], [700, 6]]) {
      for (const n of [...Array.from({ length: 59 }, (_, i) => i + 2), 196]) {
        const c: Case = { cin, cout, cinA: cin, coutA: cout, n, act: n % 6, bias: true, scale: n % 2 === 0, shift: n % 3 === 0, seed: n + cin };
        const a = run(simd, c), b = run(scalar, c);
        expect(maxRelErr(a.y, a.ref), `cin ${cin} n ${n}`).toBeLessThan(TOL.f32);
        const ua = new Uint32Array(a.y.buffer.slice(0)), ub = new Uint32Array(b.y.buffer.slice(0));
        const differ = Array.from(ua).flatMap((v, i) => (v === ub[i] ? [] : [i]));
        expect(differ, `cin ${cin} n ${n}`).toEqual([]);
        expect(a.guards && b.guards, `cin ${cin} n ${n}`).toBe(true);
      }
    }
  });

  it('bit for bit on NaN, infinities and signed zeros through every activation', () => {
    // y = 1 * x, so the special values reach the epilogue; n = 13 runs the 4-wide loop and the tail
    const x = Float32Array.from([NaN, -0, 0, -1, 1, Infinity, -Infinity, NaN, 7, -7, NaN, 0.5, 6.5]);
    for (const act of Object.values(Act)) {
      const out = [simd, scalar].map((eng) => {
        const a = new Arena(eng);
        const py = allocGuarded(a, x.length);
        matmul(eng, { x: put(eng, a, x), w: put(eng, a, Float32Array.of(1)), y: py, cin: 1, cout: 1, n: x.length, act });
        return new Uint32Array(read(eng, py, x.length).buffer.slice(0));
      });
      expect([...out[0]], `act ${act}`).toEqual([...out[1]]);
    }
  });
});

describe('matmul argument checks', () => {
  const base: MatmulArgs = { x: 64, w: 128, y: 256, cin: 8, cout: 4, n: 10 };
  it('names what is wrong', () => {
    expect(() => matmulWords({ ...base, cinActive: 9 })).toThrow(/cinActive 9 exceeds cin 8/);
    expect(() => matmulWords({ ...base, coutActive: 0 })).toThrow(/coutActive must be a positive integer/);
    expect(() => matmulWords({ ...base, n: 0 })).toThrow(/n must be a positive integer/);
    expect(() => matmulWords({ ...base, act: 7 })).toThrow(/activation code 7/);
    expect(() => matmulWords({ ...base, y: 0 })).toThrow(/pointer y=0/);
    const conv = { x: 64, w: 128, y: 256, cin: 8, cout: 4, H: 3, W: 3, k: 1, stride: 1, pad: 'none' as const };
    expect(() => pointwiseWords({ ...conv, k: 3 })).toThrow(/pointwise needs k = 1/);
    expect(() => pointwiseWords({ ...conv, stride: 2 })).toThrow(/pointwise needs stride 1/);
    expect(() => pointwiseWords({ ...conv, groups: 2 })).toThrow(/pointwise needs groups = 1/);
  });
  it('lays the words out as assembly/matmul.ts documents', () => {
    expect(Array.from(matmulWords({ ...base, bias: 4, shift: 12, cinActive: 5, coutActive: 3, act: 3 }))).toEqual([64, 128, 256, 4, 0, 12, 8, 5, 3, 10, 3]);
  });
});
