import { pi, pp, actf, ACT_NONE, ACT_RELU, ACT_RELU6, ACT_HSWISH } from './common';

// conv2d(p): dense or grouped KxK convolution (K in {1,3,5}, stride 1 or 2),
// NCHW float32 activations (batch 1), OIHW weights, fused per-channel epilogue
//   y[c] = act((acc[c] + bias[c]) * scale[c] + shift[c])
// Mirrored by src/ops/conv2d.ts, which computes every size below.
//
// params (32-bit words):
//  [0] x       f32*  input [cin][H][W]
//  [1] w       f32*  weights [cout][cin/groups][k][k] (full, allocated sizes)
//  [2] y       f32*  output [coutA][OH][OW], coutA = coutActive (groups 1) or groupsActive*cout/groups
//  [3] bias    f32*  [cout] or 0 (absent: 0)
//  [4] scale   f32*  [cout] or 0 (absent: 1)
//  [5] shift   f32*  [cout] or 0 (absent: 0)
//  [6] scratch u8*   conv2dScratchBytes() bytes, 16-aligned (always needed)
//  [7] cin   [8] cout                full sizes: the weight strides
//  [9] cinActive  [10] coutActive    loop bounds when groups == 1
//  [11] groups  [12] groupsActive    groups > 1: only the first groupsActive groups run
//  [13] H  [14] W  [15] OH  [16] OW
//  [17] k  [18] stride  [19] padT  [20] padL  [21] act (common.ts)
//  [22] padB  [23] padR              only tested for zero; the extent read follows from OH/OW
//
// Scratch, in order (byte sizes):
//   stage  128    4x8 staging block: when OW < 8 a tile is written here, then OW columns copied out
//   epi    64     bias, scale, shift of the current 4 output channels
//   tab    T*4    (rounded to 16) byte offset of every tap, T = ciN*k*k, ciN = cinActive
//                 (groups 1) or cin/groups
//   copy   C*Hp*Wrow*4, only when stride 2, any padding, or OW < 8: zero-padded copy of the
//                 C active input channels, Hp = (OH-1)*stride + k rows, so tiles never test
//                 borders. Stride 1: Wrow = max(OW,8) - 1 + k. Stride 2: each row is
//                 [even padded columns | odd padded columns], E = max(OW,8) + (k-1)/2 each,
//                 Wrow = 2E: tap kx of output column ox sits at phase kx&1, index ox + kx>>1,
//                 so eight consecutive outputs read eight consecutive floats as with stride 1.
//
// Tiles: SIMD = 4 output channels x 8 output columns (8 f32x4 accumulators, the most V8's
// 15 xmm registers hold without spilling); scalar = 4 x 2. A channel tail shorter than 4
// clamps the extra lanes to the last channel (they recompute and rewrite the same values);
// a column tail re-runs the last full-width tile shifted left, overlapping the previous one.

const STAGE_BYTES: i32 = 4 * 8 * 4; // 4x8 staging block for outputs narrower than a tile
const EPI_BYTES: i32 = 64; // bias, scale, shift of the current 4 channels (12 floats)

export function conv2d(p: usize): void {
  const x = pp(p, 0), w = pp(p, 1), y = pp(p, 2);
  const bias = pp(p, 3), scale = pp(p, 4), shift = pp(p, 5), scratch = pp(p, 6);
  const cin = pi(p, 7), cout = pi(p, 8), groups = pi(p, 11);
  const H = pi(p, 13), W = pi(p, 14), OH = pi(p, 15), OW = pi(p, 16);
  const K = pi(p, 17), S = pi(p, 18), padT = pi(p, 19), padL = pi(p, 20), act = pi(p, 21);

  const cinG = cin / groups, coutG = cout / groups;
  const ciN = groups == 1 ? pi(p, 9) : cinG;
  const coN = groups == 1 ? pi(p, 10) : coutG;
  const gN = groups == 1 ? 1 : pi(p, 12);
  const KK = K * K;

  const stage = scratch, epi = scratch + STAGE_BYTES, tab = epi + EPI_BYTES;
  const T = ciN * KK;
  const copyAt = tab + ((<usize>T << 2) + 15 & ~15);

  // Source geometry: padded copy in scratch, or the input itself.
  const OWe = OW < 8 ? 8 : OW;
  const copy = S != 1 || padT != 0 || padL != 0 || pi(p, 22) != 0 || pi(p, 23) != 0 || OW < 8;
  let src = x;
  let Wrow = W, plane = H * W, E = 0;
  if (copy) {
    const Hp = (OH - 1) * S + K;
    if (S == 1) {
      Wrow = OWe - 1 + K;
    } else {
      E = OWe + ((K - 1) >> 1);
      Wrow = 2 * E;
    }
    plane = Hp * Wrow;
    src = copyAt;
    padCopy(x, src, (gN - 1) * cinG + ciN, H, W, Hp, Wrow, E, padT, padL, S);
  }
  const Wrow4 = <usize>Wrow << 2, plane4 = <usize>plane << 2;

  // Byte offset of every tap (ci, ky, kx) from the tile origin, in the weights' order, so
  // the inner loop walks one filter with a single index. Stride 2 keeps odd padded
  // columns E floats after the even ones: tap kx is at phase kx&1, index kx>>1.
  for (let ci = 0; ci < ciN; ci++) {
    for (let ky = 0; ky < K; ky++) {
      for (let kx = 0; kx < K; kx++) {
        const col = S == 1 ? kx : (kx & 1) * E + (kx >> 1);
        const off = <usize>ci * plane4 + <usize>ky * Wrow4 + (<usize>col << 2);
        store<i32>(tab + (<usize>((ci * K + ky) * K + kx) << 2), <i32>off);
      }
    }
  }
  const T4 = <usize>T << 2;
  const oplane4 = <usize>(OH * OW) << 2;
  const wco4 = <usize>(cinG * KK) << 2; // bytes between output channels' filters
  const rowStep = <usize>(S * Wrow) << 2;

  for (let g = 0; g < gN; g++) {
    const xg = src + <usize>(g * cinG) * plane4;
    for (let cb = 0; cb < coN; cb += 4) {
      // Channel tail: lanes past the end repeat the last channel.
      const c1 = cb + 1 < coN ? cb + 1 : coN - 1;
      const c2 = cb + 2 < coN ? cb + 2 : coN - 1;
      const c3 = cb + 3 < coN ? cb + 3 : coN - 1;
      const wc0 = g * coutG + cb, wc1 = g * coutG + c1, wc2 = g * coutG + c2, wc3 = g * coutG + c3;
      const w0 = w + <usize>wc0 * wco4, w1 = w + <usize>wc1 * wco4;
      const w2 = w + <usize>wc2 * wco4, w3 = w + <usize>wc3 * wco4;
      const y0 = y + <usize>(g * coN + cb) * oplane4, y1 = y + <usize>(g * coN + c1) * oplane4;
      const y2 = y + <usize>(g * coN + c2) * oplane4, y3 = y + <usize>(g * coN + c3) * oplane4;
      setEpi(epi, 0, bias, wc0, wc1, wc2, wc3, 0);
      setEpi(epi, 16, scale, wc0, wc1, wc2, wc3, 1);
      setEpi(epi, 32, shift, wc0, wc1, wc2, wc3, 0);

      let xr = xg, yo: usize = 0;
      for (let oy = 0; oy < OH; oy++) {
        if (ASC_FEATURE_SIMD) {
          if (OW < 8) {
            tile4x8(xr, tab, T4, w0, w1, w2, w3, stage, stage + 32, stage + 64, stage + 96, epi, act);
            unstage(stage, OW, y0 + yo, y1 + yo, y2 + yo, y3 + yo);
          } else {
            for (let ox = 0; ox < OW; ox += 8) {
              // Column tail: shift the last tile left over columns already written.
              const o4 = <usize>(ox + 8 <= OW ? ox : OW - 8) << 2;
              tile4x8(xr + o4, tab, T4, w0, w1, w2, w3, y0 + yo + o4, y1 + yo + o4, y2 + yo + o4, y3 + yo + o4, epi, act);
            }
          }
        } else {
          if (OW < 2) {
            tile4x2(xr, tab, T4, w0, w1, w2, w3, stage, stage + 32, stage + 64, stage + 96, epi, act);
            unstage(stage, OW, y0 + yo, y1 + yo, y2 + yo, y3 + yo);
          } else {
            for (let ox = 0; ox < OW; ox += 2) {
              const o4 = <usize>(ox + 2 <= OW ? ox : OW - 2) << 2;
              tile4x2(xr + o4, tab, T4, w0, w1, w2, w3, y0 + yo + o4, y1 + yo + o4, y2 + yo + o4, y3 + yo + o4, epi, act);
            }
          }
        }
        xr += rowStep;
        yo += <usize>OW << 2;
      }
    }
  }
}

@inline function setEpi(epi: usize, at: usize, v: usize, c0: i32, c1: i32, c2: i32, c3: i32, dflt: f32): void {
  store<f32>(epi + at, v != 0 ? load<f32>(v + (<usize>c0 << 2)) : dflt);
  store<f32>(epi + at + 4, v != 0 ? load<f32>(v + (<usize>c1 << 2)) : dflt);
  store<f32>(epi + at + 8, v != 0 ? load<f32>(v + (<usize>c2 << 2)) : dflt);
  store<f32>(epi + at + 12, v != 0 ? load<f32>(v + (<usize>c3 << 2)) : dflt);
}

// Copies the first OW columns of each staged channel row (8 floats apart) to the output.
function unstage(st: usize, OW: i32, y0: usize, y1: usize, y2: usize, y3: usize): void {
  for (let i = 0; i < OW; i++) {
    const o = <usize>i << 2;
    store<f32>(y0 + o, load<f32>(st + o));
    store<f32>(y1 + o, load<f32>(st + 32 + o));
    store<f32>(y2 + o, load<f32>(st + 64 + o));
    store<f32>(y3 + o, load<f32>(st + 96 + o));
  }
}

// 4 channels x 8 columns; one tap per iteration. V8 hoists every load of a loop body to
// its top, so a body with more taps keeps more loaded vectors alive and spills: one tap is
// 8 accumulators + 2 inputs + 4 weights + 1 product = all 15 allocatable xmm registers.
function tile4x8(
  xr: usize, tab: usize, T4: usize, w0: usize, w1: usize, w2: usize, w3: usize,
  y0: usize, y1: usize, y2: usize, y3: usize, epi: usize, act: i32,
): void {
  if (!ASC_FEATURE_SIMD) return;
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let t: usize = 0; t < T4; t += 4) {
    const xa = xr + <usize>load<u32>(tab + t);
    const a0 = v128.load(xa), a1 = v128.load(xa, 16);
    let b = v128.load32_splat(w0 + t);
    c00 = f32x4.add(c00, f32x4.mul(a0, b)); c01 = f32x4.add(c01, f32x4.mul(a1, b));
    b = v128.load32_splat(w1 + t);
    c10 = f32x4.add(c10, f32x4.mul(a0, b)); c11 = f32x4.add(c11, f32x4.mul(a1, b));
    b = v128.load32_splat(w2 + t);
    c20 = f32x4.add(c20, f32x4.mul(a0, b)); c21 = f32x4.add(c21, f32x4.mul(a1, b));
    b = v128.load32_splat(w3 + t);
    c30 = f32x4.add(c30, f32x4.mul(a0, b)); c31 = f32x4.add(c31, f32x4.mul(a1, b));
  }
  // Channel by channel: a clamped duplicate lane rewrites the same address, so each
  // channel's store (and its scalar activation pass) must finish before the next one's.
  store8(y0, c00, c01, epi, 0, act);
  store8(y1, c10, c11, epi, 4, act);
  store8(y2, c20, c21, epi, 8, act);
  store8(y3, c30, c31, epi, 12, act);
}

// Epilogue for one channel's 8 columns. Swish and sigmoid go through the scalar actf
// after the store so both builds give the same values for them.
@inline function store8(yp: usize, v0: v128, v1: v128, epi: usize, j: usize, act: i32): void {
  if (!ASC_FEATURE_SIMD) return;
  const vb = v128.load32_splat(epi + j), vs = v128.load32_splat(epi + 16 + j), vh = v128.load32_splat(epi + 32 + j);
  v0 = f32x4.add(f32x4.mul(f32x4.add(v0, vb), vs), vh);
  v1 = f32x4.add(f32x4.mul(f32x4.add(v1, vb), vs), vh);
  if (act == ACT_NONE) {
    v128.store(yp, v0);
    v128.store(yp, v1, 16);
  } else if (act == ACT_RELU || act == ACT_RELU6 || act == ACT_HSWISH) {
    const z = f32x4.splat(0), six = f32x4.splat(6);
    if (act == ACT_RELU) {
      v0 = f32x4.max(v0, z);
      v1 = f32x4.max(v1, z);
    } else if (act == ACT_RELU6) {
      v0 = f32x4.min(f32x4.max(v0, z), six);
      v1 = f32x4.min(f32x4.max(v1, z), six);
    } else {
      const three = f32x4.splat(3), sixth = f32x4.splat(<f32>1.0 / 6);
      v0 = f32x4.mul(f32x4.mul(v0, f32x4.min(f32x4.max(f32x4.add(v0, three), z), six)), sixth);
      v1 = f32x4.mul(f32x4.mul(v1, f32x4.min(f32x4.max(f32x4.add(v1, three), z), six)), sixth);
    }
    v128.store(yp, v0);
    v128.store(yp, v1, 16);
  } else {
    v128.store(yp, v0);
    v128.store(yp, v1, 16);
    for (let i = 0; i < 8; i++) {
      const a = yp + (<usize>i << 2);
      store<f32>(a, actf(load<f32>(a), act));
    }
  }
}

// Scalar build: 4 channels x 2 columns (8 accumulators + 2 inputs + 4 weights fit the
// register file). Same source layout and tap table as the SIMD tile.
function tile4x2(
  xr: usize, tab: usize, T4: usize, w0: usize, w1: usize, w2: usize, w3: usize,
  y0: usize, y1: usize, y2: usize, y3: usize, epi: usize, act: i32,
): void {
  let c00: f32 = 0, c01: f32 = 0, c10: f32 = 0, c11: f32 = 0;
  let c20: f32 = 0, c21: f32 = 0, c30: f32 = 0, c31: f32 = 0;
  for (let t: usize = 0; t < T4; t += 4) {
    const xa = xr + <usize>load<u32>(tab + t);
    const a0 = load<f32>(xa), a1 = load<f32>(xa, 4);
    let b = load<f32>(w0 + t); c00 += a0 * b; c01 += a1 * b;
    b = load<f32>(w1 + t); c10 += a0 * b; c11 += a1 * b;
    b = load<f32>(w2 + t); c20 += a0 * b; c21 += a1 * b;
    b = load<f32>(w3 + t); c30 += a0 * b; c31 += a1 * b;
  }
  store2(y0, c00, c01, epi, 0, act);
  store2(y1, c10, c11, epi, 4, act);
  store2(y2, c20, c21, epi, 8, act);
  store2(y3, c30, c31, epi, 12, act);
}

@inline function store2(yp: usize, v0: f32, v1: f32, epi: usize, j: usize, act: i32): void {
  const b = load<f32>(epi + j), s = load<f32>(epi + 16 + j), h = load<f32>(epi + 32 + j);
  store<f32>(yp, actf((v0 + b) * s + h, act));
  store<f32>(yp, actf((v1 + b) * s + h, act), 4);
}

// Zero-padded copy of C channels into [C][Hp][Wrow]. Stride 2 rows are split into
// even and odd padded columns, E each. Every word of the copy is written (zeros, not
// leftovers: stale scratch could hold denormals or NaN).
function padCopy(
  x: usize, dst: usize, C: i32, H: i32, W: i32, Hp: i32, Wrow: i32, E: i32,
  padT: i32, padL: i32, S: i32,
): void {
  const Wrow4 = <usize>Wrow << 2, E4 = <usize>E << 2;
  for (let c = 0; c < C; c++) {
    const sc = x + (<usize>(c * H * W) << 2);
    const dc = dst + <usize>(c * Hp) * Wrow4;
    for (let r = 0; r < Hp; r++) {
      const d = dc + <usize>r * Wrow4;
      const iy = r - padT;
      if (iy < 0 || iy >= H) {
        zeroRow(d, Wrow);
      } else {
        const srow = sc + (<usize>(iy * W) << 2);
        if (S == 1) {
          gatherRow(d, srow, Wrow, -padL, W, 1);
        } else {
          gatherRow(d, srow, E, -padL, W, 2);
          gatherRow(d + E4, srow, E, 1 - padL, W, 2);
        }
      }
    }
  }
}

@inline function zeroRow(d: usize, n: i32): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    for (; j + 4 <= n; j += 4) v128.store(d + (<usize>j << 2), f32x4.splat(0));
  }
  for (; j < n; j++) store<f32>(d + (<usize>j << 2), 0);
}

// d[j] = src[ix0 + j*step] where that index is inside [0, W), else 0; j < n.
function gatherRow(d: usize, src: usize, n: i32, ix0: i32, W: i32, step: i32): void {
  // First j whose index is >= 0, and first j whose index is >= W, both within [0, n].
  let jlo = ix0 >= 0 ? 0 : (-ix0 + step - 1) / step;
  if (jlo > n) jlo = n;
  let jhi = W - ix0 <= 0 ? 0 : (W - ix0 + step - 1) / step;
  if (jhi > n) jhi = n;
  if (jhi < jlo) jhi = jlo;
  zeroRow(d, jlo);
  let j = jlo;
  if (ASC_FEATURE_SIMD) {
    if (step == 1) {
      for (; j + 4 <= jhi; j += 4) {
        v128.store(d + (<usize>j << 2), v128.load(src + (<usize>(ix0 + j) << 2)));
      }
    } else {
      // Eight inputs give four outputs; the eighth is read, not used, and must be in the row.
      for (; j + 4 <= jhi && ix0 + 2 * j + 8 <= W; j += 4) {
        const s = src + (<usize>(ix0 + 2 * j) << 2);
        const v = v128.shuffle<f32>(v128.load(s), v128.load(s, 16), 0, 2, 4, 6);
        v128.store(d + (<usize>j << 2), v);
      }
    }
  }
  for (; j < jhi; j++) store<f32>(d + (<usize>j << 2), load<f32>(src + (<usize>(ix0 + j * step) << 2)));
  zeroRow(d + (<usize>jhi << 2), n - jhi);
}
