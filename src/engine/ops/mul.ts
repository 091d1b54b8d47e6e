/**
 * Elementwise or per-channel multiply with a fused activation: y = act(a * b), a [C][HW], b [C][HW]
 * or [C] (one factor per channel: squeeze-excite's gate, TensorFlow's broadcasting Mul of
 * [1,1,1,C] against [1,H,W,C]).
 *
 *   import { loadEngine, Arena } from '../wasm.js';
 *   import { mul } from './mul.js';
 *   const eng = loadEngine(), a = new Arena(eng);
 *   const x = a.allocF32(72 * 64 * 64), gate = a.allocF32(72);
 *   mul(eng, { a: x, b: gate, y: x, C: 72, HW: 64 * 64, perChannel: true });
 */
import type { Engine } from '../wasm.js';
import { posInt, ptr, inMemory, packWords, actCodeOk, disjoint } from './check.js';
import { actRef } from './act.js';
import { OPCODES } from '../plan/words.js';
import { buf, int, actF, type OpSpec } from './spec.js';

export interface MulArgs {
  a: number;
  b: number;
  /** may equal a (and b when elementwise) */
  y: number;
  C: number;
  HW: number;
  /** b holds C factors, one per channel */
  perChannel?: boolean;
  act?: number;
}

/** The params struct for the `mul` kernel (layout in assembly/mul.ts). */
export function mulWords(m: MulArgs): Int32Array {
  const op = 'mul';
  const C = posInt(op, 'C', m.C), HW = posInt(op, 'HW', m.HW);
  if (C * HW > 0x7fffffff / 4) throw new Error(`slimsplit: mul C x HW (${C} x ${HW}) is too large`);
  return packWords([ptr(op, 'a', m.a), ptr(op, 'b', m.b), ptr(op, 'y', m.y), C, HW, m.perChannel ? 1 : 0, actCodeOk(op, m.act)]);
}

export function mul(eng: Engine, m: MulArgs): void {
  const words = mulWords(m);
  const n = m.C * m.HW * 4, nb = m.perChannel ? m.C * 4 : n;
  inMemory(eng, 'mul', 'a', m.a, n);
  inMemory(eng, 'mul', 'b', m.b, nb);
  inMemory(eng, 'mul', 'y', m.y, n);
  if (m.perChannel && m.y !== m.b) disjoint('mul', ['y', m.y, n], ['b', m.b, nb]);
  if (m.perChannel && m.y === m.b) throw new Error('slimsplit: mul y may not be the per-channel factors b');
  eng.call('mul', words);
}

/** f64 reference: [C * HW]. */
export function mulRef(a: ArrayLike<number>, b: ArrayLike<number>, o: { C: number; HW: number; perChannel?: boolean; act?: number }): Float64Array {
  const n = o.C * o.HW, y = new Float64Array(n);
  for (let i = 0; i < n; i++) y[i] = actRef(a[i] * b[o.perChannel ? Math.floor(i / o.HW) : i], o.act ?? 0);
  return y;
}

// Graph-level spec: fields, shape rules, lowering to the kernel params.

/** Graph op `mul` (docs/GRAPH.md): b elementwise ([C, ...HW]) or per channel ([C]), told by its size. */
export const mulOp: OpSpec = {
  fields: [buf('a', 'in'), buf('b', 'in'), buf('y', 'out'), int('C'), int('HW'), actF],
  alias: [['a', 'y'], ['a', 'b'], ['b', 'y']],
  plan(l) {
    const C = l.int('C'), HW = l.int('HW');
    l.bufferLead('a', C, HW, 'C, HW');
    l.bufferLead('y', C, HW, 'C, HW');
    const nb = l.buffer('b').elems;
    if (nb !== C && nb !== C * HW) l.fail('shape', `buffer b has ${nb} elements; expected C = ${C} (per channel) or C x HW = ${C * HW} (elementwise)`);
    const perChannel = nb === C && HW > 1;
    if (perChannel && l.value('b') === l.value('y')) l.fail('alias', 'y may not be the per-channel factors b');
    const m = { C, HW, perChannel, act: l.actCode() };
    l.kernelCheck(() => mulWords({ ...m, a: 64, b: 64, y: 64 }));
    return {
      extents: { a: C * HW, b: perChannel ? C : C * HW, y: C * HW },
      scratch: 0,
      lower: (p) => [{ op: OPCODES.mul, words: mulWords({ ...m, a: p.buf('a'), b: p.buf('b'), y: p.buf('y') }) }],
    };
  },
  ref(c) {
    const C = c.num('C'), HW = c.num('HW'), b = c.buf('b');
    c.put('y', mulRef(c.buf('a'), b, { C, HW, perChannel: b.length === C && HW > 1, act: c.act }));
  },
  bench: [{
    id: 'mul-centernet', what: 'elementwise mul 128ch @128 (a * a: a graph has one input; the per-channel gate is the same loop with a splat)',
    layer: { a: 'a', b: 'a', y: 'y', C: 128, HW: 128 * 128, act: 'none' },
    buffers: { a: [128, 128, 128], y: [128, 128, 128] },
    flops: 128 * 128 * 128,
  }],
};
