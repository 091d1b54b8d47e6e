/**
 * A PNG decoder that never holds the whole image: IDAT data is inflated in 64 KiB pieces (pako's
 * streaming Inflate, so a highly compressible chunk cannot expand in one step), rows are unfiltered
 * against the previous row only, turned into RGB with pngjs 7's rules, and fed to a resizer.
 *
 *   const info = pngHeader(bytes);                 // IHDR; throws ImageError
 *   checkPngData(bytes, info);                     // refuses a file too small for its declared size
 *   decodePngRows(bytes, info, 32, 32).finish(mean, std, out);
 *
 * pngjs's rules, repeated here so that rows equal the RGB of PNG.sync.read: palette lookup (an index
 * past the palette is an error); a tRNS colour key (grey or RGB, compared before scaling) turns the
 * pixel's RGB to 0; depths other than 8 scale as floor(v * 255 / (2^depth - 1) + 0.5); gamma is
 * ignored. test/model/png-decode.test.ts checks them against pngjs on every colour type and depth.
 * Non-interlaced images stream through RowResizer (bit-identical to the full decode + resizeInto);
 * Adam7-interlaced ones scatter each pixel into the output (ScatterResizer: equal to float rounding).
 *
 * Why pako: Node's zlib has no synchronous streaming inflate in its public API, and decodeImage is
 * synchronous; pako is the maintained pure-JS zlib port (pngjs's own browser build uses it).
 */
import pako from 'pako';
import { crc32 } from '../format/checksum.js';
import { ImageError } from './image.js';
import { RowResizer, ScatterResizer } from './row-resize.js';

export interface PngHeader {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlace: boolean;
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

function corrupt(msg: string): never {
  throw new ImageError('corrupt', `damaged PNG (${msg}); re-save it`);
}

/** The IHDR fields (IHDR must be the first chunk); throws ImageError on anything PNG does not allow. */
export function pngHeader(b: Uint8Array): PngHeader {
  if (b.length < 33 || String.fromCharCode(...b.subarray(12, 16)) !== 'IHDR') {
    corrupt(`a file of ${b.length} bytes has no IHDR chunk first; the file is truncated or damaged`);
  }
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const h: PngHeader = { width: dv.getUint32(16), height: dv.getUint32(20), depth: b[24], colorType: b[25], interlace: b[28] === 1 };
  if (!(h.colorType in CHANNELS)) corrupt(`colour type ${h.colorType}`);
  // pngjs's checks, not the stricter PNG table of depths per colour type: files it decodes stay accepted
  if (![1, 2, 4, 8, 16].includes(h.depth)) corrupt(`bit depth ${h.depth}`);
  if (h.colorType === 3 && h.depth === 16) corrupt('16-bit palette indices');
  if (b[26] !== 0 || b[27] !== 0 || b[28] > 1) corrupt(`compression ${b[26]}, filter ${b[27]}, interlace ${b[28]}`);
  return h;
}

/** Bytes of one unfiltered row `width` pixels wide. */
function rowBytes(h: PngHeader, width: number): number {
  return Math.ceil((width * CHANNELS[h.colorType] * h.depth) / 8);
}

/**
 * The fewest file bytes that can hold the declared pixels. Deflate codes at most 258 bytes per
 * length/distance pair, and each pair takes at least 2 bits (a 1-bit length code and a 1-bit
 * distance code), so no deflate stream expands more than 1032 times.
 */
export function pngMinDataBytes(h: PngHeader): number {
  return Math.ceil((h.height * (1 + rowBytes(h, h.width))) / 1032);
}

export function checkPngData(bytes: Uint8Array, h: PngHeader): void {
  const need = pngMinDataBytes(h);
  if (bytes.length < need) {
    corrupt(`${h.width}x${h.height} pixels need at least ${need} bytes of compressed data, the whole file has ${bytes.length}; it is truncated or its header is forged`);
  }
}

const ADAM7 = [
  { x0: 0, y0: 0, dx: 8, dy: 8 },
  { x0: 4, y0: 0, dx: 8, dy: 8 },
  { x0: 0, y0: 4, dx: 4, dy: 8 },
  { x0: 2, y0: 0, dx: 4, dy: 4 },
  { x0: 0, y0: 2, dx: 2, dy: 4 },
  { x0: 1, y0: 0, dx: 2, dy: 2 },
  { x0: 0, y0: 1, dx: 1, dy: 2 },
];

/** Decodes into a resizer for a W x H output; call finish(mean, std, out) on the result. */
export function decodePngRows(bytes: Uint8Array, h: PngHeader, W: number, H: number): RowResizer | ScatterResizer {
  const n = bytes.length;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const palette: number[] = []; // r, g, b per entry
  let trans: number[] | null = null;
  const channels = CHANNELS[h.colorType];
  const passes = h.interlace
    ? ADAM7.map((a) => ({ ...a, w: Math.ceil((h.width - a.x0) / a.dx), h: Math.ceil((h.height - a.y0) / a.dy) })).filter((a) => a.w > 0 && a.h > 0)
    : [{ x0: 0, y0: 0, dx: 1, dy: 1, w: h.width, h: h.height }];
  const maxRow = rowBytes(h, h.width);
  const bpp = h.depth === 16 ? 2 * channels : h.depth === 8 ? channels : 1;
  let cur = new Uint8Array(1 + maxRow), prev = new Uint8Array(1 + maxRow);
  const rgb = new Uint8Array(h.width * 3);
  const rows = h.interlace ? null : new RowResizer(h.width, h.height, W, H);
  const scatter = h.interlace ? new ScatterResizer(h.width, h.height, W, H) : null;
  let pass = 0, line = 0, fill = 0, done = false;
  let rb = passes.length ? rowBytes(h, passes[0].w) : 0;
  const maxSample = 2 ** h.depth - 1;

  const sample = (row: Uint8Array, i: number): number => {
    if (h.depth === 8) return row[1 + i];
    if (h.depth === 16) return (row[1 + 2 * i] << 8) + row[2 + 2 * i];
    const bit = i * h.depth;
    return (row[1 + (bit >> 3)] >> (8 - h.depth - (bit & 7))) & maxSample;
  };
  const scale = (v: number): number => (h.depth === 8 || h.colorType === 3 ? v : Math.floor((v * 255) / maxSample + 0.5));

  const unfilter = (): void => {
    const f = cur[0];
    const first = line === 0;
    for (let x = 1; x <= rb; x++) {
      const a = x > bpp ? cur[x - bpp] : 0, up = first ? 0 : prev[x], c = x > bpp && !first ? prev[x - bpp] : 0;
      let p: number;
      switch (f) {
        case 0: p = 0; break;
        case 1: p = a; break;
        case 2: p = up; break;
        case 3: p = (a + up) >> 1; break;
        case 4: {
          const pa = Math.abs(up - c), pb = Math.abs(a - c), pc = Math.abs(a + up - 2 * c);
          p = pa <= pb && pa <= pc ? a : pb <= pc ? up : c;
          break;
        }
        default: return corrupt(`unknown filter type ${f} on row ${line} of pass ${pass + 1}`);
      }
      cur[x] = (cur[x] + p) & 0xff;
    }
  };

  const emit = (): void => {
    const ps = passes[pass];
    for (let i = 0; i < ps.w; i++) {
      let r: number, g: number, b: number;
      if (h.colorType === 3) {
        const k = sample(cur, i);
        if (3 * k >= palette.length) corrupt(`palette index ${k} past the ${palette.length / 3} colours of PLTE`);
        r = palette[3 * k]; g = palette[3 * k + 1]; b = palette[3 * k + 2];
      } else if (channels <= 2) {
        r = g = b = sample(cur, i * channels);
        if (trans && trans[0] === r) r = g = b = 0;
      } else {
        r = sample(cur, i * channels); g = sample(cur, i * channels + 1); b = sample(cur, i * channels + 2);
        if (trans && trans[0] === r && trans[1] === g && trans[2] === b) r = g = b = 0;
      }
      rgb[3 * i] = scale(r); rgb[3 * i + 1] = scale(g); rgb[3 * i + 2] = scale(b);
      if (scatter) scatter.addPixel(ps.x0 + i * ps.dx, ps.y0 + line * ps.dy, rgb, 3 * i);
    }
    if (rows) rows.pushRow(rgb, 3);
  };

  const feed = (chunk: Uint8Array): void => {
    let at = 0;
    while (at < chunk.length && !done) {
      const take = Math.min(chunk.length - at, 1 + rb - fill);
      cur.set(chunk.subarray(at, at + take), fill);
      fill += take;
      at += take;
      if (fill < 1 + rb) break;
      unfilter();
      emit();
      [cur, prev] = [prev, cur];
      fill = 0;
      if (++line >= passes[pass].h) {
        line = 0;
        if (++pass >= passes.length) done = true;
        else rb = rowBytes(h, passes[pass].w);
      }
    }
    // bytes after the last row are ignored, as pngjs's inflate (capped at the image size) drops them
  };

  const inflater = new pako.Inflate({ chunkSize: 65536 });
  inflater.onData = (chunk: Uint8Array) => feed(chunk);
  let p = 8, ended = false, idat = false;
  while (!ended) {
    if (p + 12 > n) corrupt(`file ends at byte ${p} without an IEND chunk (truncated)`);
    const len = dv.getUint32(p);
    const type = String.fromCharCode(...bytes.subarray(p + 4, p + 8));
    if (p + 12 + len > n) corrupt(`${type} chunk at byte ${p} declares ${len} bytes, past the end of the file`);
    const data = bytes.subarray(p + 8, p + 8 + len);
    if (crc32(bytes, p + 4, p + 8 + len) !== dv.getUint32(p + 8 + len)) corrupt(`${type} chunk at byte ${p} fails its CRC`);
    if (type === 'IHDR') {
      if (p !== 8) corrupt('a second IHDR chunk');
    } else if (type === 'PLTE') {
      for (let i = 0; i + 3 <= len; i += 3) palette.push(data[i], data[i + 1], data[i + 2]);
    } else if (type === 'tRNS') {
      if (h.colorType === 3) {
        if (!palette.length) corrupt('tRNS before PLTE');
        if (len > palette.length / 3) corrupt('more transparent colours than palette entries');
      } else if (h.colorType === 0 || h.colorType === 2) {
        const k = h.colorType === 0 ? 1 : 3;
        if (len < 2 * k) corrupt(`tRNS of ${len} bytes for colour type ${h.colorType}`);
        trans = Array.from({ length: k }, (_, i) => (data[2 * i] << 8) | data[2 * i + 1]);
      }
    } else if (type === 'IDAT') {
      if (h.colorType === 3 && !palette.length) corrupt('image data before the palette (PLTE)');
      idat = true;
      inflater.push(data, false);
      if (inflater.err) corrupt(`image data does not inflate: ${inflater.msg}`);
    } else if (type === 'IEND') {
      ended = true;
    } else if (!(bytes[p + 4] & 0x20)) {
      corrupt(`unsupported critical chunk ${type}`);
    }
    p += 12 + len;
  }
  if (!idat) corrupt('no IDAT chunk');
  if (!done) corrupt(`image data ends after ${pass < passes.length ? `row ${line} of pass ${pass + 1}` : 'the last row'} (truncated)`);
  return (rows ?? scatter) as RowResizer | ScatterResizer;
}
