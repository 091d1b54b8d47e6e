// src/engine/wasm.ts: which build loadEngine picks, and how the Arena lays out and grows memory.
import { describe, it, expect, vi, afterEach } from 'vitest';
import { loadEngine, simdSupported, wasmBytes, Arena } from '../../src/engine/wasm.js';

const PAGE = 65536;

describe('build selection', () => {
  afterEach(() => vi.restoreAllMocks());

  it('loads the build asked for; auto picks SIMD exactly when the runtime validates it', () => {
    expect(simdSupported()).toBe(true); // Node >= 20 runs WASM SIMD
    const simd = loadEngine({ build: 'simd' }), scalar = loadEngine({ build: 'scalar' });
    expect([simd.build, simd.exports.has_simd()]).toEqual(['simd', 1]);
    expect([scalar.build, scalar.exports.has_simd()]).toEqual(['scalar', 0]);
    expect(loadEngine().build).toBe('simd');
    expect(Array.from(wasmBytes('scalar').subarray(0, 4))).toEqual([0, 97, 115, 109]);
  });

  it('without SIMD in the runtime: auto falls back to scalar, an explicit simd request is refused', () => {
    vi.spyOn(WebAssembly, 'validate').mockReturnValue(false);
    expect(simdSupported()).toBe(false);
    expect(loadEngine().build).toBe('scalar');
    expect(() => loadEngine({ build: 'simd' })).toThrow(/no WebAssembly SIMD; use the scalar build/);
  });

  it('each engine is its own instance with its own memory', () => {
    const a = loadEngine({ build: 'scalar' }), b = loadEngine({ build: 'scalar' });
    expect(a.memory).not.toBe(b.memory);
    a.u8()[a.arenaBase] = 7;
    expect(b.u8()[b.arenaBase]).toBe(0);
  });
});

describe('Arena', () => {
  it('allocates above the call slot, aligned, and counts what it handed out', () => {
    const eng = loadEngine({ build: 'scalar' });
    const a = new Arena(eng);
    expect(eng.arenaBase).toBe(eng.slot + 1024);
    expect(eng.slot % 64).toBe(0);
    const p = a.alloc(3, 1), q = a.alloc(8, 64), r = a.allocF32(5);
    expect(p).toBe(eng.arenaBase);
    expect(q % 64).toBe(0);
    expect(q).toBeGreaterThanOrEqual(p + 3);
    expect(r).toBe(q + 16); // default alignment 16
    expect(a.used).toBe(r + 20 - eng.arenaBase);
  });

  it('grows memory by whole pages when an allocation passes the end, keeping the bytes already written', () => {
    const eng = loadEngine({ build: 'scalar' });
    const a = new Arena(eng);
    const x = a.allocF32(4);
    eng.f32().set([1, 2, 3, 4], x >> 2);
    const before = eng.memory.buffer.byteLength, oldView = eng.f32();
    const big = a.alloc(before + 3 * PAGE + 5);
    const after = eng.memory.buffer.byteLength;
    expect(after % PAGE).toBe(0);
    expect(after).toBeGreaterThanOrEqual(big + before + 3 * PAGE + 5);
    expect(after - (big + before + 3 * PAGE + 5)).toBeLessThan(PAGE);
    expect(oldView.length).toBe(0); // the old buffer is detached by the grow
    expect(Array.from(eng.f32().subarray(x >> 2, (x >> 2) + 4))).toEqual([1, 2, 3, 4]);
    eng.u8()[big + before + 3 * PAGE + 4] = 9; // the last byte handed out is writable
  });

  it('reserve grows ahead of time so that later allocations do not grow (views stay valid)', () => {
    const eng = loadEngine({ build: 'scalar' });
    const a = new Arena(eng);
    a.reserve(5 * PAGE);
    const view = eng.u8(), size = eng.memory.buffer.byteLength;
    a.alloc(4 * PAGE);
    expect(eng.memory.buffer.byteLength).toBe(size);
    expect(eng.u8()).toBe(view);
  });

  it('mark/release hand scratch back; releasing past the mark is refused', () => {
    const eng = loadEngine({ build: 'scalar' });
    const a = new Arena(eng);
    a.alloc(100);
    const m = a.mark();
    const s = a.alloc(1000, 64);
    a.release(m);
    expect(a.alloc(1000, 64)).toBe(s);
    expect(() => a.release(a.mark() + 16)).toThrow(/arena release past its mark/);
    expect(() => a.release(eng.arenaBase - 16)).toThrow(/arena release past its mark/);
  });

  it('refuses a params struct larger than the call slot and names a missing kernel', () => {
    const eng = loadEngine({ build: 'scalar' });
    expect(() => eng.call('gap', new Int32Array(257))).toThrow(/params for 'gap' exceed the 1024-byte call slot/);
    expect(() => eng.kernel('no_such_kernel')).toThrow(/\(scalar\) has no export 'no_such_kernel'/);
  });
});
