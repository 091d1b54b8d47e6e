import { pi, pp, actf, act_apply } from './common';

// add(p): out[i] = act(a[i] + b[i]) over n floats (residual add). out may alias a or b.
// params: [0] a f32*  [1] b f32*  [2] out f32*  [3] n  [4] act code
export function add(p: usize): void {
  const a = pp(p, 0), b = pp(p, 1), o = pp(p, 2);
  const n = pi(p, 3), act = pi(p, 4);
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      v128.store(o + off, f32x4.add(v128.load(a + off), v128.load(b + off)));
    }
    // The activation as a second pass over the vectorized prefix (a loop per code:
    // act4 = actf lane by lane, see common.ts).
    act_apply(o, i, act);
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(o + off, actf(load<f32>(a + off) + load<f32>(b + off), act));
  }
}
