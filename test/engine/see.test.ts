// The SEE encoder end to end: weights/see-384-random.slim through the plan runner, on both
// builds, against PyTorch (train/see.py, computed in float64) for every ensemble size N = 1..4.
// Fixtures (test/fixtures/see): the exported graph + tensors, meta.json (the input is
// test/util.ts randn(3*384*384, seed, scale), regenerated here and checked by its sha256), the
// golden outputs out-n<N>.f32 (6x96x96 little-endian float32) and per-mode ONNX files for the
// peers. Regenerate everything with `/usr/bin/python3 train/see.py`.
import { describe, it, expect, beforeAll } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadEngine, type Build } from '../../src/engine/wasm.js';
import { readBlob } from '../../src/format/reader.js';
import { Runner } from '../../src/engine/plan/runner.js';
import { packGraph } from '../../src/format/pack.js';
import { BUILDS, randn, nerr, TOL } from '../util.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const FIX = join(ROOT, 'test/fixtures/see');
const BLOB = join(ROOT, 'weights/see-384-random.slim');
const OUT = 6 * 96 * 96;
/** ||y - y_ref||_2 / ||y_ref||_2 against the float64 PyTorch output */
const NERR_TOL = 1e-4;

interface Meta {
  input: { n: number; seed: number; scale: number; sha256: string };
  modes: Array<{ members: number; file: string; l2: number }>;
}
const meta: Meta = JSON.parse(readFileSync(join(FIX, 'meta.json'), 'utf8'));

function golden(n: number): Float32Array {
  const b = readFileSync(join(FIX, `out-n${n}.f32`));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

interface SeeEncoder {
  setMembers(n: number): void;
  run(x: Float32Array): Float32Array;
}

const REPACK = 'npx tsx src/cli/main.ts pack test/fixtures/see/see-384-random.graph.json test/fixtures/see/see-384-random.tensors.bin -o weights/see-384-random.slim';

/** The encoder graph of the packed blob on one build: the blob copied into WASM once, an arena planned once. */
async function openSee(build: Build): Promise<SeeEncoder> {
  let blob;
  try {
    blob = readBlob(new Uint8Array(readFileSync(BLOB)));
  } catch (e) {
    throw new Error(`${BLOB} does not load (${(e as Error).message}); if the plan format changed, re-pack it: ${REPACK}`);
  }
  const r = new Runner(loadEngine({ build }), blob, 'encoder');
  return { setMembers: (n) => r.setMode({ members: n }), run: (x) => r.run(x) as Float32Array };
}

/** Index of the first element whose bits differ, or -1 (a deep-equal of 55k numbers is slow). */
function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

const x = randn(meta.input.n, meta.input.seed, meta.input.scale);

describe('SEE fixtures', () => {
  it('the committed blob is what the packer makes of the exported graph today (byte for byte)', () => {
    const fresh = packGraph(JSON.parse(readFileSync(join(FIX, 'see-384-random.graph.json'), 'utf8')), new Uint8Array(readFileSync(join(FIX, 'see-384-random.tensors.bin'))));
    const committed = new Uint8Array(readFileSync(BLOB));
    expect(committed.length, `stale blob: ${REPACK}`).toBe(fresh.length);
    expect(Buffer.compare(committed, fresh), `stale blob: ${REPACK}`).toBe(0);
  });

  it('the TS input generator reproduces the input PyTorch encoded (sha256 of the float32 bytes)', () => {
    const h = createHash('sha256').update(new Uint8Array(x.buffer, x.byteOffset, x.byteLength)).digest('hex');
    expect(h).toBe(meta.input.sha256);
  });

  it('golden outputs are 6x96x96 float32, and each N differs from the others (so a mode that does not switch fails)', () => {
    for (const m of meta.modes) {
      expect(statSync(join(FIX, m.file)).size).toBe(OUT * 4);
      const g = golden(m.members);
      let s = 0;
      for (let i = 0; i < g.length; i++) s += g[i] * g[i];
      expect(Math.abs(Math.sqrt(s) - m.l2) / m.l2).toBeLessThan(1e-6);
    }
    for (let n = 2; n <= 4; n++) expect(nerr(golden(n), golden(n - 1))).toBeGreaterThan(0.01);
  });
});

describe.each(BUILDS)('SEE encoder 3x384x384 through the blob [%s]', (build: Build) => {
  let enc: SeeEncoder;
  const out = new Map<number, Float32Array>();
  beforeAll(async () => {
    enc = await openSee(build);
  });

  it.each([1, 2, 3, 4])(`N=%i members: ||y - y_torch||_2 / ||y_torch||_2 < ${NERR_TOL}`, (n) => {
    enc.setMembers(n);
    const y = enc.run(x).slice();
    expect(y.length).toBe(OUT);
    expect(y.every(Number.isFinite)).toBe(true);
    expect(nerr(y, golden(n))).toBeLessThan(NERR_TOL);
    out.set(n, y);
  });

  it('switching modes leaves no state behind: 4 -> 1 -> 3 -> 4 reproduces each output bit for bit', () => {
    for (const n of [4, 1, 3, 4]) {
      enc.setMembers(n);
      expect(firstDifference(enc.run(x), out.get(n)!)).toBe(-1);
    }
  });
});

describe('SEE encoder: SIMD and scalar builds', () => {
  it(`agree at N=4 within ${TOL.builds} (normalized L2)`, async () => {
    const ys: Float32Array[] = [];
    for (const b of BUILDS) {
      const e = await openSee(b);
      e.setMembers(4);
      ys.push(e.run(x).slice());
    }
    expect(nerr(ys[0], ys[1])).toBeLessThan(TOL.builds);
  });
});
