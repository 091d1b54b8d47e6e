/**
 * Forged JPEG headers for tests and bench:memory: a real file whose SOF0 frame claims another size,
 * so that the size check (not the decoder) has to refuse it.
 *
 *   const forged = forgeJpegSize(readFileSync('samples/cat.jpg'), 4096, 4096);
 */

/** A copy of `jpeg` whose baseline frame header (SOF0) declares width x height; throws without one. */
export function forgeJpegSize(jpeg: Uint8Array, width: number, height: number): Uint8Array {
  const b = Uint8Array.from(jpeg);
  for (let p = 2; p + 9 < b.length; p += 2 + ((b[p + 2] << 8) | b[p + 3])) {
    if (b[p + 1] === 0xc0) {
      b[p + 5] = height >> 8;
      b[p + 6] = height & 255;
      b[p + 7] = width >> 8;
      b[p + 8] = width & 255;
      return b;
    }
  }
  throw new Error('forgeJpegSize: no SOF0 segment in the file');
}
