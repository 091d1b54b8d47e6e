/**
 * A small PNG writer for tests: any colour type and bit depth, every filter type, Adam7 interlace,
 * PLTE and tRNS, so the streaming decoder can be compared with pngjs on files pngjs cannot write.
 */
import { deflateSync } from 'node:zlib';
import { crc32 } from '../../src/format/checksum.js';

export interface PngSpec {
  width: number;
  height: number;
  colorType: 0 | 2 | 3 | 4 | 6;
  depth: 1 | 2 | 4 | 8 | 16;
  interlace?: boolean;
  /** samples, row-major, channels per pixel as the colour type says; values < 2^depth */
  samples: (x: number, y: number, c: number) => number;
  palette?: number[]; // r, g, b, ...
  trns?: number[]; // palette alphas, or the grey / RGB key (16-bit values)
  /** filter type per row (default: row index mod 5, so all five appear) */
  filter?: (row: number) => number;
}

const CH = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as const;
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

function chunk(type: string, data: Uint8Array): Buffer {
  const b = Buffer.alloc(12 + data.length);
  b.writeUInt32BE(data.length, 0);
  b.write(type, 4, 'latin1');
  b.set(data, 8);
  b.writeUInt32BE(crc32(b, 4, 8 + data.length), 8 + data.length);
  return b;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

export function makePng(s: PngSpec): Uint8Array {
  const ch = CH[s.colorType];
  const bpp = Math.max(1, (ch * s.depth) >> 3);
  const passes = s.interlace ? ADAM7 : [[0, 0, 1, 1]];
  const raw: number[] = [];
  let row = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const pw = Math.ceil((s.width - x0) / dx), ph = Math.ceil((s.height - y0) / dy);
    if (pw <= 0 || ph <= 0) continue;
    const rb = Math.ceil((pw * ch * s.depth) / 8);
    let prev = new Uint8Array(rb);
    for (let j = 0; j < ph; j++, row++) {
      const line = new Uint8Array(rb);
      for (let i = 0; i < pw; i++) {
        for (let c = 0; c < ch; c++) {
          const v = s.samples(x0 + i * dx, y0 + j * dy, c);
          const k = i * ch + c;
          if (s.depth === 16) { line[2 * k] = v >> 8; line[2 * k + 1] = v & 255; }
          else if (s.depth === 8) line[k] = v;
          else { const bit = k * s.depth; line[bit >> 3] |= v << (8 - s.depth - (bit & 7)); }
        }
      }
      const f = (s.filter ?? ((r: number) => r % 5))(row);
      raw.push(f);
      for (let x = 0; x < rb; x++) {
        const a = x >= bpp ? line[x - bpp] : 0, b = j > 0 ? prev[x] : 0, c = x >= bpp && j > 0 ? prev[x - bpp] : 0;
        const p = [0, a, b, (a + b) >> 1, paeth(a, b, c)][f];
        raw.push((line[x] - p) & 255);
      }
      prev = line;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(s.width, 0);
  ihdr.writeUInt32BE(s.height, 4);
  ihdr[8] = s.depth;
  ihdr[9] = s.colorType;
  ihdr[12] = s.interlace ? 1 : 0;
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (s.palette) parts.push(chunk('PLTE', Uint8Array.from(s.palette)));
  if (s.trns) {
    const t = s.colorType === 3 ? Uint8Array.from(s.trns) : Uint8Array.from(s.trns.flatMap((v) => [v >> 8, v & 255]));
    parts.push(chunk('tRNS', t));
  }
  const z = deflateSync(Uint8Array.from(raw));
  // several IDAT chunks, as encoders write them
  for (let i = 0; i < z.length; i += 1000) parts.push(chunk('IDAT', z.subarray(i, i + 1000)));
  parts.push(chunk('IEND', new Uint8Array(0)));
  return new Uint8Array(Buffer.concat(parts));
}
