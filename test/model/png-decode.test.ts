// The streaming PNG decoder against pngjs + resizeInto (the old path), on files written by
// test/model/png-make.ts: every colour type and bit depth, all five filters, PLTE/tRNS, Adam7.
import { describe, it, expect } from 'vitest';
import { decodeImage, toInput, ImageError } from '../../src/model/image.js';
import { decodeBoundedInto } from '../../src/model/bounded-image.js';
import { pngHeader, pngMinDataBytes } from '../../src/model/png-decode.js';
import { makePng, type PngSpec } from './png-make.js';

const MEAN = [0.4914, 0.4822, 0.4465];
const STD = [0.247, 0.2435, 0.2616];
const CASES: [PngSpec['colorType'], PngSpec['depth']][] = [[0, 1], [0, 2], [0, 4], [0, 8], [0, 16], [2, 8], [2, 16], [3, 1], [3, 2], [3, 4], [3, 8], [4, 8], [4, 16], [6, 8], [6, 16],
  // outside PNG's table of depths per colour type, but decoded by pngjs: decoded alike
  [2, 4], [2, 1], [6, 4], [4, 2]];
const CH = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

function spec(ct: PngSpec['colorType'], depth: PngSpec['depth'], interlace: boolean, w = 97, h = 61): PngSpec {
  const max = 2 ** depth - 1;
  return {
    width: w, height: h, colorType: ct, depth, interlace,
    palette: ct === 3 ? Array.from({ length: 3 * (max + 1) }, (_, i) => (i * 37) % 256) : undefined,
    // colour keys that occur in the image, so the tRNS rule (RGB to 0) is exercised
    trns: ct === 0 ? [Math.min(max, 3)] : ct === 2 ? [10, 20, 30] : ct === 3 ? [0, 128] : undefined,
    samples: (x, y, c) => (ct === 2 && (x + y) % 7 === 0 ? [10, 20, 30][c] : Math.floor((((x * 13 + y * 7 + c * 50) % 97) / 96) * max)),
  };
}

function both(png: Uint8Array): { ref: Float32Array; got: Float32Array; path: string } {
  const ref = toInput(decodeImage(png), [3, 32, 32], MEAN, STD, new Float32Array(3 * 32 * 32));
  const got = new Float32Array(3 * 32 * 32);
  const r = decodeBoundedInto(png, [32, 32], MEAN, STD, got, { fullDecodeMaxPixels: 0 });
  return { ref, got, path: r!.path };
}

describe('bounded PNG decode', () => {
  for (const [ct, depth] of CASES) {
    it(`colour type ${ct}, depth ${depth}: the same input bits as pngjs + resizeInto`, () => {
      const { ref, got, path } = both(makePng(spec(ct, depth, false)));
      expect(path).toBe('full');
      expect(Buffer.from(got.buffer).equals(Buffer.from(ref.buffer))).toBe(true);
    });
    it(`colour type ${ct}, depth ${depth}, Adam7: equal to float32 rounding`, () => {
      const { ref, got, path } = both(makePng(spec(ct, depth, true)));
      expect(path).toBe('scatter');
      for (let i = 0; i < ref.length; i++) expect(Math.abs(got[i] - ref[i])).toBeLessThanOrEqual(4 * 2 ** -23 * Math.max(1, Math.abs(ref[i])));
    });
  }

  it('tiny interlaced images whose passes are partly empty', () => {
    for (const [w, h] of [[1, 1], [3, 2], [5, 9]]) {
      const { ref, got } = both(makePng(spec(2, 8, true, w, h)));
      for (let i = 0; i < ref.length; i++) expect(Math.abs(got[i] - ref[i])).toBeLessThanOrEqual(4 * 2 ** -23 * Math.max(1, Math.abs(ref[i])));
    }
  });

  it('names what is wrong with a damaged file', () => {
    const good = makePng(spec(2, 8, false));
    const run = (b: Uint8Array) => decodeBoundedInto(b, [32, 32], MEAN, STD, new Float32Array(3072), { fullDecodeMaxPixels: 0 });
    const crc = good.slice();
    crc[40] ^= 1; // inside the first chunk after IHDR
    expect(() => run(crc)).toThrow(/fails its CRC/);
    expect(() => run(good.subarray(0, good.length - 200))).toThrow(/past the end of the file|without an IEND/);
    const pal = makePng({ ...spec(3, 8, false), palette: [1, 2, 3, 4, 5, 6] });
    expect(() => run(pal)).toThrow(/palette index \d+ past the 2 colours/);
    expect(() => run(makePng({ ...spec(2, 8, false), filter: () => 5 }))).toThrow(ImageError);
  });

  it('refuses a header that declares more pixels than the file can hold (deflate expands at most 1032x)', () => {
    const small = makePng(spec(6, 8, false, 16, 16));
    const forged = small.slice();
    new DataView(forged.buffer).setUint32(16, 4096);
    new DataView(forged.buffer).setUint32(20, 4096);
    const h = pngHeader(forged);
    expect(pngMinDataBytes(h)).toBe(Math.ceil((4096 * (1 + 4096 * 4)) / 1032));
    for (const run of [() => decodeImage(forged), () => toInput(forged, [3, 32, 32], MEAN, STD, new Float32Array(3072))]) {
      expect(run).toThrow(/4096x4096 pixels need at least 65032 bytes of compressed data, the whole file has \d+; it is truncated or its header is forged/);
    }
  });
});
