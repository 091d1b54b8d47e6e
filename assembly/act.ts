import { pi, pp, act_apply, expf, exp4 } from './common';

// act(p): in-place activation.
// params: [0] ptr f32*  [1] n  [2] act code (common.ts)
export function act(p: usize): void {
  act_apply(pp(p, 0), pi(p, 1), pi(p, 2));
}

// exp_f32(p): y[i] = exp(x[i]) with the engine's fast exp (common.ts expf/exp4), for
// tests and hosts that want the same values the swish/sigmoid kernels use. y may be x.
// params: [0] x f32*  [1] y f32*  [2] n
export function exp_f32(p: usize): void {
  const x = pp(p, 0), y = pp(p, 1), n = pi(p, 2);
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      v128.store(y + off, exp4(v128.load(x + off)));
    }
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(y + off, expf(load<f32>(x + off)));
  }
}
