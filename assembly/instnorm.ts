import { pi, pf, pp, act_apply } from './common';
import { sum_f64, sumsq_dev_f64 } from './reduce';

// instnorm(p): instance normalization (PyTorch InstanceNorm2d, biased variance) per channel
// c < cActive, then an optional affine and activation:
//   y = act(gamma[c] * (x - mean_c) / sqrt(var_c + eps) + beta[c])
// params: [0] x f32* [C][HW]  [1] y f32* [C][HW] (may be x)  [2] C  [3] HW  [4] eps (f32)
//         [5] gamma f32* [C] (0 = 1)  [6] beta f32* [C] (0 = 0)  [7] act code  [8] cActive
//
// Mean and variance come from two f64 passes (reduce.ts), so a large mean next to a small
// spread costs no accuracy. The mean is then split into f32 hi + lo parts: (x - hi) is exact
// whenever x is near the mean (Sterbenz), and subtracting lo recovers the f64 mean's digits;
// folding everything into x * a + b would instead cancel catastrophically. Every float
// operation is the same in both builds, so their outputs are bit-identical.
export function instnorm(p: usize): void {
  const x = pp(p, 0), y = pp(p, 1);
  const HW = pi(p, 3), eps = <f64>pf(p, 4);
  const gamma = pp(p, 5), beta = pp(p, 6);
  const act = pi(p, 7), cA = pi(p, 8);
  const invN: f64 = 1.0 / <f64>HW;
  for (let c = 0; c < cA; c++) {
    const xc = x + (<usize>c * HW << 2), yc = y + (<usize>c * HW << 2);
    const mean = sum_f64(xc, HW) * invN;
    const varc = sumsq_dev_f64(xc, HW, mean) * invN;
    const inv: f64 = 1.0 / Math.sqrt(varc + eps);
    const g: f64 = gamma ? <f64>load<f32>(gamma + (<usize>c << 2)) : 1.0;
    const b: f32 = beta ? load<f32>(beta + (<usize>c << 2)) : 0;
    const a = <f32>(g * inv);
    const hi = <f32>mean;
    const lo = <f32>(mean - <f64>hi);
    let i = 0;
    if (ASC_FEATURE_SIMD) {
      const vhi = f32x4.splat(hi), vlo = f32x4.splat(lo), va = f32x4.splat(a), vb = f32x4.splat(b);
      for (; i + 4 <= HW; i += 4) {
        const off = <usize>i << 2;
        const d = f32x4.sub(f32x4.sub(v128.load(xc + off), vhi), vlo);
        v128.store(yc + off, f32x4.add(f32x4.mul(d, va), vb));
      }
    }
    for (; i < HW; i++) {
      const off = <usize>i << 2;
      store<f32>(yc + off, ((load<f32>(xc + off) - hi) - lo) * a + b);
    }
    // Applied per channel while the channel is still in cache; act_apply runs swish and
    // sigmoid on 4 lanes (exp4) in the SIMD build, bit-identical to the scalar build.
    act_apply(yc, HW, act);
  }
}
