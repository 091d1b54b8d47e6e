/**
 * The JPEG baseline: encode pixels at a quality, and count what such a file would cost on a link
 * where both ends already share its tables and frame layout.
 *
 *   import { jpegEncode, jpegStrippedBytes, parseJpeg } from './jpeg.js';
 *   const file = jpegEncode(decodeImage(bytes), 50);   // baseline JFIF, 4:4:4, IJG tables at quality 50
 *   file.length;                                        // the whole file, e.g. 1012 bytes
 *   jpegStrippedBytes(file);                            // entropy-coded scan bytes + 2, e.g. 645
 *   parseJpeg(file).segments;                           // SOI, APP0, DQT, SOF0, DHT, SOS, ECS, EOI with sizes
 *
 * The encoder is jpeg-js (the same tables and 4:4:4 layout as the baseline classifier's training
 * data, made by Pillow with subsampling=0). jpeg-js's `encode` builds a fresh encoder per call whose
 * table set-up costs ~30 ms of CPU, over 100 times the encoding of a 32x32 image; the evaluation
 * makes 190,000 of them, so one encoder instance is kept and reused (its output is byte-identical,
 * which test/jpeg.test.ts checks).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { runInThisContext } from 'node:vm';
import jpeg from 'jpeg-js';
import type { RawImage } from './api.js';
import { checkRaw } from './image.js';

/** A JPEG stream that does not parse; the message says where. */
export class JpegError extends Error {
  constructor(message: string) {
    super(`slimsplit: jpeg: ${message}`);
    this.name = 'JpegError';
  }
}

type RgbaImage = { data: Uint8Array; width: number; height: number };
type Encoder = { encode(image: RgbaImage, quality: number): Uint8Array };

let reusable: Encoder | null | undefined;

/**
 * jpeg-js keeps its JPEGEncoder constructor private to lib/encoder.js; evaluating that file in a
 * function scope hands it out. Any surprise (a jpeg-js that moved it) falls back to jpeg.encode.
 */
function reusableEncoder(): Encoder | null {
  if (reusable !== undefined) return reusable;
  try {
    const require = createRequire(import.meta.url);
    const path = require.resolve('jpeg-js/lib/encoder.js');
    const src = readFileSync(path, 'utf8');
    const factory = runInThisContext(`(function (module, exports, require) {${src}\n;return JPEGEncoder;})`, { filename: path });
    const mod = { exports: {} };
    const Ctor = factory(mod, mod.exports, require) as new (q: number) => Encoder;
    const enc = new Ctor(50);
    reusable = typeof enc.encode === 'function' ? enc : null;
  } catch {
    reusable = null;
  }
  return reusable;
}

/** Quality 1..100 (IJG scaling), 4:4:4, no metadata; returns the file's bytes. */
export function jpegEncode(raw: RawImage, quality: number): Uint8Array {
  checkRaw(raw);
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw new JpegError(`quality must be an integer 1..100, got ${quality}`);
  const data = raw.channels === 4 ? (raw.data as Uint8Array) : rgbToRgba(raw.data, raw.width * raw.height);
  const img = { data, width: raw.width, height: raw.height };
  const enc = reusableEncoder();
  const out = enc ? enc.encode(img, quality) : jpeg.encode(img, quality).data;
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

let rgbaScratch = new Uint8Array(0);

function rgbToRgba(rgb: Uint8Array | Uint8ClampedArray, n: number): Uint8Array {
  if (rgbaScratch.length < n * 4) rgbaScratch = new Uint8Array(n * 4);
  const out = rgbaScratch.length === n * 4 ? rgbaScratch : rgbaScratch.subarray(0, n * 4);
  for (let i = 0; i < n; i++) {
    out[4 * i] = rgb[3 * i];
    out[4 * i + 1] = rgb[3 * i + 1];
    out[4 * i + 2] = rgb[3 * i + 2];
    out[4 * i + 3] = 255;
  }
  return out;
}

/** One piece of a JPEG file. `bytes` counts everything from its marker on, so all pieces sum to the file. */
export interface JpegSegment {
  /** the marker byte (0xD8 for SOI, ...); -1 for entropy-coded data, -2 for bytes after EOI */
  marker: number;
  /** SOI, APP0, DQT, SOF0, DHT, SOS, ECS (entropy-coded segment), RST, EOI, ..., TRAILER */
  name: string;
  offset: number;
  bytes: number;
}

export interface JpegLayout {
  segments: JpegSegment[];
  /** bytes of entropy-coded scan data, byte stuffing and RSTn markers included */
  entropyBytes: number;
  width: number;
  height: number;
  components: number;
  /** SOF marker byte (0xC0 baseline, 0xC2 progressive, ...) */
  frameType: number;
}

const NAMES: Record<number, string> = {
  0xd8: 'SOI', 0xd9: 'EOI', 0xda: 'SOS', 0xdb: 'DQT', 0xc4: 'DHT', 0xdd: 'DRI', 0xfe: 'COM', 0xcc: 'DAC', 0xdc: 'DNL', 0x01: 'TEM',
};

function markerName(m: number): string {
  if (NAMES[m]) return NAMES[m];
  if (m >= 0xc0 && m <= 0xcf) return `SOF${m - 0xc0}`;
  if (m >= 0xd0 && m <= 0xd7) return 'RST';
  if (m >= 0xe0 && m <= 0xef) return `APP${m - 0xe0}`;
  return `0x${m.toString(16)}`;
}

/** Walks the markers of a JPEG file; throws JpegError on anything that does not add up. */
export function parseJpeg(file: Uint8Array): JpegLayout {
  const n = file.length;
  if (n < 4 || file[0] !== 0xff || file[1] !== 0xd8) throw new JpegError(`no SOI marker at the start (file of ${n} bytes)`);
  const segments: JpegSegment[] = [{ marker: 0xd8, name: 'SOI', offset: 0, bytes: 2 }];
  let entropyBytes = 0, width = 0, height = 0, components = 0, frameType = -1;
  let p = 2;
  let ended = false;
  while (p < n && !ended) {
    if (file[p] !== 0xff) throw new JpegError(`expected a marker at byte ${p}, found 0x${file[p].toString(16)}`);
    // fill bytes (0xFF runs) belong to the marker that follows
    let q = p + 1;
    while (q < n && file[q] === 0xff) q++;
    if (q >= n) throw new JpegError(`file ends inside a marker at byte ${p}`);
    const m = file[q];
    const name = markerName(m);
    if (m === 0xd9) {
      segments.push({ marker: m, name, offset: p, bytes: q + 1 - p });
      p = q + 1;
      ended = true;
      break;
    }
    if (m === 0x00 || m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      throw new JpegError(`unexpected ${name} marker at byte ${p}`);
    }
    if (q + 3 > n) throw new JpegError(`${name} at byte ${p}: file ends before its length field`);
    const len = (file[q + 1] << 8) | file[q + 2];
    if (len < 2 || q + 1 + len > n) throw new JpegError(`${name} at byte ${p}: length ${len} runs past the end of the ${n}-byte file`);
    segments.push({ marker: m, name, offset: p, bytes: q + 1 + len - p });
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (len < 8) throw new JpegError(`${name} at byte ${p}: length ${len} is too short for a frame header`);
      height = (file[q + 4] << 8) | file[q + 5];
      width = (file[q + 6] << 8) | file[q + 7];
      components = file[q + 8];
      frameType = m;
    }
    p = q + 1 + len;
    if (m === 0xda) {
      // entropy-coded data runs to the first marker that is neither stuffing (FF00) nor RSTn
      let e = p;
      for (;;) {
        if (e >= n) throw new JpegError(`scan data starting at byte ${p} has no EOI or marker after it (truncated file)`);
        if (file[e] === 0xff) {
          let f = e + 1;
          while (f < n && file[f] === 0xff) f++;
          if (f >= n) throw new JpegError(`file ends inside scan data at byte ${e}`);
          const nx = file[f];
          if (nx === 0x00 || (nx >= 0xd0 && nx <= 0xd7)) { e = f + 1; continue; }
          break;
        }
        e++;
      }
      segments.push({ marker: -1, name: 'ECS', offset: p, bytes: e - p });
      entropyBytes += e - p;
      p = e;
    }
  }
  if (!ended) throw new JpegError(`no EOI marker (truncated file of ${n} bytes)`);
  if (frameType < 0) throw new JpegError('no SOF (frame header) segment');
  if (p < n) segments.push({ marker: -2, name: 'TRAILER', offset: p, bytes: n - p });
  return { segments, entropyBytes, width, height, components, frameType };
}

/**
 * The bytes a header-stripped JPEG would cost, defined as the entropy-coded scan data (byte
 * stuffing and RSTn markers included, as the decoder must see them) plus 2 for the EOI marker that
 * ends it. Everything else is dropped: SOI, APPn/COM, DQT and DHT (both ends share the IJG tables
 * for every quality), SOF and SOS (both ends know the model's input size, the component layout and
 * the table selectors, all fixed by the baseline's encoder). The quality itself is taken as agreed
 * out of band, so this is a lower bound for JPEG: a packet, by contrast, carries its own mode.
 */
export function jpegStrippedBytes(file: Uint8Array): number {
  return parseJpeg(file).entropyBytes + 2;
}
