import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Arena, type Engine, type Build } from '../../src/engine/wasm.js';
import { instnorm } from '../../src/engine/ops/instnorm.js';
import { se, seScratchBytes } from '../../src/engine/ops/se.js';
import { gap, maxpool } from '../../src/engine/ops/pool.js';
import { upsample2x } from '../../src/engine/ops/upsample.js';
import { groupsum } from '../../src/engine/ops/groupsum.js';
import { quantize, dequantize } from '../../src/engine/ops/quant.js';
import { matmul } from '../../src/engine/ops/matmul.js';
import { dwconv } from '../../src/engine/ops/dwconv.js';
import { conv2d, conv2dScratchBytes } from '../../src/engine/ops/conv2d.js';
import { engines } from '../util.js';

// Recomputes assembly/selftest.ts through the ordinary host calls: the same LCG draws in the
// same order, the same shapes, then FNV-1a over every output's bytes.

function fnv1a(chunks: Uint8Array[]): number {
  let h = 0x811c9dc5;
  for (const c of chunks) for (let i = 0; i < c.length; i++) h = Math.imul(h ^ c[i], 0x01000193) >>> 0;
  return h | 0;
}

interface Section { name: string; bytes: Uint8Array }

function hostSelfTest(eng: Engine): Section[] {
  const a = new Arena(eng);
  let seed = 12345;
  const next = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return Math.fround(((seed >>> 8) / 16777216) * 2 - 1);
  };
  const rand = (n: number, scale: number, offset: number) => {
    const p = a.allocF32(n), f = eng.f32(), s = Math.fround(scale), o = Math.fround(offset);
    for (let i = 0; i < n; i++) f[(p >> 2) + i] = Math.fround(Math.fround(next() * s) + o);
    return p;
  };
  const bytes = (p: number, n: number) => eng.u8().slice(p, p + n);
  const out: Section[] = [];
  {
    const x = rand(37, 4, 0), b = rand(37, 4, 0), y = a.allocF32(37);
    eng.call('add', Int32Array.of(x, b, y, 37, 2));
    out.push({ name: 'add', bytes: bytes(y, 37 * 4) });
  }
  {
    const x = rand(23, 5, 0);
    eng.call('act', Int32Array.of(x, 23, 3));
    out.push({ name: 'act', bytes: bytes(x, 23 * 4) });
  }
  {
    const x = rand(87, 3, 10), gamma = rand(3, 1, 1), beta = rand(3, 1, 0), y = a.allocF32(87);
    instnorm(eng, { x, y, C: 3, HW: 29, eps: 1e-5, gamma, beta, act: 4 });
    out.push({ name: 'instnorm', bytes: bytes(y, 87 * 4) });
  }
  {
    const x = rand(216, 2, 0), w1 = rand(24, 1, 0), b1 = rand(4, 1, 0), w2 = rand(24, 1, 0), b2 = rand(24, 1, 0);
    const shape = { C: 24, R: 4, groups: 4, H: 3, W: 3 };
    const y = a.allocF32(216), scratch = a.alloc(seScratchBytes(shape));
    se(eng, { ...shape, x, y, w1, b1, w2, b2, act: 1, groupsActive: 3, scratch });
    out.push({ name: 'se', bytes: bytes(y, 18 * 9 * 4) });
  }
  {
    const x = rand(125, 3, 1), y = a.allocF32(5);
    gap(eng, { x, y, C: 5, H: 5, W: 5 });
    out.push({ name: 'gap', bytes: bytes(y, 5 * 4) });
  }
  {
    const x = rand(198, 3, 0), y = a.allocF32(60);
    maxpool(eng, { x, y, C: 2, H: 9, W: 11, k: 3, stride: 2, pad: 1 });
    out.push({ name: 'maxpool', bytes: bytes(y, 60 * 4) });
  }
  {
    const x = rand(30, 1, 0), y = a.allocF32(120);
    upsample2x(eng, { x, y, C: 2, H: 3, W: 5 });
    out.push({ name: 'upsample2x', bytes: bytes(y, 120 * 4) });
  }
  {
    const x = rand(108, 2, 0), weights = rand(3, 1, 0), y = a.allocF32(36);
    groupsum(eng, { x, y, G: 3, C: 4, H: 3, W: 3, weights, gActive: 2 });
    out.push({ name: 'groupsum', bytes: bytes(y, 36 * 4) });
  }
  {
    const x = rand(45, 1.2, 0), q = a.alloc(48), y = a.allocF32(45);
    const f = eng.f32();
    f[(x >> 2) + 3] = NaN; f[(x >> 2) + 20] = Infinity; f[(x >> 2) + 33] = -Infinity;
    const qa = { n: 45, bits: 4, scale: 0.1, zeroPoint: 8 };
    quantize(eng, { ...qa, x, y: q });
    out.push({ name: 'quantize', bytes: bytes(q, 45) });
    dequantize(eng, { ...qa, x: q, y });
    out.push({ name: 'dequantize', bytes: bytes(y, 45 * 4) });
  }
  {
    const x = rand(66, 1, 0), w = rand(30, 0.5, 0), bias = rand(5, 0.2, 0), y = a.allocF32(55);
    matmul(eng, { x, w, y, bias, cin: 6, cout: 5, n: 11, act: 1 });
    out.push({ name: 'matmul', bytes: bytes(y, 55 * 4) });
  }
  {
    const x = rand(360, 1, 0), w = rand(36, 0.5, 0), bias = rand(4, 0.2, 0), y = a.allocF32(360);
    dwconv(eng, { x, w, y, bias, cin: 4, cout: 4, groups: 4, H: 9, W: 10, k: 3, stride: 1, pad: 'same', act: 2 });
    out.push({ name: 'dwconv', bytes: bytes(y, 360 * 4) });
  }
  {
    const x = rand(270, 1, 0), w = rand(216, 0.3, 0), bias = rand(8, 0.2, 0), scale = rand(8, 0.5, 1), shift = rand(8, 0.2, 0);
    const shape = { cin: 3, cout: 8, H: 9, W: 10, k: 3, stride: 2, pad: 'same' as const };
    const y = a.allocF32(200), scratch = a.alloc(conv2dScratchBytes(shape));
    conv2d(eng, { ...shape, x, w, y, bias, scale, shift, scratch, act: 3 });
    out.push({ name: 'conv2d', bytes: bytes(y, 200 * 4) });
  }
  return out;
}

function selfTest(eng: Engine): number {
  return (eng.kernel('self_test') as unknown as () => number)();
}

const all = engines();

describe.each(all)('self_test [%s]', (_b, eng) => {
  it('equals the checksum recomputed through the host calls', () => {
    expect(selfTest(eng)).toBe(fnv1a(hostSelfTest(eng).map((s) => s.bytes)));
  });

  it('is repeatable and leaves the host arena alone', () => {
    const a = new Arena(eng), p = a.allocF32(4096);
    const pattern = Float32Array.from({ length: 4096 }, (_, i) => i * 0.5 - 7);
    eng.f32().set(pattern, p >> 2);
    const v = selfTest(eng);
    expect(selfTest(eng)).toBe(v);
    expect(Array.from(eng.f32().subarray(p >> 2, (p >> 2) + 4096))).toEqual(Array.from(pattern));
  });
});

describe('self_test across builds', () => {
  const [[, simd], [, scalar]] = all;
  it('every section (conv kernels included) is bit-identical in the SIMD and scalar builds', () => {
    const s = hostSelfTest(simd), c = hostSelfTest(scalar);
    for (let i = 0; i < s.length; i++) {
      expect(Buffer.from(s[i].bytes).equals(Buffer.from(c[i].bytes)), `section ${s[i].name}`).toBe(true);
    }
    expect(selfTest(simd)).toBe(selfTest(scalar));
  });
});

// wabt's wasm-interp is a second, independent WASM engine. Debian's 1.0.32 runs only
// argument-less exports (--run-all-exports) and exits 0 even when one traps, so its output
// is parsed: "self_test() => i32:<value>", anything else on that line is a failure.
const interp = spawnSync('wasm-interp', ['--version'], { encoding: 'utf8' });
const haveInterp = !interp.error && interp.status === 0;

describe.skipIf(!haveInterp)('self_test under wabt wasm-interp (skipped when wasm-interp is not installed: apt install wabt)', () => {
  it.each(all)('[%s] returns the value V8 returns', (b: Build, eng) => {
    const file = fileURLToPath(new URL(`../../build/${b}.wasm`, import.meta.url));
    const r = spawnSync('wasm-interp', [file, '--run-all-exports'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.error).toBeUndefined();
    const text = `${r.stdout}\n${r.stderr}`;
    const line = text.split('\n').find((l) => l.startsWith('self_test()'));
    expect(line, `wasm-interp output:\n${text}`).toBeDefined();
    const m = /^self_test\(\) => i32:(-?\d+)$/.exec(line!.trim());
    expect(m, `wasm-interp did not return an i32 (a trap?): ${line}`).not.toBeNull();
    expect(Number(m![1]) | 0).toBe(selfTest(eng));
  });
});
