/**
 * The resize of src/image.ts (resizeInto), fed one source row at a time, so that no full-size
 * pixel buffer has to exist.
 *
 *   const rs = new RowResizer(width, height, 32, 32);
 *   for (each decoded row y, top to bottom) rs.pushRow(row, 3);   // RGB or RGBA bytes, `width` pixels
 *   rs.finish(mean, std, out);                                      // [3][32][32] normalized, as toInput
 *
 * Bit-identical to resizeInto: the horizontal pass is resizeInto's own (resampleRow), and each output row's vertical sum is a float64 accumulator that receives its source rows in the
 * ascending order resizeInto's loop uses (0 + w0*t0 + w1*t1 + ...), then the same
 * normalization.
 * test/model/row-resize.test.ts checks byte identity against resizeInto.
 *
 * Memory: the output accumulator (H*W*3 float64), one row of W*3 float32 and the horizontal taps
 * (about one per source column). Vertical taps are made per source row on the fly (with areaWeight,
 * as axisWeights), so a tall image costs nothing per row.
 */
import { areaWeight, axisWeights, resampleRow, type AxisWeights } from './image.js';

export class RowResizer {
  readonly srcWidth: number;
  readonly srcHeight: number;
  private readonly W: number;
  private readonly H: number;
  private readonly xw: AxisWeights;
  /** explicit vertical taps (enlarging or custom spans); null: area taps computed per row */
  private readonly yInv: { start: Int32Array; out: Int32Array; w: Float64Array } | null;
  private readonly acc: Float64Array; // [H][W][3]
  private readonly tmp: Float32Array; // [W][3]
  private y = 0;

  /**
   * `xw`/`yw` override the taps (the reduced-scale decoders weigh source cells by the pixels each
   * covers); by default they are axisWeights(src, dst), as resizeInto uses.
   */
  constructor(srcWidth: number, srcHeight: number, W: number, H: number, xw?: AxisWeights, yw?: AxisWeights) {
    this.srcWidth = srcWidth;
    this.srcHeight = srcHeight;
    this.W = W;
    this.H = H;
    this.xw = xw ?? axisWeights(srcWidth, W);
    const y = yw ?? (H >= srcHeight ? axisWeights(srcHeight, H) : null);
    this.yInv = y ? invert(y, srcHeight) : null;
    this.acc = new Float64Array(H * W * 3);
    this.tmp = new Float32Array(W * 3);
  }

  /** Source rows seen so far. */
  get rows(): number {
    return this.y;
  }

  /** Adds source row `rows` (pixels at stride k = 3 or 4; the first three channels are R, G, B). */
  pushRow(data: Uint8Array, k: number, offset = 0): void {
    if (this.y >= this.srcHeight) throw new Error(`RowResizer: row ${this.y} past the ${this.srcHeight} rows declared`);
    resampleRow(data, offset, k, this.xw, this.tmp, 0);
    const j = this.y++;
    if (this.yInv) {
      const { start, out, w } = this.yInv;
      for (let t = start[j]; t < start[j + 1]; t++) this.addRow(out[t], w[t]);
      return;
    }
    areaTaps(j, this.srcHeight, this.H, (i, w) => this.addRow(i, w));
  }

  private addRow(i: number, wt: number): void {
    const { acc, tmp } = this;
    const n = this.W * 3, base = i * n;
    for (let q = 0; q < n; q++) acc[base + q] += wt * tmp[q];
  }

  /** Writes the normalized [3][H][W] planes into `out`; every source row must have been pushed. */
  finish(mean: readonly number[], std: readonly number[], out: Float32Array): Float32Array {
    if (this.y !== this.srcHeight) throw new Error(`RowResizer: ${this.y} of ${this.srcHeight} rows pushed`);
    return normalizePlanes(this.acc, this.H * this.W, mean, std, out);
  }
}

/**
 * The area (shrink) taps of source index j: the outputs i whose span [i*scale, (i+1)*scale) overlaps
 * it, weighed by areaWeight as axisWeights does, so the weights are the same doubles, in ascending i.
 */
export function areaTaps(j: number, src: number, dst: number, add: (i: number, w: number) => void): void {
  const scale = src / dst;
  const lo = Math.max(0, Math.floor(j / scale) - 1), hi = Math.min(dst - 1, Math.floor((j + 1) / scale) + 1);
  for (let i = lo; i <= hi; i++) {
    // the same j range as axisWeights's loop over i's span
    if (j < Math.floor(i * scale) || !(j < (i + 1) * scale) || j >= src) continue;
    const w = areaWeight(i, j, scale);
    if (w > 0) add(i, w);
  }
}

/** [hw][3] float64 sums on the 0..255 scale to normalized [3][hw] float32 planes, as resizeInto's vertical pass does. */
function normalizePlanes(acc: Float64Array, hw: number, mean: readonly number[], std: readonly number[], out: Float32Array): Float32Array {
  const m = [0, 1, 2].map((c) => mean[c] ?? 0);
  const s = [0, 1, 2].map((c) => std[c] ?? 1);
  for (let i = 0; i < hw; i++) {
    out[i] = (acc[3 * i] / 255 - m[0]) / s[0];
    out[hw + i] = (acc[3 * i + 1] / 255 - m[1]) / s[1];
    out[2 * hw + i] = (acc[3 * i + 2] / 255 - m[2]) / s[2];
  }
  return out;
}

/** Per source row, the outputs that take it and their weights, in ascending output order. */
function invert(aw: AxisWeights, src: number): { start: Int32Array; out: Int32Array; w: Float64Array } {
  const n = aw.idx.length;
  const count = new Int32Array(src + 1);
  for (let t = 0; t < n; t++) count[aw.idx[t] + 1]++;
  for (let j = 0; j < src; j++) count[j + 1] += count[j];
  const start = Int32Array.from(count);
  const fill = Int32Array.from(count);
  const out = new Int32Array(n), w = new Float64Array(n);
  const dst = aw.start.length - 1;
  for (let i = 0; i < dst; i++) {
    for (let t = aw.start[i]; t < aw.start[i + 1]; t++) {
      const j = aw.idx[t], at = fill[j]++;
      out[at] = i;
      w[at] = aw.w[t];
    }
  }
  return { start, out, w };
}

/**
 * The same area/bilinear resize for pixels that arrive in any order (Adam7-interlaced PNG passes):
 * each pixel adds wy * wx * value to a float64 accumulator. The weights are resizeInto's; only the
 * summation order differs (and the horizontal sums are not rounded to float32 first), so outputs
 * agree with resizeInto to float rounding, not bit for bit.
 */
export class ScatterResizer {
  private readonly xInv: { start: Int32Array; out: Int32Array; w: Float64Array };
  private readonly yInv: { start: Int32Array; out: Int32Array; w: Float64Array } | null;
  private readonly acc: Float64Array;
  private rowY = -1;
  private rowOut: number[] = [];
  private rowW: number[] = [];
  constructor(readonly srcWidth: number, readonly srcHeight: number, private readonly W: number, private readonly H: number) {
    this.xInv = invert(axisWeights(srcWidth, W), srcWidth);
    this.yInv = H >= srcHeight ? invert(axisWeights(srcHeight, H), srcHeight) : null;
    this.acc = new Float64Array(H * W * 3);
  }

  /** Adds the pixel at (x, y) from data[p..p+2] (R, G, B). */
  addPixel(x: number, y: number, data: Uint8Array, p: number): void {
    const { xInv, yInv, acc, W } = this;
    if (y !== this.rowY) {
      this.rowY = y;
      this.rowOut.length = this.rowW.length = 0;
      if (yInv) {
        for (let t = yInv.start[y]; t < yInv.start[y + 1]; t++) { this.rowOut.push(yInv.out[t]); this.rowW.push(yInv.w[t]); }
      } else {
        areaTaps(y, this.srcHeight, this.H, (i, w) => { this.rowOut.push(i); this.rowW.push(w); });
      }
    }
    const r = data[p], g = data[p + 1], b = data[p + 2];
    for (let ty = 0; ty < this.rowOut.length; ty++) {
      const oy = this.rowOut[ty], wy = this.rowW[ty];
      for (let tx = xInv.start[x]; tx < xInv.start[x + 1]; tx++) {
        const wt = wy * xInv.w[tx], q = 3 * (oy * W + xInv.out[tx]);
        acc[q] += wt * r;
        acc[q + 1] += wt * g;
        acc[q + 2] += wt * b;
      }
    }
  }

  finish(mean: readonly number[], std: readonly number[], out: Float32Array): Float32Array {
    return normalizePlanes(this.acc, this.H * this.W, mean, std, out);
  }
}
