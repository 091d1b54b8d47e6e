import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Arena, type Engine } from '../../src/engine/wasm.js';
import { dwconv, dwconvRef, dwconvWords } from '../../src/engine/ops/dwconv.js';
import { convGeometry, type Conv2dArgs, type Padding } from '../../src/engine/ops/types.js';
import { engines, randn, allocGuarded, guardsIntact, put, read, maxRelErr, nerr, TOL } from '../util.js';

interface Case {
  C: number; cA: number; H: number; W: number; k: 3 | 5; s: 1 | 2; pad: Padding; act: number;
  bias: boolean; scale: boolean; shift: boolean; seed: number;
}

// Widths chosen so the interior span hits the 8-wide and 4-wide SIMD blocks and the scalar
// tail at every remainder, plus images narrower than the kernel.
const sizeArb = fc.oneof(fc.constantFrom(1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 16, 17, 19, 20, 21, 25), fc.integer({ min: 1, max: 40 }));

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    C: fc.integer({ min: 1, max: 9 }), H: fc.integer({ min: 1, max: 13 }), W: sizeArb,
    k: fc.constantFrom(3 as const, 5 as const), s: fc.constantFrom(1 as const, 2 as const),
    pad: fc.constantFrom<Padding>('none', 'same', 'tf-same'), act: fc.integer({ min: 0, max: 6 }),
    bias: fc.boolean(), scale: fc.boolean(), shift: fc.boolean(), seed: fc.integer(),
    ca: fc.double({ min: 0, max: 1, noNaN: true }), full: fc.boolean(),
  })
  .map((r) => ({ ...r, cA: r.full ? r.C : 1 + Math.floor(r.ca * (r.C - 1 + 0.999)) }))
  .filter((c) => {
    try {
      convGeometry(c.H, c.W, c.k, c.s, c.pad);
      return true;
    } catch {
      return false; // 'none' on an image smaller than the kernel: no output
    }
  });

function run(eng: Engine, c: Case) {
  const a = new Arena(eng);
  const g = convGeometry(c.H, c.W, c.k, c.s, c.pad);
  const x = randn(c.C * c.H * c.W, c.seed, 2), w = randn(c.C * c.k * c.k, c.seed + 1);
  const bias = c.bias ? randn(c.C, c.seed + 2) : undefined;
  const scale = c.scale ? randn(c.C, c.seed + 3, 2) : undefined;
  const shift = c.shift ? randn(c.C, c.seed + 4) : undefined;
  const n = c.cA * g.OH * g.OW;
  const py = allocGuarded(a, n);
  const args: Conv2dArgs = {
    x: put(eng, a, x), w: put(eng, a, w), y: py,
    bias: bias && put(eng, a, bias), scale: scale && put(eng, a, scale), shift: shift && put(eng, a, shift),
    cin: c.C, cout: c.C, groups: c.C, groupsActive: c.cA, H: c.H, W: c.W, k: c.k, stride: c.s, pad: c.pad, act: c.act,
  };
  dwconv(eng, args);
  const ref = dwconvRef(x, w, { c: c.cA, H: c.H, W: c.W, k: c.k, stride: c.s, pad: c.pad, act: c.act, bias, scale, shift });
  return { y: read(eng, py, n), guards: guardsIntact(eng, py, n), ref, x, w, bias, scale, shift, n };
}

describe.each(engines())('dwconv [%s]', (_b, eng) => {
  it('matches the f64 reference over sizes, strides, paddings, k, slices, epilogues', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const r = run(eng, c);
        expect(maxRelErr(r.y, r.ref)).toBeLessThan(TOL.f32);
        expect(r.guards).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  // every interior-span remainder (0..8 and beyond) for each kernel, stride and padding
  for (const k of [3, 5] as const) {
    for (const s of [1, 2] as const) {
      for (const pad of ['none', 'same', 'tf-same'] as const) {
        it(`k${k} s${s} pad ${pad}: widths ${k}..${k + 26}`, () => {
          for (let W = k; W <= k + 26; W++) {
            const r = run(eng, { C: 2, cA: 2, H: k + 3, W, k, s, pad, act: 0, bias: true, scale: false, shift: false, seed: W });
            expect(maxRelErr(r.y, r.ref), `W=${W}`).toBeLessThan(TOL.f32);
            expect(r.guards, `W=${W}`).toBe(true);
          }
        });
      }
    }
  }

  it('active channels equal the reference on truncated weights', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const r = run(eng, c);
        const a = new Arena(eng);
        const py = allocGuarded(a, r.n);
        const cut = (v: Float32Array | undefined, len: number) => v && put(eng, a, v.slice(0, len));
        dwconv(eng, {
          x: put(eng, a, r.x.slice(0, c.cA * c.H * c.W)), w: put(eng, a, r.w.slice(0, c.cA * c.k * c.k)), y: py,
          bias: cut(r.bias, c.cA), scale: cut(r.scale, c.cA), shift: cut(r.shift, c.cA),
          cin: c.cA, cout: c.cA, groups: c.cA, H: c.H, W: c.W, k: c.k, stride: c.s, pad: c.pad, act: c.act,
        });
        expect(Array.from(read(eng, py, r.n))).toEqual(Array.from(r.y));
        expect(guardsIntact(eng, py, r.n)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });
});

describe('dwconv: SIMD and scalar builds agree', () => {
  const [[, simd], [, scalar]] = engines();
  it('to the bit on every path (every path sums the taps in the same order; === ignores the sign of zero)', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const a = run(simd, c), b = run(scalar, c);
        const differ = Array.from(a.y).flatMap((v, i) => (v === b.y[i] ? [] : [i]));
        expect(differ, `first differing output ${differ[0]}: ${a.y[differ[0]]} vs ${b.y[differ[0]]}`).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });
});

describe('dwconv: the whole-plane 3x3 path (SIMD) and the scalar build agree', () => {
  const [[, simd], [, scalar]] = engines();
  // Every width from 3 to 30 for both strides and all paddings: planes of 4..7 outputs that are
  // only border blocks, the left and right blocks overlapping, and every interior remainder; heights
  // 1..3 and 7 cut kernel rows at the top and bottom. Bits compared, signs of zero included.
  for (const s of [1, 2] as const) {
    for (const pad of ['none', 'same', 'tf-same'] as const) {
      it(`k3 s${s} pad ${pad}: widths 3..30, bit for bit`, () => {
        for (let W = 3; W <= 30; W++) {
          for (const H of [1, 2, 3, 7]) {
            const c: Case = { C: 3, cA: 3, H, W, k: 3, s, pad, act: (W + H) % 6, bias: true, scale: W % 2 === 0, shift: W % 3 === 0, seed: W * 31 + H };
            try {
              convGeometry(H, W, 3, s, pad);
            } catch {
              continue;
            }
            const a = run(simd, c), b = run(scalar, c);
            expect(maxRelErr(a.y, a.ref), `W=${W} H=${H}`).toBeLessThan(TOL.f32);
            const ua = new Uint32Array(a.y.buffer.slice(0)), ub = new Uint32Array(b.y.buffer.slice(0));
            const differ = Array.from(ua).flatMap((v, i) => (v === ub[i] ? [] : [i]));
            expect(differ, `W=${W} H=${H}: first differing output ${differ[0]}: ${a.y[differ[0]]} vs ${b.y[differ[0]]}`).toEqual([]);
            expect(a.guards && b.guards, `W=${W} H=${H}`).toBe(true);
          }
        }
      });
    }
  }
});

describe('dwconv: bias without scale or shift (one add on the SIMD whole-plane path)', () => {
  const [[, simd], [, scalar]] = engines();
  it('equals the scalar build to the bit on signed zeros, NaN and infinities in input and bias', () => {
    const C = 6, H = 5, W = 12;
    const specials = [0, -0, NaN, Infinity, -Infinity, 1, -1];
    const x = Float32Array.from({ length: C * H * W }, (_, i) => (i % 5 === 0 ? specials[i % 7] : (i % 3 === 0 ? -0 : 0)));
    const w = Float32Array.from({ length: C * 9 }, (_, i) => (i % 2 ? -1 : 0.5));
    const bias = Float32Array.from([-0, 0, -0, 1, -1, NaN]);
    for (const s of [1, 2] as const) {
      for (const act of [0, 1, 2]) {
        const out = [simd, scalar].map((eng) => {
          const a = new Arena(eng);
          const g = convGeometry(H, W, 3, s, 'same');
          const n = C * g.OH * g.OW, py = allocGuarded(a, n);
          dwconv(eng, { x: put(eng, a, x), w: put(eng, a, w), y: py, bias: put(eng, a, bias), cin: C, cout: C, groups: C, H, W, k: 3, stride: s, pad: 'same', act });
          expect(guardsIntact(eng, py, n)).toBe(true);
          return new Uint32Array(read(eng, py, n).buffer.slice(0));
        });
        expect(Array.from(out[0]), `s${s} act ${act}`).toEqual(Array.from(out[1]));
      }
    }
  });
});

describe('dwconv argument checks', () => {
  const base: Conv2dArgs = { x: 64, w: 128, y: 256, cin: 8, cout: 8, groups: 8, H: 10, W: 10, k: 3, stride: 1, pad: 'same' };
  it('names what is wrong', () => {
    expect(() => dwconvWords({ ...base, groups: 1 })).toThrow(/groups == cin == cout, got groups 1, cin 8, cout 8/);
    expect(() => dwconvWords({ ...base, cout: 16 })).toThrow(/groups == cin == cout/);
    expect(() => dwconvWords({ ...base, k: 7 })).toThrow(/k = 3 or 5, got k = 7/);
    expect(() => dwconvWords({ ...base, stride: 3 })).toThrow(/stride 1 or 2, got 3/);
    expect(() => dwconvWords({ ...base, groupsActive: 4, coutActive: 5 })).toThrow(/active channel counts disagree/);
    expect(() => dwconvWords({ ...base, groupsActive: 9 })).toThrow(/active channels 9 must be in 1..8/);
    expect(() => dwconvWords({ ...base, act: 7 })).toThrow(/activation code 7/);
    expect(() => dwconvWords({ ...base, pad: 'none', H: 2 })).toThrow(/empty output/);
  });
  it('lays the words out as assembly/dwconv.ts documents (tf-same puts the odd pad bottom/right)', () => {
    const w = dwconvWords({ ...base, H: 9, W: 10, stride: 2, pad: 'tf-same', coutActive: 5, bias: 4, act: 2 });
    // OH = 5, OW = 5; TF SAME: rows total 2 -> 1/1, cols total 1 -> 0/1
    expect(Array.from(w)).toEqual([64, 128, 256, 4, 0, 0, 5, 9, 10, 5, 5, 3, 2, 1, 0, 1, 1, 2]);
  });
});
