import { pi, pf, pp, act_apply, swish4, swishf, ACT_SWISH } from './common';
import { sum_dev_blocked, BLOCK } from './reduce';

// instnorm(p): instance normalization (PyTorch InstanceNorm2d, biased variance) per channel
// c < cActive, then an optional affine and activation:
//   y = act(gamma[c] * (x - mean_c) / sqrt(var_c + eps) + beta[c])
// params: [0] x f32* [C][HW]  [1] y f32* [C][HW] (may be x)  [2] C  [3] HW  [4] eps (f32)
//         [5] gamma f32* [C] (0 = 1)  [6] beta f32* [C] (0 = 0)  [7] act code  [8] cActive
//
// Statistics: a corrected two-pass method. Pass 1 sums x - x[0] (a pivot inside the data, so
// a large mean next to a small spread does not cost digits); pass 2 sums d = x - m1 and d^2
// around pass 1's mean m1 (rounded to f32), and mean = m1 + sum(d)/n, var = sum(d^2)/n -
// (sum(d)/n)^2 corrects whatever pass 1 lost. Each pass adds in f32 within blocks of 64
// values (two 4-lane accumulators, 8 values per lane, added in pairs) and in f64 across blocks: f32-speed
// loops (2 operations per value instead of 6 for f64 lanes) with a relative error of ~1e-7
// per block, so a 191x191 channel stays at f32 rounding. The mean is then split into f32
// hi + lo parts: (x - hi) is exact whenever x is near the mean (Sterbenz), and subtracting
// lo recovers the f64 mean's digits; folding everything into x * a + b would instead cancel
// catastrophically. Swish is applied in the same loop as the normalization (the SEE blocks'
// case), other activations in a second pass over the channel. Every float operation is the
// same in both builds (the scalar build keeps the 8 lanes as 8 locals), so their outputs are
// bit-identical.

export function instnorm(p: usize): void {
  const x = pp(p, 0), y = pp(p, 1);
  const HW = pi(p, 3), eps = <f64>pf(p, 4);
  const gamma = pp(p, 5), beta = pp(p, 6);
  const act = pi(p, 7), cA = pi(p, 8);
  const n: f64 = <f64>HW;
  for (let c = 0; c < cA; c++) {
    const xc = x + (<usize>c * HW << 2), yc = y + (<usize>c * HW << 2);
    const piv = load<f32>(xc);
    const m1 = <f32>(<f64>piv + sum_dev_blocked(xc, HW, piv) / n);
    devSums(xc, HW, m1);
    const dm = sumD / n;
    const mean = <f64>m1 + dm;
    let varc = sumQ / n - dm * dm;
    varc = varc > 0 ? varc : 0;
    const inv: f64 = 1.0 / Math.sqrt(varc + eps);
    const g: f64 = gamma ? <f64>load<f32>(gamma + (<usize>c << 2)) : 1.0;
    const b: f32 = beta ? load<f32>(beta + (<usize>c << 2)) : 0;
    const a = <f32>(g * inv);
    const hi = <f32>mean;
    const lo = <f32>(mean - <f64>hi);
    if (act == ACT_SWISH) {
      normSwish(xc, yc, HW, hi, lo, a, b);
    } else {
      normalize(xc, yc, HW, hi, lo, a, b);
      act_apply(yc, HW, act);
    }
  }
}

// Pass 2's results (AssemblyScript functions return one value).
let sumD: f64 = 0;
let sumQ: f64 = 0;

// sumD = sum of d, sumQ = sum of d^2, d = x[i] - m (f32), blocked and paired as sumDev.
function devSums(x: usize, n: i32, m: f32): void {
  let i = 0;
  let d0: f64 = 0, d1: f64 = 0, d2: f64 = 0, d3: f64 = 0;
  let q0: f64 = 0, q1: f64 = 0, q2: f64 = 0, q3: f64 = 0;
  if (ASC_FEATURE_SIMD) {
    const vm = f32x4.splat(m);
    for (; i + BLOCK <= n; i += BLOCK) {
      const q = x + (<usize>i << 2);
      let da = f32x4.splat(0), db = f32x4.splat(0), qa = f32x4.splat(0), qb = f32x4.splat(0);
      let u0: v128, u1: v128, u2: v128, u3: v128;
      u0 = f32x4.sub(v128.load(q, 0), vm); u1 = f32x4.sub(v128.load(q, 16), vm);
      u2 = f32x4.sub(v128.load(q, 32), vm); u3 = f32x4.sub(v128.load(q, 48), vm);
      da = f32x4.add(da, f32x4.add(u0, u1)); qa = f32x4.add(qa, f32x4.add(f32x4.mul(u0, u0), f32x4.mul(u1, u1)));
      db = f32x4.add(db, f32x4.add(u2, u3)); qb = f32x4.add(qb, f32x4.add(f32x4.mul(u2, u2), f32x4.mul(u3, u3)));
      u0 = f32x4.sub(v128.load(q, 64), vm); u1 = f32x4.sub(v128.load(q, 80), vm);
      u2 = f32x4.sub(v128.load(q, 96), vm); u3 = f32x4.sub(v128.load(q, 112), vm);
      da = f32x4.add(da, f32x4.add(u0, u1)); qa = f32x4.add(qa, f32x4.add(f32x4.mul(u0, u0), f32x4.mul(u1, u1)));
      db = f32x4.add(db, f32x4.add(u2, u3)); qb = f32x4.add(qb, f32x4.add(f32x4.mul(u2, u2), f32x4.mul(u3, u3)));
      u0 = f32x4.sub(v128.load(q, 128), vm); u1 = f32x4.sub(v128.load(q, 144), vm);
      u2 = f32x4.sub(v128.load(q, 160), vm); u3 = f32x4.sub(v128.load(q, 176), vm);
      da = f32x4.add(da, f32x4.add(u0, u1)); qa = f32x4.add(qa, f32x4.add(f32x4.mul(u0, u0), f32x4.mul(u1, u1)));
      db = f32x4.add(db, f32x4.add(u2, u3)); qb = f32x4.add(qb, f32x4.add(f32x4.mul(u2, u2), f32x4.mul(u3, u3)));
      u0 = f32x4.sub(v128.load(q, 192), vm); u1 = f32x4.sub(v128.load(q, 208), vm);
      u2 = f32x4.sub(v128.load(q, 224), vm); u3 = f32x4.sub(v128.load(q, 240), vm);
      da = f32x4.add(da, f32x4.add(u0, u1)); qa = f32x4.add(qa, f32x4.add(f32x4.mul(u0, u0), f32x4.mul(u1, u1)));
      db = f32x4.add(db, f32x4.add(u2, u3)); qb = f32x4.add(qb, f32x4.add(f32x4.mul(u2, u2), f32x4.mul(u3, u3)));
      const td = f32x4.add(da, db), tq = f32x4.add(qa, qb);
      d0 += <f64>f32x4.extract_lane(td, 0); d1 += <f64>f32x4.extract_lane(td, 1);
      d2 += <f64>f32x4.extract_lane(td, 2); d3 += <f64>f32x4.extract_lane(td, 3);
      q0 += <f64>f32x4.extract_lane(tq, 0); q1 += <f64>f32x4.extract_lane(tq, 1);
      q2 += <f64>f32x4.extract_lane(tq, 2); q3 += <f64>f32x4.extract_lane(tq, 3);
    }
  } else {
    for (; i + BLOCK <= n; i += BLOCK) {
      let da0: f32 = 0, da1: f32 = 0, da2: f32 = 0, da3: f32 = 0;
      let db0: f32 = 0, db1: f32 = 0, db2: f32 = 0, db3: f32 = 0;
      let qa0: f32 = 0, qa1: f32 = 0, qa2: f32 = 0, qa3: f32 = 0;
      let qb0: f32 = 0, qb1: f32 = 0, qb2: f32 = 0, qb3: f32 = 0;
      for (let k = 0; k < BLOCK; k += 16) {
        const q = x + (<usize>(i + k) << 2);
        let u = load<f32>(q) - m, v = load<f32>(q, 16) - m;
        da0 += u + v; qa0 += u * u + v * v;
        u = load<f32>(q, 4) - m; v = load<f32>(q, 20) - m;
        da1 += u + v; qa1 += u * u + v * v;
        u = load<f32>(q, 8) - m; v = load<f32>(q, 24) - m;
        da2 += u + v; qa2 += u * u + v * v;
        u = load<f32>(q, 12) - m; v = load<f32>(q, 28) - m;
        da3 += u + v; qa3 += u * u + v * v;
        u = load<f32>(q, 32) - m; v = load<f32>(q, 48) - m;
        db0 += u + v; qb0 += u * u + v * v;
        u = load<f32>(q, 36) - m; v = load<f32>(q, 52) - m;
        db1 += u + v; qb1 += u * u + v * v;
        u = load<f32>(q, 40) - m; v = load<f32>(q, 56) - m;
        db2 += u + v; qb2 += u * u + v * v;
        u = load<f32>(q, 44) - m; v = load<f32>(q, 60) - m;
        db3 += u + v; qb3 += u * u + v * v;
      }
      d0 += <f64>(da0 + db0); d1 += <f64>(da1 + db1); d2 += <f64>(da2 + db2); d3 += <f64>(da3 + db3);
      q0 += <f64>(qa0 + qb0); q1 += <f64>(qa1 + qb1); q2 += <f64>(qa2 + qb2); q3 += <f64>(qa3 + qb3);
    }
  }
  let sd = (d0 + d1) + (d2 + d3), sq = (q0 + q1) + (q2 + q3);
  for (; i < n; i++) {
    const u = load<f32>(x + (<usize>i << 2)) - m;
    sd += <f64>u;
    sq += <f64>(u * u);
  }
  sumD = sd;
  sumQ = sq;
}

// y = ((x - hi) - lo) * a + b
function normalize(x: usize, y: usize, n: i32, hi: f32, lo: f32, a: f32, b: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vhi = f32x4.splat(hi), vlo = f32x4.splat(lo), va = f32x4.splat(a), vb = f32x4.splat(b);
    for (; i + 16 <= n; i += 16) { // four vectors per iteration: fewer loop overheads and stack checks
      const q = x + (<usize>i << 2), o = y + (<usize>i << 2);
      const u0 = f32x4.add(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(q), vhi), vlo), va), vb);
      const u1 = f32x4.add(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(q, 16), vhi), vlo), va), vb);
      const u2 = f32x4.add(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(q, 32), vhi), vlo), va), vb);
      const u3 = f32x4.add(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(q, 48), vhi), vlo), va), vb);
      v128.store(o, u0); v128.store(o, u1, 16); v128.store(o, u2, 32); v128.store(o, u3, 48);
    }
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      const d = f32x4.sub(f32x4.sub(v128.load(x + off), vhi), vlo);
      v128.store(y + off, f32x4.add(f32x4.mul(d, va), vb));
    }
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(y + off, ((load<f32>(x + off) - hi) - lo) * a + b);
  }
}

// swish(((x - hi) - lo) * a + b) in one pass; four independent vectors (values) per
// iteration, because exp is a long dependent chain and V8 does not unroll.
function normSwish(x: usize, y: usize, n: i32, hi: f32, lo: f32, a: f32, b: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vhi = f32x4.splat(hi), vlo = f32x4.splat(lo), va = f32x4.splat(a), vb = f32x4.splat(b);
    for (; i + 16 <= n; i += 16) {
      const q = x + (<usize>i << 2), o = y + (<usize>i << 2);
      const u0 = f32x4.add(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(q), vhi), vlo), va), vb);
      const u1 = f32x4.add(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(q, 16), vhi), vlo), va), vb);
      const u2 = f32x4.add(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(q, 32), vhi), vlo), va), vb);
      const u3 = f32x4.add(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(q, 48), vhi), vlo), va), vb);
      v128.store(o, swish4(u0));
      v128.store(o, swish4(u1), 16);
      v128.store(o, swish4(u2), 32);
      v128.store(o, swish4(u3), 48);
    }
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      const u = f32x4.add(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(x + off), vhi), vlo), va), vb);
      v128.store(y + off, swish4(u));
    }
  } else {
    for (; i + 4 <= n; i += 4) {
      const q = x + (<usize>i << 2), o = y + (<usize>i << 2);
      const u0 = ((load<f32>(q) - hi) - lo) * a + b, u1 = ((load<f32>(q, 4) - hi) - lo) * a + b;
      const u2 = ((load<f32>(q, 8) - hi) - lo) * a + b, u3 = ((load<f32>(q, 12) - hi) - lo) * a + b;
      store<f32>(o, swishf(u0)); store<f32>(o, swishf(u1), 4);
      store<f32>(o, swishf(u2), 8); store<f32>(o, swishf(u3), 12);
    }
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(y + off, swishf(((load<f32>(x + off) - hi) - lo) * a + b));
  }
}
