// Reductions shared by gap, se and instnorm.
//
// Each keeps four interleaved partial sums (element i goes to sum i % 4) and
// combines them as (s0 + s1) + (s2 + s3) before adding the tail in order. The
// SIMD path holds the same four sums in vector lanes, so both builds perform the
// same float operations in the same order and return bit-identical results; the
// self-test checksum relies on that.

// Sum of n f32 values, accumulated in f64: pooling a 112x112 map in f32 would
// lose about four digits, and instnorm must track PyTorch to 1e-5.
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

// Sum of (x[i] - mean)^2 in f64: the second pass of a two-pass variance, which
// stays accurate when the mean is large next to the spread (E[x^2] - mean^2 would not).
export function sumsq_dev_f64(x: usize, n: i32, mean: f64): f64 {
  let i = 0;
  let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0;
  if (ASC_FEATURE_SIMD) {
    const m = f64x2.splat(mean);
    let v01 = f64x2.splat(0), v23 = f64x2.splat(0);
    for (; i + 4 <= n; i += 4) {
      const v = v128.load(x + (<usize>i << 2));
      const d01 = f64x2.sub(f64x2.promote_low_f32x4(v), m);
      const d23 = f64x2.sub(f64x2.promote_low_f32x4(f32x4.shuffle(v, v, 2, 3, 2, 3)), m);
      v01 = f64x2.add(v01, f64x2.mul(d01, d01));
      v23 = f64x2.add(v23, f64x2.mul(d23, d23));
    }
    s0 = f64x2.extract_lane(v01, 0); s1 = f64x2.extract_lane(v01, 1);
    s2 = f64x2.extract_lane(v23, 0); s3 = f64x2.extract_lane(v23, 1);
  } else {
    for (; i + 4 <= n; i += 4) {
      const a = x + (<usize>i << 2);
      const d0 = <f64>load<f32>(a) - mean, d1 = <f64>load<f32>(a, 4) - mean;
      const d2 = <f64>load<f32>(a, 8) - mean, d3 = <f64>load<f32>(a, 12) - mean;
      s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3;
    }
  }
  let s = (s0 + s1) + (s2 + s3);
  for (; i < n; i++) {
    const d = <f64>load<f32>(x + (<usize>i << 2)) - mean;
    s += d * d;
  }
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
