import { pi, pf, pp, actf, act_apply } from './common';

// affine(p): y[i] = act(x[i] * a + b) for i < nActive (in place allowed).
// The split needs it twice: centring dequantized codes (2q/(L-1) - 1) for the decoder, and the
// same centring of the unquantized bottleneck in the JPEG-baseline classifier.
// params: [0] x f32*  [1] y f32*  [2] n  [3] a f32  [4] b f32  [5] nActive  [6] act code
export function affine(p: usize): void {
  const x = pp(p, 0), y = pp(p, 1);
  const n = pi(p, 5);
  const a = pf(p, 3), b = pf(p, 4);
  const act = pi(p, 6);
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const va = f32x4.splat(a), vb = f32x4.splat(b);
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      // mul then add (not fma): the scalar build rounds the same way.
      v128.store(y + off, f32x4.add(f32x4.mul(v128.load(x + off), va), vb));
    }
    // The activation as a second pass over the vectorized prefix (a loop per code:
    // act4 = actf lane by lane, see common.ts).
    act_apply(y, i, act);
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(y + off, actf(load<f32>(x + off) * a + b, act));
  }
}
