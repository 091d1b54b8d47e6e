import { pi, pp } from './common';

// upsample2x(p): nearest-neighbour 2x, y[c][2h + a][2w + b] = x[c][h][w] for c < cActive.
// params: [0] x f32* [C][H][W]  [1] y f32* [C][2H][2W] (must not overlap x)  [2] C  [3] H  [4] W  [5] cActive
export function upsample2x(p: usize): void {
  const x = pp(p, 0), y = pp(p, 1);
  const H = pi(p, 3), W = pi(p, 4), cA = pi(p, 5);
  const W2 = W << 1;
  for (let c = 0; c < cA; c++) {
    const xc = x + (<usize>c * H * W << 2);
    const yc = y + (<usize>c * H * W << 4);
    for (let h = 0; h < H; h++) {
      const xr = xc + (<usize>h * W << 2);
      const y0 = yc + (<usize>(2 * h) * W2 << 2);
      const y1 = y0 + (<usize>W2 << 2);
      let w = 0;
      if (ASC_FEATURE_SIMD) {
        for (; w + 4 <= W; w += 4) {
          const v = v128.load(xr + (<usize>w << 2));
          const lo = f32x4.shuffle(v, v, 0, 0, 1, 1), hi = f32x4.shuffle(v, v, 2, 2, 3, 3);
          const o = <usize>w << 3;
          v128.store(y0 + o, lo); v128.store(y0 + o, hi, 16);
          v128.store(y1 + o, lo); v128.store(y1 + o, hi, 16);
        }
      }
      for (; w < W; w++) {
        const v = load<f32>(xr + (<usize>w << 2));
        const o = <usize>w << 3;
        store<f32>(y0 + o, v); store<f32>(y0 + o, v, 4);
        store<f32>(y1 + o, v); store<f32>(y1 + o, v, 4);
      }
    }
  }
}
