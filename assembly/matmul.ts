import { pi, pp, actf, act4, act_apply, ACT_NONE, ACT_RELU, ACT_RELU6 } from './common';

// act4 (common.ts) is the 4-lane twin of actf: the same float operations, swish and
// sigmoid included (exp4/expf), so the SIMD and scalar builds produce identical values.
export { act4 };

// matmul(p): pointwise (1x1) conv and linear layers as one channel-sliced matmul.
//   y[co][j] = act((sum_ci W[co][ci] * x[ci][j] + bias[co]) * scale[co] + shift[co])
// for co < coutActive, ci < cinActive, j < n (n = H*W positions; a linear layer is n = 1).
// params: [0] x f32* [cinActive][n]  [1] w f32* [coutFull][cinFull]  [2] y f32* [coutActive][n]
//         [3] bias f32* [coutFull] | 0  [4] scale f32* | 0  [5] shift f32* | 0   (0 = absent)
//         [6] cinFull (weight row stride)  [7] cinActive  [8] coutActive  [9] n
//         [10] act code | (P / 4) << 8: the first P weight rows are packed ("Packed rows" below)
//
// SIMD: a 4x8 register tile (4 output channels x 8 positions = 8 f32x4 accumulators, the
// widest that fits V8's 15 xmm registers with 2 x vectors and 4 weight broadcasts). The ci
// loop is not unrolled: V8 hoists every load of a loop body to its top, and two steps' loads
// plus 8 accumulators spilled 4 of them (measured 23 vs 28-34 GFLOP/s). Remainders: 1x8
// rows for co % 4, 4x4/1x4 tiles for n % 8 (1-3 columns of packed rows: colsPacked), then
// scalar columns. Positions run in panels (see matmul()), the epilogue in a separate pass per
// panel (bias + relu6 alone: in the packed tiles, tile4x8p's relu6). n == 1 runs as dot products
// vectorized over ci instead. Scalar build: a 2x4 tile (8 accumulators), same structure.
//
// Packed rows: plan_bind (SIMD build, n > 1) rewrites the first P = 4*floor(rows/4) weight rows
// in groups of four, [group][ci][4], so a 4-row tile reads its weights as one stream through
// one pointer: four row streams each re-read per panel left the whole network ~3% slower (the
// weights come from L3 or memory there), and four pointers cost four increments per step. A
// group starts where its first row started; row co of a group is ci-strided by 16 bytes at
// offset (co & 3) * 4 (rowAt). Sums are the same in either layout.

// (acc + b) * s + sh, then the activation, stored at dst. b/s/sh are the channel's splats.
@inline export function epi4(dst: usize, acc: v128, b: v128, s: v128, sh: v128, act: i32): void {
  v128.store(dst, act4(f32x4.add(f32x4.mul(f32x4.add(acc, b), s), sh), act));
}

@inline export function epi1(dst: usize, acc: f32, b: f32, s: f32, sh: f32, act: i32): void {
  store<f32>(dst, actf((acc + b) * s + sh, act));
}

@inline export function chanB(bias: usize, c: i32): f32 {
  return bias ? load<f32>(bias + (<usize>c << 2)) : 0;
}
@inline export function chanS(scale: usize, c: i32): f32 {
  return scale ? load<f32>(scale + (<usize>c << 2)) : 1;
}

export function matmul(p: usize): void {
  const x = pp(p, 0), w = pp(p, 1), y = pp(p, 2);
  const bias = pp(p, 3), scale = pp(p, 4), shift = pp(p, 5);
  const cinF = pi(p, 6), K = pi(p, 7), M = pi(p, 8), n = pi(p, 9), actWord = pi(p, 10);
  const act = actWord & 0xff, P = (actWord >>> 8) << 2;
  const ws = <usize>cinF << 2; // bytes between weight rows
  const xs = <usize>n << 2; // bytes between input channels (and between output channels)

  if (n == 1) {
    linear(x, w, y, bias, scale, shift, ws, K, M, act);
    return;
  }
  const epi = bias != 0 || scale != 0 || shift != 0 || act != ACT_NONE;

  // Panels of nb positions whose x block (K x nb) stays in L1 while every output channel
  // sweeps it; each input row is then read as a few consecutive cache lines, which the
  // prefetcher follows better than K interleaved 32-byte streams. The tiles store raw sums;
  // the epilogue runs once per channel over the panel while it is still in L1, which keeps
  // the microkernels free of per-tile epilogue code and accumulator spills.
  // Bias and relu6 without scale or shift (imported expansion layers): the packed 4x8 tiles apply
  // them to their accumulators before storing, instead of a pass over the stored panel, which cost
  // 5-8% of the layers with K <= 64. The epilogue pass then covers only what other tiles stored.
  const fuse = ASC_FEATURE_SIMD && act == ACT_RELU6 && bias != 0 && scale == 0 && shift == 0;
  const G = min(P, M & ~3);
  let e0 = 0, cols = false;
  let nb = (6144 / K) & ~7;
  if (nb < 8) nb = 8;
  for (let j = 0; j < n; ) {
    let je = j + nb;
    if (je > n || n - je < 8) je = n; // the last panel takes the remainder columns
    const xj = x + (<usize>j << 2), yj = y + (<usize>j << 2);
    const len = je - j;
    let jj = 0;
    if (ASC_FEATURE_SIMD) {
      // 8-wide tiles cover the whole panel when it has 8 columns or more: the last tile ends at
      // the panel's end, overlapping the one before. Overlapped outputs get the same sums again,
      // and a leftover column does not run as a latency-bound scalar chain. (One call site per
      // tile: binaryen then inlines it, which measured faster than a call per tile.)
      // A remainder of 1..4 columns runs as one 4-wide tile instead (it costs about 2/3 of an
      // 8-wide one): 49 = 6 x 8 + 4 overlapped.
      const rem = len & 7;
      // 1-3 leftover columns of packed rows run as columns (colsPacked) instead
      cols = len >= 8 && P >= 4 && rem >= 1 && rem <= 3;
      const l8 = len < 8 ? 0 : rem == 0 || rem > 4 ? len : len & ~7;
      let co = 0;
      for (; co + 4 <= M; co += 4) {
        const wc = w + <usize>co * ws, yc = yj + <usize>co * xs;
        if (co < P && fuse) {
          const bc = bias + (<usize>co << 2);
          for (let t = 0; t < l8; ) {
            const tt = t + 8 <= l8 ? t : l8 - 8;
            tile4x8p(xj + (<usize>tt << 2), xs, wc, yc + (<usize>tt << 2), K, bc, true);
            t = tt + 8;
          }
        } else if (co < P) {
          for (let t = 0; t < l8; ) {
            const tt = t + 8 <= l8 ? t : l8 - 8;
            tile4x8p(xj + (<usize>tt << 2), xs, wc, yc + (<usize>tt << 2), K, 0, false);
            t = tt + 8;
          }
        } else {
          for (let t = 0; t < l8; ) {
            const tt = t + 8 <= l8 ? t : l8 - 8;
            tile4x8(xj + (<usize>tt << 2), xs, wc, ws, yc + (<usize>tt << 2), K);
            t = tt + 8;
          }
        }
      }
      for (; co < M; co++) {
        const wc = rowAt(w, ws, co, P), ks = rowStep(co, P), yc = yj + <usize>co * xs;
        for (let t = 0; t < l8; ) {
          const tt = t + 8 <= l8 ? t : l8 - 8;
          tile1x8(xj + (<usize>tt << 2), xs, wc, ks, yc + (<usize>tt << 2), K);
          t = tt + 8;
        }
      }
      jj = l8;
      // packed rows' columns from l8 on are raw sums: columns (1-3 left), one 4-wide tile (4 left)
      // or, with fewer than 8 in the panel, everything
      e0 = l8;
      if (cols) {
        colsPacked(xj, xs, w, ws, yj, K, P, M, jj, len);
        jj = len;
      }
      if (jj < len && len >= 4) {
        // 4-wide tiles from jj to the end, the last one overlapping
        co = 0;
        for (; co + 4 <= M; co += 4) {
          const yc = yj + <usize>co * xs;
          // four rows as four (pointer, step) pairs: packed groups step 16 bytes per ci
          const w0 = rowAt(w, ws, co, P), w1 = rowAt(w, ws, co + 1, P), w2 = rowAt(w, ws, co + 2, P), w3 = rowAt(w, ws, co + 3, P);
          const ks = rowStep(co, P);
          for (let t = jj; t < len; ) {
            const tt = t + 4 <= len ? t : len - 4;
            tile4x4(xj + (<usize>tt << 2), xs, w0, w1, w2, w3, ks, yc + (<usize>tt << 2), K);
            t = tt + 4;
          }
        }
        for (; co < M; co++) {
          const wc = rowAt(w, ws, co, P), ks = rowStep(co, P), yc = yj + <usize>co * xs;
          for (let t = jj; t < len; ) {
            const tt = t + 4 <= len ? t : len - 4;
            tile1x4(xj + (<usize>tt << 2), xs, wc, ks, yc + (<usize>tt << 2), K);
            t = tt + 4;
          }
        }
        jj = len;
      }
    } else {
      const l4 = len >= 4 ? len : 0; // the last tile overlaps, as in the SIMD build
      let co = 0;
      for (; co + 2 <= M; co += 2) {
        const w0 = rowAt(w, ws, co, P), w1 = rowAt(w, ws, co + 1, P), yc = yj + <usize>co * xs;
        const k0 = rowStep(co, P), k1 = rowStep(co + 1, P);
        for (let t = 0; t < l4; ) {
          const tt = t + 4 <= l4 ? t : l4 - 4;
          stile2x4(xj + (<usize>tt << 2), xs, w0, k0, w1, k1, yc + (<usize>tt << 2), K);
          t = tt + 4;
        }
      }
      if (co < M) {
        const wc = rowAt(w, ws, co, P), ks = rowStep(co, P), yc = yj + <usize>co * xs;
        for (let t = 0; t < l4; ) {
          const tt = t + 4 <= l4 ? t : l4 - 4;
          stile1x4(xj + (<usize>tt << 2), xs, wc, ks, yc + (<usize>tt << 2), K);
          t = tt + 4;
        }
      }
      jj = l4;
    }
    // leftover positions (n % 4), one column at a time
    for (; jj < len; jj++) {
      const xt = xj + (<usize>jj << 2), yt = yj + (<usize>jj << 2);
      for (let co = 0; co < M; co++) {
        const wr = rowAt(w, ws, co, P), ks = rowStep(co, P);
        let acc: f32 = 0;
        for (let ci = 0; ci < K; ci++) acc += load<f32>(wr + <usize>ci * ks) * load<f32>(xt + <usize>ci * xs);
        store<f32>(yt + <usize>co * xs, acc);
      }
    }
    if (epi) {
      for (let co = 0; co < M; co++) {
        const e = fuse && co < G ? e0 : 0;
        epiRow(yj + <usize>co * xs + (<usize>e << 2), len - e, chanB(bias, co), chanS(scale, co), chanB(shift, co), act);
      }
    }
    j = je;
  }
}

// In place over len floats: v = act((v + b) * s + h). Both builds compute the same values, NaN
// included: pmax/pmin select like the scalar comparisons (relu maps NaN to 0, relu6 keeps it).
// The activation is chosen outside the loops: an in-loop switch costs as much as the work.
export function epiRow(y: usize, len: i32, b: f32, s: f32, h: f32, act: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const bv = f32x4.splat(b), sv = f32x4.splat(s), hv = f32x4.splat(h);
    const z = f32x4.splat(0), six = f32x4.splat(6);
    if (act == ACT_RELU) {
      for (; i + 4 <= len; i += 4) {
        const a = y + (<usize>i << 2);
        v128.store(a, f32x4.pmax(z, f32x4.add(f32x4.mul(f32x4.add(v128.load(a), bv), sv), hv)));
      }
    } else if (act == ACT_RELU6) {
      for (; i + 4 <= len; i += 4) {
        const a = y + (<usize>i << 2);
        v128.store(a, f32x4.pmin(f32x4.pmax(f32x4.add(f32x4.mul(f32x4.add(v128.load(a), bv), sv), hv), z), six));
      }
    } else {
      for (; i + 4 <= len; i += 4) {
        const a = y + (<usize>i << 2);
        v128.store(a, f32x4.add(f32x4.mul(f32x4.add(v128.load(a), bv), sv), hv));
      }
      if (act != ACT_NONE) act_apply(y, i, act);
    }
  }
  for (; i < len; i++) {
    const a = y + (<usize>i << 2);
    epi1(a, load<f32>(a), b, s, h, act);
  }
}

// Where weight row co starts, and the bytes from one ci to the next (P: packed rows).
@inline function rowAt(w: usize, ws: usize, co: i32, P: i32): usize {
  return co < P ? w + <usize>(co & ~3) * ws + (<usize>(co & 3) << 2) : w + <usize>co * ws;
}
@inline function rowStep(co: i32, P: i32): usize {
  return co < P ? 16 : 4;
}

// 4 channels x 8 positions. x: panel start, xs: bytes per input channel; w: first weight row.
@inline function tile4x8(x: usize, xs: usize, w: usize, ws: usize, y: usize, K: i32): void {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  // four row pointers stepped separately: x64 addressing has room for one index next to
  // the memory base, so shared-offset forms cost V8 a lea per row per iteration
  let w0 = w, w1 = w + ws, w2 = w1 + ws, w3 = w2 + ws;
  const wend = w + (<usize>K << 2);
  let xp = x;
  while (w0 < wend) {
    const b0 = v128.load(xp), b1 = v128.load(xp, 16);
    const a0 = v128.load32_splat(w0), a1 = v128.load32_splat(w1);
    const a2 = v128.load32_splat(w2), a3 = v128.load32_splat(w3);
    c00 = f32x4.add(c00, f32x4.mul(a0, b0)); c01 = f32x4.add(c01, f32x4.mul(a0, b1));
    c10 = f32x4.add(c10, f32x4.mul(a1, b0)); c11 = f32x4.add(c11, f32x4.mul(a1, b1));
    c20 = f32x4.add(c20, f32x4.mul(a2, b0)); c21 = f32x4.add(c21, f32x4.mul(a2, b1));
    c30 = f32x4.add(c30, f32x4.mul(a3, b0)); c31 = f32x4.add(c31, f32x4.mul(a3, b1));
    xp += xs; w0 += 4; w1 += 4; w2 += 4; w3 += 4;
  }
  const y1 = y + xs, y2 = y1 + xs, y3 = y2 + xs;
  v128.store(y, c00); v128.store(y, c01, 16);
  v128.store(y1, c10); v128.store(y1, c11, 16);
  v128.store(y2, c20); v128.store(y2, c21, 16);
  v128.store(y3, c30); v128.store(y3, c31, 16);
}

// tile4x8 over a packed group: the four weights of a step are 16 consecutive bytes. relu6 (a
// constant at each inlined call site): then (acc + bias) * 1 + 0 and relu6 as epiRow computes them
// before the store, bc the 4 rows' biases; else raw sums. (Also fusing relu and no activation,
// through a branch per tile, left every layer 1-2% slower.)
@inline function tile4x8p(x: usize, xs: usize, w: usize, y: usize, K: i32, bc: usize, relu6: bool): void {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  let wp = w;
  const wend = w + (<usize>K << 4);
  let xp = x;
  while (wp < wend) {
    const b0 = v128.load(xp), b1 = v128.load(xp, 16);
    const a0 = v128.load32_splat(wp), a1 = v128.load32_splat(wp, 4);
    const a2 = v128.load32_splat(wp, 8), a3 = v128.load32_splat(wp, 12);
    c00 = f32x4.add(c00, f32x4.mul(a0, b0)); c01 = f32x4.add(c01, f32x4.mul(a0, b1));
    c10 = f32x4.add(c10, f32x4.mul(a1, b0)); c11 = f32x4.add(c11, f32x4.mul(a1, b1));
    c20 = f32x4.add(c20, f32x4.mul(a2, b0)); c21 = f32x4.add(c21, f32x4.mul(a2, b1));
    c30 = f32x4.add(c30, f32x4.mul(a3, b0)); c31 = f32x4.add(c31, f32x4.mul(a3, b1));
    xp += xs; wp += 16;
  }
  const y1 = y + xs, y2 = y1 + xs, y3 = y2 + xs;
  if (relu6) {
    const z = f32x4.splat(0);
    let bv = f32x4.add(v128.load32_splat(bc), z);
    c00 = r6(c00, bv); c01 = r6(c01, bv);
    bv = f32x4.add(v128.load32_splat(bc, 4), z);
    c10 = r6(c10, bv); c11 = r6(c11, bv);
    bv = f32x4.add(v128.load32_splat(bc, 8), z);
    c20 = r6(c20, bv); c21 = r6(c21, bv);
    bv = f32x4.add(v128.load32_splat(bc, 12), z);
    c30 = r6(c30, bv); c31 = r6(c31, bv);
  }
  v128.store(y, c00); v128.store(y, c01, 16);
  v128.store(y1, c10); v128.store(y1, c11, 16);
  v128.store(y2, c20); v128.store(y2, c21, 16);
  v128.store(y3, c30); v128.store(y3, c31, 16);
}

// b: the bias + 0 (see dwconv's PLAIN: then a + b is (a + bias) * 1 + 0 to the bit)
@inline function r6(a: v128, b: v128): v128 {
  return f32x4.pmin(f32x4.pmax(f32x4.add(a, b), f32x4.splat(0)), f32x4.splat(6));
}

// Columns [j0, j1) of the panel at x (one position each): packed rows four groups (16 rows) at a
// time, a group's 4 weights of a step one vector against the column's splatted input, so a
// leftover column costs about a quarter of the 4x4 tile that would otherwise cover it (7x7 planes:
// 49 = 6 x 8 + 1). Each sum runs over ci in order from 0, as in the tiles.
function colsPacked(x: usize, xs: usize, w: usize, ws: usize, y: usize, K: i32, P: i32, M: i32, j0: i32, j1: i32): void {
  const gs = ws << 2; // bytes from one packed group to the next
  const G = min(P, M & ~3); // rows in whole packed groups that are all active
  for (let j = j0; j < j1; j++) {
    const xc = x + (<usize>j << 2), yc = y + (<usize>j << 2);
    let co = 0;
    for (; co + 16 <= G; co += 16) col16p(xc, xs, w + <usize>co * ws, gs, yc + <usize>co * xs, K);
    for (; co < G; co += 4) col4p(xc, xs, w + <usize>co * ws, yc + <usize>co * xs, K);
    for (; co < M; co++) {
      const wr = rowAt(w, ws, co, P), ks = rowStep(co, P);
      let acc: f32 = 0;
      for (let ci = 0; ci < K; ci++) acc += load<f32>(wr + <usize>ci * ks) * load<f32>(xc + <usize>ci * xs);
      store<f32>(yc + <usize>co * xs, acc);
    }
  }
}

@inline function col16p(x: usize, xs: usize, w: usize, gs: usize, y: usize, K: i32): void {
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0;
  let w0 = w, w1 = w + gs, w2 = w1 + gs, w3 = w2 + gs;
  const wend = w + (<usize>K << 4);
  let xp = x;
  while (w0 < wend) {
    const xv = v128.load32_splat(xp);
    c0 = f32x4.add(c0, f32x4.mul(v128.load(w0), xv));
    c1 = f32x4.add(c1, f32x4.mul(v128.load(w1), xv));
    c2 = f32x4.add(c2, f32x4.mul(v128.load(w2), xv));
    c3 = f32x4.add(c3, f32x4.mul(v128.load(w3), xv));
    xp += xs; w0 += 16; w1 += 16; w2 += 16; w3 += 16;
  }
  lanes4(y, xs, c0); lanes4(y + (xs << 2), xs, c1);
  lanes4(y + (xs << 3), xs, c2); lanes4(y + xs * 12, xs, c3);
}

@inline function col4p(x: usize, xs: usize, w: usize, y: usize, K: i32): void {
  let c0 = f32x4.splat(0);
  let wp = w;
  const wend = w + (<usize>K << 4);
  let xp = x;
  while (wp < wend) {
    c0 = f32x4.add(c0, f32x4.mul(v128.load(wp), v128.load32_splat(xp)));
    xp += xs; wp += 16;
  }
  lanes4(y, xs, c0);
}

// lane i of v to y + i * ys (four output channels of one column)
@inline function lanes4(y: usize, ys: usize, v: v128): void {
  store<f32>(y, f32x4.extract_lane(v, 0));
  store<f32>(y + ys, f32x4.extract_lane(v, 1));
  store<f32>(y + (ys << 1), f32x4.extract_lane(v, 2));
  store<f32>(y + ys * 3, f32x4.extract_lane(v, 3));
}

// one weight row (ks bytes per ci) x 8 positions
@inline function tile1x8(x: usize, xs: usize, w: usize, ks: usize, y: usize, K: i32): void {
  let c0 = f32x4.splat(0), c1 = c0;
  let xp = x;
  for (let k = 0; k < K; k++) {
    const a = v128.load32_splat(w + <usize>k * ks);
    c0 = f32x4.add(c0, f32x4.mul(a, v128.load(xp)));
    c1 = f32x4.add(c1, f32x4.mul(a, v128.load(xp, 16)));
    xp += xs;
  }
  v128.store(y, c0); v128.store(y, c1, 16);
}

// four weight rows w0..w3 (ks bytes per ci) x 4 positions
@inline function tile4x4(x: usize, xs: usize, w0: usize, w1: usize, w2: usize, w3: usize, ks: usize, y: usize, K: i32): void {
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0;
  let xp = x;
  for (let k = 0; k < K; k++) {
    const o = <usize>k * ks;
    const bv = v128.load(xp);
    c0 = f32x4.add(c0, f32x4.mul(v128.load32_splat(w0 + o), bv));
    c1 = f32x4.add(c1, f32x4.mul(v128.load32_splat(w1 + o), bv));
    c2 = f32x4.add(c2, f32x4.mul(v128.load32_splat(w2 + o), bv));
    c3 = f32x4.add(c3, f32x4.mul(v128.load32_splat(w3 + o), bv));
    xp += xs;
  }
  v128.store(y, c0); v128.store(y + xs, c1); v128.store(y + 2 * xs, c2); v128.store(y + 3 * xs, c3);
}

@inline function tile1x4(x: usize, xs: usize, w: usize, ks: usize, y: usize, K: i32): void {
  let c0 = f32x4.splat(0);
  let xp = x;
  for (let k = 0; k < K; k++) {
    c0 = f32x4.add(c0, f32x4.mul(v128.load32_splat(w + <usize>k * ks), v128.load(xp)));
    xp += xs;
  }
  v128.store(y, c0);
}

// Scalar build: 2 channels x 4 positions (rows w0, w1 with k0, k1 bytes per ci).
function stile2x4(x: usize, xs: usize, w0: usize, k0: usize, w1: usize, k1: usize, y: usize, K: i32): void {
  let c00: f32 = 0, c01: f32 = 0, c02: f32 = 0, c03: f32 = 0;
  let c10: f32 = 0, c11: f32 = 0, c12: f32 = 0, c13: f32 = 0;
  let xp = x, p0 = w0, p1 = w1;
  for (let k = 0; k < K; k++) {
    const a0 = load<f32>(p0), a1 = load<f32>(p1);
    p0 += k0; p1 += k1;
    const b0 = load<f32>(xp), b1 = load<f32>(xp, 4), b2 = load<f32>(xp, 8), b3 = load<f32>(xp, 12);
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    xp += xs;
  }
  store<f32>(y, c00); store<f32>(y, c01, 4); store<f32>(y, c02, 8); store<f32>(y, c03, 12);
  const y1 = y + xs;
  store<f32>(y1, c10); store<f32>(y1, c11, 4); store<f32>(y1, c12, 8); store<f32>(y1, c13, 12);
}

function stile1x4(x: usize, xs: usize, w: usize, ks: usize, y: usize, K: i32): void {
  let c0: f32 = 0, c1: f32 = 0, c2: f32 = 0, c3: f32 = 0;
  let xp = x;
  for (let k = 0; k < K; k++) {
    const a = load<f32>(w + <usize>k * ks);
    c0 += a * load<f32>(xp); c1 += a * load<f32>(xp, 4);
    c2 += a * load<f32>(xp, 8); c3 += a * load<f32>(xp, 12);
    xp += xs;
  }
  store<f32>(y, c0); store<f32>(y, c1, 4); store<f32>(y, c2, 8); store<f32>(y, c3, 12);
}

// n == 1: y[co] = W[co] . x, vectorized over ci (4 rows at a time share each x load).
function linear(x: usize, w: usize, y: usize, bias: usize, scale: usize, shift: usize,
  ws: usize, K: i32, M: i32, act: i32): void {
  let co = 0;
  if (ASC_FEATURE_SIMD) {
    for (; co + 4 <= M; co += 4) {
      const w0 = w + <usize>co * ws, w1 = w0 + ws, w2 = w1 + ws, w3 = w2 + ws;
      let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0;
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        const o = <usize>k << 2;
        const xv = v128.load(x + o);
        c0 = f32x4.add(c0, f32x4.mul(v128.load(w0 + o), xv));
        c1 = f32x4.add(c1, f32x4.mul(v128.load(w1 + o), xv));
        c2 = f32x4.add(c2, f32x4.mul(v128.load(w2 + o), xv));
        c3 = f32x4.add(c3, f32x4.mul(v128.load(w3 + o), xv));
      }
      // transpose-and-add: lane r of the result is the horizontal sum of c_r
      const t0 = f32x4.add(f32x4.shuffle(c0, c1, 0, 4, 1, 5), f32x4.shuffle(c0, c1, 2, 6, 3, 7));
      const t1 = f32x4.add(f32x4.shuffle(c2, c3, 0, 4, 1, 5), f32x4.shuffle(c2, c3, 2, 6, 3, 7));
      let s = f32x4.add(f32x4.shuffle(t0, t1, 0, 1, 4, 5), f32x4.shuffle(t0, t1, 2, 3, 6, 7));
      for (; k < K; k++) {
        const o = <usize>k << 2;
        const xk = load<f32>(x + o);
        let tail = f32x4.splat(load<f32>(w0 + o) * xk);
        tail = f32x4.replace_lane(tail, 1, load<f32>(w1 + o) * xk);
        tail = f32x4.replace_lane(tail, 2, load<f32>(w2 + o) * xk);
        tail = f32x4.replace_lane(tail, 3, load<f32>(w3 + o) * xk);
        s = f32x4.add(s, tail);
      }
      const bv = bias ? v128.load(bias + (<usize>co << 2)) : f32x4.splat(0);
      const sv = scale ? v128.load(scale + (<usize>co << 2)) : f32x4.splat(1);
      const hv = shift ? v128.load(shift + (<usize>co << 2)) : f32x4.splat(0);
      epi4(y + (<usize>co << 2), s, bv, sv, hv, act);
    }
  }
  for (; co < M; co++) {
    const wr = w + <usize>co * ws;
    let a0: f32 = 0, a1: f32 = 0, a2: f32 = 0, a3: f32 = 0;
    let k = 0;
    for (; k + 4 <= K; k += 4) {
      const o = <usize>k << 2;
      a0 += load<f32>(wr + o) * load<f32>(x + o);
      a1 += load<f32>(wr + o, 4) * load<f32>(x + o, 4);
      a2 += load<f32>(wr + o, 8) * load<f32>(x + o, 8);
      a3 += load<f32>(wr + o, 12) * load<f32>(x + o, 12);
    }
    // same pairing as the SIMD transpose-and-add, so both builds agree bit for bit
    let acc = (a0 + a2) + (a1 + a3);
    for (; k < K; k++) acc += load<f32>(wr + (<usize>k << 2)) * load<f32>(x + (<usize>k << 2));
    epi1(y + (<usize>co << 2), acc, chanB(bias, co), chanS(scale, co), chanB(shift, co), act);
  }
}
