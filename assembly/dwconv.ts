import { pi, pp, ACT_NONE } from './common';
import { epiRow, chanB, chanS } from './matmul';

// dwconv(p): depthwise k x k convolution (k 3 or 5, stride 1 or 2), NCHW, zero padding,
// over the first cActive channels, with the fused epilogue of conv:
//   y[c][oy][ox] = act((sum_{ky,kx} w[c][ky][kx] * x[c][oy*s - padT + ky][ox*s - padL + kx]
//                       + bias[c]) * scale[c] + shift[c])
// params: [0] x f32* [C][H][W]  [1] w f32* [C][1][k][k]  [2] y f32* [cActive][OH][OW]
//         [3] bias f32* [C] | 0  [4] scale f32* | 0  [5] shift f32* | 0   (0 = absent)
//         [6] cActive  [7] H  [8] W  [9] OH  [10] OW  [11] k  [12] stride
//         [13] padT  [14] padL  [15] padB  [16] padR  [17] act code
// padB/padR are implied by OH/OW (out-of-range taps are skipped); they are kept in the
// struct so it describes the whole geometry.
//
// Each output row splits into border columns (some tap falls in the padding: scalar, taps
// checked) and interior columns (all taps inside the row). Rows whose taps leave the image
// just run fewer kernel rows, so padding is never read or materialized (no denormal zeros
// in the SIMD chains). Interior columns run SIMD over output width: 8 or 4 outputs per
// block for stride 1, 4 for stride 2 (even/odd input columns split with f32x4.shuffle).
// Every output sums its taps in the same order (ky, then kx, from 0) on every path, so the
// SIMD and scalar builds agree bit for bit.

export function dwconv(p: usize): void {
  const x = pp(p, 0), w = pp(p, 1), y = pp(p, 2);
  const bias = pp(p, 3), scale = pp(p, 4), shift = pp(p, 5);
  const C = pi(p, 6), H = pi(p, 7), W = pi(p, 8), OH = pi(p, 9), OW = pi(p, 10);
  const k = pi(p, 11), s = pi(p, 12), padT = pi(p, 13), padL = pi(p, 14), act = pi(p, 17);
  const epi = bias != 0 || scale != 0 || shift != 0 || act != ACT_NONE;

  // interior output columns [oxL, oxR): ox*s - padL >= 0 and ox*s - padL + k <= W
  let oxL = (padL + s - 1) / s;
  if (oxL > OW) oxL = OW;
  let oxR = W - k + padL >= 0 ? (W - k + padL) / s + 1 : 0;
  if (oxR > OW) oxR = OW;
  if (oxR < oxL) oxR = oxL;

  const plane = <usize>(H * W) << 2, oplane = <usize>(OH * OW) << 2, wsz = <usize>(k * k) << 2;
  for (let c = 0; c < C; c++) {
    const xc = x + <usize>c * plane, wc = w + <usize>c * wsz, yc = y + <usize>c * oplane;
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * s - padT;
      const ky0 = iy0 < 0 ? -iy0 : 0;
      const ky1 = H - iy0 < k ? H - iy0 : k;
      const yr = yc + (<usize>(oy * OW) << 2);
      let ox = 0;
      for (; ox < oxL; ox++) store<f32>(yr + (<usize>ox << 2), point(xc, wc, W, k, s, iy0, ky0, ky1, ox * s - padL));
      if (ASC_FEATURE_SIMD) {
        if (s == 1) {
          if (k == 3) ox = simdS1K3(xc, wc, yr, W, iy0, ky0, ky1, padL, ox, oxR);
          else ox = simdS1K5(xc, wc, yr, W, iy0, ky0, ky1, padL, ox, oxR);
        } else {
          // a 4-output block at b reads input columns 2b - padL .. 2b - padL + k + 6 (the
          // last one unused), which must stay inside the row: b <= (W - 7 + padL - k) / 2
          const room = W - 7 + padL - k;
          let oxV = room >= 0 ? (room >> 1) + 4 : 0;
          if (oxV > oxR) oxV = oxR;
          if (k == 3) ox = simdS2K3(xc, wc, yr, W, iy0, ky0, ky1, padL, ox, oxV);
          else ox = simdS2K5(xc, wc, yr, W, iy0, ky0, ky1, padL, ox, oxV);
        }
      }
      for (; ox < oxR; ox++) store<f32>(yr + (<usize>ox << 2), interior(xc, wc, W, k, iy0, ky0, ky1, ox * s - padL));
      for (; ox < OW; ox++) store<f32>(yr + (<usize>ox << 2), point(xc, wc, W, k, s, iy0, ky0, ky1, ox * s - padL));
      if (epi) epiRow(yr, OW, chanB(bias, c), chanS(scale, c), chanB(shift, c), act);
    }
  }
}

// One output whose taps may fall outside the row (columns checked).
function point(xc: usize, wc: usize, W: i32, k: i32, s: i32, iy0: i32, ky0: i32, ky1: i32, ix0: i32): f32 {
  let acc: f32 = 0;
  for (let ky = ky0; ky < ky1; ky++) {
    const rp = xc + (<usize>((iy0 + ky) * W) << 2), wp = wc + (<usize>(ky * k) << 2);
    for (let kx = 0; kx < k; kx++) {
      const ix = ix0 + kx;
      if (ix >= 0 && ix < W) acc += load<f32>(wp + (<usize>kx << 2)) * load<f32>(rp + (<usize>ix << 2));
    }
  }
  return acc;
}

// One output with every tap inside the row (ix0 >= 0, ix0 + k <= W).
@inline function interior(xc: usize, wc: usize, W: i32, k: i32, iy0: i32, ky0: i32, ky1: i32, ix0: i32): f32 {
  let acc: f32 = 0;
  for (let ky = ky0; ky < ky1; ky++) {
    const rp = xc + (<usize>((iy0 + ky) * W + ix0) << 2), wp = wc + (<usize>(ky * k) << 2);
    acc += load<f32>(wp) * load<f32>(rp);
    acc += load<f32>(wp, 4) * load<f32>(rp, 4);
    acc += load<f32>(wp, 8) * load<f32>(rp, 8);
    if (k == 5) {
      acc += load<f32>(wp, 12) * load<f32>(rp, 12);
      acc += load<f32>(wp, 16) * load<f32>(rp, 16);
    }
  }
  return acc;
}

@inline function fma4(acc: v128, w: v128, x: v128): v128 {
  return f32x4.add(acc, f32x4.mul(w, x));
}
@inline function evens(a: v128, b: v128): v128 {
  return f32x4.shuffle(a, b, 0, 2, 4, 6);
}
@inline function odds(a: v128, b: v128): v128 {
  return f32x4.shuffle(a, b, 1, 3, 5, 7);
}

// The interior SIMD spans below return the first output column they did not compute.
// Kernel rows loop (ky0..ky1) inside each block: it bounds the live registers to one kernel
// row's taps and lets the same code serve the rows cut by padding.

function simdS1K3(xc: usize, wc: usize, yr: usize, W: i32, iy0: i32, ky0: i32, ky1: i32, padL: i32, ox: i32, oxEnd: i32): i32 {
  for (; ox + 8 <= oxEnd; ox += 8) {
    let a0 = f32x4.splat(0), a1 = a0;
    for (let ky = ky0; ky < ky1; ky++) {
      const rp = xc + (<usize>((iy0 + ky) * W + ox - padL) << 2), wp = wc + (<usize>(ky * 3) << 2);
      const w0 = v128.load32_splat(wp), w1 = v128.load32_splat(wp, 4), w2 = v128.load32_splat(wp, 8);
      a0 = fma4(a0, w0, v128.load(rp)); a1 = fma4(a1, w0, v128.load(rp, 16));
      a0 = fma4(a0, w1, v128.load(rp, 4)); a1 = fma4(a1, w1, v128.load(rp, 20));
      a0 = fma4(a0, w2, v128.load(rp, 8)); a1 = fma4(a1, w2, v128.load(rp, 24));
    }
    const o = yr + (<usize>ox << 2);
    v128.store(o, a0); v128.store(o, a1, 16);
  }
  if (ox + 4 <= oxEnd) {
    let a0 = f32x4.splat(0);
    for (let ky = ky0; ky < ky1; ky++) {
      const rp = xc + (<usize>((iy0 + ky) * W + ox - padL) << 2), wp = wc + (<usize>(ky * 3) << 2);
      a0 = fma4(a0, v128.load32_splat(wp), v128.load(rp));
      a0 = fma4(a0, v128.load32_splat(wp, 4), v128.load(rp, 4));
      a0 = fma4(a0, v128.load32_splat(wp, 8), v128.load(rp, 8));
    }
    v128.store(yr + (<usize>ox << 2), a0);
    ox += 4;
  }
  return ox;
}

function simdS1K5(xc: usize, wc: usize, yr: usize, W: i32, iy0: i32, ky0: i32, ky1: i32, padL: i32, ox: i32, oxEnd: i32): i32 {
  for (; ox + 4 <= oxEnd; ox += 4) {
    let a0 = f32x4.splat(0);
    for (let ky = ky0; ky < ky1; ky++) {
      const rp = xc + (<usize>((iy0 + ky) * W + ox - padL) << 2), wp = wc + (<usize>(ky * 5) << 2);
      a0 = fma4(a0, v128.load32_splat(wp), v128.load(rp));
      a0 = fma4(a0, v128.load32_splat(wp, 4), v128.load(rp, 4));
      a0 = fma4(a0, v128.load32_splat(wp, 8), v128.load(rp, 8));
      a0 = fma4(a0, v128.load32_splat(wp, 12), v128.load(rp, 12));
      a0 = fma4(a0, v128.load32_splat(wp, 16), v128.load(rp, 16));
    }
    v128.store(yr + (<usize>ox << 2), a0);
  }
  return ox;
}

// Stride 2: outputs ox..ox+3 read input columns c0 + 2i + kx. Loads at c0 and c0 + 4 give
// columns c0..c0+7; their even lanes serve kx = 0, odd lanes kx = 1; loads at c0 + 2 and
// c0 + 6 serve kx = 2 (and 3); c0 + 4 with c0 + 8 serve kx = 4.
function simdS2K3(xc: usize, wc: usize, yr: usize, W: i32, iy0: i32, ky0: i32, ky1: i32, padL: i32, ox: i32, oxEnd: i32): i32 {
  for (; ox + 4 <= oxEnd; ox += 4) {
    let a0 = f32x4.splat(0);
    for (let ky = ky0; ky < ky1; ky++) {
      const rp = xc + (<usize>((iy0 + ky) * W + 2 * ox - padL) << 2), wp = wc + (<usize>(ky * 3) << 2);
      const l0 = v128.load(rp), l4 = v128.load(rp, 16), l2 = v128.load(rp, 8), l6 = v128.load(rp, 24);
      a0 = fma4(a0, v128.load32_splat(wp), evens(l0, l4));
      a0 = fma4(a0, v128.load32_splat(wp, 4), odds(l0, l4));
      a0 = fma4(a0, v128.load32_splat(wp, 8), evens(l2, l6));
    }
    v128.store(yr + (<usize>ox << 2), a0);
  }
  return ox;
}

function simdS2K5(xc: usize, wc: usize, yr: usize, W: i32, iy0: i32, ky0: i32, ky1: i32, padL: i32, ox: i32, oxEnd: i32): i32 {
  for (; ox + 4 <= oxEnd; ox += 4) {
    let a0 = f32x4.splat(0);
    for (let ky = ky0; ky < ky1; ky++) {
      const rp = xc + (<usize>((iy0 + ky) * W + 2 * ox - padL) << 2), wp = wc + (<usize>(ky * 5) << 2);
      const l0 = v128.load(rp), l4 = v128.load(rp, 16), l2 = v128.load(rp, 8), l6 = v128.load(rp, 24);
      const l8 = v128.load(rp, 32);
      a0 = fma4(a0, v128.load32_splat(wp), evens(l0, l4));
      a0 = fma4(a0, v128.load32_splat(wp, 4), odds(l0, l4));
      a0 = fma4(a0, v128.load32_splat(wp, 8), evens(l2, l6));
      a0 = fma4(a0, v128.load32_splat(wp, 12), odds(l2, l6));
      a0 = fma4(a0, v128.load32_splat(wp, 16), evens(l4, l8));
    }
    v128.store(yr + (<usize>ox << 2), a0);
  }
  return ox;
}
