import { pi, pp } from './common';

// groupsum(p): weighted sum of channel groups (the SEE ensemble reduction):
//   y[c][h][w] = sum over g < gActive of weights[g] * x[g*C + c][h][w], in order g = 0, 1, ...
// params: [0] x f32* [G*C][H][W]  [1] y f32* [C][H][W] (may be x: group 0 is read before it is
//         overwritten)  [2] G  [3] C  [4] H  [5] W  [6] weights f32* [G]  [7] gActive
// Both builds add the terms in the same order per element, so their outputs are bit-identical.
// gActive = 0 writes zeros.
export function groupsum(p: usize): void {
  const x = pp(p, 0), y = pp(p, 1);
  const n = pi(p, 3) * pi(p, 4) * pi(p, 5);
  const wts = pp(p, 6), gA = pi(p, 7);
  const gstride = <usize>n << 2;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      let acc = f32x4.splat(0);
      if (gA > 0) acc = f32x4.mul(v128.load32_splat(wts), v128.load(x + off));
      for (let g = 1; g < gA; g++) {
        const xv = v128.load(x + <usize>g * gstride + off);
        acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(wts + (<usize>g << 2)), xv));
      }
      v128.store(y + off, acc);
    }
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    let acc: f32 = 0;
    if (gA > 0) acc = load<f32>(wts) * load<f32>(x + off);
    for (let g = 1; g < gA; g++) acc += load<f32>(wts + (<usize>g << 2)) * load<f32>(x + <usize>g * gstride + off);
    store<f32>(y + off, acc);
  }
}
