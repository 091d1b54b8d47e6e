/**
 * Softmax over the channel axis at every position (a class vector: C = n, HW = 1), with the
 * engine's exp: y[c][i] = e^(x[c][i] - max) / sum.
 *
 *   import { loadEngine, Arena } from '../wasm.js';
 *   import { softmax } from './softmax.js';
 *   const eng = loadEngine(), a = new Arena(eng);
 *   const logits = a.allocF32(1000);
 *   softmax(eng, { x: logits, y: logits, C: 1000, HW: 1 });
 */
import type { Engine } from '../wasm.js';
import { posInt, ptr, inMemory, packWords } from './check.js';
import { OPCODES } from '../plan/words.js';
import { buf, int, type OpSpec } from './spec.js';

export interface SoftmaxArgs {
  x: number;
  /** may be x */
  y: number;
  C: number;
  HW: number;
}

/** The params struct for the `softmax` kernel (layout in assembly/softmax.ts). */
export function softmaxWords(a: SoftmaxArgs): Int32Array {
  const op = 'softmax';
  const C = posInt(op, 'C', a.C), HW = posInt(op, 'HW', a.HW);
  if (C * HW > 0x7fffffff / 4) throw new Error(`slimsplit: softmax C x HW (${C} x ${HW}) is too large`);
  return packWords([ptr(op, 'x', a.x), ptr(op, 'y', a.y), C, HW]);
}

export function softmax(eng: Engine, a: SoftmaxArgs): void {
  const words = softmaxWords(a);
  inMemory(eng, 'softmax', 'x', a.x, a.C * a.HW * 4);
  inMemory(eng, 'softmax', 'y', a.y, a.C * a.HW * 4);
  if (a.y !== a.x && a.y < a.x + a.C * a.HW * 4 && a.x < a.y + a.C * a.HW * 4) throw new Error('slimsplit: softmax y overlaps x without being x');
  eng.call('softmax', words);
}

/** f64 reference: [C][HW]. */
export function softmaxRef(x: ArrayLike<number>, C: number, HW: number): Float64Array {
  const y = new Float64Array(C * HW);
  for (let i = 0; i < HW; i++) {
    let m = -Infinity, s = 0;
    for (let c = 0; c < C; c++) m = Math.max(m, x[c * HW + i]);
    for (let c = 0; c < C; c++) s += Math.exp(x[c * HW + i] - m);
    for (let c = 0; c < C; c++) y[c * HW + i] = Math.exp(x[c * HW + i] - m) / s;
  }
  return y;
}

// Graph-level spec: fields, shape rules, lowering to the kernel params.

/** Graph op `softmax` (docs/GRAPH.md). */
export const softmaxOp: OpSpec = {
  fields: [buf('x', 'in'), buf('y', 'out'), int('C'), int('HW')],
  alias: [['x', 'y']],
  plan(l) {
    const C = l.int('C'), HW = l.int('HW');
    l.kernelCheck(() => softmaxWords({ x: 64, y: 64, C, HW }));
    l.bufferLead('x', C, HW, 'C, HW');
    l.bufferLead('y', C, HW, 'C, HW');
    return {
      extents: { x: C * HW, y: C * HW },
      scratch: 0,
      lower: (p) => [{ op: OPCODES.softmax, words: softmaxWords({ x: p.buf('x'), y: p.buf('y'), C, HW }) }],
    };
  },
  ref(c) {
    c.put('y', softmaxRef(c.buf('x'), c.num('C'), c.num('HW')));
  },
  bench: [{
    id: 'softmax-classes', what: 'softmax over 80 channels at 64 x 64 positions (an exp counts 1)',
    layer: { x: 'x', y: 'y', C: 80, HW: 64 * 64 },
    buffers: { x: [80, 64, 64], y: [80, 64, 64] },
    flops: 4 * 80 * 64 * 64,
  }],
};
