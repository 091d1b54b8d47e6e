import { pi, pp } from './common';

// avgpool(p): k x k average pooling with stride s. Each window sums its pixels inside the image
// (rows outer, columns inner, in f32, from 0) and divides by the number of them (TensorFlow's
// AvgPool, ONNX count_include_pad = 0) or by k * k (countPad = 1: PyTorch's default
// count_include_pad = True), so padding counts as zeros there.
// params: [0] x f32* [C][H][W]  [1] y f32* [C][OH][OW]  [2] C  [3] H  [4] W  [5] k
//         [6] stride  [7] padT  [8] padL  [9] OH  [10] OW  [11] cActive  [12] countPad
// The SIMD build does 4 outputs of a row at once where their windows lie inside the row (stride 1:
// adjacent loads; stride 2: even lanes of two loads), adding in the same order as the scalar path.
export function avgpool(p: usize): void {
  const x = pp(p, 0), y = pp(p, 1);
  const H = pi(p, 3), W = pi(p, 4), k = pi(p, 5), s = pi(p, 6);
  const padT = pi(p, 7), padL = pi(p, 8), OH = pi(p, 9), OW = pi(p, 10), cA = pi(p, 11), countPad = pi(p, 12);
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
      for (let ow = 0; ow < owLo; ow++) store<f32>(yr + (<usize>ow << 2), window_avg(xc, W, ih0, kh0, kh1, ow * s - padL, k, countPad));
      let ow = owLo;
      if (ASC_FEATURE_SIMD) {
        // windows inside the row: k columns each, so the count is (kh1 - kh0) * k (or k * k)
        const n = countPad ? f32x4.splat(<f32>(k * k)) : f32x4.splat(<f32>((kh1 - kh0) * k));
        if (s == 1) {
          for (; ow + 4 <= owHi; ow += 4) {
            let acc = f32x4.splat(0);
            for (let kh = kh0; kh < kh1; kh++) {
              const row = xc + (<usize>((ih0 + kh) * W + ow - padL) << 2);
              for (let kw = 0; kw < k; kw++) acc = f32x4.add(acc, v128.load(row + (<usize>kw << 2)));
            }
            v128.store(yr + (<usize>ow << 2), f32x4.div(acc, n));
          }
        } else if (s == 2) {
          for (; ow + 4 <= owHi && 2 * (ow + 3) - padL + k <= W - 1; ow += 4) {
            let acc = f32x4.splat(0);
            for (let kh = kh0; kh < kh1; kh++) {
              const row = xc + (<usize>((ih0 + kh) * W + 2 * ow - padL) << 2);
              for (let kw = 0; kw < k; kw++) {
                const a = row + (<usize>kw << 2);
                acc = f32x4.add(acc, f32x4.shuffle(v128.load(a), v128.load(a, 16), 0, 2, 4, 6));
              }
            }
            v128.store(yr + (<usize>ow << 2), f32x4.div(acc, n));
          }
        }
      }
      for (; ow < OW; ow++) store<f32>(yr + (<usize>ow << 2), window_avg(xc, W, ih0, kh0, kh1, ow * s - padL, k, countPad));
    }
  }
}

// Mean over rows [kh0, kh1) and the in-row part of columns iw0 .. iw0 + k - 1.
@inline function window_avg(xc: usize, W: i32, ih0: i32, kh0: i32, kh1: i32, iw0: i32, k: i32, countPad: i32): f32 {
  const kw0 = max(0, -iw0), kw1 = min(k, W - iw0);
  let a: f32 = 0;
  for (let kh = kh0; kh < kh1; kh++) {
    const row = xc + (<usize>((ih0 + kh) * W + iw0) << 2);
    for (let kw = kw0; kw < kw1; kw++) a += load<f32>(row + (<usize>kw << 2));
  }
  return a / <f32>(countPad ? k * k : (kh1 - kh0) * (kw1 - kw0));
}
