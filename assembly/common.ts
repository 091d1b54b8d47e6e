// Shared helpers for every kernel. Kernels take one argument: a pointer to a
// params struct of 32-bit words (i32, or f32 stored in place). The layout of
// each struct is documented at the top of its kernel file and mirrored in
// src/engine/ops/<op>.ts. Nothing here allocates or imports.

// Activation codes, shared with src/engine/ops/act.ts.
export const ACT_NONE: i32 = 0;
export const ACT_RELU: i32 = 1;
export const ACT_RELU6: i32 = 2;
export const ACT_SWISH: i32 = 3;
export const ACT_HSWISH: i32 = 4;
export const ACT_SIGMOID: i32 = 5;
// hard sigmoid relu6(x + 3) / 6 (MobileNetV3's squeeze-excite gate)
export const ACT_HSIGMOID: i32 = 6;
// conv2d's epilogue code (assembly/conv2d.ts, conv2d_wino.ts): the activation in bits 0-2, then
// flags. Only EPI_AFFINE crosses into the Winograd path.
export const EPI_AFFINE: i32 = 8; // apply scale and shift

@inline export function pi(p: usize, i: i32): i32 {
  return load<i32>(p + (<usize>i << 2));
}
@inline export function pf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}
@inline export function pp(p: usize, i: i32): usize {
  return <usize>load<u32>(p + (<usize>i << 2));
}

// Fast f32 exp, written twice with the same float operations in the same order: once on
// scalar f32 (expf), once on f32x4 lanes (exp4). WASM f32 arithmetic is deterministic (no
// fma, no f64, no relaxed ops here), so both builds produce bit-identical swish and sigmoid.
// Cody-Waite reduction as in Cephes expf: n = nearest(x * log2 e); r = x - n*C1 - n*C2 (C1
// has 9 significant bits, so n*C1 and x - n*C1 are exact), |r| <= ln2/2; then
// e^r = 1 + r + r^2 * Q(r), Q of degree 3: a minimax fit of relative error (1.1e-7 exact,
// 1.9e-7 as evaluated in f32 over [-87, 88.7]; Cephes' degree-5 P gave ~1e-7 for 4 more
// operations per value). Max error ~2 ulp (test/act.test.ts).
// expf/exp4 (the exported exp_f32): x clamped to [EXP_LO, EXP_HI] and scaled by 2^n as two
// exact powers of two, 2^(n>>1) * 2^(n - (n>>1)), so that the last multiply over- or
// underflows correctly: exp(+inf) = exp(x > 88.72) = +inf; exp(-inf) = 0 (EXP_LO = -104
// underflows to 0; results in [-104, -87.3] are denormals); NaN stays NaN (the clamps are
// written x < lo ? lo : x, which keeps NaN, and a NaN t gives a NaN result whatever n is).
// expSat (swish and sigmoid only): x clamped to [SAT_LO, EXP_HI] and scaled by one power of
// two whose exponent field saturates at both ends: n = -127 gives the bits of +0, n = 128
// those of +inf. So e^x is 0 below about -87.98 and +inf above about 88.37 (instead of
// denormals and the last finite values): 1 + e^-x then rounds to 1 or gives +inf as before,
// and swish/sigmoid change by less than 1e-36. Five operations per value fewer than expf.
const EXP_LO: f32 = -104.0;
const EXP_HI: f32 = 89.0;
const SAT_LO: f32 = -88.0;
const EXP_LOG2E: f32 = 1.44269504088896341;
// n = nearest(x * log2 e) without a float-to-int conversion (V8 expands i32x4.trunc_sat
// to ~8 instructions): adding 1.5 * 2^23 rounds to an integer (ties to even, as nearest
// does) held in the low mantissa bits; subtracting it back gives n as a float.
const EXP_SHIFT: f32 = 12582912.0;
const EXP_SHIFT_BITS: i32 = 0x4b400000;
const EXP_C1: f32 = 0.693359375;
const EXP_C2: f32 = -2.12194440e-4;
// Q(r) = Q0 + Q1 r + Q2 r^2 + Q3 r^3, printed by `/usr/bin/python3 bench/exp_fit.py`
const EXP_Q0: f32 = 0.4999924302101135;
const EXP_Q1: f32 = 0.16667111217975616;
const EXP_Q2: f32 = 0.04188923537731171;
const EXP_Q3: f32 = 0.008312836289405823;
// swish(x) = x / (1 + exp(-x)) with x first clamped below at SWISH_LO (keeping NaN): for
// x <= -100 the true value is below 1e-41 in magnitude, the clamp makes exp(100) = +inf
// and the quotient -0, so swish(-inf) = -0 instead of -inf / inf = NaN.
const SWISH_LO: f32 = -100.0;

// e^r * 2^-n for a clamped x and fx = nearest(x * log2 e): the shared core of both exps.
@inline function expMant(x: f32, fx: f32): f32 {
  const r = (x - fx * EXP_C1) - fx * EXP_C2;
  const z = r * r;
  let q = EXP_Q3 * r + EXP_Q2;
  q = q * r + EXP_Q1;
  q = q * r + EXP_Q0;
  return (q * z + r) + <f32>1.0;
}
@inline function expMant4(x: v128, fx: v128): v128 {
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(fx, f32x4.splat(EXP_C1))), f32x4.mul(fx, f32x4.splat(EXP_C2)));
  const z = f32x4.mul(r, r);
  let q = f32x4.add(f32x4.mul(f32x4.splat(EXP_Q3), r), f32x4.splat(EXP_Q2));
  q = f32x4.add(f32x4.mul(q, r), f32x4.splat(EXP_Q1));
  q = f32x4.add(f32x4.mul(q, r), f32x4.splat(EXP_Q0));
  return f32x4.add(f32x4.add(f32x4.mul(q, z), r), f32x4.splat(1));
}

@inline export function expf(x: f32): f32 {
  x = x < EXP_LO ? EXP_LO : x;
  x = EXP_HI < x ? EXP_HI : x;
  const t = x * EXP_LOG2E + EXP_SHIFT;
  const fx = t - EXP_SHIFT;
  const y = expMant(x, fx);
  const n = reinterpret<i32>(t) - EXP_SHIFT_BITS;
  const n1 = n >> 1;
  const n2 = n - n1;
  const s1 = reinterpret<f32>((n1 + 127) << 23);
  const s2 = reinterpret<f32>((n2 + 127) << 23);
  return (y * s1) * s2;
}

// exp4: expf on 4 lanes, operation for operation (pmax(x, lo) = x < lo ? lo : x,
// pmin(x, hi) = hi < x ? hi : x, as in expf).
@inline export function exp4(x: v128): v128 {
  x = f32x4.pmax(x, f32x4.splat(EXP_LO));
  x = f32x4.pmin(x, f32x4.splat(EXP_HI));
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(EXP_LOG2E)), f32x4.splat(EXP_SHIFT));
  const fx = f32x4.sub(t, f32x4.splat(EXP_SHIFT));
  const y = expMant4(x, fx);
  const n = i32x4.sub(t, i32x4.splat(EXP_SHIFT_BITS));
  const n1 = i32x4.shr_s(n, 1);
  const n2 = i32x4.sub(n, n1);
  const s1 = i32x4.shl(i32x4.add(n1, i32x4.splat(127)), 23);
  const s2 = i32x4.shl(i32x4.add(n2, i32x4.splat(127)), 23);
  return f32x4.mul(f32x4.mul(y, s1), s2);
}

@inline function expSatf(x: f32): f32 {
  x = x < SAT_LO ? SAT_LO : x;
  x = EXP_HI < x ? EXP_HI : x;
  const t = x * EXP_LOG2E + EXP_SHIFT;
  return expMant(x, t - EXP_SHIFT) * reinterpret<f32>((reinterpret<i32>(t) + (127 - EXP_SHIFT_BITS)) << 23);
}
@inline function expSat4(x: v128): v128 {
  x = f32x4.pmax(x, f32x4.splat(SAT_LO));
  x = f32x4.pmin(x, f32x4.splat(EXP_HI));
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(EXP_LOG2E)), f32x4.splat(EXP_SHIFT));
  const e = i32x4.shl(i32x4.add(t, i32x4.splat(127 - EXP_SHIFT_BITS)), 23);
  return f32x4.mul(expMant4(x, f32x4.sub(t, f32x4.splat(EXP_SHIFT))), e);
}

@inline export function swishf(x: f32): f32 {
  x = x < SWISH_LO ? SWISH_LO : x;
  return x / (<f32>1.0 + expSatf(-x));
}
@inline export function swish4(x: v128): v128 {
  x = f32x4.pmax(x, f32x4.splat(SWISH_LO));
  return f32x4.div(x, f32x4.add(f32x4.splat(1), expSat4(f32x4.neg(x))));
}
// sigmoid(-inf) = 1 / inf = 0, sigmoid(+inf) = 1, NaN stays NaN.
@inline export function sigmoidf(x: f32): f32 {
  return <f32>1.0 / (<f32>1.0 + expSatf(-x));
}
@inline export function sigmoid4(x: v128): v128 {
  return f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), expSat4(f32x4.neg(x))));
}

// Scalar activation. act4 is its 4-lane twin with the same float operations, so both
// builds produce identical values: relu pmax(0, v) = 0 < v ? v : 0 (NaN -> 0, as
// x > 0 ? x : 0), relu6 pmin(pmax(v, 0), 6) = 6 < t ? 6 : t (keeps NaN), hard-swish likewise.
@inline export function actf(x: f32, act: i32): f32 {
  if (act == ACT_NONE) return x;
  if (act == ACT_RELU) return x > 0 ? x : 0;
  if (act == ACT_RELU6) return x < 0 ? 0 : (x > 6 ? 6 : x);
  if (act == ACT_SWISH) return swishf(x);
  if (act == ACT_HSWISH) {
    let t = x + 3;
    t = t < 0 ? 0 : (t > 6 ? 6 : t);
    return x * t * (<f32>1.0 / 6);
  }
  if (act == ACT_HSIGMOID) {
    let t = x + 3;
    t = t < 0 ? 0 : (t > 6 ? 6 : t);
    return t * (<f32>1.0 / 6);
  }
  return sigmoidf(x);
}

@inline export function act4(v: v128, act: i32): v128 {
  if (act == ACT_NONE) return v;
  const z = f32x4.splat(0), six = f32x4.splat(6);
  if (act == ACT_RELU) return f32x4.pmax(z, v);
  if (act == ACT_RELU6) return f32x4.pmin(f32x4.pmax(v, z), six);
  if (act == ACT_SWISH) return swish4(v);
  if (act == ACT_HSWISH) {
    const t = f32x4.pmin(f32x4.pmax(f32x4.add(v, f32x4.splat(3)), z), six);
    return f32x4.mul(f32x4.mul(v, t), f32x4.splat(<f32>1.0 / 6));
  }
  if (act == ACT_HSIGMOID) {
    const t = f32x4.pmin(f32x4.pmax(f32x4.add(v, f32x4.splat(3)), z), six);
    return f32x4.mul(t, f32x4.splat(<f32>1.0 / 6));
  }
  return sigmoid4(v);
}

// In-place activation over n floats.
export function act_apply(ptr: usize, n: i32, act: i32): void {
  if (act == ACT_NONE) return;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    // One loop per code, so the loop body has no branch. Swish and sigmoid run four independent
    // vectors per iteration: exp4 is a long dependent chain, and V8 does not unroll (1.55x on swish).
    if (act == ACT_SWISH) {
      for (; i + 16 <= n; i += 16) {
        const a = ptr + (<usize>i << 2);
        const u = swish4(v128.load(a)), v = swish4(v128.load(a, 16));
        const u2 = swish4(v128.load(a, 32)), v2 = swish4(v128.load(a, 48));
        v128.store(a, u);
        v128.store(a, v, 16);
        v128.store(a, u2, 32);
        v128.store(a, v2, 48);
      }
      for (; i + 4 <= n; i += 4) {
        const a = ptr + (<usize>i << 2);
        v128.store(a, swish4(v128.load(a)));
      }
    } else if (act == ACT_SIGMOID) {
      for (; i + 16 <= n; i += 16) {
        const a = ptr + (<usize>i << 2);
        const u = sigmoid4(v128.load(a)), v = sigmoid4(v128.load(a, 16));
        const u2 = sigmoid4(v128.load(a, 32)), v2 = sigmoid4(v128.load(a, 48));
        v128.store(a, u);
        v128.store(a, v, 16);
        v128.store(a, u2, 32);
        v128.store(a, v2, 48);
      }
      for (; i + 4 <= n; i += 4) {
        const a = ptr + (<usize>i << 2);
        v128.store(a, sigmoid4(v128.load(a)));
      }
    } else {
      for (; i + 4 <= n; i += 4) {
        const a = ptr + (<usize>i << 2);
        v128.store(a, act4(v128.load(a), act));
      }
    }
  } else if (act == ACT_SWISH) {
    // the scalar build: four independent values per iteration, for the same reason
    for (; i + 4 <= n; i += 4) {
      const a = ptr + (<usize>i << 2);
      const x0 = load<f32>(a), x1 = load<f32>(a, 4), x2 = load<f32>(a, 8), x3 = load<f32>(a, 12);
      store<f32>(a, swishf(x0)); store<f32>(a, swishf(x1), 4); store<f32>(a, swishf(x2), 8); store<f32>(a, swishf(x3), 12);
    }
  } else if (act == ACT_SIGMOID) {
    for (; i + 4 <= n; i += 4) {
      const a = ptr + (<usize>i << 2);
      const x0 = load<f32>(a), x1 = load<f32>(a, 4), x2 = load<f32>(a, 8), x3 = load<f32>(a, 12);
      store<f32>(a, sigmoidf(x0)); store<f32>(a, sigmoidf(x1), 4); store<f32>(a, sigmoidf(x2), 8); store<f32>(a, sigmoidf(x3), 12);
    }
  }
  for (; i < n; i++) {
    const a = ptr + (<usize>i << 2);
    store<f32>(a, actf(load<f32>(a), act));
  }
}
