/**
 * Image file -> model input within a fixed memory bound, whatever the image's size (up to the
 * pixel cap). toInput calls this for file bytes; decodeImage (all pixels, as RawImage) does not.
 *
 *   if (!decodeBoundedInto(bytes, [32, 32], mean, std, out)) { small image: decode fully, as before }
 *
 * Images of at most FULL_DECODE_MAX_PIXELS pixels (interlaced PNG: INTERLACED_PNG_FULL_DECODE_MAX_PIXELS)
 * return null and take the old path (jpeg-js or pngjs, then resizeInto): their packets stay exactly
 * what they were. Larger ones are decoded here:
 *  - JPEG at full scale with jpeg-js's arithmetic: a sequential file with one scan band by band; a
 *    progressive or multi-scan one from its coefficients when they fit COEF_BUDGET_BYTES (24 MiB:
 *    about 4 Mpixels at 4:2:0, 2 at 4:4:4). Same pixels, same float order: the same input bit for bit;
 *  - non-interlaced PNG: row by row, likewise bit for bit;
 *  - progressive or multi-scan JPEG over the coefficient budget: at 1/8 scale from DC coefficients
 *    (see jpeg-decode.ts); the input differs slightly from a full decode + resize (the bound is
 *    measured in test/model/bounded-image.test.ts and docs/MEMORY.md);
 *  - interlaced PNG: full scale, pixels scattered into the output (equal up to float rounding).
 * Every path checks the header against the pixel cap and against the file's size first, so a forged
 * header is refused before anything in proportion to its claimed size exists.
 */
import { ImageError, MAX_PIXELS, checkSize, isJpeg, isPng } from './image.js';
import { checkJpegData, decodeJpegRows, jpegHeader } from './jpeg-decode.js';
import { checkPngData, decodePngRows, pngHeader } from './png-decode.js';

/**
 * Largest image decoded whole (the old path, whose results must not change). jpeg-js keeps every
 * block as its own Int32Array(64) object, then the component planes and the RGB output; its cost
 * per pixel is in docs/MEMORY.md. At 2^18 pixels it is small beside the model.
 */
export const FULL_DECODE_MAX_PIXELS = 1 << 18;

/** The same for interlaced PNG, whose bounded path is not bit-identical, and which pngjs decodes more cheaply. */
export const INTERLACED_PNG_FULL_DECODE_MAX_PIXELS = 1 << 20;

/** Widest image the bounded path takes: its row buffers grow with the width (JPEG's own limit). */
export const BOUNDED_MAX_WIDTH = 65535;

export interface BoundedOptions {
  maxPixels?: number;
  /** images with more pixels than this are decoded here (default FULL_DECODE_MAX_PIXELS) */
  fullDecodeMaxPixels?: number;
  /** JPEG at 1/8 scale even where full scale is possible (to measure the 1/8 path against the exact one) */
  dcOnly?: boolean;
  /** bytes of JPEG coefficients a progressive or multi-scan file may keep for a full-scale decode */
  coefBudget?: number;
}

export interface BoundedResult {
  width: number;
  height: number;
  /** 'full': every pixel seen (the old result); 'dc': 1/8 scale from DC terms; 'scatter': interlaced PNG */
  path: 'full' | 'dc' | 'scatter';
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

/** Width and height from a JPEG or PNG header, or null. */
export function imageSize(bytes: Uint8Array): { width: number; height: number } | null {
  if (isJpeg(bytes)) return jpegHeader(bytes);
  if (isPng(bytes)) return pngHeader(bytes);
  return null;
}

/**
 * Whether decodeBoundedInto takes this file (rather than returning null for the full decode), from
 * its header alone; throws as decodeBoundedInto does for a header over the cap or a forged one.
 * Lets a caller pick its path before it prepares an input that only one path fills.
 */
export function takesBounded(bytes: Uint8Array, opts: BoundedOptions = {}): boolean {
  return boundedDims(bytes, opts) !== null;
}

/** The header's size when the bounded path takes the file, else null: the one place that decides. */
function boundedDims(bytes: Uint8Array, opts: BoundedOptions): { width: number; height: number } | null {
  const fullMax = opts.fullDecodeMaxPixels ?? FULL_DECODE_MAX_PIXELS;
  const dims = checkImageHeader(bytes, opts.maxPixels ?? MAX_PIXELS);
  if (!dims || dims.width * dims.height <= fullMax) return null;
  if (isPng(bytes) && pngHeader(bytes).interlace && dims.width * dims.height <= Math.max(fullMax, opts.fullDecodeMaxPixels ?? INTERLACED_PNG_FULL_DECODE_MAX_PIXELS)) return null;
  return dims;
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
  const dims = boundedDims(bytes, opts);
  if (!dims) return null;
  if (dims.width > BOUNDED_MAX_WIDTH) {
    const fullMax = opts.fullDecodeMaxPixels ?? FULL_DECODE_MAX_PIXELS;
    throw new ImageError('too-large', `image is ${dims.width} pixels wide; over ${fullMax} pixels, at most ${BOUNDED_MAX_WIDTH} columns are decoded (resize it)`);
  }
  const [H, W] = size;
  if (isJpeg(bytes)) {
    const h = jpegHeader(bytes)!;
    const { resizer, mode } = decodeJpegRows(bytes, h, W, H, { dcOnly: opts.dcOnly, coefBudget: opts.coefBudget });
    resizer.finish(mean, std, out);
    return { width: h.width, height: h.height, path: mode === 'dc' ? 'dc' : 'full' };
  }
  const h = pngHeader(bytes);
  decodePngRows(bytes, h, W, H).finish(mean, std, out);
  return { width: h.width, height: h.height, path: h.interlace ? 'scatter' : 'full' };
}
