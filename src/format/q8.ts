/**
 * q8 weight storage (docs/FORMAT.md, "Tensor storage"): int8 codes per row of shape[0], one f32
 * scale per row, expanded to f32 after the data section when a blob is loaded.
 */
import type { TensorInfo } from '../engine/plan/graph.js';
import { align } from '../util.js';
import { TENSOR_ALIGN } from './schema.js';
import { fail } from './fields.js';

const Q8_MAX = 127;

/** Bytes a q8 tensor of `n` values in `rows` rows takes in the file: f32 scales, then int8 codes. */
export function q8StoredBytes(rows: number, n: number): number {
  return 4 * rows + n;
}

// Ties to even, as torch.round and numpy round, so an exporter's fake quantization agrees.
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The stored q8 form of f32 values (little-endian bytes or a Float32Array) in `rows` rows:
 * scale_r = f32(max|w_r| / 127), code = clamp(round(w / scale_r), -127, 127); a row whose scale
 * is 0 keeps zero codes.
 */
export function quantizeQ8(values: ArrayBufferView, rows: number, what = 'q8 tensor'): Uint8Array {
  const src = new DataView(values.buffer, values.byteOffset, values.byteLength);
  const n = values.byteLength / 4, cols = n / rows;
  if (!Number.isInteger(n) || !Number.isInteger(cols)) fail('shape', `${what}: ${values.byteLength} bytes are not ${rows} rows of f32`);
  const out = new Uint8Array(q8StoredBytes(rows, n));
  const dv = new DataView(out.buffer);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let i = r * cols; i < (r + 1) * cols; i++) {
      const w = src.getFloat32(4 * i, true);
      if (!Number.isFinite(w)) fail('tensor', `${what} value ${i} is ${w}; q8 needs finite values`);
      max = Math.max(max, Math.abs(w));
    }
    const scale = Math.fround(max / Q8_MAX);
    dv.setFloat32(4 * r, scale, true);
    if (scale === 0) continue;
    for (let i = r * cols; i < (r + 1) * cols; i++) {
      const q = roundHalfEven(src.getFloat32(4 * i, true) / scale);
      dv.setInt8(4 * rows + i, Math.max(-Q8_MAX, Math.min(Q8_MAX, q)));
    }
  }
  checkQ8(what, out, rows, n);
  return out;
}

/**
 * A stored q8 form the loader accepts: every scale a finite f32 >= +0 whose 127-fold is finite
 * (so every expanded value is), codes in -127..127, and all-zero codes in a row of scale 0 (so
 * that a blob has one canonical form and expands to no -0).
 */
export function checkQ8(what: string, stored: Uint8Array, rows: number, n: number): void {
  const dv = new DataView(stored.buffer, stored.byteOffset, stored.byteLength);
  const cols = n / rows;
  for (let r = 0; r < rows; r++) {
    const bits = dv.getUint32(4 * r, true), s = dv.getFloat32(4 * r, true);
    if (bits >>> 31 || !Number.isFinite(Math.fround(Q8_MAX * s))) {
      fail('tensor', `${what} (q8) row ${r} scale ${s} (bits 0x${bits.toString(16).padStart(8, '0')}) must be a finite f32 >= +0 with 127 * scale finite`);
    }
    for (let i = r * cols; i < (r + 1) * cols; i++) {
      const c = dv.getInt8(4 * rows + i);
      if (c === -128) fail('tensor', `${what} (q8) code ${i} (row ${r}) is -128; codes are -127..127`);
      if (s === 0 && c !== 0) fail('tensor', `${what} (q8) row ${r} has scale 0 but code ${i} is ${c}; a zero row has zero codes`);
    }
  }
}

/** Writes a q8 tensor's f32 values into its expansion region: f32(code * scale_r). */
export function expandQ8(mem: Uint8Array, t: TensorInfo): void {
  const rows = t.shape[0], n = t.byteLength / 4, cols = n / rows;
  const scales = new DataView(mem.buffer, mem.byteOffset + t.storedOffset!, 4 * rows);
  const codes = new Int8Array(mem.buffer, mem.byteOffset + t.storedOffset! + 4 * rows, n);
  // mem is a fresh allocation and the region 16-byte aligned: a direct view; storing rounds to f32
  const out = new Float32Array(mem.buffer, mem.byteOffset + t.offset, n);
  for (let r = 0; r < rows; r++) {
    const s = scales.getFloat32(4 * r, true);
    for (let i = r * cols; i < (r + 1) * cols; i++) out[i] = codes[i] * s;
  }
}

/**
 * Places every q8 tensor's f32 expansion after the data section, in table order, each 16-byte
 * aligned; returns the expansion area's size. Plans point there, so this is part of the format.
 */
export function placeExpansions(tensors: TensorInfo[], dataBytes: number): number {
  let at = dataBytes;
  for (const t of tensors) {
    if (t.storage !== 'q8') continue;
    at = align(at, TENSOR_ALIGN);
    t.offset = at;
    at += t.byteLength;
  }
  return align(at, TENSOR_ALIGN) - dataBytes;
}
