import { pi, pp, actf, act_apply, ACT_RELU, ACT_RELU6, EPI_AFFINE } from './common';
import { conv2dWino, winoScratchBytes } from './conv2d_wino';
import { padCopy } from './padcopy';

// conv2d(p): dense or grouped KxK convolution (K in {1,3,5,7}, stride 1 or 2, dilation D >= 1),
// NCHW float32 activations (batch 1), OIHW weights, fused per-channel epilogue
//   y[c] = act((acc[c] + bias[c]) * scale[c] + shift[c])
// Mirrored by src/engine/ops/conv2d.ts, which computes every size below.
//
// params (32-bit words):
//  [0] x       f32*  input [cin][H][W]
//  [1] w       f32*  weights [cout][cin/groups][k][k] (full, allocated sizes)
//  [2] y       f32*  output [coutA][OH][OW], coutA = coutActive (groups 1) or groupsActive*cout/groups
//  [3] bias    f32*  [cout] or 0 (absent: 0)
//  [4] scale   f32*  [cout] or 0 (absent: 1)
//  [5] shift   f32*  [cout] or 0 (absent: 0)
//  [6] scratch u8*   conv2dScratchBytes() bytes, 16-aligned (always needed)
//  [7] cin   [8] cout                full sizes: the weight strides
//  [9] cinActive  [10] coutActive    loop bounds when groups == 1
//  [11] groups  [12] groupsActive    groups > 1: only the first groupsActive groups run
//  [13] H  [14] W  [15] OH  [16] OW
//  [17] k  [18] stride  [19] padT  [20] padL  [21] act (common.ts)
//  [22] padB  [23] padR              only tested for zero; the extent read follows from OH/OW
//  [24] D       dilation: tap (ky, kx) reads input (oy*S + ky*D - padT, ox*S + kx*D - padL).
//               A plan record of 24 words (every conv packed before dilation existed, and
//               every D = 1 conv since, so those plans stay word for word what they were)
//               has D = 1: plan_run passes the record's length (conv2dRecord).
//
// KE = (K - 1) * D + 1 is the extent one output reads (K when D = 1); it replaces K wherever
// rows or columns read are sized below.
//
// Scratch, in order (byte sizes); src/engine/ops/conv2d.ts computes the same total:
//   stage  128    4x8 staging block: when OW < 8 a tile is written here, then OW columns copied out
//   epi    G*nB*64   per group and block of 4 output channels: bias, scale, shift (12 floats);
//                 G = groupsActive (1 when groups is 1), nB = ceil(coN/4), coN = coutActive
//                 (groups 1) or cout/groups
//   taps   G*nB*ceil16(T*20)   per group and block, its tap stream, T = ciN*k*k, ciN =
//                 cinActive (groups 1) or cin/groups: per tap (ci, ky, kx), in the weights'
//                 order, the byte offset of its input from the tile origin (u32), then the
//                 block's 4 weights (f32)
//   copy   C*((band-1)*stride + KE)*Wrow*4, only when stride 2, any padding, or OW < 8: the
//                 input rows of one band of output rows, zero-padded, C active input channels
//                 (all groups), so tiles never test borders. band = clamp(L2_BUDGET /
//                 (cin*stride*Wrow*4), 1, OH), from the full cin so the widest mode's scratch
//                 fits every mode. Stride 1: Wrow = max(OW,8) - 1 + KE. Stride 2: each row is
//                 [even padded columns | odd padded columns], E = max(OW,8) + (KE-1)/2 each,
//                 Wrow = 2E: tap kx of output column ox reads padded column 2*ox + kx*D, at
//                 phase (kx*D)&1, index ox + (kx*D)>>1, so eight consecutive outputs read
//                 eight consecutive floats as with stride 1.
//                 Dilated (D > 1), when it is smaller: K*((band-1)*stride + 1) rows instead,
//                 kernel row ky's rows of the band in a block of their own (see copyRows).
//
// Tiles: SIMD = 4 output channels x 8 output columns (8 f32x4 accumulators, the most V8's
// 15 xmm registers hold without spilling); scalar = 4 x 2. A last block of 1-2 channels runs
// 2 x 16 tiles in the SIMD build (blockWidth); one of 3 clamps the extra lane to the last
// channel (it recomputes and rewrites the same values). A column tail re-runs the last
// full-width tile shifted left, overlapping the previous one.
// 3x3 stride-1 undilated layers may run Winograd F(2x2, 3x3) instead (conv2d_wino.ts), in
// the same scratch (see the choice in conv2dRun below).
// Every output gets the same f32 operations in the same order in both builds (bias, then
// taps in (ci, ky, kx) order, mul then add), so the SIMD and scalar builds agree bit for bit.

const STAGE_BYTES: i32 = 4 * 8 * 4; // 4x8 staging block for outputs narrower than a tile
const EPI_BYTES: i32 = 64; // bias, scale, shift of the current 4 channels (12 floats)
const TAP_BYTES: usize = 20; // one tap: input offset + 4 weights
const L1_BUDGET: usize = 24 << 10; // of 32 KiB L1d
const L2_BUDGET: usize = 256 << 10; // of 1 MiB L2
// Winograd pays for its transforms from 8 output channels per group on (measured: 6 and 4
// channels ran 7% and 13% slower than the direct tiles, 36 channels 1.44x faster: `npx tsx
// bench/see-convs.ts` with this set to 1, then to a number above every layer's channels).
const WINO_MIN_CO: i32 = 8;
// Epilogue code: the activation (bits 0-2) and flags (EPI_AFFINE = 8, apply scale and shift: common.ts).
const EPI_LOAD: i32 = 16; // start from the partial sums in y, not from the bias
const EPI_RAW: i32 = 32; // store raw partial sums: more input channels follow

// A direct call (the host's conv2d(), tests): the 25-word struct.
export function conv2d(p: usize): void {
  conv2dRun(p, pi(p, 24));
}

// A plan record of `nwords` params (assembly/plan.ts): 24 words mean D = 1 (see [24] above).
export function conv2dRecord(p: usize, nwords: u32): void {
  conv2dRun(p, nwords > 24 ? pi(p, 24) : 1);
}

function conv2dRun(p: usize, D: i32): void {
  const x = pp(p, 0), w = pp(p, 1), y = pp(p, 2);
  const bias = pp(p, 3), scale = pp(p, 4), shift = pp(p, 5), scratch = pp(p, 6);
  const cin = pi(p, 7), cout = pi(p, 8), groups = pi(p, 11);
  const H = pi(p, 13), W = pi(p, 14), OH = pi(p, 15), OW = pi(p, 16);
  const K = pi(p, 17), S = pi(p, 18), padT = pi(p, 19), padL = pi(p, 20), act = pi(p, 21);

  const cinG = cin / groups, coutG = cout / groups;
  const ciN = groups == 1 ? pi(p, 9) : cinG;
  const coN = groups == 1 ? pi(p, 10) : coutG;
  const gN = groups == 1 ? 1 : pi(p, 12);
  const KK = K * K;
  const KE = (K - 1) * D + 1; // the extent one output reads

  // Blocks of 4 output channels per group; each has its own epilogue block and tap stream,
  // packed once per call, so the loops can visit blocks in any order.
  const nB = (coN + 3) >> 2;
  const T = ciN * KK;
  const streamBytes = <usize>T * TAP_BYTES + 15 & ~15;
  const stage = scratch, epiAt = scratch + STAGE_BYTES;
  const tabAt = epiAt + <usize>(gN * nB) * EPI_BYTES;
  const copyAt = tabAt + <usize>(gN * nB) * streamBytes;

  // Source geometry: a zero-padded copy in scratch, or the input itself. The copy is made
  // a band of output rows at a time, each band's input rows about a quarter of L2, so it is
  // written and read back in cache (a stem's input alone is 1.7 MB).
  const C = (gN - 1) * cinG + ciN; // active input channels, all groups
  const OWe = OW < 8 ? 8 : OW;
  const copy = S != 1 || padT != 0 || padL != 0 || pi(p, 22) != 0 || pi(p, 23) != 0 || OW < 8;
  let Wrow = W, E = 0;
  if (copy) {
    if (S == 1) {
      Wrow = OWe - 1 + KE;
    } else {
      E = OWe + ((KE - 1) >> 1);
      Wrow = 2 * E;
    }
  }
  const Wrow4 = <usize>Wrow << 2;
  // Sized from the full channel count, so the scratch of the widest mode fits every mode.
  let band = <i32>(L2_BUDGET / (<usize>(cin * S) * Wrow4));
  band = band < 1 ? 1 : (band > OH ? OH : band);
  const rowsK = copyRows(K, D, S, band), compact = rowsK > 0;
  const plane4 = copy ? <usize>(compact ? rowsK : (band - 1) * S + KE) * Wrow4 : <usize>(H * W) << 2;
  const blk = (band - 1) * S + 1; // rows of one kernel row's block (compact)

  // With bias alone the epilogue is free: the accumulators start at the bias.
  const ep = act | (scale != 0 || shift != 0 ? EPI_AFFINE : 0);

  // 3x3 stride 1 dilation 1, rows of at least 16 outputs: Winograd F(2x2, 3x3)
  // (conv2d_wino.ts), when its scratch fits in what this call's direct path would use (the
  // host sized scratch for that; src/engine/ops/conv2d.ts conv2dAlgo makes the same choice).
  if (K == 3 && S == 1 && D == 1 && OW >= 16 && OH >= 2 && coN >= WINO_MIN_CO) {
    const direct = copyAt - scratch + (copy ? <usize>C * plane4 : 0);
    if (winoScratchBytes(nB, ciN, OW) <= direct) {
      conv2dWino(x, w, y, bias, scale, shift, scratch, cinG, coutG, ciN, coN, gN, H, W, OH, OW, padT, padL, ep);
      return;
    }
  }

  // The tile's inner loop walks one pointer through a stream: a tap's input offset and
  // its 4 weights sit together, so no per-tap address arithmetic is left but one add.
  // Stride 2 keeps odd padded columns E floats after the even ones: tap kx (column kx*D of
  // the window) is at phase (kx*D)&1, index (kx*D)>>1. Offsets are the same for every block
  // and group.
  for (let ci = 0; ci < ciN; ci++) {
    for (let ky = 0; ky < K; ky++) {
      for (let kx = 0; kx < K; kx++) {
        const kd = kx * D;
        const col = S == 1 ? kd : (kd & 1) * E + (kd >> 1);
        const row = copy && compact ? ky * blk : ky * D;
        const off = <i32>(<usize>ci * plane4 + <usize>row * Wrow4 + (<usize>col << 2));
        const t = <usize>((ci * K + ky) * K + kx) * TAP_BYTES;
        for (let b = 0; b < gN * nB; b++) store<i32>(tabAt + <usize>b * streamBytes + t, off);
      }
    }
  }
  const oplane4 = <usize>(OH * OW) << 2;
  const wco4 = <usize>(cinG * KK) << 2; // bytes between output channels' filters
  const rowStep = <usize>(S * Wrow) << 2;
  for (let g = 0; g < gN; g++) {
    for (let b = 0; b < nB; b++) {
      const cb = b << 2;
      const c1 = cb + 1 < coN ? cb + 1 : coN - 1;
      const c2 = cb + 2 < coN ? cb + 2 : coN - 1;
      const c3 = cb + 3 < coN ? cb + 3 : coN - 1;
      const wc0 = g * coutG + cb, wc1 = g * coutG + c1, wc2 = g * coutG + c2, wc3 = g * coutG + c3;
      const gb = g * nB + b;
      const epi = epiAt + <usize>gb * EPI_BYTES;
      setEpi(epi, 0, bias, wc0, wc1, wc2, wc3, 0);
      setEpi(epi, 16, scale, wc0, wc1, wc2, wc3, 1);
      setEpi(epi, 32, shift, wc0, wc1, wc2, wc3, 0);
      packWeights(tabAt + <usize>gb * streamBytes, T,
        w + <usize>wc0 * wco4, w + <usize>wc1 * wco4, w + <usize>wc2 * wco4, w + <usize>wc3 * wco4);
    }
  }

  // Loop order within a band, for the cache. Small layers (the input rows of one output
  // row and every block's tap stream fit L1: stems, ensemble groups): row by row, all
  // blocks per row. Larger ones: block by block, and within a block the input channels in
  // chunks small enough that a chunk's rows and stream stay in L1 from one output row to
  // the next. Between chunks the tiles keep raw partial sums in y.
  const tw = ASC_FEATURE_SIMD ? 8 : 2; // tile width
  const rowMajor = <usize>(ciN * K) * Wrow4 + <usize>nB * streamBytes <= L1_BUDGET;
  let ch = ciN;
  if (!rowMajor && OW >= tw) { // partial sums need every column in a full tile (see the tail below)
    let maxCh = <i32>(L1_BUDGET / (<usize>K * Wrow4 + <usize>KK * TAP_BYTES));
    if (maxCh < 1) maxCh = 1;
    const nC = (ciN + maxCh - 1) / maxCh;
    ch = (ciN + nC - 1) / nC;
  }
  const chunked = ch < ciN;
  // Rows of 4 outputs (4x4 maps: the deep splits' last encoder layers and their servers) would
  // fill half of a SIMD tile and go through the staging block; two rows fill one tile instead:
  // lanes 4-7 read the next output row's inputs, and land right after the first row in y.
  const pairRows = ASC_FEATURE_SIMD && OW == 4 && !chunked;
  // With chunks, overlapping the column tail would add a chunk twice to the columns it
  // shares with the previous tile: chunk passes run only whole tiles (OWb below), and the
  // last pass adds the tail tile with the whole stream (it rewrites the shared columns bit
  // for bit).
  const chunkBytes = <usize>(ch * KK) * TAP_BYTES;

  for (let oy0 = 0; oy0 < OH; oy0 += band) {
    const oy1 = oy0 + band < OH ? oy0 + band : OH;
    // Origin of output row oy0's taps in channel 0.
    let src = x + <usize>oy0 * rowStep;
    if (copy) {
      src = copyAt;
      if (compact) {
        for (let ky = 0; ky < K; ky++) {
          padCopy(x, src + <usize>(ky * blk) * Wrow4, C, H, W, oy0 * S + ky * D, (oy1 - oy0 - 1) * S + 1, <i32>(plane4 >> 2), Wrow, E, padT, padL, S);
        }
      } else {
        padCopy(x, src, C, H, W, oy0 * S, (oy1 - oy0 - 1) * S + KE, <i32>(plane4 >> 2), Wrow, E, padT, padL, S);
      }
    }
    for (let g = 0; g < gN; g++) {
      const xg = src + <usize>(g * cinG) * plane4;
      const yg = y + <usize>(g * coN) * oplane4;
      const tabG = tabAt + <usize>(g * nB) * streamBytes, epiG = epiAt + <usize>(g * nB) * EPI_BYTES;
      if (rowMajor) {
        let xr = xg, yo = <usize>(oy0 * OW) << 2;
        for (let oy = oy0; oy < oy1; oy++) {
          const pair = pairRows && oy + 1 < oy1;
          for (let b = 0; b < nB; b++) {
            const tab = tabG + <usize>b * streamBytes;
            if (pair) blockPair(xr, tab, tab + <usize>T * TAP_BYTES, yg + yo, oplane4, b, coN, rowStep, epiG, ep);
            else blockRow(xr, tab, tab + <usize>T * TAP_BYTES, yg + yo, oplane4, b, coN, OW, blockWidth(b, coN, OW, tw), epiG, stage, ep);
          }
          if (pair) {
            oy++;
            xr += rowStep;
            yo += <usize>OW << 2;
          }
          xr += rowStep;
          yo += <usize>OW << 2;
        }
      } else {
        for (let b = 0; b < nB; b++) {
          const tab = tabG + <usize>b * streamBytes, tabEnd = tab + <usize>T * TAP_BYTES;
          const twb = blockWidth(b, coN, OW, tw);
          const OWb = chunked ? OW - OW % twb : OW;
          for (let ci0 = 0; ci0 < ciN; ci0 += ch) {
            const t0 = tab + <usize>ci0 * <usize>KK * TAP_BYTES;
            const t1 = ci0 + ch < ciN ? t0 + chunkBytes : tabEnd;
            const last = t1 == tabEnd;
            const epc = ep | (ci0 > 0 ? EPI_LOAD : 0) | (last ? 0 : EPI_RAW);
            let xr = xg, yo = <usize>(oy0 * OW) << 2;
            for (let oy = oy0; oy < oy1; oy++) {
              if (pairRows && oy + 1 < oy1) {
                blockPair(xr, t0, t1, yg + yo, oplane4, b, coN, rowStep, epiG, epc);
                oy++;
                xr += rowStep << 1;
                yo += <usize>OW << 3;
                continue;
              }
              blockRow(xr, t0, t1, yg + yo, oplane4, b, coN, OWb, twb, epiG, stage, epc);
              if (last && OWb < OW) {
                const o4 = <usize>(OW - twb) << 2;
                blockRow(xr + o4, tab, tabEnd, yg + yo + o4, oplane4, b, coN, twb, twb, epiG, stage, ep);
              }
              xr += rowStep;
              yo += <usize>OW << 2;
            }
          }
        }
      }
    }
  }
}

// Output rows oy and oy + 1 of block b when OW = 4 (SIMD): one 4x8 tile whose second half
// reads its inputs rowStep bytes further. Not inlined: both loops call it, and each inlined
// tile adds ~1 KB that V8 compiles inside the first inference.
function blockPair(
  xr: usize, tab: usize, tabEnd: usize, yr: usize, oplane4: usize, b: i32, coN: i32,
  rowStep: usize, epiAt: usize, ep: i32,
): void {
  const cb = b << 2;
  tile4x8(xr, tab, tabEnd, yr + <usize>cb * oplane4, chanRow(yr, oplane4, cb + 1, coN), chanRow(yr, oplane4, cb + 2, coN),
    chanRow(yr, oplane4, cb + 3, coN), epiAt + <usize>b * EPI_BYTES, ep, rowStep);
}

// Where output channel c's row starts; a channel past the tail (c >= coN) repeats the last one.
@inline function chanRow(yr: usize, oplane4: usize, c: i32, coN: i32): usize {
  return yr + <usize>(c < coN ? c : coN - 1) * oplane4;
}

// One output row of block b (4 channels from 4b; a channel tail repeats the last channel)
// over OW columns: tiles of tw columns, the last one shifted left over columns already
// written; narrower than a tile, through the staging block.
@inline function blockRow(
  xr: usize, tab: usize, tabEnd: usize, yr: usize, oplane4: usize, b: i32, coN: i32,
  OW: i32, tw: i32, epiAt: usize, stage: usize, ep: i32,
): void {
  const cb = b << 2;
  const y0 = yr + <usize>cb * oplane4, y1 = chanRow(yr, oplane4, cb + 1, coN);
  const y2 = chanRow(yr, oplane4, cb + 2, coN), y3 = chanRow(yr, oplane4, cb + 3, coN);
  const epi = epiAt + <usize>b * EPI_BYTES;
  if (tw == 16) {
    rowTiles2(xr, tab, tabEnd, y0, y1, OW, epi, ep);
  } else if (OW < tw) {
    rowTiles(xr, tab, tabEnd, stage, stage + 32, stage + 64, stage + 96, tw, epi, ep);
    unstage(stage, OW, y0, y1, y2, y3);
  } else {
    rowTiles(xr, tab, tabEnd, y0, y1, y2, y3, OW, epi, ep);
  }
}

// The tile width of block b: a last block with one or two channels (coN % 4 = 1 or 2: the
// SEE members' 6-channel layers) runs 2 channels x 16 columns in the SIMD build instead of
// 4 x 8 with two or three clamped lanes recomputing a channel (25-50% of the work wasted).
@inline function blockWidth(b: i32, coN: i32, OW: i32, tw: i32): i32 {
  return ASC_FEATURE_SIMD && coN - (b << 2) <= 2 && OW >= 16 ? 16 : tw;
}

// One output row of 2 channels, OW >= 16: tiles of 16 columns, the last shifted left.
function rowTiles2(xr: usize, tab: usize, tabEnd: usize, y0: usize, y1: usize, OW: i32, epi: usize, ep: i32): void {
  for (let ox = 0; ox < OW; ox += 16) {
    const o4 = <usize>(ox + 16 <= OW ? ox : OW - 16) << 2;
    tile2x16(xr + o4, tab, tabEnd, y0 + o4, y1 + o4, epi, ep);
  }
}

// 2 channels x 16 columns (SIMD only): the same 8 accumulators as tile4x8, 4 input vectors
// and 2 weights per tap. It reads lanes 0 and 1 of the block's tap stream and epilogue (a
// single channel has lane 1 clamped to lane 0, as in tile4x8); every output gets the same
// operations in the same order as in tile4x8 and the scalar tile.
@inline function tile2x16(xr: usize, tab: usize, tabEnd: usize, y0: usize, y1: usize, epi: usize, ep: i32): void {
  if (!ASC_FEATURE_SIMD) return;
  let c00 = v128.load32_splat(epi), c10 = v128.load32_splat(epi, 4);
  let c01 = c00, c02 = c00, c03 = c00, c11 = c10, c12 = c10, c13 = c10;
  if (ep & EPI_LOAD) {
    c00 = v128.load(y0); c01 = v128.load(y0, 16); c02 = v128.load(y0, 32); c03 = v128.load(y0, 48);
    c10 = v128.load(y1); c11 = v128.load(y1, 16); c12 = v128.load(y1, 32); c13 = v128.load(y1, 48);
  }
  for (let q = tab; q < tabEnd; q += TAP_BYTES) {
    const xa = xr + <usize>load<u32>(q);
    const a0 = v128.load(xa), a1 = v128.load(xa, 16), a2 = v128.load(xa, 32), a3 = v128.load(xa, 48);
    let b = v128.load32_splat(q, 4);
    c00 = f32x4.add(c00, f32x4.mul(a0, b)); c01 = f32x4.add(c01, f32x4.mul(a1, b));
    c02 = f32x4.add(c02, f32x4.mul(a2, b)); c03 = f32x4.add(c03, f32x4.mul(a3, b));
    b = v128.load32_splat(q, 8);
    c10 = f32x4.add(c10, f32x4.mul(a0, b)); c11 = f32x4.add(c11, f32x4.mul(a1, b));
    c12 = f32x4.add(c12, f32x4.mul(a2, b)); c13 = f32x4.add(c13, f32x4.mul(a3, b));
  }
  if (!(ep & EPI_RAW)) {
    if (ep & EPI_AFFINE) {
      let s = v128.load32_splat(epi, 16), h = v128.load32_splat(epi, 32);
      c00 = f32x4.add(f32x4.mul(c00, s), h); c01 = f32x4.add(f32x4.mul(c01, s), h);
      c02 = f32x4.add(f32x4.mul(c02, s), h); c03 = f32x4.add(f32x4.mul(c03, s), h);
      s = v128.load32_splat(epi, 20); h = v128.load32_splat(epi, 36);
      c10 = f32x4.add(f32x4.mul(c10, s), h); c11 = f32x4.add(f32x4.mul(c11, s), h);
      c12 = f32x4.add(f32x4.mul(c12, s), h); c13 = f32x4.add(f32x4.mul(c13, s), h);
    }
    if ((ep & 7) == ACT_RELU) {
      c00 = relu4(c00); c01 = relu4(c01); c02 = relu4(c02); c03 = relu4(c03);
      c10 = relu4(c10); c11 = relu4(c11); c12 = relu4(c12); c13 = relu4(c13);
    } else if ((ep & 7) == ACT_RELU6) {
      c00 = relu64(c00); c01 = relu64(c01); c02 = relu64(c02); c03 = relu64(c03);
      c10 = relu64(c10); c11 = relu64(c11); c12 = relu64(c12); c13 = relu64(c13);
    }
  }
  // one channel: y1 == y0 and the same values are stored twice
  v128.store(y0, c00); v128.store(y0, c01, 16); v128.store(y0, c02, 32); v128.store(y0, c03, 48);
  v128.store(y1, c10); v128.store(y1, c11, 16); v128.store(y1, c12, 32); v128.store(y1, c13, 48);
  if (!(ep & EPI_RAW) && (ep & 7) > ACT_RELU6) actRows(y0, y1, y1, y1, 16, ep & 7);
}

@inline function setEpi(epi: usize, at: usize, v: usize, c0: i32, c1: i32, c2: i32, c3: i32, dflt: f32): void {
  store<f32>(epi + at, v != 0 ? load<f32>(v + (<usize>c0 << 2)) : dflt);
  store<f32>(epi + at + 4, v != 0 ? load<f32>(v + (<usize>c1 << 2)) : dflt);
  store<f32>(epi + at + 8, v != 0 ? load<f32>(v + (<usize>c2 << 2)) : dflt);
  store<f32>(epi + at + 12, v != 0 ? load<f32>(v + (<usize>c3 << 2)) : dflt);
}

// Interleaves the 4 channels' filters (T contiguous floats each: the active [ci][ky][kx]
// prefix of a full-size filter) into the tap stream after each tap's offset. A per-call
// transient in scratch: the weights themselves are never copied or reordered.
function packWeights(tab: usize, T: i32, w0: usize, w1: usize, w2: usize, w3: usize): void {
  for (let t = 0; t < T; t++) {
    const q = tab + <usize>t * TAP_BYTES, o = <usize>t << 2;
    store<f32>(q, load<f32>(w0 + o), 4);
    store<f32>(q, load<f32>(w1 + o), 8);
    store<f32>(q, load<f32>(w2 + o), 12);
    store<f32>(q, load<f32>(w3 + o), 16);
  }
}

// Copies the first OW columns of each staged channel row (8 floats apart) to the output.
function unstage(st: usize, OW: i32, y0: usize, y1: usize, y2: usize, y3: usize): void {
  for (let i = 0; i < OW; i++) {
    const o = <usize>i << 2;
    store<f32>(y0 + o, load<f32>(st + o));
    store<f32>(y1 + o, load<f32>(st + 32 + o));
    store<f32>(y2 + o, load<f32>(st + 64 + o));
    store<f32>(y3 + o, load<f32>(st + 96 + o));
  }
}

// One output row of 4 channels, OW >= the tile width (8 SIMD, 2 scalar): a column tail
// re-runs the last tile shifted left over columns already written. The row is one call so
// small filters (3 input channels: 27 taps a tile) pay little per tile.
function rowTiles(
  xr: usize, tab: usize, tabEnd: usize, y0: usize, y1: usize, y2: usize, y3: usize,
  OW: i32, epi: usize, ep: i32,
): void {
  if (ASC_FEATURE_SIMD) {
    for (let ox = 0; ox < OW; ox += 8) {
      const o4 = <usize>(ox + 8 <= OW ? ox : OW - 8) << 2;
      tile4x8(xr + o4, tab, tabEnd, y0 + o4, y1 + o4, y2 + o4, y3 + o4, epi, ep, 16);
    }
  } else {
    for (let ox = 0; ox < OW; ox += 2) {
      const o4 = <usize>(ox + 2 <= OW ? ox : OW - 2) << 2;
      tile4x2(xr + o4, tab, tabEnd, y0 + o4, y1 + o4, y2 + o4, y3 + o4, epi, ep);
    }
  }
}

// 4 channels x 8 outputs; one tap per iteration. V8 hoists every load of a loop body to
// its top, so a body with more taps keeps more loaded vectors alive and spills: one tap is
// 8 accumulators + 2 inputs + 4 weights + 1 product = all 15 allocatable xmm registers.
// Outputs 4-7 read their inputs hi bytes after outputs 0-3's: 16 for 8 columns of a row,
// one input row step for two rows of 4 (blockPair); y takes the 8 outputs contiguously.
@inline function tile4x8(
  xr: usize, tab: usize, tabEnd: usize,
  y0: usize, y1: usize, y2: usize, y3: usize, epi: usize, ep: i32, hi: usize,
): void {
  if (!ASC_FEATURE_SIMD) return;
  // Accumulators start at the bias (one add fewer per output than adding it afterwards),
  // or at the partial sums of the previous input-channel chunk.
  let c00 = v128.load32_splat(epi), c10 = v128.load32_splat(epi, 4);
  let c20 = v128.load32_splat(epi, 8), c30 = v128.load32_splat(epi, 12);
  let c01 = c00, c11 = c10, c21 = c20, c31 = c30;
  if (ep & EPI_LOAD) {
    c00 = v128.load(y0); c01 = v128.load(y0, 16); c10 = v128.load(y1); c11 = v128.load(y1, 16);
    c20 = v128.load(y2); c21 = v128.load(y2, 16); c30 = v128.load(y3); c31 = v128.load(y3, 16);
  }
  for (let q = tab; q < tabEnd; q += TAP_BYTES) {
    const xa = xr + <usize>load<u32>(q);
    const a0 = v128.load(xa), a1 = v128.load(xa + hi);
    let b = v128.load32_splat(q, 4);
    c00 = f32x4.add(c00, f32x4.mul(a0, b)); c01 = f32x4.add(c01, f32x4.mul(a1, b));
    b = v128.load32_splat(q, 8);
    c10 = f32x4.add(c10, f32x4.mul(a0, b)); c11 = f32x4.add(c11, f32x4.mul(a1, b));
    b = v128.load32_splat(q, 12);
    c20 = f32x4.add(c20, f32x4.mul(a0, b)); c21 = f32x4.add(c21, f32x4.mul(a1, b));
    b = v128.load32_splat(q, 16);
    c30 = f32x4.add(c30, f32x4.mul(a0, b)); c31 = f32x4.add(c31, f32x4.mul(a1, b));
  }
  if (ep & EPI_RAW) {
    v128.store(y0, c00); v128.store(y0, c01, 16); v128.store(y1, c10); v128.store(y1, c11, 16);
    v128.store(y2, c20); v128.store(y2, c21, 16); v128.store(y3, c30); v128.store(y3, c31, 16);
    return;
  }
  if (ep & EPI_AFFINE) {
    let s = v128.load32_splat(epi, 16), h = v128.load32_splat(epi, 32);
    c00 = f32x4.add(f32x4.mul(c00, s), h); c01 = f32x4.add(f32x4.mul(c01, s), h);
    s = v128.load32_splat(epi, 20); h = v128.load32_splat(epi, 36);
    c10 = f32x4.add(f32x4.mul(c10, s), h); c11 = f32x4.add(f32x4.mul(c11, s), h);
    s = v128.load32_splat(epi, 24); h = v128.load32_splat(epi, 40);
    c20 = f32x4.add(f32x4.mul(c20, s), h); c21 = f32x4.add(f32x4.mul(c21, s), h);
    s = v128.load32_splat(epi, 28); h = v128.load32_splat(epi, 44);
    c30 = f32x4.add(f32x4.mul(c30, s), h); c31 = f32x4.add(f32x4.mul(c31, s), h);
  }
  const act = ep & 7;
  if (act == ACT_RELU) {
    c00 = relu4(c00); c01 = relu4(c01); c10 = relu4(c10); c11 = relu4(c11);
    c20 = relu4(c20); c21 = relu4(c21); c30 = relu4(c30); c31 = relu4(c31);
  } else if (act == ACT_RELU6) {
    c00 = relu64(c00); c01 = relu64(c01); c10 = relu64(c10); c11 = relu64(c11);
    c20 = relu64(c20); c21 = relu64(c21); c30 = relu64(c30); c31 = relu64(c31);
  }
  // A clamped duplicate lane stores the same values to the same address.
  v128.store(y0, c00); v128.store(y0, c01, 16);
  v128.store(y1, c10); v128.store(y1, c11, 16);
  v128.store(y2, c20); v128.store(y2, c21, 16);
  v128.store(y3, c30); v128.store(y3, c31, 16);
  if (act > ACT_RELU6) actRows(y0, y1, y2, y3, 8, act);
}

// The other activations run in place on the stored tile, through act_apply (the same
// float operations as act4 lane by lane): inlining swish and sigmoid into every tile made
// the tile functions several times larger, and V8 compiles each function on its first call,
// inside a model's first inference. A clamped lane's row is the previous lane's: skipped.
function actRows(y0: usize, y1: usize, y2: usize, y3: usize, n: i32, act: i32): void {
  act_apply(y0, n, act);
  if (y1 != y0) act_apply(y1, n, act);
  if (y2 != y1) act_apply(y2, n, act);
  if (y3 != y2) act_apply(y3, n, act);
}

// pmax is one maxps; V8 expands max to ~8 instructions for IEEE NaN and -0 rules. Operand
// order reproduces actf exactly: relu pmax(0, v) = 0 < v ? v : 0 (NaN -> 0).
@inline function relu4(v: v128): v128 {
  return f32x4.pmax(f32x4.splat(0), v);
}

// relu6 as act4 computes it (NaN stays NaN, as in actf)
@inline function relu64(v: v128): v128 {
  return f32x4.pmin(f32x4.pmax(v, f32x4.splat(0)), f32x4.splat(6));
}

// Scalar build: 4 channels x 2 columns (8 accumulators + 2 inputs + 4 weights fit the
// register file). Same source layout and tap table as the SIMD tile.
@inline function tile4x2(
  xr: usize, tab: usize, tabEnd: usize,
  y0: usize, y1: usize, y2: usize, y3: usize, epi: usize, ep: i32,
): void {
  let c00 = load<f32>(epi), c10 = load<f32>(epi, 4), c20 = load<f32>(epi, 8), c30 = load<f32>(epi, 12);
  let c01 = c00, c11 = c10, c21 = c20, c31 = c30;
  if (ep & EPI_LOAD) {
    c00 = load<f32>(y0); c01 = load<f32>(y0, 4); c10 = load<f32>(y1); c11 = load<f32>(y1, 4);
    c20 = load<f32>(y2); c21 = load<f32>(y2, 4); c30 = load<f32>(y3); c31 = load<f32>(y3, 4);
  }
  for (let q = tab; q < tabEnd; q += TAP_BYTES) {
    const xa = xr + <usize>load<u32>(q);
    const a0 = load<f32>(xa), a1 = load<f32>(xa, 4);
    let b = load<f32>(q, 4); c00 += a0 * b; c01 += a1 * b;
    b = load<f32>(q, 8); c10 += a0 * b; c11 += a1 * b;
    b = load<f32>(q, 12); c20 += a0 * b; c21 += a1 * b;
    b = load<f32>(q, 16); c30 += a0 * b; c31 += a1 * b;
  }
  store2(y0, c00, c01, epi, 0, ep);
  store2(y1, c10, c11, epi, 4, ep);
  store2(y2, c20, c21, epi, 8, ep);
  store2(y3, c30, c31, epi, 12, ep);
}

@inline function store2(yp: usize, v0: f32, v1: f32, epi: usize, j: usize, ep: i32): void {
  if (ep & EPI_RAW) {
    store<f32>(yp, v0);
    store<f32>(yp, v1, 4);
    return;
  }
  if (ep & EPI_AFFINE) {
    const s = load<f32>(epi + 16 + j), h = load<f32>(epi + 32 + j);
    v0 = v0 * s + h;
    v1 = v1 * s + h;
  }
  store<f32>(yp, actf(v0, ep & 7));
  store<f32>(yp, actf(v1, ep & 7), 4);
}

// The compact copy of a dilated conv (D > 1): per kernel row ky, only the input rows its taps read
// for the band's output rows, oy*S + ky*D, as a block of (band-1)*S + 1 rows; K blocks in all. The
// plain copy holds every row the band's windows span, (band-1)*S + (K-1)*D + 1, which grows with D
// (DeepLab's rates 12-36 made it tens of MB). Returns the compact row count where it is smaller,
// else 0. src/engine/ops/conv2d.ts sizes the scratch the same way.
@inline function copyRows(K: i32, D: i32, S: i32, band: i32): i32 {
  const rows = K * ((band - 1) * S + 1);
  return D > 1 && rows < (band - 1) * S + (K - 1) * D + 1 ? rows : 0;
}
