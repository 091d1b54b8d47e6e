// rANS coder: round trips over random tables and streams, a plain TS reference
// encoder (byte for byte), compression vs cross-entropy, golden bitstreams,
// corrupt/truncated input, capacity limits.
// Regenerate the golden bitstreams (after a deliberate format change only):
//   UPDATE_GOLDEN=1 npx vitest run test/codec/rans.test.ts
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Arena, type Engine } from '../../src/engine/wasm.js';
import {
  quantizeCdf, CdfTables, CoderError, encode, decode, encodeAt, decodeAt, crossEntropyBits, contextTable, contextsPerGroup, CONTEXT_NEIGHBOURS,
  type TableSpec, type SymbolType, type CoderContext, type ContextNeighbours, type Layout,
} from '../../src/codec/coder.js';
import { engines, rng } from '../util.js';

const M = 1 << 16;
const SHORT_MAX = 1 << 16; // assembly/rans.ts: streams up to this long use one state
const GOLDEN = fileURLToPath(new URL('../fixtures/rans-golden.json', import.meta.url));

/** The stream format, written plainly: what assembly/rans.ts must produce byte for byte. */
function encodeRef(specs: TableSpec[], sym: ArrayLike<number>, tidx: ArrayLike<number>, G: number, context?: CoderContext): Uint8Array {
  const rev: number[] = []; // bytes in the order the encoder emits them (reverse of the stream)
  // Up to 2^16 symbols: one state starting at 1. Longer: two starting at 2^23, symbol i on state i & 1.
  const two = sym.length > SHORT_MAX;
  const st = two ? [2 ** 23, 2 ** 23] : [1];
  let j = 0;
  const put = (start: number, f: number): void => {
    let x = st[j];
    while (x >= f * 2 ** 15) {
      rev.push(x % 256);
      x = Math.floor(x / 256);
    }
    st[j] = Math.floor(x / f) * M + (x % f) + start;
  };
  for (let i = sym.length - 1; i >= 0; i--) {
    const base = tidx[Math.floor(i / G)];
    const t = specs[context ? contextTable(sym, i, base, G, context) : base];
    const c = t.cdf, esc = c.length - 2;
    j = two ? i & 1 : 0;
    const d = sym[i] - t.offset;
    if (d >= 0 && d < esc) {
      put(c[d], c[d + 1] - c[d]);
      continue;
    }
    const raw = d < 0 ? -2 * d - 1 : 2 * (d - esc);
    const nib: number[] = [];
    for (let r = raw; nib.length === 0 || r > 0; r = Math.floor(r / 16)) nib.push(r % 16);
    for (let k = nib.length - 1; k >= 0; k--) put(nib[k] << 12, 4096);
    put((nib.length - 1) << 12, 4096);
    put(c[esc], c[esc + 1] - c[esc]);
  }
  for (const x of st.reverse()) for (let b = 0; b < 4; b++) rev.push(Math.floor(x / 256 ** b) % 256);
  return Uint8Array.from(rev.reverse());
}

type PmfKind = 'flat' | 'geometric' | 'spike' | 'random';

function makePmf(kind: PmfKind, n: number, seed: number, escMass: number): number[] {
  const r = rng(seed);
  let p: number[];
  if (kind === 'flat') p = new Array(n).fill(1);
  else if (kind === 'geometric') {
    const q = 0.3 + 0.69 * r();
    p = Array.from({ length: n }, (_, k) => q ** k);
  } else if (kind === 'spike') p = Array.from({ length: n }, (_, k) => (k === Math.floor(r() * n) ? 1 : 1e-7));
  else p = Array.from({ length: n }, () => r() ** 3);
  const s = p.reduce((a, b) => a + b, 0);
  return [...p.map((v) => (v / s) * (1 - escMass)), escMass];
}

/** Draw symbols from each group's table (by its CDF), then replace some with out-of-range values. */
function drawSymbols(specs: TableSpec[], tidx: number[], G: number, n: number, type: SymbolType, seed: number, escRate: number): Uint8Array | Int32Array {
  const r = rng(seed);
  const out = type === 'u8' ? new Uint8Array(n) : new Int32Array(n);
  const extremes = [-(2 ** 31), 2 ** 31 - 1, -(2 ** 31) + 1, 2 ** 31 - 2, 0, 255, -1];
  for (let i = 0; i < n; i++) {
    const t = specs[tidx[Math.floor(i / G)]];
    const c = t.cdf, nreg = c.length - 2;
    let v: number;
    if (r() < escRate) {
      const e = r();
      if (type === 'u8') v = Math.floor(r() * 256);
      else if (e < 0.3) v = extremes[Math.floor(r() * extremes.length)];
      else if (e < 0.6) v = t.offset + nreg + Math.floor(r() * 40); // just above the range
      else v = Math.floor((r() - 0.5) * 2 ** 32);
    } else {
      const u = Math.floor(r() * M);
      let k = 0;
      while (c[k + 1] <= u) k++;
      v = t.offset + Math.min(k, Math.max(nreg - 1, 0));
    }
    if (type === 'u8') v = Math.min(255, Math.max(0, v));
    out[i] = v;
  }
  return out;
}

const tableArb = fc.record({
  nreg: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 256 })),
  kind: fc.constantFrom<PmfKind>('flat', 'geometric', 'spike', 'random'),
  escMass: fc.constantFrom(1e-9, 1e-3, 0.05),
  offset: fc.integer({ min: -300, max: 300 }),
  seed: fc.integer(),
});

const caseArb = fc.record({
  tables: fc.array(tableArb, { minLength: 1, maxLength: 4 }),
  n: fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.integer({ min: 0, max: 700 })),
  G: fc.integer({ min: 1, max: 300 }),
  type: fc.constantFrom<SymbolType>('u8', 'i32'),
  escRate: fc.constantFrom(0, 0.02, 0.5),
  lookup: fc.constantFrom<boolean | 'auto'>(true, false, 'auto'),
  seed: fc.integer(),
});

type Case = typeof caseArb extends fc.Arbitrary<infer C> ? C : never;

function build(eng: Engine, c: Case) {
  const specs: TableSpec[] = c.tables.map((t) => ({
    cdf: quantizeCdf(makePmf(t.kind, t.nreg, t.seed, t.escMass)),
    offset: c.type === 'u8' ? Math.min(255, Math.max(-5, t.offset)) : t.offset,
  }));
  const ng = Math.ceil(c.n / c.G);
  const r = rng(c.seed ^ 0x5bd1e995);
  const tidx = Array.from({ length: ng }, () => Math.floor(r() * specs.length));
  const sym = drawSymbols(specs, tidx, c.G, c.n, c.type, c.seed, c.escRate);
  const arena = new Arena(eng);
  const tables = new CdfTables(eng, arena, specs, { lookup: c.lookup });
  return { specs, tidx, sym, tables, layout: { tableIndex: tidx, groupSize: c.G } };
}

describe('quantizeCdf', () => {
  it('gives exact totals, no zero frequency, and is deterministic', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constant(0)), { minLength: 1, maxLength: 300 }), (p) => {
        fc.pre(p.some((v) => v > 0));
        const cdf = quantizeCdf(p);
        expect(cdf.length).toBe(p.length + 1);
        expect(cdf[0]).toBe(0);
        expect(cdf[p.length]).toBe(M);
        for (let i = 0; i < p.length; i++) expect(cdf[i + 1] - cdf[i]).toBeGreaterThanOrEqual(1);
        expect(Array.from(quantizeCdf(p))).toEqual(Array.from(cdf));
      }),
      { numRuns: 300 },
    );
  });

  it('matches known values and stays within 1e-4 bit of the entropy for a smooth pmf', () => {
    expect(Array.from(quantizeCdf([1, 1, 1, 1]))).toEqual([0, 16384, 32768, 49152, 65536]);
    expect(Array.from(quantizeCdf([0.5, 0.25, 0.125, 0.0625, 0.0625, 1e-6]))).toEqual([0, 32767, 49151, 57343, 61439, 65535, 65536]);
    expect(Array.from(quantizeCdf([0, 1], 4))).toEqual([0, 1, 16]);
    const p = Array.from({ length: 64 }, (_, k) => Math.exp(-Math.abs(k - 32) / 4));
    const s = p.reduce((a, b) => a + b, 0);
    const cdf = quantizeCdf(p);
    let h = 0, ce = 0;
    p.forEach((v, k) => {
      h -= (v / s) * Math.log2(v / s);
      ce -= (v / s) * Math.log2((cdf[k + 1] - cdf[k]) / M);
    });
    expect(ce - h).toBeGreaterThanOrEqual(0);
    expect(ce - h).toBeLessThan(1e-4);
  });

  it('rejects what it cannot quantize, saying why', () => {
    expect(() => quantizeCdf([])).toThrow(/empty/);
    expect(() => quantizeCdf([0, 0])).toThrow(/sums to 0/);
    expect(() => quantizeCdf([0.5, NaN])).toThrow(/pmf\[1\]/);
    expect(() => quantizeCdf([0.5, -1])).toThrow(/pmf\[1\]/);
    expect(() => quantizeCdf([1, 1, 1], 1)).toThrow(/3 symbols/);
  });
});

describe.each(engines())('rANS coder [%s]', (_b, eng) => {
  it('round-trips random tables and streams (escapes, empty, single) and matches the TS reference bytes', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { specs, tidx, sym, tables, layout } = build(eng, c);
        const bytes = encode(eng, tables, sym, layout);
        expect(Buffer.from(bytes).toString('hex')).toBe(Buffer.from(encodeRef(specs, sym, tidx, c.G)).toString('hex'));
        const back = decode(eng, tables, bytes, { ...layout, count: c.n, type: c.type });
        expect(back.constructor).toBe(sym.constructor);
        expect(Array.from(back)).toEqual(Array.from(sym));
      }),
      { numRuns: 250 },
    );
  });

  it('codes within 0.1% of the cross-entropy plus the final state (at most 4 bytes, ~0.6 on average)', () => {
    for (const [kind, nreg, seed] of [['geometric', 16, 1], ['random', 256, 2], ['spike', 2, 3], ['flat', 5, 4]] as const) {
      const specs = [0, 1, 2].map((k) => ({ cdf: quantizeCdf(makePmf(kind, nreg, seed * 10 + k, 1e-6)), offset: 0 }));
      const tidx = [0, 1, 2];
      const n = 3 * 20000;
      const sym = drawSymbols(specs, tidx, n / 3, n, 'u8', seed, 0);
      const tables = new CdfTables(eng, new Arena(eng), specs);
      const bytes = encode(eng, tables, sym, { tableIndex: tidx });
      const ce = crossEntropyBits(specs, sym, { tableIndex: tidx }) / 8;
      expect(bytes.length - 4, `${kind} ${nreg}`).toBeLessThanOrEqual(1.001 * ce + 1);
      expect(bytes.length, `${kind} ${nreg}`).toBeGreaterThanOrEqual(Math.floor(ce));
    }
  });

  it('a cut or a changed byte gives CoderError or another valid stream, never a read past the input', () => {
    fc.assert(
      fc.property(caseArb, fc.integer({ min: 0, max: 1 << 30 }), fc.integer({ min: 1, max: 255 }), fc.boolean(), (c, pos, x, cut) => {
        const { sym, tables, layout } = build(eng, c);
        const good = encode(eng, tables, sym, layout);
        const bad = cut ? good.slice(0, pos % good.length) : good.slice();
        if (!cut) bad[pos % bad.length] ^= x;
        const r = decodeAtMemoryEnd(eng, tables, bad, c.n, c.type, layout.groupSize, layout.tableIndex);
        if (r.error === null) {
          // rANS decoding is a bijection: bits that only carry a symbol (a bypass
          // nibble, say) change it without touching the state, and a one-state stream
          // cut short can end at state 1 by chance (CI found one: a near-certain table
          // leaves the state where it is). Then the bytes are the exact encoding of
          // other symbols; the packet checksum is what catches that.
          expect(Array.from(r.symbols!)).not.toEqual(Array.from(sym));
          expect(Buffer.from(encode(eng, tables, r.symbols!, layout)).equals(Buffer.from(bad))).toBe(true);
          return;
        }
        expect(r.error).toBeInstanceOf(CoderError);
        // Under 4 bytes there is no state to start from ('truncated'); a longer prefix runs
        // out where the stream's first-coded symbols are, which leaves the state off 1 ('corrupt').
        if (cut && pos % good.length < 4) expect((r.error as CoderError).code).toBe('truncated');
        else expect((r.error as CoderError).code).toBe('corrupt');
        expect((r.error as CoderError).message).toMatch(/^(payload truncated|corrupt payload)/);
      }),
      { numRuns: 300 },
    );
  });

  it('survives random bytes and counts: an error, or symbols that re-encode to those bytes; no write past the output', () => {
    fc.assert(
      fc.property(caseArb, fc.uint8Array({ minLength: 0, maxLength: 64 }), fc.integer({ min: 0, max: 5000 }), (c, junk, n) => {
        const { tables, tidx } = build(eng, c);
        const G = Math.max(1, Math.ceil(n / Math.max(1, tidx.length)));
        const ti = Array.from({ length: Math.ceil(n / G) }, (_, g) => tidx[g % Math.max(1, tidx.length)] ?? 0);
        const r = decodeAtMemoryEnd(eng, tables, junk, n, c.type, G, ti);
        if (r.error !== null) expect(r.error).toBeInstanceOf(CoderError);
        else expect(Buffer.from(encode(eng, tables, r.symbols!, { tableIndex: ti, groupSize: G })).equals(Buffer.from(junk))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('never writes outside [out, out + capacity) and fails with capacity when short', () => {
    const specs = [{ cdf: quantizeCdf(makePmf('random', 40, 9, 0.01)), offset: 3 }];
    const sym = drawSymbols(specs, [0], 500, 500, 'i32', 5, 0.05);
    const a = new Arena(eng);
    const tables = new CdfTables(eng, a, specs);
    const need = encode(eng, tables, sym, { tableIndex: [0] }).length;
    const sp = a.alloc(4 * sym.length), tp = a.alloc(4), buf = a.alloc(need + 64);
    eng.i32().set(sym, sp >> 2);
    eng.i32()[tp >> 2] = 0;
    for (const cap of [0, 1, 7, 8, need - 1, need, need + 5]) {
      eng.u8().fill(0xa5, buf, buf + need + 64);
      const out = buf + 32;
      let len = -1;
      try {
        len = encodeAt(eng, tables, { symbols: sp, n: sym.length, type: 'i32', groupSize: sym.length, tableIndex: tp, out, capacity: cap });
      } catch (e) {
        expect((e as CoderError).code).toBe('capacity');
      }
      expect(len === need).toBe(cap >= need);
      const u8 = eng.u8();
      for (let i = buf; i < out; i++) expect(u8[i]).toBe(0xa5);
      for (let i = out + cap; i < buf + need + 64; i++) expect(u8[i]).toBe(0xa5);
    }
  });

  it('reports bad tables, layouts and table indexes clearly', () => {
    const a = new Arena(eng);
    expect(() => new CdfTables(eng, a, [{ cdf: [0, 10, 10, M], offset: 0 }])).toThrow(/symbol 1 has frequency .* = 0/);
    expect(() => new CdfTables(eng, a, [{ cdf: [1, 10, M], offset: 0 }])).toThrow(/cdf\[0\] must be 0/);
    expect(() => new CdfTables(eng, a, [{ cdf: [0, 10, 4096], offset: 0 }])).toThrow(/cdf\[2\] must be 65536/);
    expect(() => new CdfTables(eng, a, [{ cdf: [M], offset: 0 }])).toThrow(/at least 2 entries/);
    expect(() => new CdfTables(eng, a, [{ cdf: [0, 5, 6, M], offset: 2 ** 31 - 1 }])).toThrow(/overflow i32/);
    expect(() => new CdfTables(eng, a, [{ cdf: [0, 5, M], offset: 2 ** 31 - 1 }])).not.toThrow();
    const t = new CdfTables(eng, a, [{ cdf: [0, 100, M], offset: 0 }]);
    expect(() => encode(eng, t, new Uint8Array(10), { tableIndex: [0, 0, 0] })).toThrow(/do not split evenly/);
    expect(() => encode(eng, t, new Uint8Array(10), { tableIndex: [0, 0], groupSize: 3 })).toThrow(/need 4 table indexes/);
    expect(() => encode(eng, t, new Uint8Array(10), { tableIndex: [0, 1] })).toThrow(/table index is out of range/);
    expect(() => decode(eng, t, new Uint8Array(8), { count: 5_000_000, type: 'u8', tableIndex: [0] })).toThrow(/cannot be coded in 8 bytes/);
  });

  it('encodes an empty stream as the state 1 alone and rejects any other 4 bytes', () => {
    const t = new CdfTables(eng, new Arena(eng), [{ cdf: [0, 100, M], offset: 0 }]);
    const e = encode(eng, t, new Uint8Array(0), { tableIndex: [] });
    expect(Array.from(e)).toEqual([0, 0, 0, 1]);
    expect(decode(eng, t, e, { count: 0, type: 'u8', tableIndex: [] }).length).toBe(0);
    const d = (...b: number[]) => () => decode(eng, t, Uint8Array.from(b), { count: 0, type: 'u8', tableIndex: [] });
    expect(d(0, 0, 0, 2)).toThrow(/did not return to its initial state/);
    expect(d(0, 0, 0, 0)).toThrow(/initial coder state out of range/);
    expect(d(0x80, 0, 0, 0)).toThrow(/initial coder state out of range/);
    expect(d(0, 0, 0, 1, 7)).toThrow(/left over/);
    expect(d(0, 0, 1)).toThrow(/payload truncated: .*3 bytes cannot hold the 4-byte coder state/);
  });

  it('codes streams longer than 2^16 symbols with two states: reference bytes, round trip, truncation', () => {
    const specs = [0, 1].map((k) => ({ cdf: quantizeCdf(makePmf('random', 12, 70 + k, 0.01)), offset: -3 }));
    for (const n of [SHORT_MAX, SHORT_MAX + 1, SHORT_MAX + 2]) {
      const tidx = [0, 1];
      const G = Math.ceil(n / 2);
      const sym = drawSymbols(specs, tidx, G, n, 'i32', n, 0.01);
      const tables = new CdfTables(eng, new Arena(eng), specs);
      const bytes = encode(eng, tables, sym, { tableIndex: tidx, groupSize: G });
      const ref = encodeRef(specs, sym, tidx, G);
      expect(Buffer.from(bytes).equals(Buffer.from(ref)), `n=${n}`).toBe(true);
      expect(Array.from(decode(eng, tables, bytes, { tableIndex: tidx, groupSize: G, count: n, type: 'i32' })), `n=${n}`).toEqual(Array.from(sym));
      // Two states cannot tell the stream's start from a cut: running out is 'truncated' there.
      const cut = () => decode(eng, tables, bytes.subarray(0, bytes.length - 3), { tableIndex: tidx, groupSize: G, count: n, type: 'i32' });
      if (n > SHORT_MAX) expect(cut).toThrow(/payload truncated/);
      else expect(cut).toThrow(/corrupt payload/);
    }
  });

  it('refuses bytes after a state below L (a stream the encoder cannot write)', () => {
    // One symbol with frequency 1/2 from state 1 gives state 2 with no byte emitted. Bytes after a
    // small state would be read into it: the decoder must call that corrupt, not decode other symbols.
    const t = new CdfTables(eng, new Arena(eng), [{ cdf: [0, 32768, M - 1, M], offset: 0 }]);
    const one = encode(eng, t, Uint8Array.of(1), { tableIndex: [0] });
    expect(one.length).toBe(4);
    expect(decode(eng, t, one, { count: 1, type: 'u8', tableIndex: [0] })[0]).toBe(1);
    expect(() => decode(eng, t, Uint8Array.of(...one, 0x55), { count: 1, type: 'u8', tableIndex: [0] })).toThrow(/coder state out of range at symbol 0 with bytes left/);
  });

  it('reproduces the golden bitstreams', () => {
    const cases = goldenCases();
    if (process.env.UPDATE_GOLDEN) {
      const out = cases.map((c) => {
        const tables = new CdfTables(eng, new Arena(eng), c.tables);
        return { ...c, symbols: Array.from(c.symbols), hex: Buffer.from(encode(eng, tables, c.symbols, c)).toString('hex') };
      });
      writeFileSync(GOLDEN, '[\n' + out.map((o) => JSON.stringify(o)).join(',\n') + '\n]\n');
    }
    expect(existsSync(GOLDEN), `${GOLDEN} missing; run with UPDATE_GOLDEN=1`).toBe(true);
    const golden = JSON.parse(readFileSync(GOLDEN, 'utf8')) as Array<GoldenCase & { symbols: number[]; hex: string }>;
    expect(golden.map((g) => g.name)).toEqual(cases.map((c) => c.name));
    for (const g of golden) {
      const tables = new CdfTables(eng, new Arena(eng), g.tables);
      const sym = g.type === 'u8' ? Uint8Array.from(g.symbols) : Int32Array.from(g.symbols);
      expect(Buffer.from(encode(eng, tables, sym, g)).toString('hex'), g.name).toBe(g.hex);
      const back = decode(eng, tables, Buffer.from(g.hex, 'hex'), { ...g, count: sym.length });
      expect(Array.from(back), g.name).toEqual(g.symbols);
    }
  });
});

/** A context-coded u8 tensor: C channels of H x W, K^3 or K^4 tables per channel, symbols drawn per table. */
const ctxArb = fc.record({
  C: fc.integer({ min: 1, max: 4 }), H: fc.integer({ min: 1, max: 6 }), W: fc.integer({ min: 1, max: 7 }),
  K: fc.integer({ min: 1, max: 4 }), shift: fc.integer({ min: 0, max: 2 }), nreg: fc.integer({ min: 1, max: 6 }),
  neighbours: fc.constantFrom(...CONTEXT_NEIGHBOURS),
  escRate: fc.constantFrom(0, 0.05), lookup: fc.constantFrom<boolean | 'auto'>(true, false, 'auto'), seed: fc.integer(),
});
type CtxCase = typeof ctxArb extends fc.Arbitrary<infer C> ? C : never;

function buildCtx(eng: Engine, c: CtxCase) {
  const nctx = contextsPerGroup(c), G = c.H * c.W, n = c.C * G;
  const specs: TableSpec[] = Array.from({ length: c.C * nctx }, (_, k) => ({ cdf: quantizeCdf(makePmf('random', c.nreg, c.seed + 7 * k, 0.01)), offset: 0 }));
  const tidx = Array.from({ length: c.C }, (_, ch) => ch * nctx);
  const context: CoderContext = { W: c.W, K: c.K, shift: c.shift, neighbours: c.neighbours };
  // Draw each symbol from the table its context selects, so that the contexts matter.
  const r = rng(c.seed ^ 0x2545f491);
  const sym = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const cdf = specs[contextTable(sym, i, tidx[Math.floor(i / G)], G, context)].cdf;
    if (r() < c.escRate) sym[i] = Math.floor(r() * 256);
    else {
      const u = Math.floor(r() * M);
      let k = 0;
      while (cdf[k + 1] <= u) k++;
      sym[i] = Math.min(k, c.nreg - 1);
    }
  }
  const tables = new CdfTables(eng, new Arena(eng), specs, { lookup: c.lookup });
  return { specs, tidx, sym, n, G, tables, layout: { tableIndex: tidx, groupSize: G, context } };
}

describe.each(engines())('rANS coder with contexts [%s]', (_b, eng) => {
  it('round-trips and matches the TS reference bytes; crossEntropyBits uses the same tables', () => {
    fc.assert(
      fc.property(ctxArb, (c) => {
        const { specs, tidx, sym, n, G, tables, layout } = buildCtx(eng, c);
        const bytes = encode(eng, tables, sym, layout);
        expect(Buffer.from(bytes).toString('hex')).toBe(Buffer.from(encodeRef(specs, sym, tidx, G, layout.context)).toString('hex'));
        expect(Array.from(decode(eng, tables, bytes, { ...layout, count: n, type: 'u8' }))).toEqual(Array.from(sym));
        if (c.escRate === 0 && n > 50) expect(bytes.length).toBeLessThanOrEqual(Math.ceil(crossEntropyBits(specs, sym, layout) / 8) + 8);
      }),
      { numRuns: 300 },
    );
  });

  it('codes context-dependent data in fewer bytes than one table per channel could', () => {
    // Each symbol copies its left neighbour with probability 0.95: a per-channel table sees a fair
    // coin (1 bit/symbol), the left context sees 0.29 bits.
    const W = 32, H = 32, G = W * H;
    const r = rng(11);
    const sym = new Uint8Array(G);
    for (let i = 0; i < G; i++) sym[i] = i % W > 0 && r() < 0.95 ? sym[i - 1] : r() < 0.5 ? 1 : 0;
    const flip = quantizeCdf([0.95, 0.05, 1e-6]), flip1 = quantizeCdf([0.05, 0.95, 1e-6]), fair = quantizeCdf([0.5, 0.5, 1e-6]);
    // K = 2: context (l * 2 + u) * 2 + p with u, p in {0, 1}; only l matters here
    const specs = Array.from({ length: 8 }, (_, k) => ({ cdf: k >= 4 ? flip1 : flip, offset: 0 }));
    specs[0] = specs[1] = specs[2] = specs[3] = { cdf: flip, offset: 0 };
    const ctxTables = new CdfTables(eng, new Arena(eng), specs);
    const withCtx = encode(eng, ctxTables, sym, { tableIndex: [0], groupSize: G, context: { W, K: 2, shift: 0 } });
    const plain = encode(eng, new CdfTables(eng, new Arena(eng), [{ cdf: fair, offset: 0 }]), sym, { tableIndex: [0] });
    expect(plain.length).toBeGreaterThan(G / 8 - 2);
    expect(withCtx.length).toBeLessThan(0.45 * plain.length);
  });

  it('diagonal neighbours: the up-right one is the last digit of the context, off the tensor at the right edge', () => {
    // Each symbol copies its up-right neighbour with probability 0.95 (a fair coin on the top row and
    // in the last column): only tables keyed by qUR (context index parity, K = 2) can predict it.
    const W = 16, H = 64, G = W * H;
    const r = rng(12);
    const sym = new Uint8Array(G);
    for (let i = 0; i < G; i++) {
      const row = Math.floor(i / W), col = i % W;
      sym[i] = row > 0 && col < W - 1 && r() < 0.95 ? sym[i - W + 1] : r() < 0.5 ? 1 : 0;
    }
    const flip = quantizeCdf([0.95, 0.05, 1e-6]), flip1 = quantizeCdf([0.05, 0.95, 1e-6]), fair = quantizeCdf([0.5, 0.5, 1e-6]);
    const specs = Array.from({ length: 16 }, (_, k) => ({ cdf: k % 2 ? flip1 : flip, offset: 0 }));
    const diag: CoderContext = { W, K: 2, shift: 0, neighbours: 'left,up,up-left,up-right' };
    const withCtx = encode(eng, new CdfTables(eng, new Arena(eng), specs), sym, { tableIndex: [0], groupSize: G, context: diag });
    const plain = encode(eng, new CdfTables(eng, new Arena(eng), [{ cdf: fair, offset: 0 }]), sym, { tableIndex: [0] });
    expect(withCtx.length).toBeLessThan(0.55 * plain.length);
    expect(Array.from(decode(eng, new CdfTables(eng, new Arena(eng), specs), withCtx, { tableIndex: [0], groupSize: G, context: diag, count: G, type: 'u8' }))).toEqual(Array.from(sym));
    // 16 tables: one past the end is refused, as K^4 = 16 says
    expect(() => encode(eng, new CdfTables(eng, new Arena(eng), specs.slice(0, 15)), sym, { tableIndex: [0], groupSize: G, context: diag })).toThrow(/table index is out of range/);
  });

  it('random bytes: an error, or symbols that re-encode to the same bytes; cuts and flips are CoderErrors', () => {
    fc.assert(
      fc.property(ctxArb, fc.uint8Array({ minLength: 0, maxLength: 48 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (c, junk, at, x) => {
        const { sym, n, tables, layout } = buildCtx(eng, c);
        const check = (bytes: Uint8Array) => {
          let back: Uint8Array | Int32Array;
          try {
            back = decode(eng, tables, bytes, { ...layout, count: n, type: 'u8' });
          } catch (e) {
            expect(e).toBeInstanceOf(CoderError);
            return;
          }
          expect(Buffer.from(encode(eng, tables, back as Uint8Array, layout)).equals(Buffer.from(bytes))).toBe(true);
        };
        check(junk);
        const good = encode(eng, tables, sym, layout);
        const bad = good.slice();
        bad[at % bad.length] ^= x;
        check(bad);
        check(good.subarray(0, at % good.length));
      }),
      { numRuns: 300 },
    );
  });

  it('names bad context parameters', () => {
    const t = new CdfTables(eng, new Arena(eng), Array.from({ length: 8 }, () => ({ cdf: [0, 100, M], offset: 0 })));
    const enc = (context: CoderContext, tableIndex = [0], s: Uint8Array | Int32Array = new Uint8Array(12)) => () => encode(eng, t, s, { tableIndex, groupSize: 12, context });
    expect(enc({ W: 5, K: 2, shift: 0 })).toThrow(/W must divide the group size 12, got 5/);
    expect(enc({ W: 4, K: 17, shift: 0 })).toThrow(/K must be 1..16, got 17/);
    expect(enc({ W: 4, K: 2, shift: 8 })).toThrow(/shift must be 0..7, got 8/);
    expect(enc({ W: 4, K: 2, shift: 0 }, [0], new Int32Array(12))).toThrow(/context coding takes u8 symbols/);
    expect(enc({ W: 4, K: 2, shift: 0 }, [1])).toThrow(/table index is out of range/); // 1 + 8 tables > 8
    expect(enc({ W: 4, K: 2, shift: 0, neighbours: 'left,down' as ContextNeighbours })).toThrow(/neighbours must be one of 'left,up,prev', 'left,up,up-left,up-right', got "left,down"/);
    expect(enc({ W: 4, K: 2, shift: 0, neighbours: 'left,up,up-left,up-right' })).toThrow(/table index is out of range/); // 16 tables > 8
    expect(enc({ W: 4, K: 2, shift: 0 }, [0])).not.toThrow();
  });
});

describe('builds', () => {
  /** Both builds encode every case of arb to the same bytes. */
  function sameBytes<C>(arb: fc.Arbitrary<C>, make: (eng: Engine, c: C) => { tables: CdfTables; sym: Uint8Array | Int32Array; layout: Layout }): void {
    const [[, a], [, b]] = engines();
    fc.assert(
      fc.property(arb, (c) => {
        const x = make(a, c), y = make(b, c);
        expect(Buffer.from(encode(b, y.tables, y.sym, y.layout)).equals(Buffer.from(encode(a, x.tables, x.sym, x.layout)))).toBe(true);
      }),
      { numRuns: 100 },
    );
  }

  it('SIMD and scalar builds write identical bytes', () => sameBytes(caseArb, build));
  it('SIMD and scalar builds write identical context-coded bytes', () => sameBytes(ctxArb, buildCtx));
});

/**
 * Decode with the payload placed flush against the end of WASM memory: a read
 * past the input would trap (RuntimeError), failing the test. Guard bytes after
 * the output catch writes past it.
 */
function decodeAtMemoryEnd(eng: Engine, tables: CdfTables, bytes: Uint8Array, n: number, type: SymbolType, G: number, tidx: ArrayLike<number>) {
  const a = tables.arena;
  const mark = a.mark();
  const w = type === 'u8' ? 1 : 4;
  const guard = 16;
  const tp = a.alloc(4 * tidx.length + 4, 4), sp = a.alloc(w * n + guard, 4);
  a.reserve(bytes.length + 64);
  const u8 = eng.u8();
  const bp = u8.length - bytes.length;
  u8.set(bytes, bp);
  eng.i32().set(tidx, tp >> 2);
  u8.fill(0x5a, sp + w * n, sp + w * n + guard);
  let error: unknown = null;
  let symbols: Uint8Array | Int32Array | null = null;
  try {
    decodeAt(eng, tables, { bytes: bp, length: bytes.length, symbols: sp, n, type, groupSize: G, tableIndex: tp });
    symbols = type === 'u8' ? eng.u8().slice(sp, sp + n) : eng.i32().slice(sp >> 2, (sp >> 2) + n);
  } catch (e) {
    error = e;
  }
  for (let i = 0; i < guard; i++) expect(eng.u8()[sp + w * n + i]).toBe(0x5a);
  a.release(mark);
  return { error, symbols };
}

interface GoldenCase {
  name: string;
  tables: TableSpec[];
  type: SymbolType;
  tableIndex: number[];
  groupSize: number;
  symbols: Uint8Array | Int32Array;
}

function goldenCases(): GoldenCase[] {
  const lap = (n: number, b: number) => [...Array.from({ length: n }, (_, k) => Math.exp(-Math.abs(k - n / 2) / b)), 1e-4];
  const t4 = { cdf: Array.from(quantizeCdf(lap(16, 2))), offset: 0 };
  const t1 = { cdf: Array.from(quantizeCdf([0.9, 0.1, 1e-3])), offset: 0 };
  const ts = { cdf: Array.from(quantizeCdf(lap(9, 1.5))), offset: -4 };
  const r = rng(2024);
  return [
    { name: 'empty', tables: [t1], type: 'u8', tableIndex: [], groupSize: 1, symbols: new Uint8Array(0) },
    { name: 'single', tables: [t1], type: 'u8', tableIndex: [0], groupSize: 1, symbols: Uint8Array.of(1) },
    { name: 'bits1-two-channels', tables: [t1, t4], type: 'u8', tableIndex: [0, 0], groupSize: 24, symbols: Uint8Array.from({ length: 48 }, () => (r() < 0.12 ? 1 : 0)) },
    { name: 'bits4-per-channel', tables: [t1, t4], type: 'u8', tableIndex: [1, 0, 1], groupSize: 7, symbols: Uint8Array.from({ length: 21 }, (_, i) => (Math.floor(i / 7) === 1 ? i % 2 : 6 + Math.floor(r() * 5))) },
    { name: 'signed-with-escapes', tables: [ts], type: 'i32', tableIndex: [0], groupSize: 12, symbols: Int32Array.of(0, -1, 1, 3, -4, 5, -5, 100, -(2 ** 31), 2 ** 31 - 1, 4, 0) },
  ];
}
