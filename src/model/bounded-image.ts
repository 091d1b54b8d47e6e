/**
 * Image file -> model input within a fixed memory bound, whatever the image's size (up to the
 * pixel cap). toInput calls this for file bytes; decodeImage (all pixels, as RawImage) does not.
 *
 *   if (!decodeBoundedInto(bytes, [32, 32], mean, std, out)) { small image: decode fully, as before }
 *
 * Images of at most FULL_DECODE_MAX_PIXELS pixels return false and take the old path (jpeg-js or
 * pngjs, then resizeInto): their packets stay exactly what they were. Larger ones are decoded here:
 *  - baseline JPEG with one scan, and non-interlaced PNG: band by band at full scale, the same pixels
 *    and the same float order as the old path, so the same input bit for bit (tested);
 *  - progressive or multi-scan JPEG: at 1/8 scale from DC coefficients (see jpeg-decode.ts); the input
 *    differs slightly from a full decode + resize (the bound is measured in test/model/bounded-image.test.ts
 *    and docs/MEMORY.md);
 *  - interlaced PNG: full scale, pixels scattered into the output (equal up to float rounding).
 * Every path checks the header against the pixel cap and against the file's size first, so a forged
 * header is refused before anything in proportion to its claimed size exists.
 */
import { ImageError, MAX_PIXELS, isJpeg, isPng } from '../image.js';
import { checkJpegData, decodeJpegRows, jpegHeader } from './jpeg-decode.js';
import { checkPngData, decodePngRows, pngHeader } from './png-decode.js';

/**
 * Largest image decoded whole (the old path). jpeg-js needs ~22 bytes per pixel (a 256-byte block
 * object per 64 samples, the component planes and the RGB output), so 2^20 pixels cost ~24 MB.
 */
export const FULL_DECODE_MAX_PIXELS = 1 << 20;

/** Widest image the bounded path takes: its row buffers grow with the width (JPEG's own limit). */
export const BOUNDED_MAX_WIDTH = 65535;

export interface BoundedOptions {
  maxPixels?: number;
  /** images with more pixels than this are decoded here (default FULL_DECODE_MAX_PIXELS) */
  fullDecodeMaxPixels?: number;
  /** JPEG at 1/8 scale even where full scale is possible (to measure the 1/8 path against the exact one) */
  dcOnly?: boolean;
}

export interface BoundedResult {
  width: number;
  height: number;
  /** 'full': every pixel seen (the old result); 'dc': 1/8 scale from DC terms; 'scatter': interlaced PNG */
  path: 'full' | 'dc' | 'scatter';
}

function checkSize(width: number, height: number, maxPixels: number, what: string): void {
  if (!(width > 0 && height > 0)) throw new ImageError('corrupt', `${what} declares a ${width}x${height} image`);
  if (width * height > maxPixels) {
    throw new ImageError('too-large', `${what} declares ${width}x${height} pixels, over the cap of ${maxPixels} (resize it, or raise maxPixels)`);
  }
}

/**
 * Header checks for a JPEG or PNG file: size within the cap, file large enough for it. Returns the
 * declared size, or null when the header cannot be read (the full decoder then names the problem).
 */
export function checkImageHeader(bytes: Uint8Array, maxPixels = MAX_PIXELS): { width: number; height: number } | null {
  if (isJpeg(bytes)) {
    const h = jpegHeader(bytes);
    if (!h) return null;
    checkSize(h.width, h.height, maxPixels, 'JPEG');
    checkJpegData(bytes, h);
    return h;
  }
  if (isPng(bytes)) {
    const h = pngHeader(bytes);
    checkSize(h.width, h.height, maxPixels, 'PNG');
    checkPngData(bytes, h);
    return h;
  }
  return null;
}

/**
 * Writes the normalized [3][H][W] input for a large image into `out` and says how it was made;
 * returns null (writing nothing) for images the old full decode handles.
 */
export function decodeBoundedInto(
  bytes: Uint8Array,
  size: readonly [number, number],
  mean: readonly number[],
  std: readonly number[],
  out: Float32Array,
  opts: BoundedOptions = {},
): BoundedResult | null {
  const maxPixels = opts.maxPixels ?? MAX_PIXELS;
  const fullMax = opts.fullDecodeMaxPixels ?? FULL_DECODE_MAX_PIXELS;
  const dims = checkImageHeader(bytes, maxPixels);
  if (!dims || dims.width * dims.height <= fullMax) return null;
  if (dims.width > BOUNDED_MAX_WIDTH) {
    throw new ImageError('too-large', `image is ${dims.width} pixels wide; over ${fullMax} pixels, at most ${BOUNDED_MAX_WIDTH} columns are decoded (resize it)`);
  }
  const [H, W] = size;
  if (isJpeg(bytes)) {
    const h = jpegHeader(bytes)!;
    const { resizer, scale } = decodeJpegRows(bytes, h, W, H, { dcOnly: opts.dcOnly });
    resizer.finish(mean, std, out);
    return { width: h.width, height: h.height, path: scale === 1 ? 'full' : 'dc' };
  }
  const h = pngHeader(bytes);
  decodePngRows(bytes, h, W, H).finish(mean, std, out);
  return { width: h.width, height: h.height, path: h.interlace ? 'scatter' : 'full' };
}
