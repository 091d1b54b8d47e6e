import { pi, pp } from './common';
import { sum_f64 } from './reduce';

// gap(p): global average pool, y[c] = mean over H x W of x[c], for c < cActive.
// params: [0] x f32* [C][H][W]  [1] y f32* [C]  [2] C  [3] H  [4] W  [5] cActive
// The sum runs in f64 (reduce.ts), so both builds give bit-identical means.
export function gap(p: usize): void {
  const x = pp(p, 0), y = pp(p, 1);
  const HW = pi(p, 3) * pi(p, 4), cA = pi(p, 5);
  const inv: f64 = 1.0 / <f64>HW;
  for (let c = 0; c < cA; c++) {
    store<f32>(y + (<usize>c << 2), <f32>(sum_f64(x + (<usize>c * HW << 2), HW) * inv));
  }
}

// maxpool(p): k x k max pooling with stride s; padded positions never win (PyTorch's
// -inf padding), so every window must hold at least one real pixel (src/engine/ops/pool.ts checks).
// params: [0] x f32* [C][H][W]  [1] y f32* [C][OH][OW]  [2] C  [3] H  [4] W  [5] k
//         [6] stride  [7] padT  [8] padL  [9] OH  [10] OW  [11] cActive
// NaN propagates (f32.max and f32x4.max both return NaN), as in PyTorch.
export function maxpool(p: usize): void {
  const x = pp(p, 0), y = pp(p, 1);
  const H = pi(p, 3), W = pi(p, 4), k = pi(p, 5), s = pi(p, 6);
  const padT = pi(p, 7), padL = pi(p, 8), OH = pi(p, 9), OW = pi(p, 10), cA = pi(p, 11);
  // Output columns [owLo, owHi) have windows wholly inside the row: no column clipping there.
  const owLo = min((padL + s - 1) / s, OW);
  const span = W - k + padL;
  const owHi = max(span < 0 ? 0 : min(span / s + 1, OW), owLo);
  for (let c = 0; c < cA; c++) {
    const xc = x + (<usize>c * H * W << 2);
    const yc = y + (<usize>c * OH * OW << 2);
    for (let oh = 0; oh < OH; oh++) {
      const ih0 = oh * s - padT;
      const kh0 = max(0, -ih0), kh1 = min(k, H - ih0);
      const yr = yc + (<usize>oh * OW << 2);
      for (let ow = 0; ow < owLo; ow++) store<f32>(yr + (<usize>ow << 2), window_max(xc, W, ih0, kh0, kh1, ow * s - padL, k));
      let ow = owLo;
      if (ASC_FEATURE_SIMD) {
        if (s == 1) {
          for (; ow + 4 <= owHi; ow += 4) {
            let acc = f32x4.splat(-Infinity);
            for (let kh = kh0; kh < kh1; kh++) {
              const row = xc + (<usize>((ih0 + kh) * W + ow - padL) << 2);
              for (let kw = 0; kw < k; kw++) acc = f32x4.max(acc, v128.load(row + (<usize>kw << 2)));
            }
            v128.store(yr + (<usize>ow << 2), acc);
          }
        } else if (s == 2) {
          // Two loads of 4 and an even-lane shuffle give inputs 0,2,4,6; the second load reads
          // one float past the last one used, so stop while that float is still in the row.
          for (; ow + 4 <= owHi && 2 * (ow + 3) - padL + k <= W - 1; ow += 4) {
            let acc = f32x4.splat(-Infinity);
            for (let kh = kh0; kh < kh1; kh++) {
              const row = xc + (<usize>((ih0 + kh) * W + 2 * ow - padL) << 2);
              for (let kw = 0; kw < k; kw++) {
                const a = row + (<usize>kw << 2);
                acc = f32x4.max(acc, f32x4.shuffle(v128.load(a), v128.load(a, 16), 0, 2, 4, 6));
              }
            }
            v128.store(yr + (<usize>ow << 2), acc);
          }
        }
      }
      for (; ow < OW; ow++) store<f32>(yr + (<usize>ow << 2), window_max(xc, W, ih0, kh0, kh1, ow * s - padL, k));
    }
  }
}

// Max over rows [kh0, kh1) and the in-row part of columns iw0 .. iw0 + k - 1.
@inline function window_max(xc: usize, W: i32, ih0: i32, kh0: i32, kh1: i32, iw0: i32, k: i32): f32 {
  const kw0 = max(0, -iw0), kw1 = min(k, W - iw0);
  let m: f32 = -Infinity;
  for (let kh = kh0; kh < kh1; kh++) {
    const row = xc + (<usize>((ih0 + kh) * W + iw0) << 2);
    for (let kw = kw0; kw < kw1; kw++) m = Mathf.max(m, load<f32>(row + (<usize>kw << 2)));
  }
  return m;
}
