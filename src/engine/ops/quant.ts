/**
 * b-bit uniform quantization (b = 1..8, one code per byte) of the tensor sent at the split,
 * per tensor or per channel.
 *
 *   import { loadEngine, Arena } from '../wasm.js';
 *   import { quantize, dequantize } from './quant.js';
 *   const eng = loadEngine(), a = new Arena(eng);
 *   const x = a.allocF32(1024), q = a.alloc(1024), y = a.allocF32(1024);
 *   quantize(eng, { x, y: q, n: 1024, bits: 4, scale: 0.05, zeroPoint: 8 });   // codes 0..15
 *   dequantize(eng, { x: q, y, n: 1024, bits: 4, scale: 0.05, zeroPoint: 8 });
 *
 * q = clamp(nearest(x / scale) + zeroPoint, 0, 2^b - 1), ties to even, all in f32; x = (q -
 * zeroPoint) * scale. Every input has a defined code, the same in both builds and on any WASM
 * engine: +inf -> 2^b - 1, -inf -> 0, NaN -> clamp(zeroPoint, 0, 2^b - 1). quantizeRef
 * reproduces the kernel's f32 arithmetic exactly, so codes compare with ===.
 */
import type { Engine } from '../wasm.js';
import { posInt, active, ptr, intIn, inMemory, finiteF32, packWords, disjoint } from './check.js';
import { OPCODES } from '../plan/words.js';
import { buf, int, bound, type OpSpec } from './spec.js';

/** |zeroPoint| bound: keeps nearest(x / scale) + zeroPoint exact in f32 where it matters. */
export const MAX_ZERO_POINT = 1 << 16;

export interface QuantArgs {
  /** quantize: f32 [n] input; dequantize: u8 [n] codes */
  x: number;
  /** quantize: u8 [n] codes; dequantize: f32 [n] output */
  y: number;
  n: number;
  /** 1..8 */
  bits: number;
  /** finite, > 0 (stored as f32) */
  scale: number;
  zeroPoint: number;
  /** elements converted (a prefix); defaults to n */
  nActive?: number;
}

export interface QuantPcArgs {
  /** quantize: f32 [C][len]; dequantize: u8 [C][len] */
  x: number;
  /** quantize: u8 [C][len]; dequantize: f32 [C][len] */
  y: number;
  C: number;
  /** elements per channel */
  len: number;
  bits: number;
  /** f32 [C] */
  scales: number;
  /** i32 [C] */
  zeroPoints: number;
  /** channels converted (a prefix); defaults to C */
  cActive?: number;
}

function checkCommon(op: string, bits: number, zp: number): void {
  intIn(op, 'bits', bits, 1, 8);
  intIn(op, 'zeroPoint', zp, -MAX_ZERO_POINT, MAX_ZERO_POINT);
}

function wordsFor(op: string, a: QuantArgs, codesIn: boolean): Int32Array {
  const n = posInt(op, 'n', a.n);
  checkCommon(op, a.bits, a.zeroPoint);
  const scale = finiteF32(op, 'scale', a.scale, { positive: true });
  return packWords([
    ptr(op, 'x', a.x, { align: codesIn ? 1 : 4 }), ptr(op, 'y', a.y, { align: codesIn ? 4 : 1 }),
    n, a.bits, { f: scale }, a.zeroPoint, active(op, 'nActive', a.nActive, n, 'n'),
  ]);
}

/** The params struct for the `quantize` kernel (layout in assembly/quant.ts). */
export function quantizeWords(a: QuantArgs): Int32Array {
  return wordsFor('quantize', a, false);
}

/** The params struct for the `dequantize` kernel. */
export function dequantizeWords(a: QuantArgs): Int32Array {
  return wordsFor('dequantize', a, true);
}

function run(eng: Engine, name: string, words: Int32Array, x: number, xb: number, y: number, yb: number): void {
  inMemory(eng, name, 'x', x, xb);
  inMemory(eng, name, 'y', y, yb);
  disjoint(name, ['x', x, xb], ['y', y, yb]);
  eng.call(name, words);
}

export function quantize(eng: Engine, a: QuantArgs): void {
  run(eng, 'quantize', quantizeWords(a), a.x, a.n * 4, a.y, a.n);
}

export function dequantize(eng: Engine, a: QuantArgs): void {
  run(eng, 'dequantize', dequantizeWords(a), a.x, a.n, a.y, a.n * 4);
}

function pcWordsFor(op: string, a: QuantPcArgs, codesIn: boolean): Int32Array {
  const C = posInt(op, 'C', a.C);
  intIn(op, 'bits', a.bits, 1, 8);
  return packWords([
    ptr(op, 'x', a.x, { align: codesIn ? 1 : 4 }), ptr(op, 'y', a.y, { align: codesIn ? 4 : 1 }),
    C, posInt(op, 'len', a.len), a.bits, ptr(op, 'scales', a.scales), ptr(op, 'zeroPoints', a.zeroPoints),
    active(op, 'cActive', a.cActive, C, 'C'),
  ]);
}

export function quantizePcWords(a: QuantPcArgs): Int32Array {
  return pcWordsFor('quantize_pc', a, false);
}

export function dequantizePcWords(a: QuantPcArgs): Int32Array {
  return pcWordsFor('dequantize_pc', a, true);
}

// Scales and zero points live in WASM memory: checked here, where they can be read.
function checkPcTables(eng: Engine, op: string, a: QuantPcArgs): void {
  inMemory(eng, op, 'scales', a.scales, a.C * 4);
  inMemory(eng, op, 'zeroPoints', a.zeroPoints, a.C * 4);
  const f = eng.f32(), i = eng.i32();
  for (let c = 0; c < (a.cActive ?? a.C); c++) {
    finiteF32(op, `scales[${c}]`, f[(a.scales >> 2) + c], { positive: true });
    intIn(op, `zeroPoints[${c}]`, i[(a.zeroPoints >> 2) + c], -MAX_ZERO_POINT, MAX_ZERO_POINT);
  }
}

export function quantizePerChannel(eng: Engine, a: QuantPcArgs): void {
  const words = quantizePcWords(a);
  checkPcTables(eng, 'quantize_pc', a);
  run(eng, 'quantize_pc', words, a.x, a.C * a.len * 4, a.y, a.C * a.len);
}

export function dequantizePerChannel(eng: Engine, a: QuantPcArgs): void {
  const words = dequantizePcWords(a);
  checkPcTables(eng, 'dequantize_pc', a);
  run(eng, 'dequantize_pc', words, a.x, a.C * a.len, a.y, a.C * a.len * 4);
}

/** f32 round-half-to-even of an f32 value (WASM f32.nearest). */
export function nearestEven(v: number): number {
  if (!(Math.abs(v) < 2 ** 23)) return v; // already an integer, or inf/NaN
  let r = Math.round(v); // half rounds up
  if (r - v === 0.5 && r % 2 !== 0) r -= 1;
  return r === 0 && (v < 0 || Object.is(v, -0)) ? -0 : r;
}

/** One code, with the kernel's exact f32 operations. */
export function quantizeOne(v: number, bits: number, scale: number, zeroPoint: number): number {
  const qmax = 2 ** bits - 1, s = Math.fround(scale);
  // f64 division of two f32 values rounded once to f32 is the correctly rounded f32 division.
  let t = Math.fround(nearestEven(Math.fround(Math.fround(v) / s)) + zeroPoint);
  if (Number.isNaN(t)) t = zeroPoint;
  return Math.min(Math.max(t, 0), qmax);
}

/** Reference codes (exact, not approximate) for a per-tensor quantize. */
export function quantizeRef(x: ArrayLike<number>, o: { bits: number; scale: number; zeroPoint: number }): Uint8Array {
  const q = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) q[i] = quantizeOne(x[i], o.bits, o.scale, o.zeroPoint);
  return q;
}

/** Reference (exact: f32 product of small integers and the f32 scale). */
export function dequantizeRef(q: ArrayLike<number>, o: { scale: number; zeroPoint: number }): Float32Array {
  const y = new Float32Array(q.length);
  const s = Math.fround(o.scale);
  for (let i = 0; i < q.length; i++) y[i] = (q[i] - o.zeroPoint) * s;
  return y;
}

// Graph-level spec: fields, shape rules, lowering to the kernel params.

function quantOp(dequant: boolean): OpSpec {
  return {
    fields: [
      buf('x', 'in', dequant ? 'u8' : 'f32'), buf('y', 'out', dequant ? 'f32' : 'u8'), int('n'),
      { name: 'bits', kind: 'int', modal: true }, { name: 'scale', kind: 'float', modal: true }, { name: 'zeroPoint', kind: 'int', modal: true },
      bound('nActive'),
    ],
    plan(l) {
      const n = l.int('n');
      const nA = l.activeCount('nActive', n, 'n');
      l.bufferElems('x', n, 'n');
      l.bufferElems('y', n, 'n');
      const q = { n, bits: l.int('bits'), scale: l.float('scale'), zeroPoint: l.int('zeroPoint'), nActive: nA };
      const words = dequant ? dequantizeWords : quantizeWords;
      l.kernelCheck(() => words({ ...q, x: 64, y: 64 }));
      return {
        extents: { x: nA, y: nA },
        scratch: 0,
        lower: (p) => [{ op: dequant ? OPCODES.dequantize : OPCODES.quantize, words: words({ ...q, x: p.buf('x'), y: p.buf('y') }) }],
      };
    },
    ref(c) {
      const x = c.buf('x').subarray(0, c.opt('nActive') ?? c.num('n'));
      c.put('y', dequant ? dequantizeRef(x, { scale: c.num('scale'), zeroPoint: c.num('zeroPoint') }) : quantizeRef(x, { bits: c.num('bits'), scale: c.num('scale'), zeroPoint: c.num('zeroPoint') }));
    },
    bench: [{
      id: dequant ? 'dequantize-see' : 'quantize-see', what: `${dequant ? 'dequantize' : 'quantize'} the 6x96x96 SEE bottleneck, 4 bits (2 flops per value)`,
      layer: { x: 'x', y: 'y', n: 6 * 96 * 96, bits: 4, scale: 0.125, zeroPoint: 8 },
      buffers: { x: [6, 96, 96], y: [6, 96, 96] },
      flops: 2 * 6 * 96 * 96,
    }],
  };
}

/** Graph ops quantize (f32 -> u8 codes) and dequantize (u8 codes -> f32). */
export const quantizeOp = quantOp(false);
export const dequantizeOp = quantOp(true);
