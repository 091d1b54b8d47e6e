/**
 * Concatenation of two tensors with a fused activation: y = act(a ++ b). At batch 1 in NCHW the
 * channel axis is the outermost, so a channel concat of [Ca][H][W] and [Cb][H][W] is a's values
 * followed by b's; more inputs chain.
 *
 *   import { loadEngine, Arena } from '../wasm.js';
 *   import { concat } from './concat.js';
 *   const eng = loadEngine(), ar = new Arena(eng);
 *   const a = ar.allocF32(128 * 32 * 32), b = ar.allocF32(128 * 32 * 32), y = ar.allocF32(256 * 32 * 32);
 *   concat(eng, { a, b, y, na: 128 * 32 * 32, nb: 128 * 32 * 32, act: Act.relu });
 */
import type { Engine } from '../wasm.js';
import { posInt, ptr, inMemory, packWords, actCodeOk, disjoint } from './check.js';
import { actRef } from './act.js';
import { OPCODES } from '../plan/words.js';
import { buf, int, actF, type OpSpec } from './spec.js';

export interface ConcatArgs {
  a: number;
  b: number;
  /** na + nb floats; must not overlap a or b */
  y: number;
  na: number;
  nb: number;
  act?: number;
}

/** The params struct for the `concat` kernel (layout in assembly/concat.ts). */
export function concatWords(c: ConcatArgs): Int32Array {
  const op = 'concat';
  const na = posInt(op, 'na', c.na), nb = posInt(op, 'nb', c.nb);
  if (na + nb > 0x7fffffff / 4) throw new Error(`slimsplit: concat na + nb (${na} + ${nb}) is too large`);
  return packWords([ptr(op, 'a', c.a), ptr(op, 'b', c.b), ptr(op, 'y', c.y), na, nb, actCodeOk(op, c.act)]);
}

export function concat(eng: Engine, c: ConcatArgs): void {
  const words = concatWords(c);
  const yb = (c.na + c.nb) * 4;
  inMemory(eng, 'concat', 'a', c.a, c.na * 4);
  inMemory(eng, 'concat', 'b', c.b, c.nb * 4);
  inMemory(eng, 'concat', 'y', c.y, yb);
  disjoint('concat', ['y', c.y, yb], ['a', c.a, c.na * 4]);
  disjoint('concat', ['y', c.y, yb], ['b', c.b, c.nb * 4]);
  eng.call('concat', words);
}

/** f64 reference: [na + nb]. */
export function concatRef(a: ArrayLike<number>, b: ArrayLike<number>, na: number, nb: number, act = 0): Float64Array {
  const y = new Float64Array(na + nb);
  for (let i = 0; i < na; i++) y[i] = actRef(a[i], act);
  for (let i = 0; i < nb; i++) y[na + i] = actRef(b[i], act);
  return y;
}

// Graph-level spec: fields, shape rules, lowering to the kernel params.

/** Graph op `concat` (docs/GRAPH.md). */
export const concatOp: OpSpec = {
  fields: [buf('a', 'in'), buf('b', 'in'), buf('y', 'out'), int('na'), int('nb'), actF],
  alias: [['a', 'b']],
  plan(l) {
    const na = l.int('na'), nb = l.int('nb');
    l.bufferElems('a', na, 'na');
    l.bufferElems('b', nb, 'nb');
    l.bufferElems('y', na + nb, 'na + nb');
    const c = { na, nb, act: l.actCode() };
    l.kernelCheck(() => concatWords({ ...c, a: 64, b: 64, y: 64 }));
    return {
      extents: { a: na, b: nb, y: na + nb },
      scratch: 0,
      lower: (p) => [{ op: OPCODES.concat, words: concatWords({ ...c, a: p.buf('a'), b: p.buf('b'), y: p.buf('y') }) }],
    };
  },
  ref(c) {
    c.put('y', concatRef(c.buf('a'), c.buf('b'), c.num('na'), c.num('nb'), c.act));
  },
  bench: [{
    id: 'concat-centernet', what: 'channel concat 128ch + 128ch @32 + relu (CenterNet head; a ++ a)',
    layer: { a: 'a', b: 'a', y: 'y', na: 128 * 32 * 32, nb: 128 * 32 * 32, act: 'relu' },
    buffers: { a: [128, 32, 32], y: [256, 32, 32] },
    flops: 256 * 32 * 32,
  }],
};
