// Reductions shared by gap, se and instnorm.
//
// Each keeps four interleaved partial sums (element i goes to sum i % 4) and
// combines them as (s0 + s1) + (s2 + s3) before adding the tail in order. The
// SIMD path holds the same four sums in vector lanes, so both builds perform the
// same float operations in the same order and return bit-identical results; the
// self-test checksum relies on that.

export const BLOCK: i32 = 64; // values per f32 block of sum_dev_blocked

// Sum of n f32 values, accumulated in f64 (gap): pooling a 112x112 map in f32 would lose
// about four digits.
export function sum_f64(x: usize, n: i32): f64 {
  let i = 0;
  let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0;
  if (ASC_FEATURE_SIMD) {
    let v01 = f64x2.splat(0), v23 = f64x2.splat(0);
    for (; i + 4 <= n; i += 4) {
      const v = v128.load(x + (<usize>i << 2));
      v01 = f64x2.add(v01, f64x2.promote_low_f32x4(v));
      v23 = f64x2.add(v23, f64x2.promote_low_f32x4(f32x4.shuffle(v, v, 2, 3, 2, 3)));
    }
    s0 = f64x2.extract_lane(v01, 0); s1 = f64x2.extract_lane(v01, 1);
    s2 = f64x2.extract_lane(v23, 0); s3 = f64x2.extract_lane(v23, 1);
  } else {
    for (; i + 4 <= n; i += 4) {
      const a = x + (<usize>i << 2);
      s0 += <f64>load<f32>(a);
      s1 += <f64>load<f32>(a, 4);
      s2 += <f64>load<f32>(a, 8);
      s3 += <f64>load<f32>(a, 12);
    }
  }
  let s = (s0 + s1) + (s2 + s3);
  for (; i < n; i++) s += <f64>load<f32>(x + (<usize>i << 2));
  return s;
}

// f32 dot product of a[0..n) and b[0..n) (the SE squeeze/excite matvecs, n <= a few hundred).
export function dot_f32(a: usize, b: usize, n: i32): f32 {
  let i = 0;
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    let acc = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      acc = f32x4.add(acc, f32x4.mul(v128.load(a + off), v128.load(b + off)));
    }
    s0 = f32x4.extract_lane(acc, 0); s1 = f32x4.extract_lane(acc, 1);
    s2 = f32x4.extract_lane(acc, 2); s3 = f32x4.extract_lane(acc, 3);
  } else {
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      s0 += load<f32>(a + off) * load<f32>(b + off);
      s1 += load<f32>(a + off, 4) * load<f32>(b + off, 4);
      s2 += load<f32>(a + off, 8) * load<f32>(b + off, 8);
      s3 += load<f32>(a + off, 12) * load<f32>(b + off, 12);
    }
  }
  let s = (s0 + s1) + (s2 + s3);
  for (; i < n; i++) {
    const off = <usize>i << 2;
    s += load<f32>(a + off) * load<f32>(b + off);
  }
  return s;
}

// y[i] = x[i] * s over n floats (y may be x).
export function scale_f32(x: usize, y: usize, n: i32, s: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vs = f32x4.splat(s);
    for (; i + 16 <= n; i += 16) { // four vectors per iteration: fewer loop overheads and stack checks
      const q = x + (<usize>i << 2), o = y + (<usize>i << 2);
      const a = f32x4.mul(v128.load(q), vs), b = f32x4.mul(v128.load(q, 16), vs);
      const c = f32x4.mul(v128.load(q, 32), vs), d = f32x4.mul(v128.load(q, 48), vs);
      v128.store(o, a); v128.store(o, b, 16); v128.store(o, c, 32); v128.store(o, d, 48);
    }
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      v128.store(y + off, f32x4.mul(v128.load(x + off), vs));
    }
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(y + off, load<f32>(x + off) * s);
  }
}

// Sum of (x[i] - piv) over n values: f32 within 64-value blocks, f64 across them (instnorm's
// first pass with piv = x[0]; se's pooling with piv = 0): f32-speed loops, ~1e-7 relative
// error per block. A block is
// 4 groups of 4 vectors; lane j of accumulator a adds (v0 + v1) of each group, b (v2 + v3),
// so each chain is 4 adds long (V8 does not reassociate; an 8-add chain was latency-bound).
// The scalar build keeps the 8 lanes as 8 locals and adds in the same order.
export function sum_dev_blocked(x: usize, n: i32, piv: f32): f64 {
  let i = 0;
  let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0;
  if (ASC_FEATURE_SIMD) {
    const vp = f32x4.splat(piv);
    for (; i + BLOCK <= n; i += BLOCK) {
      // the block written out: V8 neither unrolls nor drops a loop's per-iteration stack check
      const q = x + (<usize>i << 2);
      let a = f32x4.splat(0), b = f32x4.splat(0);
      a = f32x4.add(a, f32x4.add(f32x4.sub(v128.load(q, 0), vp), f32x4.sub(v128.load(q, 16), vp)));
      b = f32x4.add(b, f32x4.add(f32x4.sub(v128.load(q, 32), vp), f32x4.sub(v128.load(q, 48), vp)));
      a = f32x4.add(a, f32x4.add(f32x4.sub(v128.load(q, 64), vp), f32x4.sub(v128.load(q, 80), vp)));
      b = f32x4.add(b, f32x4.add(f32x4.sub(v128.load(q, 96), vp), f32x4.sub(v128.load(q, 112), vp)));
      a = f32x4.add(a, f32x4.add(f32x4.sub(v128.load(q, 128), vp), f32x4.sub(v128.load(q, 144), vp)));
      b = f32x4.add(b, f32x4.add(f32x4.sub(v128.load(q, 160), vp), f32x4.sub(v128.load(q, 176), vp)));
      a = f32x4.add(a, f32x4.add(f32x4.sub(v128.load(q, 192), vp), f32x4.sub(v128.load(q, 208), vp)));
      b = f32x4.add(b, f32x4.add(f32x4.sub(v128.load(q, 224), vp), f32x4.sub(v128.load(q, 240), vp)));
      const t = f32x4.add(a, b);
      s0 += <f64>f32x4.extract_lane(t, 0); s1 += <f64>f32x4.extract_lane(t, 1);
      s2 += <f64>f32x4.extract_lane(t, 2); s3 += <f64>f32x4.extract_lane(t, 3);
    }
  } else {
    for (; i + BLOCK <= n; i += BLOCK) {
      let a0: f32 = 0, a1: f32 = 0, a2: f32 = 0, a3: f32 = 0;
      let b0: f32 = 0, b1: f32 = 0, b2: f32 = 0, b3: f32 = 0;
      for (let k = 0; k < BLOCK; k += 16) {
        const q = x + (<usize>(i + k) << 2);
        a0 += (load<f32>(q) - piv) + (load<f32>(q, 16) - piv);
        a1 += (load<f32>(q, 4) - piv) + (load<f32>(q, 20) - piv);
        a2 += (load<f32>(q, 8) - piv) + (load<f32>(q, 24) - piv);
        a3 += (load<f32>(q, 12) - piv) + (load<f32>(q, 28) - piv);
        b0 += (load<f32>(q, 32) - piv) + (load<f32>(q, 48) - piv);
        b1 += (load<f32>(q, 36) - piv) + (load<f32>(q, 52) - piv);
        b2 += (load<f32>(q, 40) - piv) + (load<f32>(q, 56) - piv);
        b3 += (load<f32>(q, 44) - piv) + (load<f32>(q, 60) - piv);
      }
      s0 += <f64>(a0 + b0); s1 += <f64>(a1 + b1); s2 += <f64>(a2 + b2); s3 += <f64>(a3 + b3);
    }
  }
  let s = (s0 + s1) + (s2 + s3);
  for (; i < n; i++) s += <f64>(load<f32>(x + (<usize>i << 2)) - piv);
  return s;
}

