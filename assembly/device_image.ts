// Pixels -> the model's normalized [3][H][W] f32 input, inside WASM. The arithmetic is the
// TypeScript host's (src/image.ts toInput) operation for operation, so every runtime writes the
// same floats:
// - same size: a per-channel table of f32((f32(v / 255) - mean) / std), f32 operations;
// - other sizes: separable resampling with pixel centres at half-integers, bilinear taps when
//   enlarging an axis, box-overlap (area) taps when shrinking it; the horizontal pass sums in f64
//   and stores f32, the vertical pass sums in f64 and normalizes in f64 ((s / 255 - mean) / std),
//   then stores f32.
// Pixel formats: 0 RGB, 1 RGBA (alpha ignored), 2 gray (one byte, used for all three channels).

export const FMT_RGB: i32 = 0;
export const FMT_RGBA: i32 = 1;
export const FMT_GRAY: i32 = 2;
/** The model input itself: [3][H][W] f32, normalized, at the model's size (a host that decoded a file
 * straight to the input within its own memory bound, e.g. src/model/bounded-image.ts). */
export const FMT_INPUT: i32 = 3;

/** Bytes per pixel of a format, 0 for an unknown one. */
export function formatBytes(fmt: i32): i32 {
  return fmt == FMT_RGB ? 3 : fmt == FMT_RGBA ? 4 : fmt == FMT_GRAY ? 1 : 0;
}

/** Fills lut [3][256] f32 from mean/std (f32 each, 3 values). */
export function buildLut(lut: usize, mean: usize, std: usize): void {
  for (let c = 0; c < 3; c++) {
    const m = load<f32>(mean + (<usize>c << 2)), s = load<f32>(std + (<usize>c << 2));
    for (let v = 0; v < 256; v++) {
      const a = <f32>(<f64>v / 255.0);
      store<f32>(lut + ((<usize>(c * 256 + v)) << 2), (a - m) / s);
    }
  }
}

/** Same-size frame: one table lookup per value. */
export function normalizeSame(px: usize, k: i32, lut: usize, out: usize, hw: i32): void {
  const c1: usize = k == 1 ? 0 : 1, c2: usize = k == 1 ? 0 : 2;
  let p = px;
  for (let i = 0; i < hw; i++, p += <usize>k) {
    const o = out + (<usize>i << 2);
    store<f32>(o, load<f32>(lut + ((<usize>load<u8>(p)) << 2)));
    store<f32>(o + (<usize>hw << 2), load<f32>(lut + ((256 + <usize>load<u8>(p + c1)) << 2)));
    store<f32>(o + (<usize>(2 * hw) << 2), load<f32>(lut + ((512 + <usize>load<u8>(p + c2)) << 2)));
  }
}

/** Most taps axisWeights can make for src -> dst (each source pixel feeds at most two outputs when shrinking). */
@inline function maxTaps(src: i32, dst: i32): usize {
  return <usize>(2 * (src + dst) + 2);
}

/** Bytes of scratch resize() needs for an sw x sh frame into W x H. */
export function resizeScratch(sw: i32, sh: i32, W: i32, H: i32): usize {
  return (<usize>sh * <usize>W * 3) * 4 + 64 + (<usize>(W + 1) + maxTaps(sw, W)) * 12 + (<usize>(H + 1) + maxTaps(sh, H)) * 12 + 64;
}

// Resampling taps of one axis (src/image.ts axisWeights): start i32 [dst + 1], idx i32 [taps], w f64 [taps].
function axisWeights(src: i32, dst: i32, start: usize, idx: usize, w: usize): void {
  let n = 0;
  const scale = <f64>src / <f64>dst;
  for (let i = 0; i < dst; i++) {
    store<i32>(start + (<usize>i << 2), n);
    if (dst >= src) {
      const x = min<f64>(max<f64>((<f64>i + 0.5) * scale - 0.5, 0.0), <f64>(src - 1));
      const x0 = Math.floor(x);
      const f = x - x0;
      store<i32>(idx + (<usize>n << 2), <i32>x0);
      store<f64>(w + (<usize>n << 3), 1.0 - f);
      n++;
      if (f > 0) {
        store<i32>(idx + (<usize>n << 2), <i32>x0 + 1);
        store<f64>(w + (<usize>n << 3), f);
        n++;
      }
    } else {
      const a = <f64>i * scale, b = <f64>(i + 1) * scale;
      for (let j = <i32>Math.floor(a); <f64>j < b && j < src; j++) {
        const o = min<f64>(b, <f64>(j + 1)) - max<f64>(a, <f64>j);
        if (o > 1e-12) {
          store<i32>(idx + (<usize>n << 2), j);
          store<f64>(w + (<usize>n << 3), o / scale);
          n++;
        }
      }
    }
  }
  store<i32>(start + (<usize>dst << 2), n);
}

/** Resizes and normalizes an sw x sh frame of k bytes per pixel into out [3][H][W]; scratch from resizeScratch. */
export function resize(px: usize, sw: i32, sh: i32, k: i32, out: usize, W: i32, H: i32, mean: usize, std: usize, scratch: usize): void {
  const tmp = scratch;
  let q = (tmp + (<usize>sh * <usize>W * 3) * 4 + 63) & ~(<usize>63);
  const xs = q; q += <usize>(W + 1) << 2;
  const xi = q; q += maxTaps(sw, W) << 2;
  q = (q + 7) & ~(<usize>7);
  const xw = q; q += maxTaps(sw, W) << 3;
  const ys = q; q += <usize>(H + 1) << 2;
  const yi = q; q += maxTaps(sh, H) << 2;
  q = (q + 7) & ~(<usize>7);
  const yw = q;
  axisWeights(sw, W, xs, xi, xw);
  axisWeights(sh, H, ys, yi, yw);
  const c1: usize = k == 1 ? 0 : 1, c2: usize = k == 1 ? 0 : 2;
  for (let y = 0; y < sh; y++) {
    const row = px + <usize>y * <usize>sw * <usize>k;
    for (let x = 0; x < W; x++) {
      let r: f64 = 0, g: f64 = 0, b: f64 = 0;
      const t1 = load<i32>(xs + (<usize>(x + 1) << 2));
      for (let t = load<i32>(xs + (<usize>x << 2)); t < t1; t++) {
        const p = row + <usize>load<i32>(xi + (<usize>t << 2)) * <usize>k;
        const wt = load<f64>(xw + (<usize>t << 3));
        r += wt * <f64>load<u8>(p);
        g += wt * <f64>load<u8>(p + c1);
        b += wt * <f64>load<u8>(p + c2);
      }
      const o = tmp + ((<usize>(y * W + x) * 3) << 2);
      store<f32>(o, <f32>r);
      store<f32>(o, <f32>g, 4);
      store<f32>(o, <f32>b, 8);
    }
  }
  const hw = H * W;
  const m0 = <f64>load<f32>(mean), m1 = <f64>load<f32>(mean, 4), m2 = <f64>load<f32>(mean, 8);
  const s0 = <f64>load<f32>(std), s1 = <f64>load<f32>(std, 4), s2 = <f64>load<f32>(std, 8);
  for (let y = 0; y < H; y++) {
    const t0 = load<i32>(ys + (<usize>y << 2)), t1 = load<i32>(ys + (<usize>(y + 1) << 2));
    for (let x = 0; x < W; x++) {
      let r: f64 = 0, g: f64 = 0, b: f64 = 0;
      for (let t = t0; t < t1; t++) {
        const p = tmp + ((<usize>(load<i32>(yi + (<usize>t << 2)) * W + x) * 3) << 2);
        const wt = load<f64>(yw + (<usize>t << 3));
        r += wt * <f64>load<f32>(p);
        g += wt * <f64>load<f32>(p, 4);
        b += wt * <f64>load<f32>(p, 8);
      }
      const o = out + (<usize>(y * W + x) << 2);
      store<f32>(o, <f32>((r / 255.0 - m0) / s0));
      store<f32>(o + (<usize>hw << 2), <f32>((g / 255.0 - m1) / s1));
      store<f32>(o + (<usize>(2 * hw) << 2), <f32>((b / 255.0 - m2) / s2));
    }
  }
}
