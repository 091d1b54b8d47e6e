import { pi, pp } from './common';

// chshuffle(p): channel gather, y[j] = x[src(c0 + j)] for j < n, where src(c) = (c % G) * (C / G) + c / G
// (planes of HW floats). G = 1 is a channel slice [c0, c0 + n) (ONNX Split and Slice on channels);
// G > 1 with c0 = 0, n = C is the channel shuffle of ShuffleNet (a [G][C/G] -> [C/G][G] transpose of
// the channels); any c0, n is a slice of the shuffled tensor. Values are copied, bits unchanged.
// params: [0] x f32* [C][HW]  [1] y f32* [n][HW] (must not overlap x)  [2] C  [3] HW  [4] G  [5] c0  [6] n
export function chshuffle(p: usize): void {
  const x = pp(p, 0), y = pp(p, 1);
  const C = pi(p, 2), HW = pi(p, 3), G = pi(p, 4), c0 = pi(p, 5), n = pi(p, 6);
  const per = C / G;
  const pb = <usize>HW << 2;
  for (let j = 0; j < n; j++) {
    const c = c0 + j;
    const s = (c % G) * per + c / G;
    copyPlane(x + <usize>s * pb, y + <usize>j * pb, HW);
  }
}

@inline function copyPlane(src: usize, dst: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
  }
  for (; i < n; i++) store<u32>(dst + (<usize>i << 2), load<u32>(src + (<usize>i << 2)));
}
