import { pi, pp, expf, exp4 } from './common';

// softmax(p): over the channel axis at every position: y[c][i] = e^(x[c][i] - m_i) / sum_c' e^(...),
// m_i = max_c x[c][i]; a vector of n classes is C = n, HW = 1. y may be x (each value is read
// before it is written). The engine's exp (expf/exp4: the same float operations), sums over c in
// order from 0, so both builds give bit-identical values; the SIMD build does 4 positions at once.
// params: [0] x f32* [C][HW]  [1] y f32* [C][HW]  [2] C  [3] HW
export function softmax(p: usize): void {
  const x = pp(p, 0), y = pp(p, 1), C = pi(p, 2), HW = pi(p, 3);
  const cs = <usize>HW << 2;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= HW; i += 4) {
      const o = <usize>i << 2;
      let m = v128.load(x + o);
      for (let c = 1; c < C; c++) m = f32x4.max(m, v128.load(x + o + <usize>c * cs));
      let s = f32x4.splat(0);
      for (let c = 0; c < C; c++) {
        const e = exp4(f32x4.sub(v128.load(x + o + <usize>c * cs), m));
        v128.store(y + o + <usize>c * cs, e);
        s = f32x4.add(s, e);
      }
      for (let c = 0; c < C; c++) {
        const a = y + o + <usize>c * cs;
        v128.store(a, f32x4.div(v128.load(a), s));
      }
    }
  }
  for (; i < HW; i++) {
    const o = <usize>i << 2;
    let m = load<f32>(x + o);
    for (let c = 1; c < C; c++) m = Mathf.max(m, load<f32>(x + o + <usize>c * cs));
    let s: f32 = 0;
    for (let c = 0; c < C; c++) {
      const e = expf(load<f32>(x + o + <usize>c * cs) - m);
      store<f32>(y + o + <usize>c * cs, e);
      s += e;
    }
    for (let c = 0; c < C; c++) {
      const a = y + o + <usize>c * cs;
      store<f32>(a, load<f32>(a) / s);
    }
  }
}
