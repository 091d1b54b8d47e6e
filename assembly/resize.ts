import { pi, pp } from './common';

// resize_bilinear(p): TensorFlow's ResizeBilinear, channel by channel, x [C][H][W] -> y [C][OH][OW].
// Source coordinate of output index i (f32, as TensorFlow computes it), per axis with in/out sizes:
//   mode 0 legacy:        s = i * (in / out)
//   mode 1 align_corners: s = i * ((in - 1) / (out - 1))   (out = 1: in / out, as TensorFlow)
//   mode 2 half_pixel:    s = (i + 0.5) * (in / out) - 0.5
// lo = clamp(floor(s), 0, in - 1), hi = min(ceil(s), in - 1), t = s - floor(s);
// top = x[y_lo][x_lo] + (x[y_lo][x_hi] - x[y_lo][x_lo]) * tx, bottom likewise on row y_hi,
// y = top + (bottom - top) * ty (TensorFlow's order of operations).
// Each needed source row is interpolated horizontally once into scratch (two rows kept), then
// every output row is one vertical lerp of two of them.
// params: [0] x f32*  [1] y f32*  [2] C  [3] H  [4] W  [5] OH  [6] OW  [7] mode  [8] cActive
//         [9] scratch: OW i32 lo, OW i32 hi, OW f32 t, then 2 rows of OW f32 (resizeScratchBytes)
export function resize_bilinear(p: usize): void {
  const x = pp(p, 0), y = pp(p, 1);
  const H = pi(p, 3), W = pi(p, 4), OH = pi(p, 5), OW = pi(p, 6), mode = pi(p, 7), cA = pi(p, 8);
  const s = pp(p, 9);
  const xlo = s, xhi = s + (<usize>OW << 2), xt = s + (<usize>OW << 3);
  let rowA = s + (<usize>OW * 12), rowB = rowA + (<usize>OW << 2);
  const sx = scaleOf(W, OW, mode), sy = scaleOf(H, OH, mode);
  for (let i = 0; i < OW; i++) {
    const c = coord(i, sx, mode);
    const f = Mathf.floor(c);
    store<i32>(xlo + (<usize>i << 2), clampi(<i32>f, 0, W - 1));
    store<i32>(xhi + (<usize>i << 2), clampi(<i32>Mathf.ceil(c), 0, W - 1));
    store<f32>(xt + (<usize>i << 2), c - f);
  }
  // legacy 2x (the CenterNet/Keras UpSampling2D case): even outputs at a source pixel, odd ones
  // halfway to the next; the SIMD build interleaves them four at a time
  const twice = mode == 0 && OW == 2 * W;
  for (let ch = 0; ch < cA; ch++) {
    const xc = x + (<usize>ch * H * W << 2), yc = y + (<usize>ch * OH * OW << 2);
    let ia = -1, ib = -1;
    for (let oy = 0; oy < OH; oy++) {
      const c = coord(oy, sy, mode);
      const f = Mathf.floor(c);
      const y0 = clampi(<i32>f, 0, H - 1), y1 = clampi(<i32>Mathf.ceil(c), 0, H - 1);
      const t = c - f;
      if (ia != y0) {
        if (ib == y0) {
          const r = rowA; rowA = rowB; rowB = r;
          ib = ia; ia = y0;
        } else {
          hrow(xc + (<usize>y0 * W << 2), rowA, W, OW, xlo, xhi, xt, twice);
          ia = y0;
        }
      }
      let bot = rowA;
      if (y1 != y0) {
        if (ib != y1) {
          hrow(xc + (<usize>y1 * W << 2), rowB, W, OW, xlo, xhi, xt, twice);
          ib = y1;
        }
        bot = rowB;
      }
      vlerp(rowA, bot, yc + (<usize>oy * OW << 2), OW, t);
    }
  }
}

@inline function clampi(v: i32, lo: i32, hi: i32): i32 {
  return v < lo ? lo : (v > hi ? hi : v);
}

@inline function scaleOf(inN: i32, outN: i32, mode: i32): f32 {
  if (mode == 1 && outN > 1) return <f32>(inN - 1) / <f32>(outN - 1);
  return <f32>inN / <f32>outN;
}

@inline function coord(i: i32, scale: f32, mode: i32): f32 {
  if (mode == 2) return (<f32>i + <f32>0.5) * scale - <f32>0.5;
  return <f32>i * scale;
}

// dst[i] = l + (r - l) * t over the output columns, from one source row.
function hrow(src: usize, dst: usize, W: i32, OW: i32, xlo: usize, xhi: usize, xt: usize, twice: bool): void {
  let i = 0;
  if (ASC_FEATURE_SIMD && twice) {
    // columns j..j+3 (and j+4 as the right neighbour) give outputs 2j..2j+7; the same float
    // operations as the table path: an even output is a + (a - a) * 0, an odd one a + (b - a) * 0.5
    const z = f32x4.splat(0), h = f32x4.splat(0.5);
    let j = 0;
    for (; j + 5 <= W; j += 4) {
      const a = v128.load(src + (<usize>j << 2)), b = v128.load(src + (<usize>j << 2), 4);
      const e = f32x4.add(a, f32x4.mul(f32x4.sub(a, a), z));
      const m = f32x4.add(a, f32x4.mul(f32x4.sub(b, a), h));
      const o = dst + (<usize>j << 3);
      v128.store(o, v128.shuffle<f32>(e, m, 0, 4, 1, 5));
      v128.store(o, v128.shuffle<f32>(e, m, 2, 6, 3, 7), 16);
    }
    i = j << 1;
  }
  for (; i < OW; i++) {
    const k = <usize>i << 2;
    const l = load<f32>(src + (<usize>load<i32>(xlo + k) << 2)), r = load<f32>(src + (<usize>load<i32>(xhi + k) << 2));
    store<f32>(dst + k, l + (r - l) * load<f32>(xt + k));
  }
}

// out[i] = top[i] + (bot[i] - top[i]) * t.
function vlerp(top: usize, bot: usize, out: usize, n: i32, t: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const tv = f32x4.splat(t);
    for (; i + 4 <= n; i += 4) {
      const k = <usize>i << 2;
      const a = v128.load(top + k);
      v128.store(out + k, f32x4.add(a, f32x4.mul(f32x4.sub(v128.load(bot + k), a), tv)));
    }
  }
  for (; i < n; i++) {
    const k = <usize>i << 2;
    const a = load<f32>(top + k);
    store<f32>(out + k, a + (load<f32>(bot + k) - a) * t);
  }
}
