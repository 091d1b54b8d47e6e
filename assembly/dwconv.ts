import { pi, pp, act_apply, ACT_NONE, ACT_RELU, ACT_RELU6 } from './common';
import { chanB, chanS } from './matmul';

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
// Each output row splits into border columns (some tap falls in the padding) and interior
// columns (every tap inside the row). Rows whose taps leave the image just run fewer kernel
// rows, so padding is never materialized (no denormal zeros in the SIMD chains). Interior
// columns run SIMD over output width: 8 or 4 outputs per block (stride 2: even/odd input
// columns split with f32x4.shuffle), the last block shifted left to end at the span's end.
// The left border is one SIMD block with the padding shifted in as zero lanes; the right
// border and the scalar build use scalar code. The affine epilogue is applied
// as each block is stored; the activation runs over the finished row (act_apply, shared
// with the other kernels). Every output sums its taps in the same order on every path
// (see point()), so the SIMD and scalar builds agree to the bit, up to the sign of zero.

export function dwconv(p: usize): void {
  const x = pp(p, 0), w = pp(p, 1), y = pp(p, 2);
  const bias = pp(p, 3), scale = pp(p, 4), shift = pp(p, 5);
  const C = pi(p, 6), H = pi(p, 7), W = pi(p, 8), OH = pi(p, 9), OW = pi(p, 10);
  const k = pi(p, 11), s = pi(p, 12), padT = pi(p, 13), padL = pi(p, 14), act = pi(p, 17);

  // interior output columns [oxL, oxR): ox*s - padL >= 0 and ox*s - padL + k <= W
  let oxL = (padL + s - 1) / s;
  if (oxL > OW) oxL = OW;
  let oxR = W - k + padL >= 0 ? (W - k + padL) / s + 1 : 0;
  if (oxR > OW) oxR = OW;
  if (oxR < oxL) oxR = oxL;
  // the left border (padL 1 or 2) as one SIMD block over outputs 0..3; see simdLeft
  const left = ASC_FEATURE_SIMD && (padL == 1 || padL == 2) && OW >= 4 && W >= 10;

  const rs = <usize>W << 2;
  const plane = <usize>(H * W) << 2, oplane = <usize>(OH * OW) << 2, wsz = <usize>(k * k) << 2;
  if (ASC_FEATURE_SIMD && k == 3) {
    // columns the last output reads past the row's end (<= 0: none)
    const over = (OW - 1) * s - padL + 3 - W;
    if (planeK3Fits(W, OW, s, padL, over)) {
      const o = over > 0 ? 1 : 0;
      // relu and relu6 run in the blocks' stores (a separate pass over the planes measured ~20%
      // of these layers); each gets its own copy of the loops, so the blocks hold no branch
      // without scale and shift the epilogue is one add (PLAIN below), again a copy of its own
      const plain = scale == 0 && shift == 0;
      if (act == ACT_RELU6 && plain) planesK3Relu6P(x, w, y, bias, C, H, W, OH, OW, s, padT, padL, o);
      else if (act == ACT_RELU6) planesK3Relu6(x, w, y, bias, scale, shift, C, H, W, OH, OW, s, padT, padL, o);
      else if (act == ACT_RELU && plain) planesK3ReluP(x, w, y, bias, C, H, W, OH, OW, s, padT, padL, o);
      else if (act == ACT_RELU) planesK3Relu(x, w, y, bias, scale, shift, C, H, W, OH, OW, s, padT, padL, o);
      else {
        if (plain) planesK3P(x, w, y, bias, C, H, W, OH, OW, s, padT, padL, o);
        else planesK3(x, w, y, bias, scale, shift, C, H, W, OH, OW, s, padT, padL, o, ACT_NONE);
        if (act != ACT_NONE) {
          for (let c = 0; c < C; c++) act_apply(y + <usize>c * oplane, OH * OW, act);
        }
      }
      return;
    }
  }
  for (let c = 0; c < C; c++) {
    const xc = x + <usize>c * plane, wc = w + <usize>c * wsz, yc = y + <usize>c * oplane;
    const b = chanB(bias, c), sc = chanS(scale, c), h = chanB(shift, c);
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * s - padT;
      const ky0 = iy0 < 0 ? -iy0 : 0;
      const ky1 = H - iy0 < k ? H - iy0 : k;
      const yr = yc + (<usize>(oy * OW) << 2);
      let ox = 0;
      if (ASC_FEATURE_SIMD) {
        const rp0 = xc + (<usize>((iy0 + ky0) * W) << 2), wp0 = wc + (<usize>(ky0 * k) << 2), nr = ky1 - ky0;
        if (left) {
          simdLeft(rp0, rs, wp0, nr, yr, padL, k, s, b, sc, h);
          ox = 4;
        }
        for (; ox < oxL; ox++) store<f32>(yr + (<usize>ox << 2), (point(xc, wc, W, k, iy0, ky0, ky1, ox * s - padL) + b) * sc + h);
        if (s == 1) {
          if (k == 3) ox = simdS1K3(rp0, rs, wp0, nr, yr, padL, ox, oxR, b, sc, h);
          else ox = simdS1K5(rp0, rs, wp0, nr, yr, padL, ox, oxR, b, sc, h);
        } else if (k == 3) {
          ox = simdS2K3(rp0, rs, wp0, nr, yr, padL, ox, oxR, b, sc, h);
        } else {
          // a block at bx also reads input column 2bx - padL + 11, one past its last tap
          const room = W - 12 + padL;
          let oxV = room >= 0 ? (room >> 1) + 4 : 0;
          if (oxV > oxR) oxV = oxR;
          ox = simdS2K5(rp0, rs, wp0, nr, yr, padL, ox, oxV, b, sc, h);
        }
      } else {
        for (; ox < oxL; ox++) store<f32>(yr + (<usize>ox << 2), (point(xc, wc, W, k, iy0, ky0, ky1, ox * s - padL) + b) * sc + h);
        if (k == 3 && s <= 2) {
          const rp0 = xc + (<usize>((iy0 + ky0) * W) << 2), wp0 = wc + (<usize>(ky0 * k) << 2);
          ox = scalarK3(rp0, rs, wp0, ky1 - ky0, yr, padL, s, ox, oxR, b, sc, h);
        }
      }
      for (; ox < oxR; ox++) store<f32>(yr + (<usize>ox << 2), (interior(xc, wc, W, k, iy0, ky0, ky1, ox * s - padL) + b) * sc + h);
      for (; ox < OW; ox++) store<f32>(yr + (<usize>ox << 2), (point(xc, wc, W, k, iy0, ky0, ky1, ox * s - padL) + b) * sc + h);
      if (act != ACT_NONE) act_apply(yr, OW, act);
    }
  }
}

// Summation order, the same on every path: per kernel row ky, r = sum over kx in order;
// then acc = ((0 + r_ky0) + r_ky0+1) + ... One add per kernel row on the accumulator chain
// (instead of one per tap) keeps the SIMD blocks from waiting on add latency.

// One output whose taps may fall outside the row: the kx range is clamped to the row.
function point(xc: usize, wc: usize, W: i32, k: i32, iy0: i32, ky0: i32, ky1: i32, ix0: i32): f32 {
  const kx0 = ix0 < 0 ? -ix0 : 0;
  const kx1 = W - ix0 < k ? W - ix0 : k;
  let acc: f32 = 0;
  for (let ky = ky0; ky < ky1; ky++) {
    const rp = xc + (<usize>((iy0 + ky) * W + ix0) << 2), wp = wc + (<usize>(ky * k) << 2);
    let r: f32 = 0;
    for (let kx = kx0; kx < kx1; kx++) r += load<f32>(wp + (<usize>kx << 2)) * load<f32>(rp + (<usize>kx << 2));
    acc += r;
  }
  return acc;
}

// One output with every tap inside the row (ix0 >= 0, ix0 + k <= W).
@inline function interior(xc: usize, wc: usize, W: i32, k: i32, iy0: i32, ky0: i32, ky1: i32, ix0: i32): f32 {
  let acc: f32 = 0;
  for (let ky = ky0; ky < ky1; ky++) {
    const rp = xc + (<usize>((iy0 + ky) * W + ix0) << 2), wp = wc + (<usize>(ky * k) << 2);
    let r = load<f32>(wp) * load<f32>(rp);
    r += load<f32>(wp, 4) * load<f32>(rp, 4);
    r += load<f32>(wp, 8) * load<f32>(rp, 8);
    if (k == 5) {
      r += load<f32>(wp, 12) * load<f32>(rp, 12);
      r += load<f32>(wp, 16) * load<f32>(rp, 16);
    }
    acc += r;
  }
  return acc;
}

// Scalar build, 3x3, stride 1 or 2: four interior outputs per block, so each kernel row loads its
// 3 weights once and its 6 (s1) or 9 (s2) inputs once for 4 outputs instead of 12 and 12. Sums in
// interior()'s order. Returns the first output column it did not write.
function scalarK3(rp0: usize, rs: usize, wp0: usize, nr: i32, yr: usize, padL: i32, s: i32, ox: i32, oxEnd: i32,
                  b: f32, sc: f32, h: f32): i32 {
  for (; ox + 4 <= oxEnd; ox += 4) {
    let a0: f32 = 0, a1: f32 = 0, a2: f32 = 0, a3: f32 = 0;
    let rp = rp0 + (<usize>(ox * s - padL) << 2), wp = wp0;
    if (s == 1) {
      for (let r = 0; r < nr; r++) {
        const w0 = load<f32>(wp), w1 = load<f32>(wp, 4), w2 = load<f32>(wp, 8);
        const x0 = load<f32>(rp), x1 = load<f32>(rp, 4), x2 = load<f32>(rp, 8);
        const x3 = load<f32>(rp, 12), x4 = load<f32>(rp, 16), x5 = load<f32>(rp, 20);
        a0 += w0 * x0 + w1 * x1 + w2 * x2;
        a1 += w0 * x1 + w1 * x2 + w2 * x3;
        a2 += w0 * x2 + w1 * x3 + w2 * x4;
        a3 += w0 * x3 + w1 * x4 + w2 * x5;
        rp += rs;
        wp += 12;
      }
    } else {
      for (let r = 0; r < nr; r++) {
        const w0 = load<f32>(wp), w1 = load<f32>(wp, 4), w2 = load<f32>(wp, 8);
        const x0 = load<f32>(rp), x1 = load<f32>(rp, 4), x2 = load<f32>(rp, 8);
        const x3 = load<f32>(rp, 12), x4 = load<f32>(rp, 16), x5 = load<f32>(rp, 20);
        const x6 = load<f32>(rp, 24), x7 = load<f32>(rp, 28), x8 = load<f32>(rp, 32);
        a0 += w0 * x0 + w1 * x1 + w2 * x2;
        a1 += w0 * x2 + w1 * x3 + w2 * x4;
        a2 += w0 * x4 + w1 * x5 + w2 * x6;
        a3 += w0 * x6 + w1 * x7 + w2 * x8;
        rp += rs;
        wp += 12;
      }
    }
    const y = yr + (<usize>ox << 2);
    store<f32>(y, (a0 + b) * sc + h);
    store<f32>(y, (a1 + b) * sc + h, 4);
    store<f32>(y, (a2 + b) * sc + h, 8);
    store<f32>(y, (a3 + b) * sc + h, 12);
  }
  return ox;
}

// the epilogue's affine part, (acc + bias) * scale + shift, as on the scalar paths
@inline function aff(a: v128, b: v128, s: v128, h: v128): v128 {
  return f32x4.add(f32x4.mul(f32x4.add(a, b), s), h);
}
@inline function mul4(w: v128, x: v128): v128 {
  return f32x4.mul(w, x);
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
// lanes 1..3 of a, then lane 0 of b (one palignr)
@inline function next(a: v128, b: v128): v128 {
  return f32x4.shuffle(a, b, 1, 2, 3, 4);
}

// The interior SIMD spans below return the first output column they did not compute.
// rp0: input row iy0 + ky0 at column 0 (bytes); rs: bytes per input row; wp0: weight row ky0;
// nr = ky1 - ky0 kernel rows. The kernel-row loop stays inside each block: it bounds the live
// registers to one row's taps (V8 hoists every load of a block to its top) and serves the
// rows cut by padding with the same code.

function simdS1K3(rp0: usize, rs: usize, wp0: usize, nr: i32, yr: usize, padL: i32, ox: i32, oxEnd: i32,
  b: f32, sc: f32, h: f32): i32 {
  const bv = f32x4.splat(b), sv = f32x4.splat(sc), hv = f32x4.splat(h);
  const ox0 = ox;
  for (; ox + 8 <= oxEnd; ox += 8) {
    let a0 = f32x4.splat(0), a1 = a0;
    let rp = rp0 + (<usize>(ox - padL) << 2), wp = wp0;
    for (let r = nr; r > 0; r--) {
      const w0 = v128.load32_splat(wp), w1 = v128.load32_splat(wp, 4), w2 = v128.load32_splat(wp, 8);
      let r0 = mul4(w0, v128.load(rp)), r1 = mul4(w0, v128.load(rp, 16));
      r0 = fma4(r0, w1, v128.load(rp, 4)); r1 = fma4(r1, w1, v128.load(rp, 20));
      r0 = fma4(r0, w2, v128.load(rp, 8)); r1 = fma4(r1, w2, v128.load(rp, 24));
      a0 = f32x4.add(a0, r0); a1 = f32x4.add(a1, r1);
      rp += rs; wp += 12;
    }
    const o = yr + (<usize>ox << 2);
    v128.store(o, aff(a0, bv, sv, hv)); v128.store(o, aff(a1, bv, sv, hv), 16);
  }
  // 1..7 columns left: 4-blocks, the last one shifted left to end at oxEnd. It recomputes a
  // few raw sums with the same values, which is harmless: the epilogue runs after the row.
  while (ox < oxEnd && oxEnd - ox0 >= 4) {
    const bx = ox + 4 <= oxEnd ? ox : oxEnd - 4;
    let a0 = f32x4.splat(0);
    let rp = rp0 + (<usize>(bx - padL) << 2), wp = wp0;
    for (let r = nr; r > 0; r--) {
      let r0 = mul4(v128.load32_splat(wp), v128.load(rp));
      r0 = fma4(r0, v128.load32_splat(wp, 4), v128.load(rp, 4));
      r0 = fma4(r0, v128.load32_splat(wp, 8), v128.load(rp, 8));
      a0 = f32x4.add(a0, r0);
      rp += rs; wp += 12;
    }
    v128.store(yr + (<usize>bx << 2), aff(a0, bv, sv, hv));
    ox = bx + 4;
  }
  return ox;
}

function simdS1K5(rp0: usize, rs: usize, wp0: usize, nr: i32, yr: usize, padL: i32, ox: i32, oxEnd: i32,
  b: f32, sc: f32, h: f32): i32 {
  const bv = f32x4.splat(b), sv = f32x4.splat(sc), hv = f32x4.splat(h);
  const ox0 = ox;
  while (ox < oxEnd && oxEnd - ox0 >= 4) {
    const bx = ox + 4 <= oxEnd ? ox : oxEnd - 4; // the last block overlaps (see simdS1K3)
    let a0 = f32x4.splat(0);
    let rp = rp0 + (<usize>(bx - padL) << 2), wp = wp0;
    for (let r = nr; r > 0; r--) {
      let r0 = mul4(v128.load32_splat(wp), v128.load(rp));
      r0 = fma4(r0, v128.load32_splat(wp, 4), v128.load(rp, 4));
      r0 = fma4(r0, v128.load32_splat(wp, 8), v128.load(rp, 8));
      r0 = fma4(r0, v128.load32_splat(wp, 12), v128.load(rp, 12));
      r0 = fma4(r0, v128.load32_splat(wp, 16), v128.load(rp, 16));
      a0 = f32x4.add(a0, r0);
      rp += rs; wp += 20;
    }
    v128.store(yr + (<usize>bx << 2), aff(a0, bv, sv, hv));
    ox = bx + 4;
  }
  return ox;
}

// Stride 2: outputs ox..ox+3 read input columns c0 + 2i + kx (c0 = 2*ox - padL). Loads at
// c0 and c0 + 4 hold columns c0..c0+7: their even lanes serve kx = 0, odd lanes kx = 1;
// shifting in the next column (c0 + 8, c0 + 9, c0 + 10) serves kx = 2, 3, 4. For k = 3 the
// loads end exactly at the last tap; 8 outputs share the load at c0 + 8 between their halves.
function simdS2K3(rp0: usize, rs: usize, wp0: usize, nr: i32, yr: usize, padL: i32, ox: i32, oxEnd: i32,
  b: f32, sc: f32, h: f32): i32 {
  const bv = f32x4.splat(b), sv = f32x4.splat(sc), hv = f32x4.splat(h);
  const ox0 = ox;
  for (; ox + 8 <= oxEnd; ox += 8) {
    let a0 = f32x4.splat(0), a1 = a0;
    let rp = rp0 + (<usize>(2 * ox - padL) << 2), wp = wp0;
    for (let r = nr; r > 0; r--) {
      const w0 = v128.load32_splat(wp), w1 = v128.load32_splat(wp, 4), w2 = v128.load32_splat(wp, 8);
      const l0 = v128.load(rp), l4 = v128.load(rp, 16), l8 = v128.load(rp, 32);
      const l12 = v128.load(rp, 48), l16 = v128.load32_splat(rp, 64); // only column c0 + 16
      const e0 = evens(l0, l4), e8 = evens(l8, l12);
      let r0 = mul4(w0, e0), r1 = mul4(w0, e8);
      r0 = fma4(r0, w1, odds(l0, l4)); r1 = fma4(r1, w1, odds(l8, l12));
      r0 = fma4(r0, w2, next(e0, l8)); r1 = fma4(r1, w2, next(e8, l16));
      a0 = f32x4.add(a0, r0); a1 = f32x4.add(a1, r1);
      rp += rs; wp += 12;
    }
    const o = yr + (<usize>ox << 2);
    v128.store(o, aff(a0, bv, sv, hv)); v128.store(o, aff(a1, bv, sv, hv), 16);
  }
  while (ox < oxEnd && oxEnd - ox0 >= 4) {
    const bx = ox + 4 <= oxEnd ? ox : oxEnd - 4; // the last block overlaps (see simdS1K3)
    let a0 = f32x4.splat(0);
    let rp = rp0 + (<usize>(2 * bx - padL) << 2), wp = wp0;
    for (let r = nr; r > 0; r--) {
      const l0 = v128.load(rp), l4 = v128.load(rp, 16), l8 = v128.load32_splat(rp, 32);
      const e0 = evens(l0, l4);
      let r0 = mul4(v128.load32_splat(wp), e0);
      r0 = fma4(r0, v128.load32_splat(wp, 4), odds(l0, l4));
      r0 = fma4(r0, v128.load32_splat(wp, 8), next(e0, l8));
      a0 = f32x4.add(a0, r0);
      rp += rs; wp += 12;
    }
    v128.store(yr + (<usize>bx << 2), aff(a0, bv, sv, hv));
    ox = bx + 4;
  }
  return ox;
}

function simdS2K5(rp0: usize, rs: usize, wp0: usize, nr: i32, yr: usize, padL: i32, ox: i32, oxEnd: i32,
  b: f32, sc: f32, h: f32): i32 {
  const bv = f32x4.splat(b), sv = f32x4.splat(sc), hv = f32x4.splat(h);
  const ox0 = ox;
  while (ox < oxEnd && oxEnd - ox0 >= 4) {
    const bx = ox + 4 <= oxEnd ? ox : oxEnd - 4; // the last block overlaps (see simdS1K3)
    let a0 = f32x4.splat(0);
    let rp = rp0 + (<usize>(2 * bx - padL) << 2), wp = wp0;
    for (let r = nr; r > 0; r--) {
      const l0 = v128.load(rp), l4 = v128.load(rp, 16), l8 = v128.load(rp, 32);
      const e0 = evens(l0, l4), o0 = odds(l0, l4);
      let r0 = mul4(v128.load32_splat(wp), e0);
      r0 = fma4(r0, v128.load32_splat(wp, 4), o0);
      r0 = fma4(r0, v128.load32_splat(wp, 8), next(e0, l8)); // columns 2, 4, 6, 8
      r0 = fma4(r0, v128.load32_splat(wp, 12), next(o0, odds(l8, l8))); // 3, 5, 7, 9
      r0 = fma4(r0, v128.load32_splat(wp, 16), f32x4.shuffle(e0, l8, 2, 3, 4, 6)); // 4, 6, 8, 10
      a0 = f32x4.add(a0, r0);
      rp += rs; wp += 20;
    }
    v128.store(yr + (<usize>bx << 2), aff(a0, bv, sv, hv));
    ox = bx + 4;
  }
  return ox;
}

// Outputs 0..3 of a row whose first columns need left padding (padL 1 or 2). The taps
// that would start before the row are the in-row vectors shifted right by one or two lanes
// with zeros shifted in (one palignr each), so nothing before the row is read and the
// padding enters as exact zeros: a zero tap adds +-0, the same sums as point().
// Reads columns 0..9 of each row (the caller checks W >= 10).
function simdLeft(rp0: usize, rs: usize, wp0: usize, nr: i32, yr: usize, padL: i32, k: i32, s: i32,
  b: f32, sc: f32, h: f32): void {
  const z = f32x4.splat(0);
  let a0 = z;
  let rp = rp0, wp = wp0;
  const wstep = <usize>k << 2;
  for (let r = nr; r > 0; r--) {
    const l0 = v128.load(rp);
    let t0 = z, t1 = z, t2 = z, t3 = z, t4 = z;
    if (s == 1) {
      if (padL == 1) {
        t0 = f32x4.shuffle(z, l0, 3, 4, 5, 6); t1 = l0; t2 = v128.load(rp, 4);
        if (k == 5) { t3 = v128.load(rp, 8); t4 = v128.load(rp, 12); }
      } else {
        t0 = f32x4.shuffle(z, l0, 2, 3, 4, 5); t1 = f32x4.shuffle(z, l0, 3, 4, 5, 6); t2 = l0;
        if (k == 5) { t3 = v128.load(rp, 4); t4 = v128.load(rp, 8); }
      }
    } else {
      const l4 = v128.load(rp, 16);
      const e0 = evens(l0, l4), o0 = odds(l0, l4); // columns 0,2,4,6 and 1,3,5,7
      if (padL == 1) {
        t0 = f32x4.shuffle(z, o0, 3, 4, 5, 6); t1 = e0; t2 = o0;
        if (k == 5) { t3 = next(e0, v128.load32_splat(rp, 32)); t4 = next(o0, v128.load32_splat(rp, 36)); }
      } else {
        t0 = f32x4.shuffle(z, e0, 3, 4, 5, 6); t1 = f32x4.shuffle(z, o0, 3, 4, 5, 6); t2 = e0;
        if (k == 5) { t3 = o0; t4 = next(e0, v128.load32_splat(rp, 32)); }
      }
    }
    let r0 = mul4(v128.load32_splat(wp), t0);
    r0 = fma4(r0, v128.load32_splat(wp, 4), t1);
    r0 = fma4(r0, v128.load32_splat(wp, 8), t2);
    if (k == 5) {
      r0 = fma4(r0, v128.load32_splat(wp, 12), t3);
      r0 = fma4(r0, v128.load32_splat(wp, 16), t4);
    }
    a0 = f32x4.add(a0, r0);
    rp += rs; wp += wstep;
  }
  v128.store(yr, aff(a0, f32x4.splat(b), f32x4.splat(sc), f32x4.splat(h)));
}

// k = 3, SIMD, one whole channel: every output column in SIMD blocks, none in scalar code. The
// first block of a row with left padding and the last one of a row that reads one column past
// its end shift zeros in for the padding (as simdLeft does), so rows of 7 or 14 outputs run as
// two or four blocks instead of blocks plus scalar border columns, and no row-sized call runs
// per row. Blocks overlap where the row is not a multiple of 4; an overlapped output gets the
// same value twice. Sums in interior()'s order (a zero tap adds +-0 to a kernel row's sum,
// which the accumulator, never -0, absorbs), so the scalar build's paths give the same bits.
// The activation runs over the finished plane.
@inline function planeK3Fits(W: i32, OW: i32, s: i32, padL: i32, over: i32): bool {
  if (OW < 4 || padL > 1 || over > 1) return false;
  if (padL == 1 && W < (s == 1 ? 5 : 8)) return false; // the left block reads columns 0..4 / 0..7
  if (over == 1 && (OW - 4) * s - padL < 0) return false; // the right block starts inside the row
  return true;
}

function planesK3Relu6(x: usize, w: usize, y: usize, bias: usize, scale: usize, shift: usize, C: i32, H: i32, W: i32,
  OH: i32, OW: i32, s: i32, padT: i32, padL: i32, over: i32): void {
  planesK3(x, w, y, bias, scale, shift, C, H, W, OH, OW, s, padT, padL, over, ACT_RELU6);
}
function planesK3Relu(x: usize, w: usize, y: usize, bias: usize, scale: usize, shift: usize, C: i32, H: i32, W: i32,
  OH: i32, OW: i32, s: i32, padT: i32, padL: i32, over: i32): void {
  planesK3(x, w, y, bias, scale, shift, C, H, W, OH, OW, s, padT, padL, over, ACT_RELU);
}
// one function per copy: two copies in one function measured slower than either alone
function planesK3Relu6P(x: usize, w: usize, y: usize, bias: usize, C: i32, H: i32, W: i32,
  OH: i32, OW: i32, s: i32, padT: i32, padL: i32, over: i32): void {
  planesK3(x, w, y, bias, 0, 0, C, H, W, OH, OW, s, padT, padL, over, ACT_RELU6 | PLAIN);
}
function planesK3ReluP(x: usize, w: usize, y: usize, bias: usize, C: i32, H: i32, W: i32,
  OH: i32, OW: i32, s: i32, padT: i32, padL: i32, over: i32): void {
  planesK3(x, w, y, bias, 0, 0, C, H, W, OH, OW, s, padT, padL, over, ACT_RELU | PLAIN);
}
function planesK3P(x: usize, w: usize, y: usize, bias: usize, C: i32, H: i32, W: i32,
  OH: i32, OW: i32, s: i32, padT: i32, padL: i32, over: i32): void {
  planesK3(x, w, y, bias, 0, 0, C, H, W, OH, OW, s, padT, padL, over, ACT_NONE | PLAIN);
}

// PLAIN: scale 1 and shift 0 (both absent). Then (acc + b) * 1 + 0 is acc + (b + 0) to the bit:
// x * 1 is x, and acc + b is -0 only when both are -0, which b + 0 rules out (NaN payloads aside,
// which wasm leaves open anyway). Saves a mul and an add per 4 outputs (~5% of these layers).
const PLAIN: i32 = 0x100;

// act: ACT_NONE, ACT_RELU or ACT_RELU6, with PLAIN or not, a constant at each (inlined) use
@inline function planesK3(x: usize, w: usize, y: usize, bias: usize, scale: usize, shift: usize, C: i32, H: i32, W: i32,
  OH: i32, OW: i32, s: i32, padT: i32, padL: i32, over: i32, act: i32): void {
  const plane = <usize>(H * W) << 2, oplane = <usize>(OH * OW) << 2;
  for (let c = 0; c < C; c++) {
    planeK3(x + <usize>c * plane, w + <usize>c * 36, y + <usize>c * oplane, H, W, OH, OW, s, padT, padL, over,
      chanB(bias, c), chanS(scale, c), chanB(shift, c), act);
  }
}

// aff, then the activation (act a constant: relu and relu6 as act4 computes them)
@inline function fin(a: v128, b: v128, s: v128, h: v128, act: i32): v128 {
  const v = act & PLAIN ? f32x4.add(a, b) : aff(a, b, s, h);
  const f = act & ~PLAIN;
  if (f == ACT_RELU) return f32x4.pmax(f32x4.splat(0), v);
  if (f == ACT_RELU6) return f32x4.pmin(f32x4.pmax(v, f32x4.splat(0)), f32x4.splat(6));
  return v;
}

@inline function planeK3(xc: usize, wc: usize, yc: usize, H: i32, W: i32, OH: i32, OW: i32, s: i32, padT: i32, padL: i32,
  over: i32, b: f32, sc: f32, h: f32, act: i32): void {
  const bv = f32x4.splat(act & PLAIN ? b + 0 : b), sv = f32x4.splat(sc), hv = f32x4.splat(h);
  const rs = <usize>W << 2;
  const endI = OW - over; // outputs before endI read no column past the row
  const iE = over ? OW - 4 : OW; // the right block covers [OW - 4, OW)
  const rb = <usize>((OW - 4) * s - padL) << 2; // the right block's first input column (bytes)
  for (let oy = 0; oy < OH; oy++) {
    const iy0 = oy * s - padT;
    const ky0 = iy0 < 0 ? -iy0 : 0;
    const ky1 = H - iy0 < 3 ? H - iy0 : 3;
    const nr = ky1 - ky0;
    const rp0 = xc + (<usize>((iy0 + ky0) * W) << 2), wp0 = wc + <usize>(ky0 * 12);
    const yr = yc + (<usize>(oy * OW) << 2);
    let ox = 0;
    // stride 1 with both borders: one loop for the two border blocks (the right one is then done)
    if (s == 1 && padL && over) {
      bordersS1(rp0, rs, wp0, nr, rb, yr, yr + (<usize>(OW - 4) << 2), bv, sv, hv, act);
      ox = 4;
    } else if (padL) {
      v128.store(yr, fin(s == 1 ? leftS1(rp0, rs, wp0, nr) : leftS2(rp0, rs, wp0, nr), bv, sv, hv, act));
      ox = 4;
    }
    if (s == 1) {
      for (; ox + 8 <= endI; ox += 8) {
        let a0 = f32x4.splat(0), a1 = a0;
        let rp = rp0 + (<usize>(ox - padL) << 2), wp = wp0;
        for (let r = nr; r > 0; r--) {
          const w0 = v128.load32_splat(wp), w1 = v128.load32_splat(wp, 4), w2 = v128.load32_splat(wp, 8);
          let r0 = mul4(w0, v128.load(rp)), r1 = mul4(w0, v128.load(rp, 16));
          r0 = fma4(r0, w1, v128.load(rp, 4)); r1 = fma4(r1, w1, v128.load(rp, 20));
          r0 = fma4(r0, w2, v128.load(rp, 8)); r1 = fma4(r1, w2, v128.load(rp, 24));
          a0 = f32x4.add(a0, r0); a1 = f32x4.add(a1, r1);
          rp += rs; wp += 12;
        }
        const o = yr + (<usize>ox << 2);
        v128.store(o, fin(a0, bv, sv, hv, act)); v128.store(o, fin(a1, bv, sv, hv, act), 16);
      }
      while (ox < iE) {
        const bx = ox + 4 <= endI ? ox : endI - 4;
        let a0 = f32x4.splat(0);
        let rp = rp0 + (<usize>(bx - padL) << 2), wp = wp0;
        for (let r = nr; r > 0; r--) {
          let r0 = mul4(v128.load32_splat(wp), v128.load(rp));
          r0 = fma4(r0, v128.load32_splat(wp, 4), v128.load(rp, 4));
          r0 = fma4(r0, v128.load32_splat(wp, 8), v128.load(rp, 8));
          a0 = f32x4.add(a0, r0);
          rp += rs; wp += 12;
        }
        v128.store(yr + (<usize>bx << 2), fin(a0, bv, sv, hv, act));
        ox = bx + 4;
      }
      if (over && !padL) v128.store(yr + (<usize>(OW - 4) << 2), fin(rightS1(rp0 + rb, rs, wp0, nr), bv, sv, hv, act));
    } else {
      for (; ox + 8 <= endI; ox += 8) {
        let a0 = f32x4.splat(0), a1 = a0;
        let rp = rp0 + (<usize>(2 * ox - padL) << 2), wp = wp0;
        for (let r = nr; r > 0; r--) {
          const w0 = v128.load32_splat(wp), w1 = v128.load32_splat(wp, 4), w2 = v128.load32_splat(wp, 8);
          const l0 = v128.load(rp), l4 = v128.load(rp, 16), l8 = v128.load(rp, 32);
          const l12 = v128.load(rp, 48), l16 = v128.load32_splat(rp, 64);
          const e0 = evens(l0, l4), e8 = evens(l8, l12);
          let r0 = mul4(w0, e0), r1 = mul4(w0, e8);
          r0 = fma4(r0, w1, odds(l0, l4)); r1 = fma4(r1, w1, odds(l8, l12));
          r0 = fma4(r0, w2, next(e0, l8)); r1 = fma4(r1, w2, next(e8, l16));
          a0 = f32x4.add(a0, r0); a1 = f32x4.add(a1, r1);
          rp += rs; wp += 12;
        }
        const o = yr + (<usize>ox << 2);
        v128.store(o, fin(a0, bv, sv, hv, act)); v128.store(o, fin(a1, bv, sv, hv, act), 16);
      }
      while (ox < iE) {
        const bx = ox + 4 <= endI ? ox : endI - 4;
        let a0 = f32x4.splat(0);
        let rp = rp0 + (<usize>(2 * bx - padL) << 2), wp = wp0;
        for (let r = nr; r > 0; r--) {
          const l0 = v128.load(rp), l4 = v128.load(rp, 16), l8 = v128.load32_splat(rp, 32);
          const e0 = evens(l0, l4);
          let r0 = mul4(v128.load32_splat(wp), e0);
          r0 = fma4(r0, v128.load32_splat(wp, 4), odds(l0, l4));
          r0 = fma4(r0, v128.load32_splat(wp, 8), next(e0, l8));
          a0 = f32x4.add(a0, r0);
          rp += rs; wp += 12;
        }
        v128.store(yr + (<usize>bx << 2), fin(a0, bv, sv, hv, act));
        ox = bx + 4;
      }
      if (over) v128.store(yr + (<usize>(OW - 4) << 2), fin(rightS2(rp0 + rb, rs, wp0, nr), bv, sv, hv, act));
    }
  }
}

// Border blocks of planeK3: raw sums of outputs 0..3 (left padding 1) or of the last four
// outputs (one column of right padding), from the first kernel row's input at rp.
@inline function leftS1(rp: usize, rs: usize, wp: usize, nr: i32): v128 {
  const z = f32x4.splat(0);
  let a0 = z;
  for (let r = nr; r > 0; r--) {
    const l0 = v128.load(rp);
    let r0 = mul4(v128.load32_splat(wp), f32x4.shuffle(z, l0, 3, 4, 5, 6)); // columns -1..2
    r0 = fma4(r0, v128.load32_splat(wp, 4), l0);
    r0 = fma4(r0, v128.load32_splat(wp, 8), v128.load(rp, 4));
    a0 = f32x4.add(a0, r0);
    rp += rs; wp += 12;
  }
  return a0;
}
@inline function rightS1(rp: usize, rs: usize, wp: usize, nr: i32): v128 {
  const z = f32x4.splat(0);
  let a0 = z;
  for (let r = nr; r > 0; r--) {
    const l1 = v128.load(rp, 4);
    let r0 = mul4(v128.load32_splat(wp), v128.load(rp));
    r0 = fma4(r0, v128.load32_splat(wp, 4), l1);
    r0 = fma4(r0, v128.load32_splat(wp, 8), next(l1, z)); // the last lane is the padding
    a0 = f32x4.add(a0, r0);
    rp += rs; wp += 12;
  }
  return a0;
}
@inline function leftS2(rp: usize, rs: usize, wp: usize, nr: i32): v128 {
  const z = f32x4.splat(0);
  let a0 = z;
  for (let r = nr; r > 0; r--) {
    const l0 = v128.load(rp), l4 = v128.load(rp, 16);
    const o0 = odds(l0, l4); // columns 1, 3, 5, 7
    let r0 = mul4(v128.load32_splat(wp), f32x4.shuffle(z, o0, 3, 4, 5, 6)); // -1, 1, 3, 5
    r0 = fma4(r0, v128.load32_splat(wp, 4), evens(l0, l4));
    r0 = fma4(r0, v128.load32_splat(wp, 8), o0);
    a0 = f32x4.add(a0, r0);
    rp += rs; wp += 12;
  }
  return a0;
}
@inline function rightS2(rp: usize, rs: usize, wp: usize, nr: i32): v128 {
  const z = f32x4.splat(0);
  let a0 = z;
  for (let r = nr; r > 0; r--) {
    const l0 = v128.load(rp), l4 = v128.load(rp, 16);
    const e0 = evens(l0, l4);
    let r0 = mul4(v128.load32_splat(wp), e0);
    r0 = fma4(r0, v128.load32_splat(wp, 4), odds(l0, l4));
    r0 = fma4(r0, v128.load32_splat(wp, 8), next(e0, z)); // the last lane is the padding
    a0 = f32x4.add(a0, r0);
    rp += rs; wp += 12;
  }
  return a0;
}

// leftS1 and rightS1 in one kernel-row loop (rows with both borders: the loop overhead of one
// block, and the weights loaded once for both); rb: the right block's first column (bytes)
@inline function bordersS1(rp: usize, rs: usize, wp: usize, nr: i32, rb: usize, yl: usize, yrt: usize,
  bv: v128, sv: v128, hv: v128, act: i32): void {
  const z = f32x4.splat(0);
  let a0 = z, a1 = z;
  for (let r = nr; r > 0; r--) {
    const w0 = v128.load32_splat(wp), w1 = v128.load32_splat(wp, 4), w2 = v128.load32_splat(wp, 8);
    const l0 = v128.load(rp), q1 = v128.load(rp + rb, 4);
    let r0 = mul4(w0, f32x4.shuffle(z, l0, 3, 4, 5, 6)), r1 = mul4(w0, v128.load(rp + rb));
    r0 = fma4(r0, w1, l0); r1 = fma4(r1, w1, q1);
    r0 = fma4(r0, w2, v128.load(rp, 4)); r1 = fma4(r1, w2, next(q1, z));
    a0 = f32x4.add(a0, r0); a1 = f32x4.add(a1, r1);
    rp += rs; wp += 12;
  }
  v128.store(yl, fin(a0, bv, sv, hv, act));
  v128.store(yrt, fin(a1, bv, sv, hv, act));
}
