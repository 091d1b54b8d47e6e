/**
 * Loads the kernel module (SIMD or scalar build) and manages its memory.
 *
 *   const eng = loadEngine();                 // picks SIMD when WebAssembly.validate says so
 *   const eng2 = loadEngine({ build: 'scalar' });
 *   const a = new Arena(eng);
 *   const x = a.allocF32(1024);               // byte offset into eng.memory
 *   eng.f32().set(data, x >> 2);
 *
 * The module imports nothing; memory is exported and grows only through
 * Arena.reserve(), so views stay valid between reserves (rebuilt on demand).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { align } from '../util.js';

export type Build = 'simd' | 'scalar';

const PAGE = 65536;
const SLOT_BYTES = 1024;

/** Every export of assembly/index.ts. Kernels take one pointer to their params struct. */
export interface KernelExports {
  memory: WebAssembly.Memory;
  heap_base(): number;
  has_simd(): number;
  [kernel: string]: unknown;
}

// Smallest module using a v128 op: if it validates, the runtime runs WASM SIMD.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

export function simdSupported(): boolean {
  return WebAssembly.validate(SIMD_PROBE);
}

function findBuildDir(): string {
  // The package root is the nearest folder above this file holding build/: two levels up from
  // src/engine/wasm.ts (tests, tsx), three from dist/src/engine/wasm.js (installed), one from a
  // bundle in a folder of the root (bench/see.bench.ts's child processes).
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 4; up++) {
    dir = dirname(dir);
    try {
      readFileSync(join(dir, 'build', 'scalar.wasm'), { flag: 'r' });
      return join(dir, 'build');
    } catch {
      /* try the next level */
    }
  }
  throw new Error('slimsplit: build/scalar.wasm not found; run `npm run asbuild`');
}

const moduleCache = new Map<Build, WebAssembly.Module>();

export function wasmBytes(build: Build): Uint8Array<ArrayBuffer> {
  return new Uint8Array(readFileSync(join(findBuildDir(), `${build}.wasm`)));
}

interface Views {
  f32: Float32Array;
  i32: Int32Array;
  u8: Uint8Array;
  u16: Uint16Array;
}

export class Engine {
  readonly build: Build;
  readonly exports: KernelExports;
  readonly memory: WebAssembly.Memory;
  private _views: Views | null = null;

  /** A fixed 1 KiB slot above heap_base for the params struct of a direct kernel call. */
  readonly slot: number;
  /** First byte an Arena may use (after the call slot). */
  readonly arenaBase: number;

  constructor(build: Build, instance: WebAssembly.Instance) {
    this.build = build;
    this.exports = instance.exports as unknown as KernelExports;
    this.memory = this.exports.memory;
    this.slot = align(this.exports.heap_base(), 64);
    this.arenaBase = this.slot + SLOT_BYTES;
  }

  /** Write `words` (a params struct) into the call slot and run kernel `name` on it. */
  call(name: string, words: Int32Array): void {
    if (words.length * 4 > SLOT_BYTES) throw new Error(`slimsplit: params for '${name}' exceed the ${SLOT_BYTES}-byte call slot`);
    this.i32().set(words, this.slot >> 2);
    this.kernel(name)(this.slot);
  }

  /** Typed views of memory, made again when a grow has replaced (detached) the buffer. */
  private views(): Views {
    const b = this.memory.buffer;
    if (this._views === null || this._views.u8.buffer !== b) {
      this._views = { f32: new Float32Array(b), i32: new Int32Array(b), u8: new Uint8Array(b), u16: new Uint16Array(b) };
    }
    return this._views;
  }
  f32(): Float32Array {
    return this.views().f32;
  }
  i32(): Int32Array {
    return this.views().i32;
  }
  u8(): Uint8Array {
    return this.views().u8;
  }
  u16(): Uint16Array {
    return this.views().u16;
  }
  /** A kernel export by name, typed as (paramsPtr) => void. */
  kernel(name: string): (p: number) => void {
    const f = this.exports[name];
    if (typeof f !== 'function') throw new Error(`slimsplit: kernel module (${this.build}) has no export '${name}'`);
    return f as (p: number) => void;
  }
}

export interface LoadOptions {
  /** 'auto' (default) picks SIMD when the runtime validates it. */
  build?: Build | 'auto';
}

export function loadEngine(opts: LoadOptions = {}): Engine {
  const want = opts.build ?? 'auto';
  const build: Build = want === 'auto' ? (simdSupported() ? 'simd' : 'scalar') : want;
  if (build === 'simd' && !simdSupported()) throw new Error('slimsplit: this runtime has no WebAssembly SIMD; use the scalar build');
  let mod = moduleCache.get(build);
  if (!mod) {
    mod = new WebAssembly.Module(wasmBytes(build));
    moduleCache.set(build, mod);
  }
  return new Engine(build, new WebAssembly.Instance(mod, {}));
}


/**
 * Bump allocator over the module's memory, above heap_base(). Sized once at
 * load (reserve) so nothing is allocated per inference; mark()/release() let a
 * caller take scratch space and give it back.
 */
export class Arena {
  readonly eng: Engine;
  readonly base: number;
  private top: number;

  constructor(eng: Engine) {
    this.eng = eng;
    this.base = eng.arenaBase;
    this.top = this.base;
  }
  get used(): number {
    return this.top - this.base;
  }
  /** Grow memory so that `bytes` more can be allocated without another grow. */
  reserve(bytes: number): void {
    const need = this.top + bytes;
    const have = this.eng.memory.buffer.byteLength;
    if (need > have) this.eng.memory.grow(Math.ceil((need - have) / PAGE));
  }
  alloc(bytes: number, alignment = 16): number {
    const p = align(this.top, alignment);
    this.top = p + bytes;
    this.reserve(0);
    return p;
  }
  allocF32(n: number): number {
    return this.alloc(n * 4);
  }
  mark(): number {
    return this.top;
  }
  release(mark: number): void {
    if (mark < this.base || mark > this.top) throw new Error('slimsplit: arena release past its mark');
    this.top = mark;
  }
}
