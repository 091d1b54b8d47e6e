// Shared helpers for every kernel. Kernels take one argument: a pointer to a
// params struct of 32-bit words (i32, or f32 stored in place). The layout of
// each struct is documented at the top of its kernel file and mirrored in
// src/ops/<op>.ts. Nothing here allocates or imports.

// Activation codes, shared with src/ops/act.ts.
export const ACT_NONE: i32 = 0;
export const ACT_RELU: i32 = 1;
export const ACT_RELU6: i32 = 2;
export const ACT_SWISH: i32 = 3;
export const ACT_HSWISH: i32 = 4;
export const ACT_SIGMOID: i32 = 5;

@inline export function pi(p: usize, i: i32): i32 {
  return load<i32>(p + (<usize>i << 2));
}
@inline export function pf(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}
@inline export function pp(p: usize, i: i32): usize {
  return <usize>load<u32>(p + (<usize>i << 2));
}

// Scalar activation; the SIMD kernels use it for the transcendental ones too,
// so both builds produce the same values for swish and sigmoid.
@inline export function actf(x: f32, act: i32): f32 {
  if (act == ACT_NONE) return x;
  if (act == ACT_RELU) return x > 0 ? x : 0;
  if (act == ACT_RELU6) return x < 0 ? 0 : (x > 6 ? 6 : x);
  if (act == ACT_SWISH) return x / (<f32>1.0 + Mathf.exp(-x));
  if (act == ACT_HSWISH) {
    let t = x + 3;
    t = t < 0 ? 0 : (t > 6 ? 6 : t);
    return x * t * (<f32>1.0 / 6);
  }
  return <f32>1.0 / (<f32>1.0 + Mathf.exp(-x));
}

// In-place activation over n floats.
export function act_apply(ptr: usize, n: i32, act: i32): void {
  if (act == ACT_NONE) return;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    if (act == ACT_RELU || act == ACT_RELU6 || act == ACT_HSWISH) {
      const z = f32x4.splat(0);
      const six = f32x4.splat(6);
      const three = f32x4.splat(3);
      const sixth = f32x4.splat(<f32>1.0 / 6);
      for (; i + 4 <= n; i += 4) {
        const a = ptr + (<usize>i << 2);
        let v = v128.load(a);
        if (act == ACT_RELU) v = f32x4.max(v, z);
        else if (act == ACT_RELU6) v = f32x4.min(f32x4.max(v, z), six);
        else {
          const t = f32x4.min(f32x4.max(f32x4.add(v, three), z), six);
          v = f32x4.mul(f32x4.mul(v, t), sixth);
        }
        v128.store(a, v);
      }
    }
  }
  for (; i < n; i++) {
    const a = ptr + (<usize>i << 2);
    store<f32>(a, actf(load<f32>(a), act));
  }
}
