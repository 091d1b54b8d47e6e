// Image input: JPEG/PNG decoding against the libraries directly, RGBA handling, normalization to
// PyTorch's float32 values, resizing against brute-force references, and every refusal.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { decodeImage, toInput, axisWeights, ImageError, MAX_PIXELS } from '../../src/model/image.js';
import { jpegEncode } from '../../src/model/jpeg.js';
import type { RawImage } from '../../src/model/api.js';
import { rng } from '../util.js';

const SAMPLES = new URL('../../samples/', import.meta.url);
const MEAN = [0.4914, 0.4822, 0.4465];
const STD = [0.247, 0.2435, 0.2616];

function makePng(w: number, h: number, px: (x: number, y: number) => [number, number, number, number]): Uint8Array {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) png.data.set(px(x, y), (y * w + x) * 4);
  return new Uint8Array(PNG.sync.write(png));
}

function rgbImage(w: number, h: number, px: (x: number, y: number, c: number) => number): RawImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = px(x, y, c);
  return { data, width: w, height: h, channels: 3 };
}

/** Denormalize channel c of out back to the 0..255 scale. */
function pixel(out: Float32Array, c: number, i: number, hw: number, mean = [0, 0, 0], std = [1, 1, 1]): number {
  return (out[c * hw + i] * std[c] + mean[c]) * 255;
}

describe('decodeImage', () => {
  it('decodes every sample JPEG to the same RGB pixels as jpeg-js', () => {
    const files = readdirSync(SAMPLES).filter((f) => f.endsWith('.jpg'));
    expect(files.length).toBe(10);
    for (const f of files) {
      const bytes = readFileSync(new URL(f, SAMPLES));
      const img = decodeImage(bytes);
      expect([img.width, img.height, img.channels]).toEqual([32, 32, 3]);
      const ref = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false });
      expect(Buffer.from(img.data).equals(Buffer.from(ref.data))).toBe(true);
    }
  });

  it('decodes a PNG to RGBA with the exact pixels and alpha', () => {
    const px = (x: number, y: number): [number, number, number, number] => [x * 10, y * 20, (x * y) % 256, 255 - x];
    const img = decodeImage(makePng(7, 5, px));
    expect([img.width, img.height, img.channels]).toEqual([7, 5, 4]);
    expect(Array.from(img.data.subarray(0, 8))).toEqual([0, 0, 0, 255, 10, 0, 0, 254]);
    expect(Array.from(img.data.subarray((4 * 7 + 6) * 4, (4 * 7 + 7) * 4))).toEqual([60, 80, 24, 249]);
  });

  it('refuses other formats, damaged files and oversized headers', () => {
    const cat = readFileSync(new URL('cat.jpg', SAMPLES));
    const png = makePng(8, 8, () => [1, 2, 3, 4]);
    const code = (b: Uint8Array, opts?: { maxPixels?: number }): string => {
      try {
        decodeImage(b, opts);
        return 'ok';
      } catch (e) {
        expect(e).toBeInstanceOf(ImageError);
        return (e as ImageError).code;
      }
    };
    expect(() => decodeImage(Buffer.from('GIF89a....'))).toThrow(/not a JPEG or PNG file \(starts with 47 49 46 38 39 61 2e 2e\)/);
    expect(code(new Uint8Array(0))).toBe('format');
    expect(code(cat.subarray(0, 300))).toBe('corrupt');
    expect(code(cat.subarray(0, cat.length - 30))).toBe('corrupt');
    expect(code(png.subarray(0, 20))).toBe('corrupt');
    expect(code(png.subarray(0, png.length - 12))).toBe('corrupt');
    const flipped = Uint8Array.from(png);
    flipped[png.length - 20] ^= 0x55; // inside IDAT: the CRC no longer matches
    expect(code(flipped)).toBe('corrupt');
    expect(code(png, { maxPixels: 63 })).toBe('too-large');
    expect(code(png, { maxPixels: 64 })).toBe('ok');

    // forged frame sizes: 60000 x 60000 must be refused before any pixel buffer exists
    const bigJpeg = Uint8Array.from(cat);
    const sof = bigJpeg.findIndex((b, i) => b === 0xff && bigJpeg[i + 1] === 0xc0);
    bigJpeg.set([0xea, 0x60, 0xea, 0x60], sof + 5);
    const bigPng = Uint8Array.from(png);
    bigPng.set([0, 0, 0xea, 0x60, 0, 0, 0xea, 0x60], 16);
    const t = performance.now();
    expect(() => decodeImage(bigJpeg)).toThrow(new RegExp(`60000x60000 pixels, over the cap of ${MAX_PIXELS}`));
    expect(code(bigPng)).toBe('too-large');
    expect(performance.now() - t).toBeLessThan(500);
  });
});

describe('toInput', () => {
  it('normalizes like PyTorch in float32: (v / 255 - mean) / std, planes R, G, B', () => {
    const img = rgbImage(4, 3, (x, y, c) => (x * 60 + y * 7 + c * 90) % 256);
    const out = new Float32Array(3 * 3 * 4);
    expect(toInput(img, [3, 3, 4], MEAN, STD, out)).toBe(out);
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < 12; i++) {
        const v = img.data[i * 3 + c];
        const ref = Math.fround(Math.fround(Math.fround(v / 255) - Math.fround(MEAN[c])) / Math.fround(STD[c]));
        expect(out[c * 12 + i]).toBe(ref);
      }
    }
    // empty mean/std: plain v / 255
    toInput(img, [3, 3, 4], [], [], out);
    expect(out[12 + 5]).toBe(Math.fround(img.data[5 * 3 + 1] / 255));
  });

  it('ignores alpha: RGBA gives the same input as RGB; file bytes decode first', () => {
    const rgb = rgbImage(32, 32, (x, y, c) => (x * 8 + y * 3 + c * 50) % 256);
    const rgba = new Uint8Array(32 * 32 * 4);
    for (let i = 0; i < 32 * 32; i++) rgba.set([rgb.data[3 * i], rgb.data[3 * i + 1], rgb.data[3 * i + 2], i % 256], 4 * i);
    const a = toInput(rgb, [3, 32, 32], MEAN, STD, new Float32Array(3072));
    const b = toInput({ data: rgba, width: 32, height: 32, channels: 4 }, [3, 32, 32], MEAN, STD, new Float32Array(3072));
    expect(b).toEqual(a);
    const file = jpegEncode(rgb, 90);
    const c = toInput(file, [3, 32, 32], MEAN, STD, new Float32Array(3072));
    const d = toInput(decodeImage(file), [3, 32, 32], MEAN, STD, new Float32Array(3072));
    expect(c).toEqual(d);
  });

  it('shrinks by 2 as the mean of each 2x2 block', () => {
    const r = rng(3);
    const img = rgbImage(64, 48, () => Math.floor(r() * 256));
    const out = toInput(img, [3, 24, 32], [], [], new Float32Array(3 * 24 * 32));
    const hw = 24 * 32;
    for (let y = 0; y < 24; y++) {
      for (let x = 0; x < 32; x++) {
        for (let c = 0; c < 3; c++) {
          let s = 0;
          for (const [dy, dx] of [[0, 0], [0, 1], [1, 0], [1, 1]]) s += img.data[((2 * y + dy) * 64 + 2 * x + dx) * 3 + c];
          expect(pixel(out, c, y * 32 + x, hw)).toBeCloseTo(s / 4, 3);
        }
      }
    }
  });

  it('shrinks by a non-integer factor as the box-overlap average (brute-force reference)', () => {
    const r = rng(5);
    const img = rgbImage(45, 19, () => Math.floor(r() * 256));
    const [H, W] = [7, 32];
    const out = toInput(img, [3, H, W], MEAN, STD, new Float32Array(3 * H * W));
    // integrate the piecewise-constant source over each output box on a fine grid
    const sub = 60;
    for (const [y, x] of [[0, 0], [3, 17], [6, 31], [2, 5]]) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let j = 0; j < sub; j++) {
          for (let i = 0; i < sub; i++) {
            const sy = Math.floor(((y + (j + 0.5) / sub) * 19) / H);
            const sx = Math.floor(((x + (i + 0.5) / sub) * 45) / W);
            s += img.data[(sy * 45 + sx) * 3 + c];
          }
        }
        expect(Math.abs(pixel(out, c, y * W + x, H * W, MEAN, STD) - s / (sub * sub))).toBeLessThan(2.5);
      }
    }
  });

  it('enlarges a linear gradient exactly inside, clamped at the edges (bilinear, half-pixel centres)', () => {
    // horizontal ramp 10 + 20x on a 16-wide image, vertical ramp 5 + 30y on 8 rows
    const img = rgbImage(16, 8, (x, y, c) => (c === 0 ? 10 + 12 * x : c === 1 ? 5 + 30 * y : 77));
    const [H, W] = [20, 32];
    const out = toInput(img, [3, H, W], [], [], new Float32Array(3 * H * W));
    const hw = H * W;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const sx = Math.min(Math.max((x + 0.5) * (16 / W) - 0.5, 0), 15);
        const sy = Math.min(Math.max((y + 0.5) * (8 / H) - 0.5, 0), 7);
        expect(pixel(out, 0, y * W + x, hw)).toBeCloseTo(10 + 12 * sx, 3);
        expect(pixel(out, 1, y * W + x, hw)).toBeCloseTo(5 + 30 * sy, 3);
        expect(pixel(out, 2, y * W + x, hw)).toBeCloseTo(77, 3);
      }
    }
  });

  it('has weights summing to 1 for every output pixel, up or down', () => {
    for (const [s, d] of [[32, 32], [7, 32], [45, 32], [100, 3], [3, 100], [1, 5], [5, 1]]) {
      const aw = axisWeights(s, d);
      for (let i = 0; i < d; i++) {
        let t = 0;
        for (let k = aw.start[i]; k < aw.start[i + 1]; k++) {
          t += aw.w[k];
          expect(aw.idx[k]).toBeGreaterThanOrEqual(0);
          expect(aw.idx[k]).toBeLessThan(s);
        }
        expect(t).toBeCloseTo(1, 12);
      }
    }
  });

  it('refuses mismatched pixels, shapes and buffers', () => {
    const img = rgbImage(4, 4, () => 0);
    expect(() => toInput({ ...img, channels: 2 as 3 }, [3, 4, 4], [], [], new Float32Array(48))).toThrow(/channels must be 3 \(RGB\) or 4 \(RGBA\), got 2/);
    expect(() => toInput({ ...img, height: 5 }, [3, 4, 4], [], [], new Float32Array(48))).toThrow(/needs 60 bytes, got 48/);
    expect(() => toInput(img, [3, 4, 4], [], [], new Float32Array(47))).toThrow(/output holds 47 floats, \[3, 4, 4\] needs 48/);
    expect(() => toInput(img, [1, 4, 4], [], [], new Float32Array(48))).toThrow(/takes 1 channels/);
    expect(() => toInput(img, [3, 4, 4], [0.5], [], new Float32Array(48))).toThrow(/mean must have 0 or 3 values, got 1/);
  });
});
