// RowResizer (rows pushed one at a time) against resizeInto (the whole image): the same float32
// values bit for bit, for shrinking, enlarging, mixed and tall images; ScatterResizer to float rounding.
import { describe, it, expect } from 'vitest';
import { toInput, axisWeights } from '../../src/model/image.js';
import { RowResizer, ScatterResizer, areaTaps } from '../../src/model/row-resize.js';
import { rng } from '../util.js';

const MEAN = [0.4914, 0.4822, 0.4465];
const STD = [0.247, 0.2435, 0.2616];

function randomImage(w: number, h: number, k: 3 | 4, seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: w * h * k }, () => Math.floor(r() * 256));
}

describe('RowResizer', () => {
  for (const [w, h, W, H, k] of [[97, 61, 32, 32, 3], [32, 32, 32, 32, 4], [20, 9, 32, 32, 3], [300, 7, 32, 32, 4], [5, 700, 16, 24, 3], [1000, 999, 32, 32, 3]] as const) {
    it(`${w}x${h} (${k} channels) -> ${W}x${H}: the same float32 bits as resizeInto`, () => {
      const data = randomImage(w, h, k, w * 31 + h);
      const ref = new Float32Array(3 * H * W), got = new Float32Array(3 * H * W);
      // a same-size image takes toInput's lookup-table path, not resizeInto: compare to that too
      toInput({ data, width: w, height: h, channels: k }, [3, H, W], MEAN, STD, ref);
      const rs = new RowResizer(w, h, W, H);
      for (let y = 0; y < h; y++) rs.pushRow(data, k, y * w * k);
      rs.finish(MEAN, STD, got);
      if (w === W && h === H) {
        for (let i = 0; i < ref.length; i++) expect(Math.abs(got[i] - ref[i])).toBeLessThan(1e-6);
      } else {
        expect(Buffer.from(got.buffer).equals(Buffer.from(ref.buffer))).toBe(true);
      }
    });
  }

  it('areaTaps gives axisWeights\'s taps, weight for weight', () => {
    for (const [src, dst] of [[97, 32], [4096, 32], [1000, 999], [33, 32], [65535, 7]]) {
      const aw = axisWeights(src, dst);
      const fromTaps: [number, number, number][] = [];
      for (let j = 0; j < src; j++) areaTaps(j, src, dst, (i, w) => fromTaps.push([i, j, w]));
      const ref: [number, number, number][] = [];
      for (let i = 0; i < dst; i++) for (let t = aw.start[i]; t < aw.start[i + 1]; t++) ref.push([i, aw.idx[t], aw.w[t]]);
      fromTaps.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      expect(fromTaps).toEqual(ref);
    }
  });

  it('refuses rows past the declared height, and finishing early', () => {
    const rs = new RowResizer(2, 1, 1, 1);
    expect(() => new RowResizer(2, 2, 1, 1).finish([], [], new Float32Array(3))).toThrow(/1 of 2|0 of 2/);
    rs.pushRow(new Uint8Array(6), 3);
    expect(() => rs.pushRow(new Uint8Array(6), 3)).toThrow(/past the 1 rows/);
  });
});

describe('ScatterResizer', () => {
  it('pixels in any order give resizeInto\'s values to float32 rounding', () => {
    const w = 203, h = 157, W = 32, H = 32;
    const data = randomImage(w, h, 3, 7);
    const ref = new Float32Array(3 * H * W), got = new Float32Array(3 * H * W);
    toInput({ data, width: w, height: h, channels: 3 }, [3, H, W], MEAN, STD, ref);
    const sr = new ScatterResizer(w, h, W, H);
    for (let x = w - 1; x >= 0; x--) for (let y = 0; y < h; y++) sr.addPixel(x, y, data, 3 * (y * w + x));
    sr.finish(MEAN, STD, got);
    for (let i = 0; i < ref.length; i++) expect(Math.abs(got[i] - ref[i])).toBeLessThanOrEqual(4 * 2 ** -23 * Math.max(1, Math.abs(ref[i])));
  });
});
