// Damaged files through the bounded decoders: every one is decoded or refused with an ImageError,
// never a TypeError/RangeError from inside a decoder, and never slowly.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { ImageError } from '../../src/model/image.js';
import { decodeBoundedInto } from '../../src/model/bounded-image.js';
import { makePng } from './png-make.js';
import { rng } from '../util.js';

const FIX = new URL('../fixtures/jpeg/', import.meta.url);

describe('bounded decoders on damaged files', () => {
  it('1500 mutations (bytes replaced, bits flipped, 0xFF inserted, truncation): decoded or ImageError', () => {
    const files: Uint8Array[] = readdirSync(FIX).map((f) => new Uint8Array(readFileSync(new URL(f, FIX))));
    files.push(makePng({ width: 60, height: 40, colorType: 2, depth: 8, samples: (x, y, c) => (x * y + c) & 255 }));
    files.push(makePng({ width: 60, height: 40, colorType: 3, depth: 4, interlace: true, palette: Array.from({ length: 48 }, (_, i) => i * 5), samples: (x, y) => (x + y) & 15 }));
    const r = rng(2024);
    const out = new Float32Array(3 * 32 * 32);
    const counts = { decoded: 0, refused: 0 };
    for (let n = 0; n < 1500; n++) {
      const b = files[n % files.length].slice();
      for (let i = 0, k = 1 + Math.floor(r() * 4); i < k; i++) {
        const at = Math.floor(r() * b.length), m = r();
        if (m < 0.5) b[at] = Math.floor(r() * 256);
        else if (m < 0.7) b[at] ^= 1 << Math.floor(r() * 8);
        else b[at] = 0xff;
      }
      const input = r() < 0.1 ? b.subarray(0, Math.floor(r() * b.length)) : b;
      try {
        decodeBoundedInto(input, [32, 32], [], [], out, { fullDecodeMaxPixels: 0 });
        counts.decoded++;
      } catch (e) {
        if (!(e instanceof ImageError)) throw new Error(`mutation ${n}: ${(e as Error).name}: ${(e as Error).message}`);
        counts.refused++;
      }
    }
    // both outcomes occur, so the mutations reach the decoders and not only the header checks
    expect(counts.decoded).toBeGreaterThan(100);
    expect(counts.refused).toBeGreaterThan(100);
  }, 120_000);
});
