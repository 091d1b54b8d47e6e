// padCopy: the zero-padded input rows that conv2d's direct path (a band of output rows) and its
// Winograd path (the 4 rows of one row of tiles) read, so that no tile tests a border.

// Zero-padded copy of C channels into [C][Hp][Wrow]. Stride 2 rows are split into
// even and odd padded columns, E each. Every word of the copy is written (zeros, not
// leftovers: stale scratch could hold denormals or NaN).
export function padCopy(
  x: usize, dst: usize, C: i32, H: i32, W: i32, r0: i32, nR: i32, plane: i32, Wrow: i32, E: i32,
  padT: i32, padL: i32, S: i32,
): void {
  const Wrow4 = <usize>Wrow << 2, E4 = <usize>E << 2;
  for (let c = 0; c < C; c++) {
    const sc = x + (<usize>(c * H * W) << 2);
    const dc = dst + (<usize>(c * plane) << 2);
    for (let r = 0; r < nR; r++) {
      const d = dc + <usize>r * Wrow4;
      const iy = r0 + r - padT;
      if (iy < 0 || iy >= H) {
        zeroRow(d, Wrow);
      } else {
        const srow = sc + (<usize>(iy * W) << 2);
        if (S == 1) {
          copyRow(d, srow, Wrow, -padL, W);
        } else {
          splitRow(d, d + E4, srow, E, -padL, W);
        }
      }
    }
  }
}

@inline function zeroRow(d: usize, n: i32): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    for (; j + 4 <= n; j += 4) v128.store(d + (<usize>j << 2), f32x4.splat(0));
  }
  for (; j < n; j++) store<f32>(d + (<usize>j << 2), 0);
}

// Stride 2: de[j] = src[ix0 + 2j], dd[j] = src[ix0 + 2j + 1] (0 outside [0, W)), j < n.
// One pass over the input row for both phases: 8 inputs, two shuffles, two stores.
function splitRow(de: usize, dd: usize, src: usize, n: i32, ix0: i32, W: i32): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    // Before the SIMD run: every j whose even index is negative.
    const jA = ix0 >= 0 ? 0 : (-ix0 + 1) >> 1;
    for (; j < jA && j < n; j++) {
      store<f32>(de + (<usize>j << 2), 0);
      const io = ix0 + 2 * j + 1;
      store<f32>(dd + (<usize>j << 2), io >= 0 && io < W ? load<f32>(src + (<usize>io << 2)) : 0);
    }
    for (; j + 4 <= n && ix0 + 2 * j + 8 <= W; j += 4) {
      const sp = src + (<usize>(ix0 + 2 * j) << 2);
      const v0 = v128.load(sp), v1 = v128.load(sp, 16);
      v128.store(de + (<usize>j << 2), v128.shuffle<f32>(v0, v1, 0, 2, 4, 6));
      v128.store(dd + (<usize>j << 2), v128.shuffle<f32>(v0, v1, 1, 3, 5, 7));
    }
  }
  for (; j < n; j++) {
    const ie = ix0 + 2 * j, io = ie + 1;
    store<f32>(de + (<usize>j << 2), ie >= 0 && ie < W ? load<f32>(src + (<usize>ie << 2)) : 0);
    store<f32>(dd + (<usize>j << 2), io >= 0 && io < W ? load<f32>(src + (<usize>io << 2)) : 0);
  }
}

// Stride 1: d[j] = src[ix0 + j] where that index is inside [0, W), else 0; j < n.
function copyRow(d: usize, src: usize, n: i32, ix0: i32, W: i32): void {
  // First j whose index is >= 0, and first j whose index is >= W, both within [0, n].
  let jlo = ix0 >= 0 ? 0 : -ix0;
  if (jlo > n) jlo = n;
  let jhi = W - ix0 < n ? W - ix0 : n;
  if (jhi < jlo) jhi = jlo;
  zeroRow(d, jlo);
  let j = jlo;
  if (ASC_FEATURE_SIMD) {
    for (; j + 4 <= jhi; j += 4) {
      v128.store(d + (<usize>j << 2), v128.load(src + (<usize>(ix0 + j) << 2)));
    }
  }
  for (; j < jhi; j++) store<f32>(d + (<usize>j << 2), load<f32>(src + (<usize>(ix0 + j) << 2)));
  zeroRow(d + (<usize>jhi << 2), n - jhi);
}
