/**
 * Entropy coder benchmark: rANS size against the cross-entropy of the symbols
 * under their tables, encode/decode speed, and the size brotli, gzip and zstd
 * reach on the same quantized symbols.
 *
 *   npm run bench:codec                          # synthetic bottleneck-like tensors
 *   npm run bench:codec -- --input sets.json     # your own tensors (format: CodecSetFile below)
 *   npm run bench:codec -- --quick               # fewer timing samples
 *   npm run bench:codec -- --out other.json      # default bench/results/codec.json
 *
 *   // or from code: the sets are any { symbols, tables, layout } you can produce
 *   import { runCodecBench, syntheticSets } from './codec.bench.js';
 *   const records = await runCodecBench(mySets, { quick: true });
 *
 * Speeds are the kernels alone (symbols, tables and output already in WASM
 * memory), one thread, median of timed batches after warm-up. ratio =
 * (ransBytes - flush) / crossEntropyBytes, where flush is 8 bytes for a stream of more than 2^16
 * symbols (two coder states started at 2^23) and 0 for a shorter one (one state started at 1, whose
 * 4 bytes are mostly symbol bits: what is left of them counts against the ratio). A set with
 * `streams` > 1 is coded as that many separate streams (one packet each), sizes summed.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { brotliCompressSync, gzipSync, constants as zc } from 'node:zlib';
import { init as zstdInit, compress as zstdCompress } from '@bokuweb/zstd-wasm';
import { loadEngine, Arena, type Engine } from '../src/engine/wasm.js';
import { rng } from '../test/util.js';
import { quantizeCdf, CdfTables, encodeAt, decodeAt, crossEntropyBits, type TableSpec, type SymbolType, type CoderContext } from '../src/codec/coder.js';

export interface CodecSet {
  /** Label, e.g. '32x16x16 laplace' or a layer name. */
  tensor: string;
  bits: number;
  /** Channel-major symbols (u8 for b <= 8). */
  symbols: Uint8Array | Int32Array;
  tables: TableSpec[];
  /** Table of each group of groupSize symbols (one per channel: groupSize = H*W). */
  tableIndex: ArrayLike<number>;
  groupSize: number;
  /** Code the symbols as this many equal consecutive streams (default 1), e.g. one per image. */
  streams?: number;
  /** context-adaptive coding (tableIndex then holds each group's first table) */
  context?: CoderContext;
}

/** JSON input: symbols as a number array or base64 of their little-endian bytes; tables as CDFs or pmfs. */
export interface CodecSetFile {
  sets: Array<{
    tensor: string;
    bits: number;
    type?: SymbolType;
    symbols?: number[];
    symbolsBase64?: string;
    tableIndex: number[];
    groupSize: number;
    tables: Array<{ offset: number; cdf?: number[]; pmf?: number[] }>;
  }>;
}

export interface CodecRecord {
  tensor: string;
  bits: number;
  symbols: number;
  crossEntropyBytes: number;
  ransBytes: number;
  ratio: number;
  encodeMsps: number;
  decodeMsps: number;
  brotliBytes: number;
  gzipBytes: number;
  zstdBytes: number;
}

const SHORT_MAX = 1 << 16; // assembly/rans.ts: up to this many symbols, one state started at 1
const flushBytes = (n: number): number => (n > SHORT_MAX ? 8 : 0);


// erf via Numerical Recipes' erfc approximation (fractional error < 1.2e-7): ample for
// tables whose every frequency is floored at 1/65536 anyway.
const erf = (x: number): number => {
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const y = 1 - t * Math.exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? y : -y;
};

type Dist = 'laplace' | 'gauss';
const cdfOf = (d: Dist, x: number, s: number): number => (d === 'laplace' ? (x < 0 ? 0.5 * Math.exp(x / s) : 1 - 0.5 * Math.exp(-x / s)) : 0.5 * (1 + erf(x / (s * Math.SQRT2))));
function sample(d: Dist, s: number, r: () => number): number {
  if (d === 'laplace') {
    const u = r() - 0.5;
    return -s * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
  }
  return s * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/**
 * Bottleneck-like symbols: channel c is drawn from a Laplacian or Gaussian with
 * its own mean and spread (some channels nearly silent, as in trained encoders),
 * quantized to b bits over a clip range of +-4 units, and coded with the table
 * of its generating distribution (escape mass 1e-6).
 */
export function syntheticSet(C: number, H: number, W: number, dist: Dist, bits: number, seed: number): CodecSet {
  const r = rng(seed);
  const HW = H * W, K = 2 ** bits, clip = 4, step = (2 * clip) / (K - 1);
  const symbols = new Uint8Array(C * HW);
  const tables: TableSpec[] = [];
  for (let c = 0; c < C; c++) {
    const s = 0.05 + 1.6 * r() ** 2, mu = 3 * (r() - 0.5);
    const pmf: number[] = [];
    for (let k = 0; k < K; k++) {
      const lo = k === 0 ? -Infinity : -clip + (k - 0.5) * step;
      const hi = k === K - 1 ? Infinity : -clip + (k + 0.5) * step;
      pmf.push((hi === Infinity ? 1 : cdfOf(dist, hi - mu, s)) - (lo === -Infinity ? 0 : cdfOf(dist, lo - mu, s)));
    }
    pmf.push(1e-6);
    tables.push({ cdf: quantizeCdf(pmf.map((p) => Math.max(p, 0))), offset: 0 });
    for (let i = 0; i < HW; i++) {
      const q = Math.round((mu + sample(dist, s, r) + clip) / step);
      symbols[c * HW + i] = Math.min(K - 1, Math.max(0, q));
    }
  }
  return { tensor: `${C}x${H}x${W} ${dist}`, bits, symbols, tables, tableIndex: Array.from({ length: C }, (_, c) => c), groupSize: HW };
}

export function syntheticSets(): CodecSet[] {
  const out: CodecSet[] = [];
  let seed = 1;
  for (const [C, H, W] of [[32, 16, 16], [6, 96, 96]] as const) {
    for (const dist of ['laplace', 'gauss'] as const) for (const bits of [1, 2, 4, 8]) out.push(syntheticSet(C, H, W, dist, bits, seed++));
  }
  return out;
}

export function loadSets(path: string): CodecSet[] {
  const file = JSON.parse(readFileSync(path, 'utf8')) as CodecSetFile;
  if (!Array.isArray(file.sets)) throw new Error(`${path}: expected { "sets": [...] }`);
  return file.sets.map((s, i) => {
    const type = s.type ?? (s.bits <= 8 ? 'u8' : 'i32');
    let symbols: Uint8Array | Int32Array;
    if (s.symbols) symbols = type === 'u8' ? Uint8Array.from(s.symbols) : Int32Array.from(s.symbols);
    else if (s.symbolsBase64) {
      const raw = Buffer.from(s.symbolsBase64, 'base64');
      symbols = type === 'u8' ? new Uint8Array(raw) : new Int32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    } else throw new Error(`${path}: set ${i} (${s.tensor}) has neither symbols nor symbolsBase64`);
    const tables = s.tables.map((t, k) => {
      if (t.cdf) return { cdf: t.cdf, offset: t.offset };
      if (t.pmf) return { cdf: quantizeCdf(t.pmf), offset: t.offset };
      throw new Error(`${path}: set ${i} table ${k} has neither cdf nor pmf`);
    });
    return { tensor: s.tensor, bits: s.bits, symbols, tables, tableIndex: s.tableIndex, groupSize: s.groupSize };
  });
}

/** Median seconds per call of fn, timed in batches of at least ~3 ms after ~100 ms of warm-up. */
function timeIt(fn: () => void, samples: number): number {
  const t0 = performance.now();
  let calls = 0;
  while (performance.now() - t0 < 100 || calls < 5) {
    fn();
    calls++;
  }
  const per = (performance.now() - t0) / calls;
  const batch = Math.max(1, Math.ceil(3 / per));
  const ts: number[] = [];
  for (let s = 0; s < samples; s++) {
    const a = performance.now();
    for (let b = 0; b < batch; b++) fn();
    ts.push((performance.now() - a) / batch);
  }
  ts.sort((x, y) => x - y);
  return ts[ts.length >> 1] / 1e3;
}

export async function runCodecBench(sets: CodecSet[], opts: { quick?: boolean; eng?: Engine } = {}): Promise<CodecRecord[]> {
  await zstdInit();
  const eng = opts.eng ?? loadEngine();
  const samples = opts.quick ? 7 : 21;
  const records: CodecRecord[] = [];
  for (const set of sets) {
    const arena = new Arena(eng);
    const tables = new CdfTables(eng, arena, set.tables, { lookup: 'auto' });
    const n = set.symbols.length;
    const type: SymbolType = set.symbols instanceof Uint8Array ? 'u8' : 'i32';
    const ng = set.tableIndex.length;
    const S = set.streams ?? 1;
    const per = n / S, gper = ng / S, width = set.symbols.BYTES_PER_ELEMENT;
    if (!Number.isInteger(per) || !Number.isInteger(gper) || per % set.groupSize !== 0) throw new Error(`${set.tensor}: ${n} symbols / ${ng} groups do not split into ${S} streams of whole groups`);
    const cap = 22 * per + 64;
    arena.reserve(2 * set.symbols.byteLength + 4 * ng + S * cap + 256);
    const sp = arena.alloc(set.symbols.byteLength), tp = arena.alloc(4 * ng), op = arena.alloc(S * cap), dp = arena.alloc(set.symbols.byteLength);
    eng.u8().set(new Uint8Array(set.symbols.buffer, set.symbols.byteOffset, set.symbols.byteLength), sp);
    eng.i32().set(set.tableIndex, tp >> 2);
    const encs = Array.from({ length: S }, (_, k) => ({ symbols: sp + k * per * width, n: per, type, groupSize: set.groupSize, tableIndex: tp + 4 * k * gper, out: op + k * cap, capacity: cap, context: set.context }));
    const lens = encs.map((e) => encodeAt(eng, tables, e));
    const decs = encs.map((e, k) => ({ bytes: e.out, length: lens[k], symbols: dp + k * per * width, n: per, type, groupSize: set.groupSize, tableIndex: e.tableIndex, context: set.context }));
    for (const d of decs) decodeAt(eng, tables, d);
    const len = lens.reduce((a, b) => a + b, 0);
    const back = eng.u8().subarray(dp, dp + set.symbols.byteLength);
    const orig = new Uint8Array(set.symbols.buffer, set.symbols.byteOffset, set.symbols.byteLength);
    if (!Buffer.from(back).equals(Buffer.from(orig))) throw new Error(`${set.tensor} b=${set.bits}: decode does not reproduce the symbols`);
    const tEnc = timeIt(() => { for (const e of encs) encodeAt(eng, tables, e); }, samples);
    const tDec = timeIt(() => { for (const d of decs) decodeAt(eng, tables, d); }, samples);
    // per stream: a context never reaches across streams (an image's first channel has no previous one)
    let ce = 0;
    for (let k = 0; k < S; k++) {
      const ti = Array.from(set.tableIndex).slice(k * gper, (k + 1) * gper);
      ce += crossEntropyBits(set.tables, set.symbols.subarray(k * per, (k + 1) * per), { tableIndex: ti, groupSize: set.groupSize, context: set.context }) / 8;
    }
    const raw = Buffer.from(orig);
    records.push({
      tensor: set.tensor,
      bits: set.bits,
      symbols: n,
      crossEntropyBytes: Math.round(ce * 10) / 10,
      ransBytes: len,
      ratio: Math.round(((len - S * flushBytes(per)) / ce) * 1e5) / 1e5,
      encodeMsps: Math.round(n / tEnc / 1e5) / 10,
      decodeMsps: Math.round(n / tDec / 1e5) / 10,
      brotliBytes: brotliCompressSync(raw, { params: { [zc.BROTLI_PARAM_QUALITY]: zc.BROTLI_MAX_QUALITY, [zc.BROTLI_PARAM_SIZE_HINT]: raw.length } }).length,
      gzipBytes: gzipSync(raw, { level: 9 }).length,
      zstdBytes: zstdCompress(raw, 19).length,
    });
  }
  return records;
}

function printTable(rs: CodecRecord[]): void {
  const head = ['tensor', 'b', 'symbols', 'CE bytes', 'rANS', 'ratio', 'enc Msym/s', 'dec Msym/s', 'brotli', 'gzip', 'zstd'];
  const rows = rs.map((r) => [r.tensor, r.bits, r.symbols, r.crossEntropyBytes.toFixed(1), r.ransBytes, r.ratio.toFixed(5), r.encodeMsps.toFixed(1), r.decodeMsps.toFixed(1), r.brotliBytes, r.gzipBytes, r.zstdBytes].map(String));
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const input = opt('--input');
  const out = opt('--out') ?? join(dirname(fileURLToPath(import.meta.url)), 'results', 'codec.json');
  const eng = loadEngine();
  // Real tensors from the shipped model when it exists (and --synthetic is not given), else synthetic.
  const real: CodecSet[] = [];
  if (!input && !args.includes('--synthetic')) {
    const { modelSets } = await import('./codec-sets.js');
    // Whole tensors (the coder's efficiency and speed on long streams), then one stream per image
    // at one member (what a packet of the smallest modes carries).
    real.push(...(await modelSets()), ...(await modelSets(1, true)));
  }
  const sets = input ? loadSets(input) : real.length ? real : syntheticSets();
  const source = input ?? (real.length ? 'the shipped model (weights/see-cifar10.slim) on 100 test images (x100 packets: one stream per image)' : 'synthetic generator');
  console.log(`rANS codec bench: ${sets.length} sets from ${source}, ${eng.build} build, node ${process.version}, 1 thread`);
  const records = await runCodecBench(sets, { quick: args.includes('--quick'), eng });
  printTable(records);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(records, null, 1) + '\n');
  console.log(`wrote ${out}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
