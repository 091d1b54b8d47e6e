import { pi, pf, pp } from './common';

// Uniform quantization of the split-point tensor to b-bit codes (b = 1..8), one code per byte:
//   q = clamp(nearest(x / scale) + zeroPoint, 0, 2^b - 1)      nearest: round half to even
//   x = (q - zeroPoint) * scale
// Defined for every input, identically in both builds and any WASM engine: the clamp happens
// in float before the only float-to-int conversion, +inf gives 2^b - 1, -inf gives 0, and NaN
// gives clamp(zeroPoint, 0, 2^b - 1) (which dequantizes to 0 when the zero point is in range).
// nearest(x / scale) + zeroPoint is exact below 2^24 and clamps the same way above it, as long
// as |zeroPoint| <= 2^16 (src/engine/ops/quant.ts checks).
//
// quantize(p):      [0] x f32* [n]  [1] y u8* [n]  [2] n  [3] bits  [4] scale (f32)
//                   [5] zeroPoint  [6] nActive (elements converted)
// dequantize(p):    [0] x u8* [n]  [1] y f32* [n]  [2] n  [3] bits (not read: codes are taken as
//                   given)  [4] scale (f32)  [5] zeroPoint  [6] nActive
// quantize_pc(p):   per-channel: [0] x f32* [C][len]  [1] y u8* [C][len]  [2] C  [3] len
//                   [4] bits  [5] scales f32* [C]  [6] zeroPoints i32* [C]  [7] cActive
// dequantize_pc(p): same layout with x u8* and y f32*.
export function quantize(p: usize): void {
  quant_run(pp(p, 0), pp(p, 1), pi(p, 6), qmax_of(pi(p, 3)), pf(p, 4), pi(p, 5));
}

export function dequantize(p: usize): void {
  dequant_run(pp(p, 0), pp(p, 1), pi(p, 6), pf(p, 4), pi(p, 5));
}

export function quantize_pc(p: usize): void {
  const x = pp(p, 0), y = pp(p, 1), len = pi(p, 3), qmax = qmax_of(pi(p, 4));
  const scales = pp(p, 5), zps = pp(p, 6), cA = pi(p, 7);
  for (let c = 0; c < cA; c++) {
    const o = <usize>c * len;
    quant_run(x + (o << 2), y + o, len, qmax, load<f32>(scales + (<usize>c << 2)), load<i32>(zps + (<usize>c << 2)));
  }
}

export function dequantize_pc(p: usize): void {
  const x = pp(p, 0), y = pp(p, 1), len = pi(p, 3);
  const scales = pp(p, 5), zps = pp(p, 6), cA = pi(p, 7);
  for (let c = 0; c < cA; c++) {
    const o = <usize>c * len;
    dequant_run(x + o, y + (o << 2), len, load<f32>(scales + (<usize>c << 2)), load<i32>(zps + (<usize>c << 2)));
  }
}

@inline function qmax_of(bits: i32): f32 {
  return <f32>((1 << bits) - 1);
}

// One code: NaN -> zero point, then clamp with the same comparisons as f32x4.pmax/pmin.
@inline function code1(v: f32, scale: f32, zf: f32, qmax: f32): u8 {
  let t = nearest<f32>(v / scale) + zf;
  if (t != t) t = zf;
  t = <f32>0 < t ? t : 0;
  t = t < qmax ? t : qmax;
  return <u8><i32>t;
}

function quant_run(x: usize, y: usize, n: i32, qmax: f32, scale: f32, zp: i32): void {
  const zf = <f32>zp;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vs = f32x4.splat(scale), vz = f32x4.splat(zf), vq = f32x4.splat(qmax), v0 = f32x4.splat(0);
    for (; i + 16 <= n; i += 16) {
      const a = x + (<usize>i << 2);
      const c0 = code4(v128.load(a), vs, vz, vq, v0);
      const c1 = code4(v128.load(a, 16), vs, vz, vq, v0);
      const c2 = code4(v128.load(a, 32), vs, vz, vq, v0);
      const c3 = code4(v128.load(a, 48), vs, vz, vq, v0);
      // Codes are 0..255 already, so the saturating narrows are plain truncations.
      v128.store(y + <usize>i, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(c0, c1), i16x8.narrow_i32x4_u(c2, c3)));
    }
  }
  for (; i < n; i++) store<u8>(y + <usize>i, code1(load<f32>(x + (<usize>i << 2)), scale, zf, qmax));
}

// Four codes as i32 lanes; pmax(0, t) = 0 < t ? t : 0 and pmin(qmax, t) = t < qmax ? t : qmax.
@inline function code4(v: v128, vs: v128, vz: v128, vq: v128, v0: v128): v128 {
  let t = f32x4.add(f32x4.nearest(f32x4.div(v, vs)), vz);
  t = v128.bitselect(t, vz, f32x4.eq(t, t));
  t = f32x4.pmin(vq, f32x4.pmax(v0, t));
  return i32x4.trunc_sat_f32x4_u(t);
}

function dequant_run(x: usize, y: usize, n: i32, scale: f32, zp: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vs = f32x4.splat(scale), vz = i32x4.splat(zp);
    for (; i + 16 <= n; i += 16) {
      const q = v128.load(x + <usize>i);
      const lo = i16x8.extend_low_i8x16_u(q), hi = i16x8.extend_high_i8x16_u(q);
      const o = y + (<usize>i << 2);
      v128.store(o, deq4(i32x4.extend_low_i16x8_u(lo), vz, vs));
      v128.store(o, deq4(i32x4.extend_high_i16x8_u(lo), vz, vs), 16);
      v128.store(o, deq4(i32x4.extend_low_i16x8_u(hi), vz, vs), 32);
      v128.store(o, deq4(i32x4.extend_high_i16x8_u(hi), vz, vs), 48);
    }
  }
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), <f32>(<i32>load<u8>(x + <usize>i) - zp) * scale);
}

@inline function deq4(q: v128, vz: v128, vs: v128): v128 {
  return f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(q, vz)), vs);
}
