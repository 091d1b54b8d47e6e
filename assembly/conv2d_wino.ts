import { act_apply, actf, EPI_AFFINE } from './common';
import { padCopy } from './padcopy';

// Winograd F(2x2, 3x3) for conv2d's 3x3 stride-1 layers (assembly/conv2d.ts decides when):
// each 2x2 block of outputs ("tile") costs 16 multiply-adds per (input, output) channel pair
// instead of 36, plus transforms that are linear in the channel counts:
//   V = B^T d B   (the tile's 4x4 input patch d, per input channel)
//   U = G g G^T   (each 3x3 filter g, per call: a few hundred operations per filter)
//   M[xi] = sum over input channels of U[xi] * V[xi], xi = 0..15 (16 small matrix products)
//   Y = A^T M A   (2x2 outputs), then bias, scale/shift and the activation
// with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
// A^T = [1 1 1 0; 0 1 -1 -1] (Lavin and Gray 2016). The SIMD build holds 4 horizontally
// adjacent tiles in a vector; the scalar build runs one tile at a time with the same float
// operations in the same order, so both builds give identical bits (as conv2d's direct path
// does). Results differ from the direct path's by rounding only (~1e-7 relative to the
// layer's magnitudes; test/engine/conv2d.test.ts compares both with the f64 reference).
//
// Per group and row of tiles (2 output rows): the 4 input rows are copied zero-padded and
// split into even and odd columns (conv2d's stride-2 copy), so tile t reads even[t], odd[t],
// even[t+1], odd[t+1] with plain loads; V for all input channels and tiles of the row goes to
// scratch; then per block of 4 output channels and chunk of 8 tiles (16 output columns), the
// 16 products accumulate in 8 vector registers (conv2d's 4x8 tile shape, one xi at a time)
// into a 2 KB buffer that the output transform reads back from L1.
//
// Scratch (bytes, 16-aligned), all recomputed per group: U nB*16*ciN*16, V 16*ciN*ntxP*4,
// copy ciN*4*2E*4, M 16*4*8*4, stage 4*32*4. ntx = ceil(OW/2) tiles per row, in chunks of 8
// (ntxP = 8*ceil(ntx/8); tiles past ntx read zeros and are not stored), E = ntxP + 1.

const CHUNK: i32 = 8; // tiles per chunk: two vectors
const M_BYTES: usize = 16 * 4 * CHUNK * 4;
const STAGE_BYTES: usize = 4 * 32 * 4;

@inline function align16(n: usize): usize {
  return (n + 15) & ~(<usize>15);
}

// Scratch bytes the Winograd path needs; conv2d runs it only when this fits in the scratch
// its direct path was given (sized by src/engine/ops/conv2d.ts for the direct path).
export function winoScratchBytes(nB: i32, ciN: i32, OW: i32): usize {
  const ntxP = ((((OW + 1) >> 1) + CHUNK - 1) / CHUNK) * CHUNK;
  const E = ntxP + 1;
  return align16(<usize>(nB * 16 * ciN) << 4) + align16(<usize>(16 * ciN * ntxP) << 2)
    + align16(<usize>(ciN * 4 * 2 * E) << 2) + M_BYTES + STAGE_BYTES;
}

// x: this call's input; w: weights [cout][cinG][3][3]; y: output [coutA][OH][OW]. ciN, coN:
// active input/output channels per group; gN active groups (1 when groups == 1).
export function conv2dWino(
  x: usize, w: usize, y: usize, bias: usize, scale: usize, shift: usize, scratch: usize,
  cinG: i32, coutG: i32, ciN: i32, coN: i32, gN: i32,
  H: i32, W: i32, OH: i32, OW: i32, padT: i32, padL: i32, ep: i32,
): void {
  const nB = (coN + 3) >> 2;
  const ntx = (OW + 1) >> 1, nty = (OH + 1) >> 1;
  const nch = (ntx + CHUNK - 1) / CHUNK, ntxP = nch * CHUNK;
  const E = ntxP + 1, Wrow = 2 * E;
  const uAt = scratch;
  const vAt = uAt + align16(<usize>(nB * 16 * ciN) << 4);
  const cpAt = vAt + align16(<usize>(16 * ciN * ntxP) << 2);
  const mAt = cpAt + align16(<usize>(ciN * 4 * Wrow) << 2);
  const stAt = mAt + M_BYTES;
  const oplane4 = <usize>(OH * OW) << 2;
  const vXi = <usize>(ciN * ntxP) << 2; // bytes between V's xi planes
  const vCi = <usize>ntxP << 2;
  for (let g = 0; g < gN; g++) {
    const xg = x + (<usize>(g * cinG * H * W) << 2);
    const yg = y + <usize>(g * coN) * oplane4;
    filterTransform(uAt, w, g * coutG, cinG, ciN, coN, nB);
    for (let ty = 0; ty < nty; ty++) {
      // input rows 2ty - padT .. +3, split into even and odd columns (padCopy's stride-2 layout)
      padCopy(xg, cpAt, ciN, H, W, 2 * ty, 4, 4 * Wrow, Wrow, E, padT, padL, 2);
      inputTransform(cpAt, vAt, ciN, ntxP, Wrow, E, vXi, vCi);
      const rows = OH - 2 * ty < 2 ? OH - 2 * ty : 2;
      const yRow = yg + (<usize>(2 * ty * OW) << 2);
      for (let b = 0; b < nB; b++) {
        const cb = b << 2;
        const ub = uAt + (<usize>(b * 16 * ciN) << 4);
        for (let c = 0; c < nch; c++) {
          products(ub, vAt + (<usize>(c * CHUNK) << 2), mAt, ciN, vXi, vCi);
          const cols = OW - 16 * c < 16 ? OW - 16 * c : 16;
          const nl = coN - cb < 4 ? coN - cb : 4; // a tail block's repeated lanes are not stored
          for (let l = 0; l < nl; l++) {
            const co = cb + l;
            const wc = g * coutG + co;
            const bv: f32 = bias ? load<f32>(bias + (<usize>wc << 2)) : 0;
            const sv: f32 = scale ? load<f32>(scale + (<usize>wc << 2)) : 1;
            const hv: f32 = shift ? load<f32>(shift + (<usize>wc << 2)) : 0;
            outputTransform(mAt + (<usize>l << 5), yRow + <usize>co * oplane4 + (<usize>(16 * c) << 2),
              OW, rows, cols, bv, sv, hv, ep, stAt);
          }
        }
      }
    }
  }
}

// U[b][xi][ci][lane] for the 4 channels of each block (a tail block repeats its last channel).
function filterTransform(u: usize, w: usize, co0: i32, cinG: i32, ciN: i32, coN: i32, nB: i32): void {
  const half: f32 = 0.5;
  for (let b = 0; b < nB; b++) {
    for (let l = 0; l < 4; l++) {
      const co = (b << 2) + l < coN ? (b << 2) + l : coN - 1;
      for (let ci = 0; ci < ciN; ci++) {
        const f = w + (<usize>(((co0 + co) * cinG + ci) * 9) << 2);
        // q = g G^T: row r of g -> 4 values
        const g00 = load<f32>(f), g01 = load<f32>(f, 4), g02 = load<f32>(f, 8);
        const g10 = load<f32>(f, 12), g11 = load<f32>(f, 16), g12 = load<f32>(f, 20);
        const g20 = load<f32>(f, 24), g21 = load<f32>(f, 28), g22 = load<f32>(f, 32);
        const q01 = ((g00 + g01) + g02) * half, q02 = ((g00 - g01) + g02) * half;
        const q11 = ((g10 + g11) + g12) * half, q12 = ((g10 - g11) + g12) * half;
        const q21 = ((g20 + g21) + g22) * half, q22 = ((g20 - g21) + g22) * half;
        // U = G q: column j of q -> 4 values
        const dst = u + (<usize>((b * 16) * ciN + ci) << 4) + (<usize>l << 2);
        const xi4 = <usize>ciN << 4; // bytes between xi planes of one block
        wcol(dst, xi4, 0, g00, g10, g20, half);
        wcol(dst, xi4, 1, q01, q11, q21, half);
        wcol(dst, xi4, 2, q02, q12, q22, half);
        wcol(dst, xi4, 3, g02, g12, g22, half);
      }
    }
  }
}

// Column j of U from column j of q (rows 0..2): U[0][j] = q0, U[1][j] = (q0 + q1 + q2) / 2,
// U[2][j] = (q0 - q1 + q2) / 2, U[3][j] = q2; xi = 4i + j.
@inline function wcol(dst: usize, xi4: usize, j: i32, a: f32, b: f32, c: f32, half: f32): void {
  store<f32>(dst + <usize>j * xi4, a);
  store<f32>(dst + <usize>(4 + j) * xi4, ((a + b) + c) * half);
  store<f32>(dst + <usize>(8 + j) * xi4, ((a - b) + c) * half);
  store<f32>(dst + <usize>(12 + j) * xi4, c);
}

// V[xi][ci][t] = (B^T d B)[xi] for every tile t < ntxP of the copied rows.
function inputTransform(cp: usize, v: usize, ciN: i32, ntxP: i32, Wrow: i32, E: i32, vXi: usize, vCi: usize): void {
  const Wrow4 = <usize>Wrow << 2, E4 = <usize>E << 2;
  for (let ci = 0; ci < ciN; ci++) {
    const r0 = cp + <usize>(ci * 4) * Wrow4;
    const vc = v + <usize>ci * vCi;
    if (ASC_FEATURE_SIMD) {
      for (let t = 0; t < ntxP; t += 4) {
        const o = <usize>t << 2;
        // d B per row: h0 = d0 - d2, h1 = d1 + d2, h2 = d2 - d1, h3 = d1 - d3
        let e = r0 + o;
        let d0 = v128.load(e), d1 = v128.load(e + E4), d2 = v128.load(e, 4), d3 = v128.load(e + E4, 4);
        const h00 = f32x4.sub(d0, d2), h01 = f32x4.add(d1, d2), h02 = f32x4.sub(d2, d1), h03 = f32x4.sub(d1, d3);
        e += Wrow4;
        d0 = v128.load(e); d1 = v128.load(e + E4); d2 = v128.load(e, 4); d3 = v128.load(e + E4, 4);
        const h10 = f32x4.sub(d0, d2), h11 = f32x4.add(d1, d2), h12 = f32x4.sub(d2, d1), h13 = f32x4.sub(d1, d3);
        e += Wrow4;
        d0 = v128.load(e); d1 = v128.load(e + E4); d2 = v128.load(e, 4); d3 = v128.load(e + E4, 4);
        const h20 = f32x4.sub(d0, d2), h21 = f32x4.add(d1, d2), h22 = f32x4.sub(d2, d1), h23 = f32x4.sub(d1, d3);
        e += Wrow4;
        d0 = v128.load(e); d1 = v128.load(e + E4); d2 = v128.load(e, 4); d3 = v128.load(e + E4, 4);
        const h30 = f32x4.sub(d0, d2), h31 = f32x4.add(d1, d2), h32 = f32x4.sub(d2, d1), h33 = f32x4.sub(d1, d3);
        // B^T h per column j: v0 = h0 - h2, v1 = h1 + h2, v2 = h2 - h1, v3 = h1 - h3
        const q = vc + o;
        v128.store(q, f32x4.sub(h00, h20));
        v128.store(q + vXi, f32x4.sub(h01, h21));
        v128.store(q + 2 * vXi, f32x4.sub(h02, h22));
        v128.store(q + 3 * vXi, f32x4.sub(h03, h23));
        v128.store(q + 4 * vXi, f32x4.add(h10, h20));
        v128.store(q + 5 * vXi, f32x4.add(h11, h21));
        v128.store(q + 6 * vXi, f32x4.add(h12, h22));
        v128.store(q + 7 * vXi, f32x4.add(h13, h23));
        v128.store(q + 8 * vXi, f32x4.sub(h20, h10));
        v128.store(q + 9 * vXi, f32x4.sub(h21, h11));
        v128.store(q + 10 * vXi, f32x4.sub(h22, h12));
        v128.store(q + 11 * vXi, f32x4.sub(h23, h13));
        v128.store(q + 12 * vXi, f32x4.sub(h10, h30));
        v128.store(q + 13 * vXi, f32x4.sub(h11, h31));
        v128.store(q + 14 * vXi, f32x4.sub(h12, h32));
        v128.store(q + 15 * vXi, f32x4.sub(h13, h33));
      }
    } else {
      for (let t = 0; t < ntxP; t++) {
        const o = <usize>t << 2;
        let e = r0 + o;
        let d0 = load<f32>(e), d1 = load<f32>(e + E4), d2 = load<f32>(e, 4), d3 = load<f32>(e + E4, 4);
        const h00 = d0 - d2, h01 = d1 + d2, h02 = d2 - d1, h03 = d1 - d3;
        e += Wrow4;
        d0 = load<f32>(e); d1 = load<f32>(e + E4); d2 = load<f32>(e, 4); d3 = load<f32>(e + E4, 4);
        const h10 = d0 - d2, h11 = d1 + d2, h12 = d2 - d1, h13 = d1 - d3;
        e += Wrow4;
        d0 = load<f32>(e); d1 = load<f32>(e + E4); d2 = load<f32>(e, 4); d3 = load<f32>(e + E4, 4);
        const h20 = d0 - d2, h21 = d1 + d2, h22 = d2 - d1, h23 = d1 - d3;
        e += Wrow4;
        d0 = load<f32>(e); d1 = load<f32>(e + E4); d2 = load<f32>(e, 4); d3 = load<f32>(e + E4, 4);
        const h30 = d0 - d2, h31 = d1 + d2, h32 = d2 - d1, h33 = d1 - d3;
        const q = vc + o;
        store<f32>(q, h00 - h20); store<f32>(q + vXi, h01 - h21);
        store<f32>(q + 2 * vXi, h02 - h22); store<f32>(q + 3 * vXi, h03 - h23);
        store<f32>(q + 4 * vXi, h10 + h20); store<f32>(q + 5 * vXi, h11 + h21);
        store<f32>(q + 6 * vXi, h12 + h22); store<f32>(q + 7 * vXi, h13 + h23);
        store<f32>(q + 8 * vXi, h20 - h10); store<f32>(q + 9 * vXi, h21 - h11);
        store<f32>(q + 10 * vXi, h22 - h12); store<f32>(q + 11 * vXi, h23 - h13);
        store<f32>(q + 12 * vXi, h10 - h30); store<f32>(q + 13 * vXi, h11 - h31);
        store<f32>(q + 14 * vXi, h12 - h32); store<f32>(q + 15 * vXi, h13 - h33);
      }
    }
  }
}

// M[xi][lane][8 tiles] = sum over ci of U[xi][ci][lane] * V[xi][ci][tiles], from 0, ci in order.
function products(u: usize, v: usize, m: usize, ciN: i32, vXi: usize, vCi: usize): void {
  const uXi = <usize>ciN << 4;
  for (let xi = 0; xi < 16; xi++) {
    const uq = u + <usize>xi * uXi, vq = v + <usize>xi * vXi, mq = m + (<usize>xi << 7);
    if (ASC_FEATURE_SIMD) {
      let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
      let pv = vq;
      const uEnd = uq + uXi;
      for (let q = uq; q < uEnd; q += 16) {
        const a0 = v128.load(pv), a1 = v128.load(pv, 16);
        let b = v128.load32_splat(q);
        c00 = f32x4.add(c00, f32x4.mul(a0, b)); c01 = f32x4.add(c01, f32x4.mul(a1, b));
        b = v128.load32_splat(q, 4);
        c10 = f32x4.add(c10, f32x4.mul(a0, b)); c11 = f32x4.add(c11, f32x4.mul(a1, b));
        b = v128.load32_splat(q, 8);
        c20 = f32x4.add(c20, f32x4.mul(a0, b)); c21 = f32x4.add(c21, f32x4.mul(a1, b));
        b = v128.load32_splat(q, 12);
        c30 = f32x4.add(c30, f32x4.mul(a0, b)); c31 = f32x4.add(c31, f32x4.mul(a1, b));
        pv += vCi;
      }
      v128.store(mq, c00); v128.store(mq, c01, 16);
      v128.store(mq, c10, 32); v128.store(mq, c11, 48);
      v128.store(mq, c20, 64); v128.store(mq, c21, 80);
      v128.store(mq, c30, 96); v128.store(mq, c31, 112);
    } else {
      for (let t = 0; t < CHUNK; t += 2) {
        let c00: f32 = 0, c01: f32 = 0, c10: f32 = 0, c11: f32 = 0;
        let c20: f32 = 0, c21: f32 = 0, c30: f32 = 0, c31: f32 = 0;
        let pv = vq + (<usize>t << 2);
        const uEnd = uq + uXi;
        for (let q = uq; q < uEnd; q += 16) {
          const a0 = load<f32>(pv), a1 = load<f32>(pv, 4);
          let b = load<f32>(q); c00 += a0 * b; c01 += a1 * b;
          b = load<f32>(q, 4); c10 += a0 * b; c11 += a1 * b;
          b = load<f32>(q, 8); c20 += a0 * b; c21 += a1 * b;
          b = load<f32>(q, 12); c30 += a0 * b; c31 += a1 * b;
          pv += vCi;
        }
        const o = mq + (<usize>t << 2);
        store<f32>(o, c00); store<f32>(o, c01, 4);
        store<f32>(o, c10, 32); store<f32>(o, c11, 36);
        store<f32>(o, c20, 64); store<f32>(o, c21, 68);
        store<f32>(o, c30, 96); store<f32>(o, c31, 100);
      }
    }
  }
}

// Y = A^T M A for one channel's 8 tiles (m: its lane of M; xi planes 128 bytes apart), then
// y = act((Y + bias) * scale + shift) (affine when ep says so), stored as rows x cols outputs
// from yr (row stride OW floats); fewer than 16 columns go through the stage buffer.
function outputTransform(
  m: usize, yr: usize, OW: i32, rows: i32, cols: i32, bv: f32, sv: f32, hv: f32, ep: i32, st: usize,
): void {
  const act = ep & 7, affine = (ep & EPI_AFFINE) != 0;
  const full = cols == 16;
  const ow4 = <usize>OW << 2;
  if (ASC_FEATURE_SIMD) {
    const vb = f32x4.splat(bv), vs = f32x4.splat(sv), vh = f32x4.splat(hv);
    for (let h = 0; h < 2; h++) {
      const mh = m + (<usize>h << 4);
      // M A per row r: p0 = m0 + m1 + m2, p1 = m1 - m2 - m3
      let m0 = v128.load(mh), m1 = v128.load(mh, 128), m2 = v128.load(mh, 256), m3 = v128.load(mh, 384);
      const p00 = f32x4.add(f32x4.add(m0, m1), m2), p01 = f32x4.sub(f32x4.sub(m1, m2), m3);
      m0 = v128.load(mh, 512); m1 = v128.load(mh, 640); m2 = v128.load(mh, 768); m3 = v128.load(mh, 896);
      const p10 = f32x4.add(f32x4.add(m0, m1), m2), p11 = f32x4.sub(f32x4.sub(m1, m2), m3);
      m0 = v128.load(mh, 1024); m1 = v128.load(mh, 1152); m2 = v128.load(mh, 1280); m3 = v128.load(mh, 1408);
      const p20 = f32x4.add(f32x4.add(m0, m1), m2), p21 = f32x4.sub(f32x4.sub(m1, m2), m3);
      m0 = v128.load(mh, 1536); m1 = v128.load(mh, 1664); m2 = v128.load(mh, 1792); m3 = v128.load(mh, 1920);
      const p30 = f32x4.add(f32x4.add(m0, m1), m2), p31 = f32x4.sub(f32x4.sub(m1, m2), m3);
      // A^T p per column: y0 = p0 + p1 + p2, y1 = p1 - p2 - p3
      let y00 = f32x4.add(f32x4.add(p00, p10), p20), y01 = f32x4.add(f32x4.add(p01, p11), p21);
      let y10 = f32x4.sub(f32x4.sub(p10, p20), p30), y11 = f32x4.sub(f32x4.sub(p11, p21), p31);
      y00 = f32x4.add(y00, vb); y01 = f32x4.add(y01, vb); y10 = f32x4.add(y10, vb); y11 = f32x4.add(y11, vb);
      if (affine) {
        y00 = f32x4.add(f32x4.mul(y00, vs), vh); y01 = f32x4.add(f32x4.mul(y01, vs), vh);
        y10 = f32x4.add(f32x4.mul(y10, vs), vh); y11 = f32x4.add(f32x4.mul(y11, vs), vh);
      }
      // tile lanes -> output columns: row r is y_r0[0], y_r1[0], y_r0[1], y_r1[1], ...
      const a0 = v128.shuffle<f32>(y00, y01, 0, 4, 1, 5), a1 = v128.shuffle<f32>(y00, y01, 2, 6, 3, 7);
      const b0 = v128.shuffle<f32>(y10, y11, 0, 4, 1, 5), b1 = v128.shuffle<f32>(y10, y11, 2, 6, 3, 7);
      const o = <usize>h << 5;
      if (full) {
        v128.store(yr + o, a0); v128.store(yr + o, a1, 16);
        if (rows == 2) { v128.store(yr + ow4 + o, b0); v128.store(yr + ow4 + o, b1, 16); }
      } else {
        v128.store(st + o, a0); v128.store(st + o, a1, 16);
        v128.store(st + 64 + o, b0); v128.store(st + 64 + o, b1, 16);
      }
    }
  } else {
    for (let t = 0; t < CHUNK; t++) {
      const mt = m + (<usize>t << 2);
      let m0 = load<f32>(mt), m1 = load<f32>(mt, 128), m2 = load<f32>(mt, 256), m3 = load<f32>(mt, 384);
      const p00 = (m0 + m1) + m2, p01 = (m1 - m2) - m3;
      m0 = load<f32>(mt, 512); m1 = load<f32>(mt, 640); m2 = load<f32>(mt, 768); m3 = load<f32>(mt, 896);
      const p10 = (m0 + m1) + m2, p11 = (m1 - m2) - m3;
      m0 = load<f32>(mt, 1024); m1 = load<f32>(mt, 1152); m2 = load<f32>(mt, 1280); m3 = load<f32>(mt, 1408);
      const p20 = (m0 + m1) + m2, p21 = (m1 - m2) - m3;
      m0 = load<f32>(mt, 1536); m1 = load<f32>(mt, 1664); m2 = load<f32>(mt, 1792); m3 = load<f32>(mt, 1920);
      const p30 = (m0 + m1) + m2, p31 = (m1 - m2) - m3;
      let y00 = ((p00 + p10) + p20) + bv, y01 = ((p01 + p11) + p21) + bv;
      let y10 = ((p10 - p20) - p30) + bv, y11 = ((p11 - p21) - p31) + bv;
      if (affine) {
        y00 = y00 * sv + hv; y01 = y01 * sv + hv; y10 = y10 * sv + hv; y11 = y11 * sv + hv;
      }
      const o = <usize>t << 3;
      const dst = full ? yr : st;
      store<f32>(dst + o, actf(y00, act)); store<f32>(dst + o, actf(y01, act), 4);
      if (full) {
        if (rows == 2) { store<f32>(yr + ow4 + o, actf(y10, act)); store<f32>(yr + ow4 + o, actf(y11, act), 4); }
      } else {
        store<f32>(st + 64 + o, actf(y10, act)); store<f32>(st + 64 + o, actf(y11, act), 4);
      }
    }
  }
  // The activation in place, through act_apply (act4's operations lane by lane; not inlined
  // here, where it would make this function several times larger: see conv2d.ts actRows).
  if (ASC_FEATURE_SIMD && act != 0) {
    const base = full ? yr : st, stride = full ? ow4 : 64;
    act_apply(base, 16, act);
    if (rows == 2 || !full) act_apply(base + stride, 16, act);
  }
  if (!full) {
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < cols; j++) {
        store<f32>(yr + <usize>r * ow4 + (<usize>j << 2), load<f32>(st + (<usize>(r * 16 + j) << 2)));
      }
    }
  }
}
