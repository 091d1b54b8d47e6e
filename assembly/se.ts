import { pi, pp, actf, ACT_SIGMOID } from './common';
import { sum_dev_blocked, dot_f32, scale_f32 } from './reduce';

// se(p): squeeze-excite, per group g < groupsActive (an ensemble member; groups = 1 for a
// plain SE block), on that group's channels:
//   s[c] = mean over H x W of x[c]                                  (squeeze)
//   h[r] = act(b1[r] + sum_c w1[r][c] * s[c])                       (1x1 conv C/G -> R/G)
//   y[c] = x[c] * sigmoid(b2[c] + sum_r w2[c][r] * h[r])            (1x1 conv R/G -> C/G, gate)
// params: [0] x f32* [channels][H][W]  [1] y f32* (may be x)  [2] C  [3] R (full totals)
//         [4] groups G  [5] w1 f32* [G][R/G][C/G]  [6] b1 f32* [R] (0 = none)
//         [7] w2 f32* [G][C/G][R/G]  [8] b2 f32* [C] (0 = none)  [9] act code  [10] H  [11] W
//         [12] cActive  [13] rActive (active channels per group: with G = 1 the slimmable
//         prefix)  [14] groupsActive  [15] scratch f32* [C/G + R/G]
// Weight strides use the full per-group sizes; group g's activations start at channel
// g * cActive. The scratch holds one group's pooled vector (C/G floats) then its hidden
// vector (R/G floats). Pooling (f32 within 64-value blocks, f64 across them), both dot products and the gating multiply perform the same
// float operations in both builds (reduce.ts); actf/sigmoid on the few per-channel values
// are scalar in both.
export function se(p: usize): void {
  const x = pp(p, 0), y = pp(p, 1);
  const C = pi(p, 2), R = pi(p, 3), G = pi(p, 4);
  const w1 = pp(p, 5), b1 = pp(p, 6), w2 = pp(p, 7), b2 = pp(p, 8);
  const act = pi(p, 9), HW = pi(p, 10) * pi(p, 11);
  const cA = pi(p, 12), rA = pi(p, 13), gA = pi(p, 14);
  const cg = C / G, rg = R / G;
  const pooled = pp(p, 15);
  const hidden = pooled + (<usize>cg << 2);
  const invN: f64 = 1.0 / <f64>HW;
  const chw = <usize>HW << 2;
  for (let g = 0; g < gA; g++) {
    const xg = x + <usize>(g * cA) * chw, yg = y + <usize>(g * cA) * chw;
    for (let c = 0; c < cA; c++) {
      store<f32>(pooled + (<usize>c << 2), <f32>(sum_dev_blocked(xg + <usize>c * chw, HW, 0) * invN));
    }
    for (let r = 0; r < rA; r++) {
      const row = g * rg + r;
      let h = dot_f32(w1 + (<usize>(row * cg) << 2), pooled, cA);
      if (b1) h += load<f32>(b1 + (<usize>row << 2));
      store<f32>(hidden + (<usize>r << 2), actf(h, act));
    }
    for (let c = 0; c < cA; c++) {
      const row = g * cg + c;
      let s = dot_f32(w2 + (<usize>(row * rg) << 2), hidden, rA);
      if (b2) s += load<f32>(b2 + (<usize>row << 2));
      scale_f32(xg + <usize>c * chw, yg + <usize>c * chw, HW, actf(s, ACT_SIGMOID));
    }
  }
}
