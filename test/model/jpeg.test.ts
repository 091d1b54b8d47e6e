// JPEG baseline: the reused encoder matches jpeg-js byte for byte, marker accounting adds up to
// the file, the stripped size is exactly the scan data + EOI, and damaged streams are refused.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { jpegEncode, jpegStrippedBytes, parseJpeg, JpegError } from '../../src/model/jpeg.js';
import { decodeImage } from '../../src/model/image.js';
import type { RawImage } from '../../src/model/api.js';
import { rng } from '../util.js';

const cat = decodeImage(readFileSync(new URL('../../samples/cat.jpg', import.meta.url)));

function noise(w: number, h: number, seed: number): RawImage {
  const r = rng(seed);
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
  return { data, width: w, height: h, channels: 3 };
}

describe('jpegEncode', () => {
  it('writes the same bytes as jpeg.encode at every quality, RGB and RGBA input', () => {
    const rgba = new Uint8Array(32 * 32 * 4);
    for (let i = 0; i < 32 * 32; i++) rgba.set([cat.data[3 * i], cat.data[3 * i + 1], cat.data[3 * i + 2], 255], 4 * i);
    for (const q of [1, 5, 50, 95, 100]) {
      const ref = jpeg.encode({ data: rgba, width: 32, height: 32 }, q).data;
      expect(Buffer.from(jpegEncode(cat, q)).equals(ref)).toBe(true);
      expect(Buffer.from(jpegEncode({ data: rgba, width: 32, height: 32, channels: 4 }, q)).equals(ref)).toBe(true);
    }
  });

  it('decodes back close to the input, closer at higher quality', () => {
    const err = (q: number): number => {
      const back = jpeg.decode(jpegEncode(cat, q), { useTArray: true, formatAsRGBA: false });
      expect([back.width, back.height]).toEqual([32, 32]);
      let s = 0;
      for (let i = 0; i < back.data.length; i++) s += Math.abs(back.data[i] - cat.data[i]);
      return s / back.data.length;
    };
    const e10 = err(10), e90 = err(90);
    expect(e90).toBeLessThan(3);
    expect(e10).toBeGreaterThan(e90);
  });

  it('grows with quality', () => {
    const sizes = [5, 25, 50, 75, 95].map((q) => jpegEncode(cat, q).length);
    for (let i = 1; i < sizes.length; i++) expect(sizes[i]).toBeGreaterThan(sizes[i - 1]);
  });

  it('refuses bad quality and bad pixels', () => {
    expect(() => jpegEncode(cat, 0)).toThrow(/quality must be an integer 1..100, got 0/);
    expect(() => jpegEncode(cat, 50.5)).toThrow(JpegError);
    expect(() => jpegEncode({ ...cat, width: 31 }, 50)).toThrow(/needs 2976 bytes, got 3072/);
  });
});

describe('parseJpeg', () => {
  it('finds SOI, APP0, DQT, SOF0, DHT, SOS, ECS, EOI and the pieces sum to the file', () => {
    for (const [img, q] of [[cat, 50], [noise(17, 9, 1), 90], [noise(40, 24, 2), 5]] as const) {
      const file = jpegEncode(img, q);
      const l = parseJpeg(file);
      const names = l.segments.map((s) => s.name);
      expect(names[0]).toBe('SOI');
      expect(names.at(-1)).toBe('EOI');
      for (const m of ['APP0', 'DQT', 'SOF0', 'DHT', 'SOS', 'ECS']) expect(names).toContain(m);
      expect(names.indexOf('DQT')).toBeLessThan(names.indexOf('SOS'));
      expect(names.indexOf('ECS')).toBe(names.indexOf('SOS') + 1);
      expect(l.segments.reduce((a, s) => a + s.bytes, 0)).toBe(file.length);
      // contiguous: each piece starts where the previous one ends
      for (let i = 1; i < l.segments.length; i++) expect(l.segments[i].offset).toBe(l.segments[i - 1].offset + l.segments[i - 1].bytes);
      expect([l.width, l.height, l.components, l.frameType]).toEqual([img.width, img.height, 3, 0xc0]);
      const ecs = l.segments.find((s) => s.name === 'ECS')!;
      expect(l.entropyBytes).toBe(ecs.bytes);
      expect(jpegStrippedBytes(file)).toBe(ecs.bytes + 2);
      // the scan data is followed directly by EOI
      expect([file[ecs.offset + ecs.bytes], file[ecs.offset + ecs.bytes + 1]]).toEqual([0xff, 0xd9]);
    }
  });

  it('counts the header of a jpeg-js file exactly: 2 + 18 + 134 + 19 + 420 + 14', () => {
    // SOI; APP0 JFIF (16 + marker); DQT with both tables (2 x 65 + 2 + 2); SOF0 3 components
    // (8 + 3 x 3 + marker); DHT with all four standard tables (2 + 2 + 4 x 17 + 12 + 162 + 12 + 162);
    // SOS 3 components (6 + 2 x 3 + marker)
    const l = parseJpeg(jpegEncode(cat, 75));
    const sizes = Object.fromEntries(l.segments.filter((s) => s.marker >= 0).map((s) => [s.name, s.bytes]));
    expect(sizes).toEqual({ SOI: 2, APP0: 18, DQT: 134, SOF0: 19, DHT: 420, SOS: 14, EOI: 2 });
  });

  it('counts stuffing, RST markers and trailing bytes', () => {
    // hand-made stream: SOI, SOF0 (1 component 8x8), SOS, scan with FF00 and RST0, EOI, 3 junk bytes
    const sof = [0xff, 0xc0, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0];
    const sos = [0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0];
    const scan = [0x12, 0xff, 0x00, 0x34, 0xff, 0xd0, 0x56];
    const file = Uint8Array.from([0xff, 0xd8, ...sof, ...sos, ...scan, 0xff, 0xd9, 1, 2, 3]);
    const l = parseJpeg(file);
    expect(l.segments.map((s) => [s.name, s.bytes])).toEqual([['SOI', 2], ['SOF0', 13], ['SOS', 10], ['ECS', 7], ['EOI', 2], ['TRAILER', 3]]);
    expect(l.entropyBytes).toBe(7);
    expect(jpegStrippedBytes(file)).toBe(9);
    expect([l.width, l.height, l.components]).toEqual([8, 8, 1]);
  });

  it('refuses damaged streams with a message saying where', () => {
    const file = jpegEncode(cat, 50);
    expect(() => parseJpeg(file.subarray(0, file.length - 2))).toThrow(/no EOI or marker after it/);
    expect(() => parseJpeg(file.subarray(0, 100))).toThrow(/runs past the end/);
    expect(() => parseJpeg(Uint8Array.of(0x89, 0x50, 0x4e, 0x47))).toThrow(/no SOI marker/);
    const bad = Uint8Array.from(file);
    bad[2 + 18] = 0x00; // where DQT's marker should start
    expect(() => parseJpeg(bad)).toThrow(/expected a marker at byte 20/);
    expect(() => parseJpeg(Uint8Array.of(0xff, 0xd8, 0xff, 0xd9))).toThrow(/no SOF/);
  });
});
