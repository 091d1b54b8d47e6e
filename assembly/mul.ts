import { pi, pp, actf, act_apply } from './common';

// mul(p): y = act(a * b) with a [C][HW] and b either [C][HW] (elementwise) or [C] (one factor per
// channel, broadcast over HW: squeeze-excite's gate). y may alias a (and b when elementwise).
// params: [0] a f32*  [1] b f32*  [2] y f32*  [3] C  [4] HW  [5] perChannel (0 or 1)  [6] act code
export function mul(p: usize): void {
  const a = pp(p, 0), b = pp(p, 1), y = pp(p, 2);
  const C = pi(p, 3), HW = pi(p, 4), per = pi(p, 5), act = pi(p, 6);
  if (per == 0) {
    mulRows(a, b, y, C * HW, act);
    return;
  }
  for (let c = 0; c < C; c++) {
    const off = <usize>c * HW << 2;
    scaleRow(a + off, y + off, HW, load<f32>(b + (<usize>c << 2)), act);
  }
}

// y[i] = act(a[i] * b[i]) over n floats.
function mulRows(a: usize, b: usize, y: usize, n: i32, act: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      v128.store(y + off, f32x4.mul(v128.load(a + off), v128.load(b + off)));
    }
    // the activation as a second pass over the vectorized prefix, as add.ts
    act_apply(y, i, act);
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(y + off, actf(load<f32>(a + off) * load<f32>(b + off), act));
  }
}

// y[i] = act(x[i] * s) over n floats.
function scaleRow(x: usize, y: usize, n: i32, s: f32, act: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const sv = f32x4.splat(s);
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      v128.store(y + off, f32x4.mul(v128.load(x + off), sv));
    }
    act_apply(y, i, act);
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(y + off, actf(load<f32>(x + off) * s, act));
  }
}
