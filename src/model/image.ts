/**
 * Image files and pixels in, the model's normalized NCHW float32 input out.
 *
 *   import { decodeImage, toInput } from './image.js';
 *   const img = decodeImage(readFileSync('samples/cat.jpg'));        // { data, width, height, channels }
 *   const x = new Float32Array(3 * 32 * 32);                           // [3][32][32], reused per image
 *   toInput(img, [3, 32, 32], info.mean, info.std, x);                 // x = (pixel / 255 - mean) / std
 *
 * decodeImage knows JPEG (jpeg-js) and PNG (pngjs) by their magic bytes and refuses anything else
 * with an ImageError. Both decoders run under a pixel cap checked against the file's own header
 * before any pixel buffer exists, and a file too small to hold the pixels its header declares is
 * refused there too, so a forged 60000x60000 (or 4096x4096) header costs nothing.
 *
 * toInput, given file bytes, decodes images over FULL_DECODE_MAX_PIXELS band by band straight into
 * the model's input (src/model/bounded-image.ts), so memory does not grow with the image.
 *
 * toInput is the device's per-image hot path: when the image already has the model's size it reads
 * the pixels once through a per-channel lookup table and allocates nothing. Other sizes are resized
 * first (bilinear when enlarging, area average when shrinking, each axis on its own).
 */
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { ImageInput, RawImage } from './api.js';
import { checkImageHeader, decodeBoundedInto } from './bounded-image.js';

export type ImageErrorCode = 'format' | 'corrupt' | 'too-large' | 'pixels' | 'shape' | 'file';

/** An image that cannot be read or used; `code` classifies the problem, the message names it. */
export class ImageError extends Error {
  readonly code: ImageErrorCode;
  constructor(code: ImageErrorCode, message: string) {
    super(`slimsplit: image: ${message}`);
    this.name = 'ImageError';
    this.code = code;
  }
}

export interface DecodeOptions {
  /** largest width * height accepted (default MAX_PIXELS) */
  maxPixels?: number;
}

/** 4096 x 4096: above any camera frame a weak device would classify, far below what exhausts it. */
export const MAX_PIXELS = 4096 * 4096;

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_MAGIC.every((b, i) => bytes[i] === b);
}

/** Decodes a JPEG (to RGB) or PNG (to RGBA) file; throws ImageError. */
export function decodeImage(bytes: Uint8Array, opts: DecodeOptions = {}): RawImage {
  const maxPixels = opts.maxPixels ?? MAX_PIXELS;
  if (isJpeg(bytes)) return decodeJpeg(bytes, maxPixels);
  if (isPng(bytes)) return decodePng(bytes, maxPixels);
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new ImageError('format', `not a JPEG or PNG file (starts with ${head || 'nothing: 0 bytes'}); convert it to JPEG or PNG first`);
}

/** Refuses a declared size that is empty or over the pixel cap (image.ts's decoders and bounded-image.ts). */
export function checkSize(width: number, height: number, maxPixels: number, what: string): void {
  if (!(width > 0 && height > 0)) throw new ImageError('corrupt', `${what} declares a ${width}x${height} image`);
  if (width * height > maxPixels) {
    throw new ImageError('too-large', `${what} declares ${width}x${height} pixels, over the cap of ${maxPixels} (resize it, or raise maxPixels)`);
  }
}

function decodeJpeg(bytes: Uint8Array, maxPixels: number): RawImage {
  // the cap, and a file too small for its frame (forged header), refused before jpeg-js allocates
  checkImageHeader(bytes, maxPixels);
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: false,
      // jpeg-js's own caps back up the header check (several SOF markers, progressive tables);
      // its accounting is about 20 bytes per pixel (coefficients, component planes, output)
      maxResolutionInMP: maxPixels / 1e6,
      maxMemoryUsageInMB: Math.ceil((maxPixels * 24) / 2 ** 20) + 16,
    });
  } catch (e) {
    const msg = (e as Error).message;
    if (/limit exceeded/.test(msg)) throw new ImageError('too-large', `JPEG over the decoder's limits (${msg}); resize it, or raise maxPixels`);
    throw new ImageError('corrupt', `damaged or unsupported JPEG (${msg}); re-save it as a baseline JPEG or PNG`);
  }
  checkSize(img.width, img.height, maxPixels, 'JPEG');
  if (img.data.length !== img.width * img.height * 3) throw new ImageError('corrupt', `JPEG decoded to ${img.data.length} bytes for ${img.width}x${img.height} RGB`);
  return { data: img.data, width: img.width, height: img.height, channels: 3 };
}

function decodePng(bytes: Uint8Array, maxPixels: number): RawImage {
  // IHDR must be the first chunk: length 13, type 'IHDR', then width and height (big-endian)
  if (bytes.length < 33 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') {
    throw new ImageError('corrupt', `PNG of ${bytes.length} bytes has no IHDR chunk first; the file is truncated or damaged`);
  }
  checkImageHeader(bytes, maxPixels);
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { checkCRC: true });
  } catch (e) {
    throw new ImageError('corrupt', `damaged PNG (${(e as Error).message}); re-save it`);
  }
  const data = new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength);
  if (data.length !== png.width * png.height * 4) throw new ImageError('corrupt', `PNG decoded to ${data.length} bytes for ${png.width}x${png.height} RGBA`);
  return { data, width: png.width, height: png.height, channels: 4 };
}

/** Checks that pixels are what RawImage promises; throws ImageError('pixels') naming the mismatch. */
export function checkRaw(img: RawImage): void {
  const { width, height, channels, data } = img;
  // Floats in 0..1, 16-bit or signed samples would be read modulo 256 (or as garbage) and still get
  // a confident class: refuse every array that is not unsigned 8-bit.
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    const name = Array.isArray(data) ? 'Array' : data === undefined || data === null ? '' : ((data as object).constructor?.name ?? typeof data);
    const got = name ? `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}` : String(data);
    throw new ImageError('pixels', `pixels must be a Uint8Array or Uint8ClampedArray of 8-bit values (0..255), got ${got}; scale floats in 0..1 with Uint8ClampedArray.from(data, (v) => v * 255), 16-bit samples with (v) => v >> 8`);
  }
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageError('pixels', `width and height must be positive integers, got ${width}x${height}`);
  }
  if (channels !== 3 && channels !== 4) throw new ImageError('pixels', `channels must be 3 (RGB) or 4 (RGBA), got ${channels}`);
  if (!data || data.length !== width * height * channels) {
    throw new ImageError('pixels', `a ${width}x${height}x${channels} image needs ${width * height * channels} bytes, got ${data?.length}`);
  }
}

// Per-channel map from 8-bit values to normalized floats, rebuilt only when mean/std change, so
// same-size images allocate nothing. Entries follow PyTorch's float32 order ((v / 255 - m) / s).
let lutMean: number[] = [];
let lutStd: number[] = [];
const lut = new Float32Array(3 * 256); // [3][256]

function normLut(mean: readonly number[], std: readonly number[]): Float32Array {
  let same = lutMean.length === 3 && lutStd.length === 3;
  for (let c = 0; same && c < 3; c++) same = lutMean[c] === (mean[c] ?? 0) && lutStd[c] === (std[c] ?? 1);
  if (same) return lut;
  const m = [0, 1, 2].map((c) => Math.fround(mean[c] ?? 0));
  const s = [0, 1, 2].map((c) => Math.fround(std[c] ?? 1));
  for (let c = 0; c < 3; c++) {
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = Math.fround(Math.fround(Math.fround(v / 255) - m[c]) / s[c]);
  }
  lutMean = [0, 1, 2].map((c) => mean[c] ?? 0);
  lutStd = [0, 1, 2].map((c) => std[c] ?? 1);
  return lut;
}

/**
 * Writes the model input for `img` into `out` ([3][H][W] float32, normalized) and returns it.
 * `mean`/`std` are per channel on the 0..1 scale (empty: 0 and 1). File bytes are decoded first.
 */
export function toInput(
  img: RawImage | Uint8Array,
  shape: readonly [number, number, number],
  mean: readonly number[],
  std: readonly number[],
  out: Float32Array,
): Float32Array {
  const [C, H, W] = shape;
  if (C !== 3) throw new ImageError('shape', `the model takes ${C} channels; toInput makes RGB input only`);
  if (out.length < C * H * W) throw new ImageError('shape', `output holds ${out.length} floats, [${C}, ${H}, ${W}] needs ${C * H * W}`);
  if (mean.length !== 0 && mean.length !== 3) throw new ImageError('shape', `mean must have 0 or 3 values, got ${mean.length}`);
  if (std.length !== 0 && std.length !== 3) throw new ImageError('shape', `std must have 0 or 3 values, got ${std.length}`);
  // files over FULL_DECODE_MAX_PIXELS are decoded straight into `out` within a fixed memory bound
  if (img instanceof Uint8Array && decodeBoundedInto(img, [H, W], mean, std, out)) return out;
  const raw = img instanceof Uint8Array ? decodeImage(img) : img;
  checkRaw(raw);
  if (raw.width === W && raw.height === H) {
    const t = normLut(mean, std);
    const { data, channels: k } = raw;
    const hw = H * W;
    for (let i = 0, p = 0; i < hw; i++, p += k) {
      out[i] = t[data[p]];
      out[hw + i] = t[256 + data[p + 1]];
      out[2 * hw + i] = t[512 + data[p + 2]];
    }
    return out;
  }
  resizeInto(raw, H, W, mean, std, out);
  return out;
}

/**
 * Resampling weights for one axis: output i takes sum_k w[k] * src[idx[k]] over k in [start[i],
 * start[i + 1]). Pixel centres sit at half-integers (as in PIL and PyTorch's align_corners=false).
 */
export interface AxisWeights {
  start: Int32Array; // [dst + 1]
  idx: Int32Array; // [taps]
  w: Float64Array; // [taps]
}

/** Bilinear taps when enlarging (edges clamped), box-overlap (area) taps when shrinking. */
export function axisWeights(src: number, dst: number): AxisWeights {
  const idx: number[] = [];
  const w: number[] = [];
  const start = new Int32Array(dst + 1);
  const scale = src / dst;
  for (let i = 0; i < dst; i++) {
    start[i] = idx.length;
    if (dst >= src) {
      const x = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), src - 1);
      const x0 = Math.floor(x);
      const f = x - x0;
      idx.push(x0);
      w.push(1 - f);
      if (f > 0) {
        idx.push(x0 + 1);
        w.push(f);
      }
    } else {
      // output pixel i covers source span [a, b); each source pixel weighs its overlap
      const a = i * scale, b = (i + 1) * scale;
      for (let j = Math.floor(a); j < b && j < src; j++) {
        const wt = areaWeight(i, j, scale);
        if (wt > 0) {
          idx.push(j);
          w.push(wt);
        }
      }
    }
  }
  start[dst] = idx.length;
  return { start, idx: Int32Array.from(idx), w: Float64Array.from(w) };
}

/**
 * Shrinking by `scale` (src / dst): the weight of source pixel j in output i, the overlap of
 * [j, j + 1) with i's span [i * scale, (i + 1) * scale) over scale; 0 where they barely touch.
 * axisWeights and areaTaps (src/model/row-resize.ts) both take it from here, so the streaming
 * resizers get the very same doubles.
 */
export function areaWeight(i: number, j: number, scale: number): number {
  const a = i * scale, b = (i + 1) * scale;
  const o = Math.min(b, j + 1) - Math.max(a, j);
  return o > 1e-12 ? o / scale : 0;
}

/**
 * The horizontal pass over one source row (pixels at stride k from data[rowAt]; R, G, B first):
 * output column x gets its taps summed in ascending order in float64, stored as float32 at
 * out[outAt + 3x ..]. resizeInto and RowResizer both call it, so their rows are the same bits.
 */
export function resampleRow(data: Uint8Array | Uint8ClampedArray, rowAt: number, k: number, xw: AxisWeights, out: Float32Array, outAt: number): void {
  const W = xw.start.length - 1;
  for (let x = 0; x < W; x++) {
    let r = 0, g = 0, b = 0;
    for (let t = xw.start[x]; t < xw.start[x + 1]; t++) {
      const p = rowAt + xw.idx[t] * k, wt = xw.w[t];
      r += wt * data[p];
      g += wt * data[p + 1];
      b += wt * data[p + 2];
    }
    const q = outAt + 3 * x;
    out[q] = r;
    out[q + 1] = g;
    out[q + 2] = b;
  }
}

let scratch = new Float32Array(0);

function resizeInto(raw: RawImage, H: number, W: number, mean: readonly number[], std: readonly number[], out: Float32Array): void {
  const { data, width: sw, height: sh, channels: k } = raw;
  const xw = axisWeights(sw, W);
  const yw = axisWeights(sh, H);
  // horizontal pass: tmp [sh][W][3], 0..255 scale
  if (scratch.length < sh * W * 3) scratch = new Float32Array(sh * W * 3);
  const tmp = scratch;
  for (let y = 0; y < sh; y++) resampleRow(data, y * sw * k, k, xw, tmp, y * W * 3);
  // vertical pass straight into the normalized planes
  const hw = H * W;
  const m = [0, 1, 2].map((c) => mean[c] ?? 0);
  const s = [0, 1, 2].map((c) => std[c] ?? 1);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let r = 0, g = 0, b = 0;
      for (let t = yw.start[y]; t < yw.start[y + 1]; t++) {
        const q = (yw.idx[t] * W + x) * 3, wt = yw.w[t];
        r += wt * tmp[q];
        g += wt * tmp[q + 1];
        b += wt * tmp[q + 2];
      }
      const i = y * W + x;
      out[i] = (r / 255 - m[0]) / s[0];
      out[hw + i] = (g / 255 - m[1]) / s[1];
      out[2 * hw + i] = (b / 255 - m[2]) / s[2];
    }
  }
}

/** RGB or RGBA pixels as RGBA (a copy; alpha 255 added to RGB). */
export function toRgba(img: RawImage): Uint8Array {
  checkRaw(img);
  if (img.channels === 4) return Uint8Array.from(img.data);
  const n = img.width * img.height;
  const out = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    out[4 * i] = img.data[3 * i];
    out[4 * i + 1] = img.data[3 * i + 1];
    out[4 * i + 2] = img.data[3 * i + 2];
    out[4 * i + 3] = 255;
  }
  return out;
}
