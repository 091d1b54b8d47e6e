/**
 * Entropy coder front end: integer CDF tables resident in WASM memory, rANS
 * encode/decode of u8 or i32 symbol tensors (kernels in assembly/rans.ts).
 *
 *   const eng = loadEngine(); const arena = new Arena(eng);
 *   // one table per channel; the pmf's last entry is the escape (tail) mass
 *   const tables = new CdfTables(eng, arena, pmfs.map((pmf) => ({ cdf: quantizeCdf(pmf), offset: 0 })));
 *   const tableIndex = Int32Array.from({ length: C }, (_, c) => c);
 *   const bytes = encode(eng, tables, symbols, { tableIndex });        // symbols: Uint8Array [C][H*W]
 *   const back = decode(eng, tables, bytes, { count: C * H * W, type: 'u8', tableIndex });
 *
 * The coder knows nothing of the model: a table is (offset, integer CDF); a
 * symbol tensor is split into equal groups (groupSize symbols each, default
 * n / tableIndex.length) and group g is coded with table tableIndex[g]. Values
 * outside a table's range [offset, offset + nsym - 2] go through its escape
 * symbol (the last one) plus a bypass code, so any u8/i32 value round-trips.
 * CDFs are built once, at export time, by quantizeCdf and shipped as integers;
 * the device never rebuilds them from floats.
 */
import type { Arena, Engine } from '../engine/wasm.js';

/** Frequencies of every table sum to 1 << PRECISION. */
export const PRECISION = 16;
const M = 1 << PRECISION;
/** u32 words per table in the directory (assembly/rans.ts TAB_WORDS). */
export const TAB_WORDS = 8;
const LUT_BYTES = M * 2;
const COARSE_BYTES = 256;

/**
 * A decoder allocates count symbols before it reads a byte, so count is capped
 * by the payload size: each symbol costs at least log2(M / (M - 1)) = 2.2e-5
 * bit, hence n <= 8 * bytes / 2.2e-5 = 363,000 * bytes < 2^19 * bytes.
 */
export const MAX_SYMBOLS_PER_BYTE = 1 << 19;

export type CoderErrorCode = 'capacity' | 'truncated' | 'corrupt' | 'table' | 'params';

/** Every failure of this module: `code` says which kind, the message what exactly. */
export class CoderError extends Error {
  readonly code: CoderErrorCode;
  constructor(code: CoderErrorCode, message: string) {
    super(message);
    this.name = 'CoderError';
    this.code = code;
  }
}

/**
 * Integer CDF of `pmf` with frequencies summing to 1 << precision, every one >= 1
 * (so every symbol stays codable). Returns cdf[0..n]: cdf[0] = 0, cdf[n] = 1 << precision.
 * Entries are relative weights (normalized here); by convention the last is the
 * escape symbol's mass. Deterministic with only IEEE +, *, / and floor, so an
 * exporter in another language reproduces it bit for bit:
 *   s = left-to-right sum of pmf; f[i] = max(1, floor(pmf[i] / s * M + 0.5));
 *   while sum(f) < M: f[i] += 1 for the i maximizing pmf[i] / (f[i] + 0.5);
 *   while sum(f) > M: f[i] -= 1 for the i with f[i] > 1 minimizing pmf[i] / (f[i] - 0.5);
 *   ties go to the smallest i. (pmf[i] / (f + 0.5) is the cross-entropy change of
 *   one more count, p * log(1 + 1/f), to O(1/f^3), so the greedy is near optimal.)
 */
export function quantizeCdf(pmf: ArrayLike<number>, precision = PRECISION): Uint32Array {
  const n = pmf.length;
  if (!Number.isInteger(precision) || precision < 1 || precision > 24) throw new CoderError('params', `quantizeCdf: precision must be an integer in 1..24, got ${precision}`);
  const total = 2 ** precision;
  if (n < 1) throw new CoderError('params', 'quantizeCdf: pmf is empty');
  if (n > total) throw new CoderError('params', `quantizeCdf: ${n} symbols cannot each get a nonzero frequency at precision ${precision}`);
  let s = 0;
  for (let i = 0; i < n; i++) {
    const p = pmf[i];
    if (!(p >= 0) || !Number.isFinite(p)) throw new CoderError('params', `quantizeCdf: pmf[${i}] = ${p} is not a finite probability >= 0`);
    s += p;
  }
  if (!(s > 0)) throw new CoderError('params', 'quantizeCdf: pmf sums to 0');
  const p = Float64Array.from(pmf as ArrayLike<number>);
  const f = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    f[i] = Math.max(1, Math.floor((p[i] / s) * total + 0.5));
    sum += f[i];
  }
  if (sum < total) {
    const heap = new KeyHeap(n, (i) => p[i] / (f[i] + 0.5), true);
    for (let i = 0; i < n; i++) heap.push(i);
    for (; sum < total; sum++) {
      const i = heap.pop();
      f[i] += 1;
      heap.push(i);
    }
  } else if (sum > total) {
    const heap = new KeyHeap(n, (i) => p[i] / (f[i] - 0.5), false);
    for (let i = 0; i < n; i++) if (f[i] > 1) heap.push(i);
    for (; sum > total; sum--) {
      const i = heap.pop();
      f[i] -= 1;
      if (f[i] > 1) heap.push(i);
    }
  }
  const cdf = new Uint32Array(n + 1);
  for (let i = 0; i < n; i++) cdf[i + 1] = cdf[i] + f[i];
  return cdf;
}

/** Binary heap of indices ordered by key (max- or min-first), ties by smaller index. */
class KeyHeap {
  private readonly a: Int32Array;
  private readonly k: Float64Array;
  private size = 0;
  constructor(cap: number, private readonly key: (i: number) => number, private readonly max: boolean) {
    this.a = new Int32Array(cap);
    this.k = new Float64Array(cap);
  }
  private before(x: number, y: number): boolean {
    const kx = this.k[x], ky = this.k[y];
    if (kx !== ky) return this.max ? kx > ky : kx < ky;
    return this.a[x] < this.a[y];
  }
  private swap(x: number, y: number): void {
    const ta = this.a[x], tk = this.k[x];
    this.a[x] = this.a[y];
    this.k[x] = this.k[y];
    this.a[y] = ta;
    this.k[y] = tk;
  }
  push(i: number): void {
    let c = this.size++;
    this.a[c] = i;
    this.k[c] = this.key(i);
    while (c > 0) {
      const up = (c - 1) >> 1;
      if (!this.before(c, up)) break;
      this.swap(c, up);
      c = up;
    }
  }
  pop(): number {
    const top = this.a[0];
    const last = --this.size;
    this.a[0] = this.a[last];
    this.k[0] = this.k[last];
    for (let c = 0; ; ) {
      const l = 2 * c + 1, r = l + 1;
      let b = c;
      if (l < last && this.before(l, b)) b = l;
      if (r < last && this.before(r, b)) b = r;
      if (b === c) break;
      this.swap(c, b);
      c = b;
    }
    return top;
  }
}

/** One coding table: symbol k stands for the value offset + k; the last symbol is the escape. */
export interface TableSpec {
  /** cdf[0..nsym]: 0, increasing strictly, ending at 1 << 16 (quantizeCdf's output). */
  cdf: ArrayLike<number>;
  /** Value of symbol 0. */
  offset: number;
}

export interface CdfTablesOptions {
  /**
   * Build a 128 KiB slot -> symbol lookup per table for decoding (default true).
   * Without it the decoder binary-searches the CDF: slower, no memory. 'auto' builds
   * one only for tables of more than 32 symbols (a context model's many small tables
   * would take 128 KiB each) and gives the others a 256-byte coarse lookup (the symbol at
   * each multiple of 256 slots, then a step or two forward).
   */
  lookup?: boolean | 'auto';
}

/**
 * The tables, laid out once in WASM memory (directory, CDFs, per-symbol
 * start/freq words, decode lookups) and validated by the rans_init kernel.
 */
export class CdfTables {
  readonly eng: Engine;
  readonly arena: Arena;
  /** Byte offset of the table directory (TAB_WORDS u32 per table). */
  readonly dir: number;
  readonly count: number;
  /** Symbols per table, escape included. */
  readonly nsym: Int32Array;
  readonly offset: Int32Array;
  /** Bytes of WASM memory the tables occupy. */
  readonly bytes: number;

  constructor(eng: Engine, arena: Arena, specs: readonly TableSpec[], opts: CdfTablesOptions = {}) {
    const lk = opts.lookup ?? true;
    const withLut = (t: TableSpec) => lk === true || (lk === 'auto' && t.cdf.length - 1 > 32);
    const withCoarse = (t: TableSpec) => lk === 'auto' && t.cdf.length - 1 <= 32;
    if (specs.length < 1) throw new CoderError('table', 'CdfTables: no tables given');
    this.eng = eng;
    this.arena = arena;
    this.count = specs.length;
    this.nsym = new Int32Array(specs.length);
    this.offset = new Int32Array(specs.length);
    specs.forEach((t, k) => {
      checkTable(t, k);
      this.nsym[k] = t.cdf.length - 1;
      this.offset[k] = t.offset;
    });
    const start = arena.mark();
    let need = TAB_WORDS * 4 * specs.length + 64;
    for (const t of specs) need += 8 * t.cdf.length + 32 + (withLut(t) ? LUT_BYTES + 16 : 0) + (withCoarse(t) ? COARSE_BYTES : 0);
    arena.reserve(need);
    this.dir = arena.alloc(TAB_WORDS * 4 * specs.length, 16);
    const ptrs = specs.map((t) => {
      const n = t.cdf.length - 1;
      return { cdf: arena.alloc(4 * (n + 1), 4), sym: arena.alloc(4 * n, 4), lut: withLut(t) ? arena.alloc(LUT_BYTES, 16) : 0, coarse: withCoarse(t) ? arena.alloc(COARSE_BYTES, 4) : 0 };
    });
    this.bytes = arena.mark() - start;
    const u32 = new Uint32Array(eng.memory.buffer);
    specs.forEach((t, k) => {
      const d = (this.dir >> 2) + k * TAB_WORDS;
      u32.fill(0, d, d + TAB_WORDS);
      u32[d] = t.cdf.length - 1;
      u32[d + 1] = t.offset >>> 0;
      u32[d + 2] = ptrs[k].cdf;
      u32[d + 3] = ptrs[k].sym;
      u32[d + 4] = ptrs[k].lut;
      u32[d + 5] = ptrs[k].coarse;
      u32.set(t.cdf, ptrs[k].cdf >> 2);
    });
    const r = eng.i32();
    eng.call('rans_init', Int32Array.of(this.dir, this.count, 0, -1));
    const status = r[(eng.slot >> 2) + 2], bad = r[(eng.slot >> 2) + 3];
    // checkTable rejects everything rans_init does; this guards against the two drifting apart.
    if (status !== 0) throw new CoderError('table', `CdfTables: table ${bad} rejected by rans_init (status ${status})`);
  }
}

/** Throws CoderError('table') naming what is wrong with table k (what rans_init would refuse). */
export function checkTable(t: TableSpec, k: number): void {
  const c = t.cdf;
  const n = c.length - 1;
  if (n < 1) throw new CoderError('table', `table ${k}: cdf needs at least 2 entries (one symbol, the escape), got ${c.length}`);
  if (n > M) throw new CoderError('table', `table ${k}: ${n} symbols exceed the ${M} a 16-bit CDF can hold`);
  if (!Number.isInteger(t.offset) || t.offset < -(2 ** 31) || t.offset > 2 ** 31 - 1) throw new CoderError('table', `table ${k}: offset ${t.offset} is not an i32`);
  if (t.offset + n - 2 > 2 ** 31 - 1) throw new CoderError('table', `table ${k}: values offset..offset+${n - 2} overflow i32`);
  if (c[0] !== 0) throw new CoderError('table', `table ${k}: cdf[0] must be 0, got ${c[0]}`);
  if (c[n] !== M) throw new CoderError('table', `table ${k}: cdf[${n}] must be ${M} (16-bit precision), got ${c[n]}`);
  for (let i = 0; i < n; i++) {
    if (!Number.isInteger(c[i + 1]) || c[i + 1] <= c[i]) throw new CoderError('table', `table ${k}: symbol ${i} has frequency cdf[${i + 1}] - cdf[${i}] = ${c[i + 1] - c[i]}; every frequency must be an integer >= 1`);
  }
}

export type SymbolType = 'u8' | 'i32';

export interface Layout {
  /** Table of each group of symbols (one entry per group); with a context, the first of its contextsPerGroup tables. */
  tableIndex: ArrayLike<number>;
  /** Symbols per group; default n / tableIndex.length, which must then divide evenly. */
  groupSize?: number;
  /** Context-adaptive coding of u8 symbols (assembly/rans.ts rans_encode_ctx). */
  context?: CoderContext;
}

/**
 * Each symbol of a channel-major [C][H][W] u8 tensor (groups = channels, groupSize = H*W) is coded
 * with a table picked by its neighbours, each quantized to min(v >> shift, K - 1) (0 off the
 * tensor): with the default neighbours 'left,up,prev' table tableIndex[c] + (qL * K + qU) * K + qP
 * (left, upper, same position in the previous channel; K^3 tables per channel), with
 * 'left,up,up-left,up-right' tableIndex[c] + ((qL * K + qU) * K + qUL) * K + qUR (K^4 tables).
 */
export interface CoderContext {
  /** row length W (groupSize must be a multiple) */
  W: number;
  /** levels per neighbour, 1..16 */
  K: number;
  /** right shift applied to a neighbour before clamping to K - 1, 0..7 */
  shift: number;
  /** which neighbours (default 'left,up,prev') */
  neighbours?: ContextNeighbours;
}

/** The neighbour sets the kernels know, in the order of their code (assembly/rans.ts nb). */
export const CONTEXT_NEIGHBOURS = ['left,up,prev', 'left,up,up-left,up-right'] as const;
export type ContextNeighbours = (typeof CONTEXT_NEIGHBOURS)[number];

const neighbourCode = (c: CoderContext): number => CONTEXT_NEIGHBOURS.indexOf(c.neighbours ?? 'left,up,prev');

/** Tables per group (channel) of a context layout: K^3, or K^4 with the diagonal neighbours. */
export function contextsPerGroup(c: { K: number; neighbours?: ContextNeighbours }): number {
  return c.K ** ((c.neighbours ?? 'left,up,prev') === 'left,up,prev' ? 3 : 4);
}

function checkContext(c: CoderContext, G: number, type: SymbolType): void {
  if (type !== 'u8') throw new CoderError('params', 'context coding takes u8 symbols');
  if (!Number.isInteger(c.W) || c.W < 1 || G % c.W !== 0) throw new CoderError('params', `context: W must divide the group size ${G}, got ${c.W}`);
  if (!Number.isInteger(c.K) || c.K < 1 || c.K > 16) throw new CoderError('params', `context: K must be 1..16, got ${c.K}`);
  if (!Number.isInteger(c.shift) || c.shift < 0 || c.shift > 7) throw new CoderError('params', `context: shift must be 0..7, got ${c.shift}`);
  if (neighbourCode(c) < 0) throw new CoderError('params', `context: neighbours must be one of ${CONTEXT_NEIGHBOURS.map((n) => `'${n}'`).join(', ')}, got ${JSON.stringify(c.neighbours)}`);
}

/** The table a context layout codes symbol i with (the reference for the kernels' ctxOf). */
export function contextTable(symbols: ArrayLike<number>, i: number, base: number, G: number, c: CoderContext): number {
  const q = (v: number) => Math.min(v >> c.shift, c.K - 1);
  const pos = i % G, col = pos % c.W, row = Math.floor(pos / c.W);
  const l = col > 0 ? q(symbols[i - 1]) : 0, u = row > 0 ? q(symbols[i - c.W]) : 0;
  if (neighbourCode(c) === 0) return base + (l * c.K + u) * c.K + (i >= G ? q(symbols[i - G]) : 0);
  const ul = row > 0 && col > 0 ? q(symbols[i - c.W - 1]) : 0, ur = row > 0 && col < c.W - 1 ? q(symbols[i - c.W + 1]) : 0;
  return base + ((l * c.K + u) * c.K + ul) * c.K + ur;
}

function groups(n: number, layout: Layout): { G: number; ng: number } {
  const nt = layout.tableIndex.length;
  let G = layout.groupSize;
  if (G === undefined) {
    if (n === 0) G = 1;
    else if (nt === 0 || n % nt !== 0) throw new CoderError('params', `layout: ${n} symbols do not split evenly into ${nt} table indexes; give groupSize`);
    else G = n / nt;
  }
  if (!Number.isInteger(G) || G < 1 || G > 2 ** 31 - 1) throw new CoderError('params', `layout: groupSize must be a positive integer, got ${G}`);
  const ng = Math.ceil(n / G);
  if (nt !== ng) throw new CoderError('params', `layout: ${n} symbols in groups of ${G} need ${ng} table indexes, got ${nt}`);
  return { G, ng };
}

const typeCode = (t: SymbolType): number => (t === 'u8' ? 0 : 1);

/** The symbols of one coder call, in WASM memory, and the tables each group of them uses. */
interface SymbolArgs {
  /** symbols, u8 or i32, n of them */
  symbols: number;
  n: number;
  type: SymbolType;
  groupSize: number;
  /** i32[ceil(n / groupSize)] */
  tableIndex: number;
  context?: CoderContext;
}

/** Pointer-level encode for callers whose symbols already live in WASM memory. */
export interface EncodeArgs extends SymbolArgs {
  /** output, capacity bytes; never written past */
  out: number;
  capacity: number;
}

/** Run rans_encode; returns the byte length at args.out or throws (code 'capacity' when it does not fit). */
export function encodeAt(eng: Engine, tables: CdfTables, a: EncodeArgs): number {
  if (a.context) {
    checkContext(a.context, a.groupSize, a.type);
    const c = a.context;
    eng.call('rans_encode_ctx', Int32Array.of(a.symbols, a.n, c.W, a.groupSize, a.tableIndex, tables.dir, tables.count, a.out, a.capacity, 0, c.K, c.shift, neighbourCode(c)));
  } else eng.call('rans_encode', Int32Array.of(a.symbols, a.n, typeCode(a.type), a.groupSize, a.tableIndex, tables.dir, tables.count, a.out, a.capacity, 0));
  const r = eng.i32()[(eng.slot >> 2) + 9];
  if (r >= 0) return r;
  throw coderError(r, `encode of ${a.n} symbols`, -1, a.capacity);
}

/** Pointer-level decode of `length` bytes at `bytes` into `symbols`. */
export interface DecodeArgs extends SymbolArgs {
  bytes: number;
  length: number;
}

/** Run rans_decode; throws CoderError on any corrupt or truncated input. */
export function decodeAt(eng: Engine, tables: CdfTables, a: DecodeArgs): void {
  if (a.context) {
    checkContext(a.context, a.groupSize, a.type);
    const c = a.context;
    eng.call('rans_decode_ctx', Int32Array.of(a.bytes, a.length, a.symbols, a.n, c.W, a.groupSize, a.tableIndex, tables.dir, tables.count, 0, 0, c.K, c.shift, neighbourCode(c)));
  } else eng.call('rans_decode', Int32Array.of(a.bytes, a.length, a.symbols, a.n, typeCode(a.type), a.groupSize, a.tableIndex, tables.dir, tables.count, 0, 0));
  const w = (eng.slot >> 2) + 9;
  const r = eng.i32()[w];
  if (r !== 0) throw coderError(r, `decode of ${a.n} symbols from ${a.length} bytes`, eng.i32()[w + 1], a.length);
}

function coderError(code: number, what: string, at: number, size: number): CoderError {
  switch (code) {
    case -1: return new CoderError('capacity', `${what}: output needs more than the ${size}-byte capacity`);
    case -2: return new CoderError('truncated', `payload truncated: ${what}: ${size} bytes cannot hold the 4-byte coder state`);
    case -3: return new CoderError('corrupt', `corrupt payload: ${what}: initial coder state out of range`);
    case -4: return new CoderError('corrupt', `corrupt payload: ${what}: coder did not return to its initial state (damaged or truncated bytes, or other tables/shape than the encoder's)`);
    case -5: return new CoderError('corrupt', `corrupt payload: ${what}: bytes left over after the last symbol`);
    case -6: return new CoderError('corrupt', `corrupt payload: ${what}: invalid escape code at symbol ${at}`);
    case -7: return new CoderError('corrupt', `corrupt payload: ${what}: symbol ${at} decodes to a value outside the output type`);
    case -11: return new CoderError('corrupt', `corrupt payload: ${what}: coder state out of range at symbol ${at} with bytes left (damaged or truncated bytes)`);
    case -8: return new CoderError('params', `${what}: a table index is out of range (at symbol ${at})`);
    case -9: return new CoderError('params', `${what}: invalid kernel parameters`);
    default: return new CoderError('params', `${what}: kernel returned unknown status ${code}`);
  }
}

/** Encode a symbol tensor (channel-major when one table per channel). */
export function encode(eng: Engine, tables: CdfTables, symbols: Uint8Array | Int32Array, layout: Layout): Uint8Array {
  const n = symbols.length;
  const { G, ng } = groups(n, layout);
  const type: SymbolType = symbols instanceof Uint8Array ? 'u8' : 'i32';
  const arena = tables.arena;
  const mark = arena.mark();
  try {
    // 2 bytes per symbol covers any stream without escapes; an escape can take
    // up to 11 coder steps of at most 2 bytes each, hence the retry bound.
    const bounds = [2 * n + 64, 22 * n + 64];
    arena.reserve(symbols.byteLength + 4 * ng + bounds[0] + 64);
    const sp = arena.alloc(symbols.byteLength, 4);
    const tp = arena.alloc(4 * ng, 4);
    new Uint8Array(eng.memory.buffer).set(new Uint8Array(symbols.buffer, symbols.byteOffset, symbols.byteLength), sp);
    eng.i32().set(layout.tableIndex, tp >> 2);
    for (let attempt = 0; ; attempt++) {
      const cap = bounds[attempt];
      const op = arena.alloc(cap, 16);
      try {
        const len = encodeAt(eng, tables, { symbols: sp, n, type, groupSize: G, tableIndex: tp, out: op, capacity: cap, context: layout.context });
        return eng.u8().slice(op, op + len);
      } catch (e) {
        if (!(e instanceof CoderError && e.code === 'capacity' && attempt === 0)) throw e;
      }
    }
  } finally {
    arena.release(mark);
  }
}

export interface DecodeOptions extends Layout {
  /** Number of symbols to decode (the tensor's C*H*W). */
  count: number;
  type: SymbolType;
}

/** Decode `count` symbols; throws CoderError ('truncated' / 'corrupt') on damaged input. */
export function decode(eng: Engine, tables: CdfTables, bytes: Uint8Array, opts: DecodeOptions): Uint8Array | Int32Array {
  const n = opts.count;
  if (!Number.isInteger(n) || n < 0) throw new CoderError('params', `decode: count must be a non-negative integer, got ${n}`);
  if (n > bytes.length * MAX_SYMBOLS_PER_BYTE) throw new CoderError('corrupt', `corrupt payload: ${n} symbols cannot be coded in ${bytes.length} bytes`);
  const { G, ng } = groups(n, opts);
  const width = opts.type === 'u8' ? 1 : 4;
  const arena = tables.arena;
  const mark = arena.mark();
  try {
    arena.reserve(bytes.length + 4 * ng + width * n + 64);
    const bp = arena.alloc(bytes.length, 4);
    const tp = arena.alloc(4 * ng, 4);
    const sp = arena.alloc(width * n, 4);
    eng.u8().set(bytes, bp);
    eng.i32().set(opts.tableIndex, tp >> 2);
    decodeAt(eng, tables, { bytes: bp, length: bytes.length, symbols: sp, n, type: opts.type, groupSize: G, tableIndex: tp, context: opts.context });
    return opts.type === 'u8' ? eng.u8().slice(sp, sp + n) : eng.i32().slice(sp >> 2, (sp >> 2) + n);
  } finally {
    arena.release(mark);
  }
}

/**
 * Ideal cost in bits of `symbols` under the tables: -log2(freq / 2^16) per
 * symbol, plus for an escape the bypass bits (4-bit count + 4 bits per nibble)
 * the coder spends on it. The coder's output is this plus ~1e-5 bit/symbol and
 * 0 to 4 bytes (the final state's 32 bits less the ~23-31 bits of symbols it holds).
 */
export function crossEntropyBits(tables: readonly TableSpec[], symbols: ArrayLike<number>, layout: Layout): number {
  const n = symbols.length;
  const { G } = groups(n, layout);
  let bits = 0;
  for (let i = 0; i < n; i++) {
    const base = layout.tableIndex[Math.floor(i / G)];
    const t = tables[layout.context ? contextTable(symbols, i, base, G, layout.context) : base];
    const esc = t.cdf.length - 2;
    const d = symbols[i] - t.offset;
    if (d >= 0 && d < esc) bits -= Math.log2((t.cdf[d + 1] - t.cdf[d]) / M);
    else {
      const raw = d < 0 ? -2 * d - 1 : 2 * (d - esc);
      let k = 1;
      while (k < 9 && Math.floor(raw / 16 ** k) > 0) k++;
      bits += -Math.log2((t.cdf[esc + 1] - t.cdf[esc]) / M) + 4 + 4 * k;
    }
  }
  return bits;
}
