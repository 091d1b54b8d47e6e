/**
 * Argument checks and word packing for the TS twins of the kernels (instnorm, se, pool,
 * groupsum, upsample, quant). Every message names the op, the field and the bad value.
 *
 *   import { posInt, ptr, packWords } from './check.js';
 *   posInt('gap', 'C', args.C);
 *   ptr('gap', 'x', args.x);
 *   const words = packWords([args.x, args.y, { f: 1e-5 }]);   // { f } is an f32 stored in place
 *
 * Pointers are byte offsets into the engine's memory; 0 means "absent" for optional ones, so a
 * required pointer must be non-zero (heap_base is never 0).
 */
import type { Engine } from '../wasm.js';

export function posInt(op: string, what: string, v: number): number {
  if (!Number.isInteger(v) || v < 1 || v > 0x7fffffff) throw new Error(`slimsplit: ${op} ${what} must be a positive integer, got ${v}`);
  return v;
}

export function intIn(op: string, what: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`slimsplit: ${op} ${what} must be an integer in ${lo}..${hi}, got ${v}`);
  return v;
}

/** An active count: defaults to `full`, must lie in 1..full. */
export function active(op: string, what: string, v: number | undefined, full: number, fullName: string): number {
  const a = v ?? full;
  if (!Number.isInteger(a) || a < 1 || a > full) throw new Error(`slimsplit: ${op} ${what} must be an integer in 1..${fullName} (${full}), got ${a}`);
  return a;
}

/** A required pointer (non-zero, `align`-byte aligned), or an optional one (undefined/0 = absent). */
export function ptr(op: string, what: string, v: number | undefined, opts: { optional?: boolean; align?: number } = {}): number {
  const align = opts.align ?? 4;
  if (v === undefined || v === 0) {
    if (opts.optional) return 0;
    throw new Error(`slimsplit: ${op} pointer ${what} is required (got ${v})`);
  }
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff || v % align !== 0) {
    throw new Error(`slimsplit: ${op} pointer ${what}=${v} must be a non-negative multiple of ${align}`);
  }
  return v;
}

/** Throws unless [p, p + bytes) lies inside the engine's memory (p = 0: absent, skipped). */
export function inMemory(eng: Engine, op: string, what: string, p: number, bytes: number): void {
  const size = eng.memory.buffer.byteLength;
  if (p !== 0 && p + bytes > size) throw new Error(`slimsplit: ${op} ${what} [${p}, ${p + bytes}) runs past the end of memory (${size} bytes)`);
}

/** Throws if two byte ranges overlap (for kernels whose output must not alias an input). */
export function disjoint(op: string, a: [string, number, number], b: [string, number, number]): void {
  const [na, pa, la] = a, [nb, pb, lb] = b;
  if (pa < pb + lb && pb < pa + la) throw new Error(`slimsplit: ${op} ${na} [${pa}, ${pa + la}) overlaps ${nb} [${pb}, ${pb + lb})`);
}

export function finiteF32(op: string, what: string, v: number, opts: { positive?: boolean } = {}): number {
  const f = Math.fround(v);
  if (!Number.isFinite(f) || (opts.positive && !(f > 0))) {
    throw new Error(`slimsplit: ${op} ${what} must be a finite${opts.positive ? ' positive' : ''} f32, got ${v}`);
  }
  return f;
}

export function actCodeOk(op: string, v: number | undefined): number {
  return intIn(op, 'act', v ?? 0, 0, 6);
}

/** Params words: numbers are i32 (pointers as u32), `{ f }` an f32 stored in place. */
export function packWords(words: Array<number | { f: number }>): Int32Array {
  const out = new Int32Array(words.length);
  const f32 = new Float32Array(out.buffer);
  words.forEach((w, i) => {
    if (typeof w === 'number') out[i] = w | 0;
    else f32[i] = w.f;
  });
  return out;
}

/** x, y, C, H, W, cActive: the arguments of the per-channel map kernels (gap, upsample2x). */
export interface ChwArgs {
  /** input [C][H][W] */
  x: number;
  y: number;
  C: number;
  H: number;
  W: number;
  /** channels processed (a prefix); defaults to C */
  cActive?: number;
}

/** Their params struct: x, y, C, H, W, cActive (the layout assembly/pool.ts and upsample.ts read). */
export function chwWords(op: string, a: ChwArgs): Int32Array {
  const C = posInt(op, 'C', a.C);
  return packWords([ptr(op, 'x', a.x), ptr(op, 'y', a.y), C, posInt(op, 'H', a.H), posInt(op, 'W', a.W), active(op, 'cActive', a.cActive, C, 'C')]);
}
