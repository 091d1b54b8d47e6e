// SplitEncoder.encode(file bytes) picks its path from the header and runs the device path once:
// the bounded decoder straight into the input (encodeInput) or the whole decode (encode), never
// the first on an unfilled input and then the second. Each file's packet is the one
// encode(decodeImage(bytes)) gives, where the bounded path is bit-identical.
import { describe, it, expect, vi, afterEach, beforeAll } from 'vitest';
import jpeg from 'jpeg-js';
import { loadModel, decodeImage, type SplitEncoder } from '../../src/index.js';
import { DeviceCore } from '../../src/device/core.js';
import { FULL_DECODE_MAX_PIXELS, INTERLACED_PNG_FULL_DECODE_MAX_PIXELS, takesBounded } from '../../src/model/bounded-image.js';
import { makePng } from './png-make.js';

function gradientPng(width: number, height: number, interlace: boolean): Uint8Array {
  return makePng({ width, height, colorType: 2, depth: 8, interlace, samples: (x, y, c) => (c === 0 ? (x * 7 + y) & 255 : c === 1 ? (y * 5) & 255 : (x ^ y) & 255) });
}

function gradientJpeg(width: number, height: number): Uint8Array {
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const x = i % width, y = (i / width) | 0;
    rgba.set([(x * 255) / width, (y * 255) / height, ((x ^ y) & 64) * 3, 255], 4 * i);
  }
  return new Uint8Array(jpeg.encode({ data: rgba, width, height }, 85).data);
}

describe('SplitEncoder.encode on image files: one device pass', () => {
  let enc: SplitEncoder;
  beforeAll(async () => {
    enc = (await loadModel('see-cifar10')).encoder();
    enc.setMode({ members: 2, bits: 4 });
  });
  afterEach(() => vi.restoreAllMocks());

  /** encode(bytes) with the device's two entry points counted. */
  function encodeCounted(bytes: Uint8Array): { packet: Uint8Array; whole: number; input: number } {
    const whole = vi.spyOn(DeviceCore.prototype, 'encode');
    const input = vi.spyOn(DeviceCore.prototype, 'encodeInput');
    const packet = enc.encode(bytes);
    const counts = { whole: whole.mock.calls.length, input: input.mock.calls.length };
    vi.restoreAllMocks();
    return { packet, ...counts };
  }

  // 600x600 = 360,000 pixels: over FULL_DECODE_MAX_PIXELS, under the interlaced PNG threshold
  const mid = [600, 600] as const;
  it('the sizes below sit between the two thresholds', () => {
    expect(mid[0] * mid[1]).toBeGreaterThan(FULL_DECODE_MAX_PIXELS);
    expect(mid[0] * mid[1]).toBeLessThanOrEqual(INTERLACED_PNG_FULL_DECODE_MAX_PIXELS);
  });

  // interlaced: under its own threshold, decoded whole (encode); plain: the bounded decoder (encodeInput)
  it.each([
    { interlace: true, bounded: false, want: { whole: 1, input: 0 } },
    { interlace: false, bounded: true, want: { whole: 0, input: 1 } },
  ])('a 600x600 PNG, interlaced $interlace: the device path runs once ($want)', ({ interlace, bounded, want }) => {
    const file = gradientPng(mid[0], mid[1], interlace);
    expect(takesBounded(file)).toBe(bounded);
    const r = encodeCounted(file);
    expect({ whole: r.whole, input: r.input }).toEqual(want);
    expect(Buffer.from(r.packet).equals(Buffer.from(enc.encode(decodeImage(file))))).toBe(true);
  }, 60_000);

  it('a large JPEG: bounded decode, once; a small one: decoded whole, once', () => {
    const big = gradientJpeg(mid[0], mid[1]);
    const rb = encodeCounted(big);
    expect({ whole: rb.whole, input: rb.input }).toEqual({ whole: 0, input: 1 });
    expect(Buffer.from(rb.packet).equals(Buffer.from(enc.encode(decodeImage(big))))).toBe(true);
    const small = gradientJpeg(64, 48);
    const rs = encodeCounted(small);
    expect({ whole: rs.whole, input: rs.input }).toEqual({ whole: 1, input: 0 });
    expect(Buffer.from(rs.packet).equals(Buffer.from(enc.encode(decodeImage(small))))).toBe(true);
  }, 60_000);
});
