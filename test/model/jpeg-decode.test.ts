// The bounded JPEG decoder against jpeg-js + resizeInto (the old path): byte-identical model input
// at full scale for every layout the fixtures hold (4:2:0, 4:2:2, 4:4:0, 4:1:1, grey, restarts,
// optimized tables, progressive, three sequential scans, Adobe RGB); at 1/8 scale within a measured
// bound and with the same class; and the size check that refuses forged headers.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { decodeImage, toInput, ImageError } from '../../src/model/image.js';
import { decodeBoundedInto } from '../../src/model/bounded-image.js';
import { jpegHeader, jpegMinDataBytes } from '../../src/model/jpeg-decode.js';
import { loadModel } from '../../src/model/model.js';
import type { RawImage } from '../../src/model/api.js';
import { forgeJpegSize } from './jpeg-forge.js';

const FIX = new URL('../fixtures/jpeg/', import.meta.url);
const SAMPLES = new URL('../../samples/', import.meta.url);
const MEAN = [0.4914, 0.4822, 0.4465];
const STD = [0.247, 0.2435, 0.2616];

function oldPath(bytes: Uint8Array, H: number, W: number): Float32Array {
  return toInput(decodeImage(bytes), [3, H, W], MEAN, STD, new Float32Array(3 * H * W));
}

function bounded(bytes: Uint8Array, H: number, W: number, opts: Parameters<typeof decodeBoundedInto>[5] = {}): { out: Float32Array; path: string } {
  const out = new Float32Array(3 * H * W);
  const r = decodeBoundedInto(bytes, [H, W], MEAN, STD, out, { fullDecodeMaxPixels: 0, ...opts });
  if (!r) throw new Error('bounded path not taken');
  return { out, path: r.path };
}

/** Largest difference in 0..255 pixel units between two normalized inputs. */
function maxPixelDiff(a: Float32Array, b: Float32Array, hw: number): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) * STD[Math.floor(i / hw)] * 255);
  return m;
}

function bigImage(w: number, h: number, src: RawImage): Uint8Array {
  // a photo upscaled (bilinear) to w x h, encoded at quality 90 4:4:4 by jpeg-js
  const rgba = new Uint8Array(w * h * 4);
  const k = src.channels;
  for (let y = 0; y < h; y++) {
    const fy = Math.min(Math.max(((y + 0.5) * src.height) / h - 0.5, 0), src.height - 1), y0 = Math.floor(fy), y1 = Math.min(y0 + 1, src.height - 1), ty = fy - y0;
    for (let x = 0; x < w; x++) {
      const fx = Math.min(Math.max(((x + 0.5) * src.width) / w - 0.5, 0), src.width - 1), x0 = Math.floor(fx), x1 = Math.min(x0 + 1, src.width - 1), tx = fx - x0;
      for (let c = 0; c < 3; c++) {
        const v = (1 - ty) * ((1 - tx) * src.data[(y0 * src.width + x0) * k + c] + tx * src.data[(y0 * src.width + x1) * k + c]) + ty * ((1 - tx) * src.data[(y1 * src.width + x0) * k + c] + tx * src.data[(y1 * src.width + x1) * k + c]);
        rgba[(y * w + x) * 4 + c] = Math.round(v);
      }
      rgba[(y * w + x) * 4 + 3] = 255;
    }
  }
  return new Uint8Array(jpeg.encode({ data: rgba, width: w, height: h }, 90).data);
}

describe('bounded JPEG decode at full scale', () => {
  const files = readdirSync(FIX).filter((f) => f.endsWith('.jpg') && f !== 'prog444-restart.jpg');
  it('has the fixtures', () => expect(files.length).toBeGreaterThanOrEqual(10));
  for (const f of files) {
    for (const [H, W] of [[32, 32], [20, 50]]) {
      it(`${f} -> ${W}x${H}: the same input bits as jpeg-js + resizeInto`, () => {
        const bytes = new Uint8Array(readFileSync(new URL(f, FIX)));
        const { out, path } = bounded(bytes, H, W);
        expect(path).toBe('full');
        expect(Buffer.from(out.buffer).equals(Buffer.from(oldPath(bytes, H, W).buffer))).toBe(true);
      });
    }
  }

  it('progressive 4:4:4 with restart intervals, which jpeg-js fails on: close to the same picture in baseline 4:2:0', () => {
    const bytes = new Uint8Array(readFileSync(new URL('prog444-restart.jpg', FIX)));
    expect(() => decodeImage(bytes)).toThrow(ImageError);
    const { out, path } = bounded(bytes, 32, 32);
    expect(path).toBe('full');
    const ref = oldPath(new Uint8Array(readFileSync(new URL('base420.jpg', FIX))), 32, 32);
    // two encodings of one source (quality 92 4:4:4, quality 85 4:2:0) differ by a few levels
    expect(maxPixelDiff(out, ref, 32 * 32)).toBeLessThan(8);
  });

  it('a progressive file over the coefficient budget goes to 1/8 scale', () => {
    const bytes = new Uint8Array(readFileSync(new URL('prog420.jpg', FIX)));
    expect(bounded(bytes, 32, 32, { coefBudget: 0 }).path).toBe('dc');
  });

  it('jpeg-js 4:4:4 files of odd sizes (restart-free, one scan): identical', () => {
    const cat = decodeImage(new Uint8Array(readFileSync(new URL('cat.jpg', SAMPLES))));
    for (const [w, h] of [[131, 77], [640, 480], [33, 1200]]) {
      const bytes = bigImage(w, h, cat);
      const { out } = bounded(bytes, 32, 32);
      expect(Buffer.from(out.buffer).equals(Buffer.from(oldPath(bytes, 32, 32).buffer))).toBe(true);
    }
  });
});

describe('bounded JPEG decode at 1/8 scale (DC terms only)', () => {
  it('on 768x768 versions of the ten samples: within 4 pixel levels of the full decode, the same class', async () => {
    const model = await loadModel('weights/see-cifar10.slim');
    const enc = model.encoder(), dec = model.decoder();
    const classOf = (x: Float32Array) => dec.decode(enc.encode({ data: toBytes(x), width: 32, height: 32, channels: 3 })).top1;
    const hw = 32 * 32;
    let worst = 0;
    for (const f of readdirSync(SAMPLES).filter((n) => n.endsWith('.jpg'))) {
      const big = bigImage(768, 768, decodeImage(new Uint8Array(readFileSync(new URL(f, SAMPLES)))));
      const ref = oldPath(big, 32, 32);
      const { out, path } = bounded(big, 32, 32, { dcOnly: true });
      expect(path).toBe('dc');
      worst = Math.max(worst, maxPixelDiff(out, ref, hw));
      expect(classOf(out), f).toBe(classOf(ref));
    }
    // the bound leaves room for content with harder edges (docs/MEMORY.md)
    console.log(`1/8 scale vs full decode, 768x768 samples: max ${worst.toFixed(3)} pixel levels`);
    expect(worst).toBeLessThan(4);
    expect(worst).toBeGreaterThan(0);
  }, 120_000);
});

/** A normalized input back to RGB bytes (rounded), to classify it through the public API. */
function toBytes(x: Float32Array): Uint8Array {
  const hw = 32 * 32, d = new Uint8Array(hw * 3);
  for (let i = 0; i < hw; i++) for (let c = 0; c < 3; c++) d[3 * i + c] = Math.max(0, Math.min(255, Math.round((x[c * hw + i] * STD[c] + MEAN[c]) * 255)));
  return d;
}

describe('JPEG size check', () => {
  const cat = new Uint8Array(readFileSync(new URL('cat.jpg', SAMPLES)));
  const forge = (w: number, h: number): Uint8Array => forgeJpegSize(cat, w, h);

  it('counts 2 bits per block for a sequential frame, 1 for a progressive one', () => {
    const h = jpegHeader(forge(4096, 4096))!;
    expect(h.components.map((c) => [c.h, c.v])).toEqual([[2, 2], [1, 1], [1, 1]]);
    // 4:2:0: 512*512 luma blocks + 2 * 256*256 chroma blocks, 2 bits each
    expect(jpegMinDataBytes(h)).toBe(((512 * 512 + 2 * 256 * 256) * 2) / 8);
    expect(jpegMinDataBytes({ ...h, sof: 0xc2 })).toBe(((512 * 512 + 2 * 256 * 256) * 1) / 8);
    expect(jpegMinDataBytes({ ...h, sof: 0xc9 })).toBe(0); // arithmetic coding: not bounded here
  });

  it('every real file passes it, the forged 927-byte 4096x4096 file does not, before jpeg-js runs', () => {
    for (const f of readdirSync(FIX)) {
      const b = new Uint8Array(readFileSync(new URL(f, FIX)));
      expect(b.length).toBeGreaterThanOrEqual(jpegMinDataBytes(jpegHeader(b)!));
    }
    const forged = forge(4096, 4096);
    for (const run of [() => decodeImage(forged), () => oldPath(forged, 32, 32)]) {
      let err: unknown;
      try { run(); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(ImageError);
      expect((err as ImageError).code).toBe('corrupt');
      expect((err as Error).message).toMatch(/4096x4096 frame needs at least 98304 bytes of scan data, the whole file has 927; it is truncated or its header is forged/);
    }
    // small enough to hold: decoded as before (cat at its own size)
    expect(decodeImage(forge(32, 32)).width).toBe(32);
  });
});
