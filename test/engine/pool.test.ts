import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Arena, type Engine } from '../../src/engine/wasm.js';
import { gap, gapRef, maxpool, maxpoolRef, maxpoolGeometry, maxpoolWords } from '../../src/engine/ops/pool.js';
import type { Padding } from '../../src/engine/ops/types.js';
import { engines, randn, allocGuarded, guardsIntact, put, read, maxRelErr, TOL, GUARD_VALUE } from '../util.js';

const gapArb = fc.record({
  C: fc.integer({ min: 1, max: 9 }), H: fc.integer({ min: 1, max: 13 }), W: fc.integer({ min: 1, max: 13 }),
  cFrac: fc.double({ min: 0, max: 1, noNaN: true }), seed: fc.integer(),
});

interface PoolCase { C: number; H: number; W: number; k: number; stride: number; pad: Padding | number; cA: number; seed: number }

// k 1..4, stride 1..3 (1 and 2 take the SIMD paths), numeric pads below k, and the named modes;
// widths up to 21 so the 4-wide SIMD loops run with every tail.
const poolArb = fc
  .record({
    C: fc.integer({ min: 1, max: 5 }), H: fc.integer({ min: 1, max: 12 }), W: fc.integer({ min: 1, max: 21 }),
    k: fc.integer({ min: 1, max: 4 }), stride: fc.integer({ min: 1, max: 3 }),
    padSel: fc.integer({ min: 0, max: 5 }), cFrac: fc.double({ min: 0, max: 1, noNaN: true }), seed: fc.integer(),
  })
  .map((r): PoolCase => {
    const named: Padding[] = ['none', 'same', 'tf-same'];
    const pad: Padding | number = r.padSel < 3 ? named[r.padSel] : Math.min(r.padSel - 3, r.k - 1);
    return { C: r.C, H: Math.max(r.H, r.k), W: Math.max(r.W, r.k), k: r.k, stride: r.stride, pad, cA: Math.max(1, Math.ceil(r.C * r.cFrac)), seed: r.seed };
  });

function runPool(eng: Engine, k: PoolCase, x: Float32Array): Float32Array {
  const a = new Arena(eng);
  const g = maxpoolGeometry(k.H, k.W, k.k, k.stride, k.pad);
  const n = k.C * g.OH * g.OW;
  const px = put(eng, a, x), py = allocGuarded(a, n);
  maxpool(eng, { x: px, y: py, C: k.C, H: k.H, W: k.W, k: k.k, stride: k.stride, pad: k.pad, cActive: k.cA });
  expect(guardsIntact(eng, py, n)).toBe(true);
  return read(eng, py, n);
}

describe.each(engines())('gap [%s]', (_b, eng) => {
  it('matches the f64 mean for every HW remainder and cActive', () => {
    fc.assert(
      fc.property(gapArb, ({ C, H, W, cFrac, seed }) => {
        const cA = Math.max(1, Math.ceil(C * cFrac));
        const a = new Arena(eng), x = randn(C * H * W, seed, 5);
        const py = allocGuarded(a, C);
        gap(eng, { x: put(eng, a, x), y: py, C, H, W, cActive: cA });
        const y = read(eng, py, C);
        expect(maxRelErr(y.subarray(0, cA), gapRef(x, { C, H, W, cActive: cA }))).toBeLessThan(TOL.f32);
        expect(y.subarray(cA).every((v) => v === GUARD_VALUE)).toBe(true);
        expect(guardsIntact(eng, py, C)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps a large map accurate (f64 sums): 1 + 1e-7 noise over 112 x 112', () => {
    const a = new Arena(eng), n = 112 * 112;
    const x = new Float32Array(n).map((_, i) => 1 + (i % 7) * 1e-7);
    const py = a.allocF32(1);
    gap(eng, { x: put(eng, a, x), y: py, C: 1, H: 112, W: 112 });
    expect(Math.abs(read(eng, py, 1)[0] - gapRef(x, { C: 1, H: 112, W: 112 })[0])).toBeLessThan(1.2e-7);
  });
});

describe.each(engines())('maxpool [%s]', (_b, eng) => {
  it('matches the reference (exact) for every k, stride, padding and width remainder', () => {
    fc.assert(
      fc.property(poolArb, (k) => {
        const x = randn(k.C * k.H * k.W, k.seed, 4);
        const y = runPool(eng, k, x);
        const g = maxpoolGeometry(k.H, k.W, k.k, k.stride, k.pad), used = k.cA * g.OH * g.OW;
        expect(Array.from(y.subarray(0, used))).toEqual(Array.from(maxpoolRef(x, { ...k, cActive: k.cA })));
        expect(y.subarray(used).every((v) => v === GUARD_VALUE)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('reads nothing past its input: x placed flush against the end of memory', () => {
    fc.assert(
      fc.property(poolArb, (k) => {
        const a = new Arena(eng), n = k.C * k.H * k.W;
        const g = maxpoolGeometry(k.H, k.W, k.k, k.stride, k.pad);
        const py = a.allocF32(k.C * g.OH * g.OW);
        a.reserve(n * 4 + 65536);
        const px = eng.memory.buffer.byteLength - n * 4;
        const x = randn(n, k.seed, 4);
        eng.f32().set(x, px >> 2);
        maxpool(eng, { x: px, y: py, C: k.C, H: k.H, W: k.W, k: k.k, stride: k.stride, pad: k.pad, cActive: k.cA });
        expect(Array.from(read(eng, py, k.cA * g.OH * g.OW))).toEqual(Array.from(maxpoolRef(x, { ...k, cActive: k.cA })));
      }),
      { numRuns: 60 },
    );
  });

  it('never lets padding win: all-negative input with padding', () => {
    const k: PoolCase = { C: 2, H: 9, W: 11, k: 3, stride: 2, pad: 1, cA: 2, seed: 3 };
    const x = randn(2 * 99, 3).map((v) => -10 - Math.abs(v));
    const y = runPool(eng, k, x);
    expect(y.every((v) => v <= -10)).toBe(true);
    expect(Array.from(y)).toEqual(Array.from(maxpoolRef(x, { ...k, cActive: k.cA })));
  });

  it('propagates NaN like PyTorch', () => {
    const k: PoolCase = { C: 1, H: 4, W: 12, k: 2, stride: 2, pad: 0, cA: 1, seed: 1 };
    const x = randn(48, 5);
    x[2] = NaN; // row 0, col 2: output (0, 1)
    const y = runPool(eng, k, x);
    expect(Number.isNaN(y[1])).toBe(true);
    expect(y.filter((v) => Number.isNaN(v)).length).toBe(1);
  });

  it('names what is wrong in bad arguments', () => {
    const ok = { x: 1024, y: 4096, C: 2, H: 8, W: 8, k: 3, stride: 2, pad: 1 as Padding | number };
    expect(() => maxpoolWords({ ...ok, pad: 3 })).toThrow(/maxpool padding \(3,3,3,3\) must be below k=3/);
    expect(() => maxpoolWords({ ...ok, k: 11 })).toThrow(/empty output/);
    expect(() => maxpoolWords({ ...ok, stride: 0 })).toThrow(/maxpool stride must be a positive integer/);
    expect(() => maxpoolWords({ ...ok, cActive: 0 })).toThrow(/maxpool cActive .*got 0/);
    expect(() => maxpool(eng, { ...ok, y: ok.x })).toThrow(/maxpool x .* overlaps y/);
  });
});

describe('gap, maxpool: SIMD and scalar builds', () => {
  const [[, simd], [, scalar]] = engines();
  it('give bit-identical outputs', () => {
    fc.assert(
      fc.property(poolArb, (k) => {
        const x = randn(k.C * k.H * k.W, k.seed, 4);
        expect(Array.from(runPool(simd, k, x))).toEqual(Array.from(runPool(scalar, k, x)));
        const out = [simd, scalar].map((eng) => {
          const a = new Arena(eng), py = a.allocF32(k.C);
          gap(eng, { x: put(eng, a, x), y: py, C: k.C, H: k.H, W: k.W });
          return Array.from(read(eng, py, k.C));
        });
        expect(out[0]).toEqual(out[1]);
      }),
      { numRuns: 40 },
    );
  });
});
