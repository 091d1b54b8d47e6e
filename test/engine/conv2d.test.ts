import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Arena, type Engine } from '../../src/engine/wasm.js';
import { conv2d, conv2dAlgo, conv2dRef, conv2dPlan, conv2dScratchBytes, conv2dWords, convAuto, convAutoKernel, type Conv2dShape } from '../../src/engine/ops/conv2d.js';
import type { Padding } from '../../src/engine/ops/types.js';
import { dwconvWords } from '../../src/engine/ops/dwconv.js';
import { engines, randn, allocGuarded, guardsIntact, put, read, maxRelErr, TOL } from '../util.js';

interface Epilogue { bias?: Float32Array; scale?: Float32Array; shift?: Float32Array }

interface Run { y: Float32Array; guardsY: boolean; guardsScratch: boolean; xIntact: boolean }

/** Runs conv2d on fresh arena memory; scratch starts as NaN so stale scratch cannot pass. */
function run(eng: Engine, s: Conv2dShape, x: Float32Array, w: Float32Array, e: Epilogue = {}): Run {
  const a = new Arena(eng);
  const pl = conv2dPlan(s);
  const nY = pl.coutActive * pl.OH * pl.OW;
  const px = put(eng, a, x), pw = put(eng, a, w);
  const pb = e.bias ? put(eng, a, e.bias) : 0;
  const ps = e.scale ? put(eng, a, e.scale) : 0;
  const ph = e.shift ? put(eng, a, e.shift) : 0;
  const py = allocGuarded(a, nY);
  const sb = conv2dScratchBytes(s);
  const psc = allocGuarded(a, sb / 4);
  eng.f32().fill(NaN, psc >> 2, (psc >> 2) + sb / 4);
  conv2d(eng, { ...s, x: px, w: pw, y: py, bias: pb, scale: ps, shift: ph, scratch: psc });
  const xNow = read(eng, px, x.length);
  return {
    y: read(eng, py, nY),
    guardsY: guardsIntact(eng, py, nY),
    guardsScratch: guardsIntact(eng, psc, sb / 4),
    xIntact: xNow.every((v, i) => Object.is(v, x[i])),
  };
}

function weightsLen(s: Conv2dShape): number {
  return s.cout * (s.cin / (s.groups ?? 1)) * s.k * s.k;
}

function epilogue(cout: number, seed: number, has: [boolean, boolean, boolean]): Epilogue {
  return {
    bias: has[0] ? randn(cout, seed + 11, 0.5) : undefined,
    scale: has[1] ? randn(cout, seed + 12, 1.5) : undefined,
    shift: has[2] ? randn(cout, seed + 13, 0.5) : undefined,
  };
}

function expectMatchesRef(r: Run, s: Conv2dShape, x: Float32Array, w: Float32Array, e: Epilogue = {}): void {
  const ref = conv2dRef(x, w, s, e.bias, e.scale, e.shift);
  expect(r.y.length).toBe(ref.length);
  expect(maxRelErr(r.y, ref)).toBeLessThan(TOL.f32);
  expect(r.guardsY).toBe(true);
  expect(r.guardsScratch).toBe(true);
  expect(r.xIntact).toBe(true);
}

// Sizes chosen to straddle the 4-channel and 8-column tiles: below, at, above, multiples.
const arbPad = fc.constantFrom<Padding>('none', 'same', 'tf-same');
const arbK = fc.constantFrom(1, 3, 5, 7);

/** A shape with groups 1 or G, active bounds, every k/stride/padding; output never empty. */
const arbShape = fc
  .record({
    k: arbK,
    stride: fc.constantFrom(1, 2),
    pad: arbPad,
    groups: fc.constantFrom(1, 1, 2, 3, 4),
    cinG: fc.integer({ min: 1, max: 9 }),
    coutG: fc.integer({ min: 1, max: 13 }),
    ciCut: fc.integer({ min: 0, max: 8 }),
    coCut: fc.integer({ min: 0, max: 12 }),
    gCut: fc.integer({ min: 0, max: 3 }),
    dh: fc.integer({ min: 0, max: 12 }),
    dw: fc.integer({ min: 0, max: 40 }), // past 32 columns: 2x16 tiles (last block of 1-2 channels) and their tails
    act: fc.integer({ min: 0, max: 6 }),
    epi: fc.tuple(fc.boolean(), fc.boolean(), fc.boolean()),
    seed: fc.integer({ min: 0, max: 1 << 30 }),
  })
  .map((r) => {
    const g = r.groups;
    // 'none' needs H, W >= k; the others work down to 1x1.
    const min = r.pad === 'none' ? r.k : 1;
    const s: Conv2dShape = {
      cin: r.cinG * g, cout: r.coutG * g, groups: g,
      H: min + r.dh, W: min + r.dw, k: r.k, stride: r.stride, pad: r.pad, act: r.act,
    };
    if (g === 1) {
      s.cinActive = Math.max(1, s.cin - r.ciCut);
      s.coutActive = Math.max(1, s.cout - r.coCut);
    } else {
      s.groupsActive = Math.max(1, g - r.gCut);
    }
    return { s, epi: r.epi, seed: r.seed };
  });

/**
 * Dilated shapes (d 2 or 3, k 3 or 5): dense, grouped and depthwise (groups = channels, which
 * conv2d runs: dwconv has dilation 1), every stride and padding, output widths 1..~40 so every
 * SIMD (8, 16) and scalar (2) tile remainder and the staging block (OW < 8) come up.
 */
const arbDilated = fc
  .record({
    d: fc.constantFrom(2, 3),
    k: fc.constantFrom(3, 5),
    stride: fc.constantFrom(1, 2),
    pad: arbPad,
    kind: fc.constantFrom('dense', 'grouped', 'depthwise'),
    c: fc.integer({ min: 1, max: 9 }),
    coutG: fc.integer({ min: 1, max: 13 }),
    groups: fc.constantFrom(2, 3, 4),
    cut: fc.integer({ min: 0, max: 3 }),
    dh: fc.integer({ min: 0, max: 10 }),
    dw: fc.integer({ min: 0, max: 40 }),
    act: fc.integer({ min: 0, max: 6 }),
    epi: fc.tuple(fc.boolean(), fc.boolean(), fc.boolean()),
    seed: fc.integer({ min: 0, max: 1 << 30 }),
  })
  .map((r) => {
    const ke = (r.k - 1) * r.d + 1;
    const min = r.pad === 'none' ? ke : 1;
    const base = { H: min + r.dh, W: min + r.dw, k: r.k, stride: r.stride, pad: r.pad, act: r.act, dilation: r.d };
    let s: Conv2dShape;
    if (r.kind === 'dense') s = { ...base, cin: r.c, cout: r.coutG, coutActive: Math.max(1, r.coutG - r.cut) };
    else if (r.kind === 'grouped') s = { ...base, cin: r.c * r.groups, cout: r.coutG * r.groups, groups: r.groups, groupsActive: Math.max(1, r.groups - r.cut) };
    else s = { ...base, cin: r.c + 3, cout: r.c + 3, groups: r.c + 3, groupsActive: Math.max(1, r.c + 3 - r.cut) };
    return { s, epi: r.epi, seed: r.seed };
  });

// Dilated layers by name: DeepLab-style atrous 3x3 (d 2, 3) on wide rows, a depthwise dilated
// 5x5, chunked channels and bands, 4-column maps (two rows per SIMD tile), a Winograd-sized
// 3x3 that must stay direct, a 1x1 (dilation changes nothing).
const dilated: Array<[string, Conv2dShape]> = [
  ['atrous 3x3 d2 same, 33 columns', { cin: 6, cout: 16, H: 13, W: 33, k: 3, stride: 1, pad: 'same', act: 1, dilation: 2 }],
  ['atrous 3x3 d3 tf-same stride 2, odd size', { cin: 5, cout: 9, H: 23, W: 27, k: 3, stride: 2, pad: 'tf-same', act: 2, dilation: 3 }],
  ['depthwise 5x5 d2 same, 12 channels', { cin: 12, cout: 12, groups: 12, H: 14, W: 19, k: 5, stride: 1, pad: 'same', act: 4, dilation: 2 }],
  ['depthwise 3x3 d2 stride 2 tf-same, 10 of 16', { cin: 16, cout: 16, groups: 16, groupsActive: 10, H: 17, W: 22, k: 3, stride: 2, pad: 'tf-same', act: 2, dilation: 2 }],
  ['chunked channels d2, column tail', { cin: 64, cout: 6, H: 7, W: 83, k: 3, stride: 1, pad: 'same', act: 3, dilation: 2 }],
  ['chunked, stride 2 d3, several bands', { cin: 96, cout: 5, H: 44, W: 70, k: 3, stride: 2, pad: 'tf-same', act: 4, dilation: 3 }],
  ['Winograd-sized 3x3 d2 (direct)', { cin: 8, cout: 16, H: 20, W: 40, k: 3, stride: 1, pad: 'none', act: 0, dilation: 2 }],
  ['4 output columns d2, 5 rows', { cin: 9, cout: 15, groups: 3, H: 5, W: 4, k: 3, stride: 1, pad: 'same', act: 5, dilation: 2 }],
  ['4 output columns d3 stride 2, k 5, no padding', { cin: 4, cout: 7, H: 20, W: 19, k: 5, stride: 2, pad: 'none', act: 1, dilation: 3 }],
  ['1x1 d2 stride 2', { cin: 5, cout: 6, H: 9, W: 11, k: 1, stride: 2, pad: 'none', act: 1, dilation: 2 }],
  // DeepLab's ASPP rates on a 33x33 map: extents 13 and 37 (wider than the map: padding only)
  ['ASPP 3x3 d6 same on 33x33', { cin: 24, cout: 12, H: 33, W: 33, k: 3, stride: 1, pad: 'same', act: 1, dilation: 6 }],
  ['ASPP 3x3 d18 same on 33x33', { cin: 24, cout: 12, H: 33, W: 33, k: 3, stride: 1, pad: 'same', act: 1, dilation: 18 }],
  // enough channels for bands of a few rows: the copy holds each kernel row's rows of the band
  // (copyRows in assembly/conv2d.ts), not every row the extent spans; the last band shorter
  ['ASPP d18 on 33x33, 160 channels: copy by kernel row, bands of 5', { cin: 160, cout: 8, H: 33, W: 33, k: 3, stride: 1, pad: 'same', act: 1, dilation: 18 }],
  ['stride 2 d12, 128 channels: copy by kernel row', { cin: 128, cout: 6, H: 40, W: 40, k: 3, stride: 2, pad: 'same', act: 2, dilation: 12 }],
  ['depthwise d12 on 33x33, 160 channels: copy by kernel row', { cin: 160, cout: 160, groups: 160, groupsActive: 150, H: 33, W: 33, k: 3, stride: 1, pad: 'same', act: 2, dilation: 12 }],
];

// Wide rows and many input channels exceed the kernel's L1/L2 budgets (assembly/conv2d.ts):
// bands of output rows, input channels in chunks with partial sums in y, the column tail
// computed with the whole filter.
const large: Array<[string, Conv2dShape]> = [
  ['chunked channels, column tail', { cin: 64, cout: 6, H: 5, W: 83, k: 3, stride: 1, pad: 'same', act: 3 }],
  ['chunked, stride 2, several bands', { cin: 96, cout: 5, H: 40, W: 70, k: 3, stride: 2, pad: 'tf-same', act: 4 }],
  ['chunked groups, k 5', { cin: 96, cout: 10, groups: 2, groupsActive: 2, H: 6, W: 61, k: 5, stride: 1, pad: 'same', act: 2 }],
  // ResNet's stem (7x7/2, padding 3) on a small map: stride-2 copy rows of 7 taps, column tail
  ['7x7 stride 2 stem, padding 3', { cin: 3, cout: 10, H: 37, W: 45, k: 7, stride: 2, pad: 'same', act: 1 }],
  ['chunked slice, k 1 stride 2', { cin: 200, cout: 9, cinActive: 190, coutActive: 7, H: 9, W: 301, k: 1, stride: 2, pad: 'none', act: 1 }],
];

// 3x3 stride-1 layers the kernel runs as Winograd F(2x2, 3x3) (assembly/conv2d_wino.ts; it
// needs rows of >= 16 outputs, >= 8 output channels and less scratch than the direct path):
// odd and even output sizes (a last tile half outside, a last chunk of 8 tiles partly
// outside), channel tails (a block of 1-3 channels), groups and active groups, slices of a
// dense layer, every padding that gets a copy, epilogues and activations.
const wino: Array<[string, Conv2dShape]> = [
  ['SEE b4: 6->36 x4 groups, 96x96 tf-same', { cin: 24, cout: 144, groups: 4, H: 96, W: 96, k: 3, stride: 1, pad: 'tf-same', act: 3 }],
  ['odd rows and columns, 2 of 3 groups', { cin: 15, cout: 30, groups: 3, groupsActive: 2, H: 7, W: 33, k: 3, stride: 1, pad: 'same', act: 1 }],
  ['16 columns, odd rows, channel tail of 1', { cin: 4, cout: 9, H: 21, W: 16, k: 3, stride: 1, pad: 'same', act: 5 }],
  ['17 columns: one column in the last chunk', { cin: 3, cout: 10, H: 41, W: 17, k: 3, stride: 1, pad: 'tf-same', act: 4 }],
  ['dense slice, tail of 3', { cin: 20, cout: 24, cinActive: 13, coutActive: 11, H: 19, W: 40, k: 3, stride: 1, pad: 'same', act: 2 }],
  ['wide rows, 191 columns', { cin: 6, cout: 8, H: 15, W: 191, k: 3, stride: 1, pad: 'same', act: 0 }],
];

// Layers with 4 output columns, which the SIMD build runs two output rows per tile (the 4x4
// maps of the deep splits' encoders and servers): even and odd row counts (a last row alone),
// stride 1 and 2, k 1/3/5, groups and active groups, channel tails and slices, small layers
// (row by row) and wide ones (block by block), and several bands of rows with an odd one.
const fourCol: Array<[string, Conv2dShape]> = [
  ['4x4 map, 64->64 (mid2 of the 4x4 split)', { cin: 64, cout: 64, H: 4, W: 4, k: 3, stride: 1, pad: 'same', act: 1 }],
  ['8x8 -> 4x4 stride 2, 4 groups of 16->16', { cin: 64, cout: 64, groups: 4, H: 8, W: 8, k: 3, stride: 2, pad: 'same', act: 1 }],
  ['5 rows, 2 of 3 groups, channel tail', { cin: 9, cout: 15, groups: 3, groupsActive: 2, H: 5, W: 4, k: 3, stride: 1, pad: 'same', act: 5 }],
  ['7 rows from 14x7 stride 2 tf-same, k 5', { cin: 6, cout: 7, H: 14, W: 7, k: 5, stride: 2, pad: 'tf-same', act: 3 }],
  ['1x1, dense slice', { cin: 20, cout: 12, cinActive: 13, coutActive: 10, H: 6, W: 4, k: 1, stride: 1, pad: 'none', act: 0 }],
  ['one row', { cin: 8, cout: 4, H: 1, W: 4, k: 3, stride: 1, pad: 'same', act: 1 }],
  ['bands of 3 rows (wide input), 11 rows', { cin: 2000, cout: 5, H: 11, W: 4, k: 3, stride: 1, pad: 'same', act: 2 }],
];

describe.each(engines())('conv2d [%s]', (_b, eng) => {
  it.each(fourCol)('4 output columns: %s', (_n, s) => {
    expect(conv2dPlan(s).OW).toBe(4);
    const x = randn(s.cin * s.H * s.W, 31, 1);
    const w = randn(weightsLen(s), 32, 0.3);
    for (const has of [[true, true, true], [true, false, false], [false, false, false]] as Array<[boolean, boolean, boolean]>) {
      const e = epilogue(s.cout, 33, has);
      expectMatchesRef(run(eng, s, x, w, e), s, x, w, e);
    }
  });

  it.each(wino)('Winograd F(2x2, 3x3): %s', (_n, s) => {
    expect(conv2dAlgo(s)).toBe('winograd');
    const x = randn(s.cin * s.H * s.W, 21, 1);
    const w = randn(weightsLen(s), 22, 0.3);
    for (const has of [[true, true, true], [true, false, false], [false, false, false]] as Array<[boolean, boolean, boolean]>) {
      const e = epilogue(s.cout, 23, has);
      expectMatchesRef(run(eng, s, x, w, e), s, x, w, e);
    }
  });

  it('matches the f64 reference for every k, stride, padding, groups, remainder, activation, epilogue', () => {
    fc.assert(
      fc.property(arbShape, ({ s, epi, seed }) => {
        const x = randn(s.cin * s.H * s.W, seed, 1);
        const w = randn(weightsLen(s), seed + 1, 0.5);
        const e = epilogue(s.cout, seed, epi);
        expectMatchesRef(run(eng, s, x, w, e), s, x, w, e);
      }),
      { numRuns: 250 },
    );
  });

  it('slicing: active (ci, co) equals the conv on weights truncated to [:co, :ci]', () => {
    fc.assert(
      fc.property(
        arbK, fc.constantFrom(1, 2), arbPad,
        fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 14 }),
        fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 14 }),
        fc.integer({ min: 0, max: 1 << 30 }),
        (k, stride, pad, cin, cout, ciA, coA, seed) => {
          const ci = Math.min(ciA, cin), co = Math.min(coA, cout);
          const H = k + 4, W = k + 9;
          const full: Conv2dShape = { cin, cout, cinActive: ci, coutActive: co, H, W, k, stride, pad, act: 1 };
          const x = randn(cin * H * W, seed, 1);
          const w = randn(cout * cin * k * k, seed + 1, 0.5);
          const bias = randn(cout, seed + 2, 0.5);
          // truncated copy: [co][ci][k][k] and bias[:co]
          const wt = new Float32Array(co * ci * k * k);
          for (let o = 0; o < co; o++) wt.set(w.subarray((o * cin) * k * k, (o * cin + ci) * k * k), o * ci * k * k);
          const small: Conv2dShape = { cin: ci, cout: co, H, W, k, stride, pad, act: 1 };
          const xs = x.subarray(0, ci * H * W);
          const sliced = run(eng, full, x, w, { bias });
          expectMatchesRef(sliced, small, xs, wt, { bias: bias.subarray(0, co) });
          // same arithmetic in the same order: identical bits
          expect(sliced.y).toEqual(run(eng, small, xs, wt, { bias: bias.subarray(0, co) }).y);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('slicing: groupsActive g equals the conv on the first g groups', () => {
    fc.assert(
      fc.property(
        arbK, fc.constantFrom(1, 2), arbPad, fc.integer({ min: 2, max: 5 }),
        fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 1 << 30 }),
        (k, stride, pad, G, cinG, coutG, gA, seed) => {
          const g = Math.min(gA, G);
          const H = k + 3, W = k + 10;
          const full: Conv2dShape = { cin: G * cinG, cout: G * coutG, groups: G, groupsActive: g, H, W, k, stride, pad, act: 4 };
          const x = randn(G * cinG * H * W, seed, 1);
          const w = randn(G * coutG * cinG * k * k, seed + 1, 0.5);
          const scale = randn(G * coutG, seed + 2, 2);
          const first: Conv2dShape = { cin: g * cinG, cout: g * coutG, groups: g, H, W, k, stride, pad, act: 4 };
          const xs = x.subarray(0, g * cinG * H * W), ws = w.subarray(0, g * coutG * cinG * k * k);
          const sliced = run(eng, full, x, w, { scale });
          expectMatchesRef(sliced, first, xs, ws, { scale: scale.subarray(0, g * coutG) });
          expect(sliced.y).toEqual(run(eng, first, xs, ws, { scale: scale.subarray(0, g * coutG) }).y);
        },
      ),
      { numRuns: 40 },
    );
  });

  // The benchmark shapes at reduced spatial size (same channels, groups, stride, padding).
  const bench: Array<[string, Conv2dShape]> = [
    ['a conv3x3 s2 p1 3->32', { cin: 3, cout: 32, H: 30, W: 30, k: 3, stride: 2, pad: 'same', act: 2 }],
    ['f conv3x3 s1 p1 64->64', { cin: 64, cout: 64, H: 12, W: 13, k: 3, stride: 1, pad: 'same', act: 1 }],
    ['g conv3x3 s1 p1 16->16', { cin: 16, cout: 16, H: 16, W: 16, k: 3, stride: 1, pad: 'same', act: 0 }],
    ['h SEE block 4x(6->36) tf-same', { cin: 24, cout: 144, groups: 4, H: 17, W: 19, k: 3, stride: 1, pad: 'tf-same', act: 3 }],
    ['h SEE block, 3 of 4 members', { cin: 24, cout: 144, groups: 4, groupsActive: 3, H: 12, W: 20, k: 3, stride: 1, pad: 'tf-same', act: 3 }],
    ['i SEE stem s2 none 3->24', { cin: 3, cout: 24, H: 39, W: 40, k: 3, stride: 2, pad: 'none', act: 4 }],
  ];
  it.each(bench)('benchmark shape %s', (_n, s) => {
    const x = randn(s.cin * s.H * s.W, 7, 1);
    const w = randn(weightsLen(s), 8, 0.3);
    const e = epilogue(s.cout, 9, [true, true, true]);
    expectMatchesRef(run(eng, s, x, w, e), s, x, w, e);
  });

  it.each(large)('large layer: %s', (_n, s) => {
    const x = randn(s.cin * s.H * s.W, 17, 1);
    const w = randn(weightsLen(s), 18, 0.2);
    const e = epilogue(s.cout, 19, [true, true, true]);
    expectMatchesRef(run(eng, s, x, w, e), s, x, w, e);
  });

  it('dilated convolutions match the f64 reference (d 2 and 3, k 3 and 5, dense, grouped, depthwise)', () => {
    fc.assert(
      fc.property(arbDilated, ({ s, epi, seed }) => {
        const x = randn(s.cin * s.H * s.W, seed, 1);
        const w = randn(weightsLen(s), seed + 1, 0.5);
        const e = epilogue(s.cout, seed, epi);
        expectMatchesRef(run(eng, s, x, w, e), s, x, w, e);
      }),
      { numRuns: 200 },
    );
  });

  it.each(dilated)('dilated layer: %s', (_n, s) => {
    expect(conv2dAlgo(s)).toBe('direct');
    const x = randn(s.cin * s.H * s.W, 41, 1);
    const w = randn(weightsLen(s), 42, 0.3);
    const e = epilogue(s.cout, 43, [true, true, true]);
    expectMatchesRef(run(eng, s, x, w, e), s, x, w, e);
  });

  it("a dilated layer's padded copy holds the rows its kernel rows read, not every row of the extent", () => {
    // DeepLab-v3's ASPP at output stride 8: 2048 channels on 65x65, rate 36 (extent 73 rows). One
    // output row per band: 3 rows of 64 + 73 columns per channel, against 3 of 64 + 3 at rate 1
    // (the tap streams are the same). Every row of the extent would be 82 MB.
    const s: Conv2dShape = { cin: 2048, cout: 256, H: 65, W: 65, k: 3, stride: 1, pad: 'same', dilation: 36 };
    expect(conv2dScratchBytes(s) - conv2dScratchBytes({ ...s, dilation: 1 })).toBe(2048 * 3 * (137 - 67) * 4);
  });

  it('a dilated tap reads the input d pixels apart (one output by hand)', () => {
    // 3x3, dilation 2, no padding on 7x9: output (1, 2) reads rows 1, 3, 5 and columns 2, 4, 6
    const s: Conv2dShape = { cin: 2, cout: 3, H: 7, W: 9, k: 3, stride: 1, pad: 'none', dilation: 2 };
    expect(conv2dPlan(s)).toMatchObject({ OH: 3, OW: 5 });
    const x = randn(2 * 63, 5, 1), w = randn(3 * 2 * 9, 6, 0.5);
    const r = run(eng, s, x, w);
    let acc = 0;
    for (let ci = 0; ci < 2; ci++) for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) acc += x[ci * 63 + (1 + 2 * ky) * 9 + 2 + 2 * kx] * w[ci * 9 + ky * 3 + kx];
    expect(Math.abs(r.y[1 * 5 + 2] - acc)).toBeLessThan(1e-5 * (1 + Math.abs(acc)));
  });

  it('tf-same puts the odd padding row/column at the bottom/right', () => {
    // H = W = 10, k 3, stride 2: one padding row/column in total, all of it bottom/right.
    const s: Conv2dShape = { cin: 2, cout: 5, H: 10, W: 10, k: 3, stride: 2, pad: 'tf-same' };
    expect(conv2dPlan(s)).toMatchObject({ OH: 5, OW: 5, padT: 0, padL: 0, padB: 1, padR: 1 });
    const x = randn(2 * 100, 3, 1), w = randn(5 * 2 * 9, 4, 0.5);
    const r = run(eng, s, x, w);
    expectMatchesRef(r, s, x, w);
    // output (0,0) reads input rows/cols 0..2 (no padding on top/left)
    let acc = 0;
    for (let ci = 0; ci < 2; ci++) for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) acc += x[ci * 100 + ky * 10 + kx] * w[ci * 9 + ky * 3 + kx];
    expect(Math.abs(r.y[0] - acc)).toBeLessThan(1e-5 * (1 + Math.abs(acc)));
  });
});

describe.each(engines())('convAuto [%s]', (_b, eng) => {
  const cases: Array<[string, Conv2dShape, string]> = [
    ['depthwise 3x3 s2, 10 of 12 channels', { cin: 12, cout: 12, groups: 12, groupsActive: 10, H: 11, W: 14, k: 3, stride: 2, pad: 'same', act: 2 }, 'dwconv'],
    ['pointwise, sliced', { cin: 20, cout: 9, cinActive: 13, coutActive: 7, H: 5, W: 11, k: 1, stride: 1, pad: 'none', act: 4 }, 'pointwise'],
    ['1x1 stride 2 stays conv2d', { cin: 5, cout: 6, H: 9, W: 9, k: 1, stride: 2, pad: 'none' }, 'conv2d'],
    ['grouped 3x3 stays conv2d', { cin: 8, cout: 12, groups: 4, H: 7, W: 9, k: 3, stride: 1, pad: 'same' }, 'conv2d'],
    ['dilated depthwise 3x3 d2 runs as grouped conv2d', { cin: 12, cout: 12, groups: 12, H: 11, W: 14, k: 3, stride: 1, pad: 'same', act: 2, dilation: 2 }, 'conv2d'],
    ['dilated depthwise 5x5 d3 s2 runs as grouped conv2d', { cin: 7, cout: 7, groups: 7, groupsActive: 5, H: 19, W: 21, k: 5, stride: 2, pad: 'tf-same', dilation: 3 }, 'conv2d'],
    ['dilated 1x1 is still pointwise', { cin: 6, cout: 5, H: 5, W: 7, k: 1, stride: 1, pad: 'none', dilation: 2 }, 'pointwise'],
  ];
  it.each(cases)('%s', (_n, s, kernel) => {
    expect(convAutoKernel(s)).toBe(kernel);
    const x = randn(s.cin * s.H * s.W, 21, 1), w = randn(weightsLen(s), 22, 0.5);
    const e = epilogue(s.cout, 23, [true, true, true]);
    const a = new Arena(eng);
    const pl = conv2dPlan(s);
    const nY = pl.coutActive * pl.OH * pl.OW;
    const py = allocGuarded(a, nY);
    convAuto(eng, {
      ...s, x: put(eng, a, x), w: put(eng, a, w), y: py, bias: put(eng, a, e.bias!), scale: put(eng, a, e.scale!),
      shift: put(eng, a, e.shift!), scratch: a.alloc(conv2dScratchBytes(s)),
    });
    expect(maxRelErr(read(eng, py, nY), conv2dRef(x, w, s, e.bias, e.scale, e.shift))).toBeLessThan(TOL.f32);
    expect(guardsIntact(eng, py, nY)).toBe(true);
  });
});

describe('conv2d builds agree', () => {
  const [[, simd], [, scalar]] = engines();
  it('SIMD and scalar agree within TOL.builds', () => {
    fc.assert(
      fc.property(arbShape, ({ s, epi, seed }) => {
        const x = randn(s.cin * s.H * s.W, seed, 1);
        const w = randn(weightsLen(s), seed + 1, 0.5);
        const e = epilogue(s.cout, seed, epi);
        const a = run(simd, s, x, w, e).y, b = run(scalar, s, x, w, e).y;
        expect(maxRelErr(a, b)).toBeLessThan(TOL.builds);
      }),
      { numRuns: 100 },
    );
  });

  // Stronger than the contract above, and what this kernel delivers: both builds run the same
  // f32 operations in the same order for every output (bias, then taps in (ci, ky, kx) order,
  // mul then add, no FMA), so a device on the scalar build and a server on the SIMD build
  // compute the same bits. Relax to TOL.builds if a tile ever reorders the sums.
  it('SIMD and scalar give identical bits', () => {
    fc.assert(
      fc.property(arbShape, ({ s, epi, seed }) => {
        const x = randn(s.cin * s.H * s.W, seed, 1);
        const w = randn(weightsLen(s), seed + 1, 0.5);
        const e = epilogue(s.cout, seed, epi);
        expect(run(simd, s, x, w, e).y).toEqual(run(scalar, s, x, w, e).y);
      }),
      { numRuns: 100 },
    );
  });
  it('SIMD and scalar give identical bits on dilated layers', () => {
    fc.assert(
      fc.property(arbDilated, ({ s, epi, seed }) => {
        const x = randn(s.cin * s.H * s.W, seed, 1);
        const w = randn(weightsLen(s), seed + 1, 0.5);
        const e = epilogue(s.cout, seed, epi);
        expect(run(simd, s, x, w, e).y).toEqual(run(scalar, s, x, w, e).y);
      }),
      { numRuns: 100 },
    );
  });
  it.each([...large, ...wino, ...fourCol, ...dilated])('SIMD and scalar give identical bits on a large, Winograd, 4-column or dilated layer: %s', (_n, s) => {
    const x = randn(s.cin * s.H * s.W, 17, 1);
    const w = randn(weightsLen(s), 18, 0.2);
    const e = epilogue(s.cout, 19, [true, true, true]);
    const a = run(simd, s, x, w, e).y, b = run(scalar, s, x, w, e).y;
    // the first difference, not a diff of a million values (which takes minutes to print)
    const i = a.findIndex((v, k) => !Object.is(v, b[k]));
    expect(i === -1 ? 'identical' : `output ${i}: simd ${a[i]}, scalar ${b[i]}`).toBe('identical');
  });
});

describe('conv2d argument checks', () => {
  // x [8][9][9] at 64, y [12][9][9] at 4096, scratch at 16384 (w may alias anything: read only)
  const base = { x: 64, w: 128, y: 4096, scratch: 16384, cin: 8, cout: 12, H: 9, W: 9, k: 3, stride: 1, pad: 'same' as const };
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['cinActive > cin', { cinActive: 9 }, /cinActive 9 exceeds cin 8/],
    ['coutActive > cout', { coutActive: 13 }, /coutActive 13 exceeds cout 12/],
    ['cin not divisible by groups', { groups: 3 }, /cin 8 is not divisible by groups 3/],
    ['cout not divisible by groups', { groups: 8, cin: 8 }, /cout 12 is not divisible by groups 8/],
    ['groupsActive > groups', { groups: 4, groupsActive: 5 }, /groupsActive 5 exceeds groups 4/],
    ['groupsActive with groups 1', { groupsActive: 2 }, /groupsActive 2 needs groups > 1/],
    ['cinActive with groups', { groups: 4, cinActive: 3 }, /cinActive 3 must be groupsActive\*cin\/groups = 8/],
    ['k = 2', { k: 2 }, /k must be 1, 3, 5 or 7, got 2/],
    ['k = 9', { k: 9 }, /k must be 1, 3, 5 or 7, got 9/],
    ['stride 3', { stride: 3 }, /stride must be 1 or 2, got 3/],
    ['empty output', { H: 2, pad: 'none' }, /empty output/],
    ['unknown padding', { pad: 'valid' }, /unknown padding 'valid'/],
    ['act code', { act: 7 }, /act code 7/],
    ['missing scratch', { scratch: 0 }, /args.scratch is missing: this shape needs \d+ bytes/],
    ['unaligned scratch', { scratch: 16388 }, /scratch=16388 must be 16-byte aligned/],
    ['misaligned x', { x: 66 }, /pointer x=66/],
    ['y overlapping x', { y: 64 + 4 * 8 * 81 - 4 }, /y \[\d+, \d+\) overlaps x \[64, \d+\)/],
    ['scratch overlapping y', { scratch: 4096 + 16 }, /scratch \[\d+, \d+\) overlaps y/],
    ['zero H', { H: 0 }, /H must be a positive integer, got 0/],
    ['dilation 0', { dilation: 0 }, /dilation must be a positive integer, got 0/],
    ['dilation 1.5', { dilation: 1.5 }, /dilation must be a positive integer, got 1.5/],
    ['dilated extent past the input', { dilation: 5, pad: 'none' }, /conv 3x3\/1 dilation 5 \(extent 11x11\) on 9x9 gives an empty output/],
  ];
  it.each(cases)('%s', (_n, patch, msg) => {
    expect(() => conv2dWords({ ...base, ...patch } as never)).toThrow(msg);
  });

  it('writes the documented word layout', () => {
    const words = conv2dWords({ ...base, bias: 1024, act: 5, pad: 'tf-same', stride: 2, H: 10, W: 11, cinActive: 5, coutActive: 7 });
    // x w y bias scale shift scratch cin cout cinA coutA groups gA H W OH OW k s padT padL act padB padR dilation
    expect(Array.from(words)).toEqual([64, 128, 4096, 1024, 0, 0, 16384, 8, 12, 5, 7, 1, 1, 10, 11, 5, 6, 3, 2, 0, 1, 5, 1, 1, 1]);
    // dilation 2: TF SAME over the extent 5: total 3 rows (4*2 + 5 - 10), 1 top / 2 bottom; 4 columns, 2 / 2
    const d2 = conv2dWords({ ...base, pad: 'tf-same', stride: 2, H: 10, W: 11, dilation: 2 });
    expect(Array.from(d2.subarray(15, 25))).toEqual([5, 6, 3, 2, 1, 2, 0, 2, 2, 2]);
  });

  it('dwconv refuses a dilation (convAuto sends it to conv2d)', () => {
    expect(() => dwconvWords({ ...base, cin: 8, cout: 8, groups: 8, dilation: 2 })).toThrow(/dwconv has dilation 1, got 2; a dilated depthwise conv runs through conv2d with groups = channels/);
  });

  it('scratch for the full width covers every narrower mode', () => {
    for (const s of [
      { cin: 24, cout: 144, groups: 4, H: 33, W: 31, k: 5, stride: 2, pad: 'same' },
      { cin: 96, cout: 40, groups: 4, H: 200, W: 160, k: 3, stride: 2, pad: 'same' },
    ] as Conv2dShape[]) {
      const full = conv2dScratchBytes(s);
      for (let g = 1; g <= 4; g++) expect(conv2dScratchBytes({ ...s, groupsActive: g })).toBeLessThanOrEqual(full);
    }
    for (const s of [
      { cin: 64, cout: 64, H: 32, W: 32, k: 3, stride: 1, pad: 'same' },
      { cin: 96, cout: 40, H: 300, W: 301, k: 5, stride: 2, pad: 'tf-same' },
    ] as Conv2dShape[]) {
      const full = conv2dScratchBytes(s);
      for (let ci = 1; ci <= s.cin; ci += 7) {
        for (let co = 1; co <= s.cout; co += 5) expect(conv2dScratchBytes({ ...s, cinActive: ci, coutActive: co })).toBeLessThanOrEqual(full);
      }
    }
  });
});
