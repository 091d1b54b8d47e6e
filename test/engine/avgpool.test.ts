// avgpool: TF's (valid pixels) and PyTorch's (k x k, padding as zeros) averages against the f64
// reference on both builds for every SIMD remainder (stride 1 and 2 paths), the builds identical.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Arena, type Engine } from '../../src/engine/wasm.js';
import { avgpool, avgpoolRef, avgpoolWords } from '../../src/engine/ops/avgpool.js';
import { maxpoolGeometry } from '../../src/engine/ops/pool.js';
import type { Padding } from '../../src/engine/ops/types.js';
import { engines, randn, allocGuarded, guardsIntact, put, read, maxRelErr, TOL, GUARD_VALUE } from '../util.js';

const all = engines();
interface Case { C: number; H: number; W: number; k: number; stride: number; pad: Padding | number; countPad: boolean; cA: number; seed: number }

const arb = fc
  .record({
    C: fc.integer({ min: 1, max: 4 }), H: fc.integer({ min: 1, max: 12 }), W: fc.integer({ min: 1, max: 23 }),
    k: fc.integer({ min: 1, max: 4 }), stride: fc.integer({ min: 1, max: 3 }), padSel: fc.integer({ min: 0, max: 5 }),
    countPad: fc.boolean(), cFrac: fc.double({ min: 0, max: 1, noNaN: true }), seed: fc.integer(),
  })
  .map((r): Case => {
    const named: Padding[] = ['none', 'same', 'tf-same'];
    const pad: Padding | number = r.padSel < 3 ? named[r.padSel] : Math.min(r.padSel - 3, r.k - 1);
    return { C: r.C, H: Math.max(r.H, r.k), W: Math.max(r.W, r.k), k: r.k, stride: r.stride, pad, countPad: r.countPad, cA: Math.max(1, Math.ceil(r.C * r.cFrac)), seed: r.seed };
  });

function run(eng: Engine, c: Case, x: Float32Array): Float32Array {
  const a = new Arena(eng);
  const g = maxpoolGeometry(c.H, c.W, c.k, c.stride, c.pad);
  const n = c.C * g.OH * g.OW, py = allocGuarded(a, n);
  avgpool(eng, { x: put(eng, a, x), y: py, C: c.C, H: c.H, W: c.W, k: c.k, stride: c.stride, pad: c.pad, countPad: c.countPad, cActive: c.cA });
  expect(guardsIntact(eng, py, n)).toBe(true);
  return read(eng, py, n);
}

describe.each(all)('avgpool [%s]', (_b, eng) => {
  it('matches the f64 reference: every pad mode, stride 1..3, widths to 23, both counts, cActive', () => {
    fc.assert(
      fc.property(arb, (c) => {
        const x = randn(c.C * c.H * c.W, c.seed, 4);
        const y = run(eng, c, x);
        const g = maxpoolGeometry(c.H, c.W, c.k, c.stride, c.pad), used = c.cA * g.OH * g.OW;
        expect(maxRelErr(y.subarray(0, used), avgpoolRef(x, { ...c, cActive: c.cA }))).toBeLessThan(TOL.f32);
        expect(y.subarray(used).every((v) => v === GUARD_VALUE)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('hand-computed: 3x3 stride 1 SAME on a 2x2 image, TF (valid pixels) and PyTorch (k x k)', () => {
    const x = Float32Array.of(1, 2, 3, 4);
    const c = { C: 1, H: 2, W: 2, k: 3, stride: 1, pad: 'same' as Padding, cA: 1, seed: 0 };
    expect(Array.from(run(eng, { ...c, countPad: false }, x))).toEqual([2.5, 2.5, 2.5, 2.5]);
    expect(Array.from(run(eng, { ...c, countPad: true }, x))).toEqual([10 / 9, 10 / 9, 10 / 9, 10 / 9].map(Math.fround));
  });

  it('names what is wrong in bad arguments', () => {
    expect(() => avgpoolWords({ x: 64, y: 64, C: 1, H: 4, W: 4, k: 0, stride: 1, pad: 'none' })).toThrow(/avgpool k must be a positive integer, got 0/);
    expect(() => avgpoolWords({ x: 64, y: 64, C: 1, H: 4, W: 4, k: 2, stride: 1, pad: 2 })).toThrow(/padding .* must be below k=2/);
  });
});

describe('avgpool: SIMD and scalar builds agree bit for bit', () => {
  it('stride 1 and 2, widths 4..24, both counts', () => {
    const [[, simd], [, scalar]] = all;
    for (let W = 4; W <= 24; W += 1) {
      for (const stride of [1, 2]) {
        for (const countPad of [false, true]) {
          const c: Case = { C: 2, H: 5, W, k: 3, stride, pad: 'tf-same', countPad, cA: 2, seed: W };
          const x = randn(2 * 5 * W, W * 3 + stride, 4);
          expect(Array.from(run(simd, c, x))).toEqual(Array.from(run(scalar, c, x)));
        }
      }
    }
  });
});
