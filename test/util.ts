// Shared test helpers: both builds, a seeded RNG, named tolerances, guard words.
import { loadEngine, Arena, type Build, type Engine } from '../src/engine/wasm.js';

export const BUILDS: Build[] = ['simd', 'scalar'];

export function engines(): Array<[Build, Engine]> {
  return BUILDS.map((b) => [b, loadEngine({ build: b })]);
}

/** mulberry32: deterministic floats for weights and inputs. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

/** Normalized error: ||a - b||_2 / max(||b||_2, 1e-12). */
export function nerr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-12);
}

/** Max abs difference relative to (1 + |ref|), catching any single bad element. */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i]));
    if (!(e <= m)) m = Number.isNaN(e) ? Infinity : e;
  }
  return m;
}

export const TOL = {
  /** f32 kernels vs f64 reference, per element, relative to 1+|ref|. */
  f32: 1e-4,
  /** SIMD vs scalar builds (different summation order only). */
  builds: 1e-5,
} as const;

export const GUARD = 16; // floats of guard after each output buffer
export const GUARD_VALUE = -1234.5;

/** Allocate n floats plus guard words, filled with the guard value. */
export function allocGuarded(a: Arena, n: number): number {
  const p = a.allocF32(n + GUARD);
  a.eng.f32().fill(GUARD_VALUE, p >> 2, (p >> 2) + n + GUARD);
  return p;
}

export function guardsIntact(eng: Engine, p: number, n: number): boolean {
  const f = eng.f32();
  for (let i = 0; i < GUARD; i++) if (f[(p >> 2) + n + i] !== GUARD_VALUE) return false;
  return true;
}

export function put(eng: Engine, a: Arena, data: Float32Array): number {
  const p = a.allocF32(data.length);
  eng.f32().set(data, p >> 2);
  return p;
}

export function read(eng: Engine, p: number, n: number): Float32Array {
  return eng.f32().slice(p >> 2, (p >> 2) + n);
}

/** Write a params struct (i32 words, floats given as {f: x}) and return its pointer. */
export function params(eng: Engine, a: Arena, words: Array<number | { f: number }>): number {
  const p = a.alloc(words.length * 4, 4);
  const i32 = eng.i32(), f32 = eng.f32();
  words.forEach((w, i) => {
    if (typeof w === 'number') i32[(p >> 2) + i] = w;
    else f32[(p >> 2) + i] = w.f;
  });
  return p;
}
