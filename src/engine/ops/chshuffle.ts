/**
 * Channel gather: a slice of channels, ShuffleNet's channel shuffle, or a slice of the shuffled
 * channels. y[j] = x[src(c0 + j)] for j < n, src(c) = (c % groups) * (C / groups) + floor(c / groups),
 * planes of HW values copied as they are.
 *
 *   import { loadEngine, Arena } from '../wasm.js';
 *   import { chshuffle } from './chshuffle.js';
 *   const eng = loadEngine(), a = new Arena(eng);
 *   const x = a.allocF32(116 * 28 * 28), y = a.allocF32(116 * 28 * 28), half = a.allocF32(58 * 28 * 28);
 *   chshuffle(eng, { x, y, C: 116, HW: 28 * 28, groups: 2, c0: 0, n: 116 });   // shuffle, 2 groups
 *   chshuffle(eng, { x, y: half, C: 116, HW: 28 * 28, groups: 1, c0: 58, n: 58 }); // the second half
 *
 * Layout: x [C][HW], y [n][HW]; they must not overlap.
 */
import type { Engine } from '../wasm.js';
import { posInt, intIn, ptr, inMemory, disjoint, packWords } from './check.js';
import { OPCODES } from '../plan/words.js';
import { buf, int, type OpSpec } from './spec.js';

export interface ChshuffleArgs {
  x: number;
  y: number;
  /** input channels */
  C: number;
  /** values per channel (H * W) */
  HW: number;
  /** groups of the shuffle (1: a plain slice); divides C */
  groups: number;
  /** first output channel, in the shuffled order */
  c0: number;
  /** output channels: c0 + n <= C */
  n: number;
}

/** The params struct for the `chshuffle` kernel (layout in assembly/chshuffle.ts). */
export function chshuffleWords(a: ChshuffleArgs): Int32Array {
  const op = 'chshuffle';
  const C = posInt(op, 'C', a.C), HW = posInt(op, 'HW', a.HW), G = posInt(op, 'groups', a.groups);
  if (C % G !== 0) throw new Error(`slimsplit: chshuffle groups ${G} must divide C ${C}`);
  const c0 = intIn(op, 'c0', a.c0, 0, C - 1);
  const n = intIn(op, 'n', a.n, 1, C - c0);
  if (C * HW > 0x7fffffff / 4) throw new Error(`slimsplit: chshuffle C x HW (${C} x ${HW}) is too large`);
  return packWords([ptr(op, 'x', a.x), ptr(op, 'y', a.y), C, HW, G, c0, n]);
}

export function chshuffle(eng: Engine, a: ChshuffleArgs): void {
  const words = chshuffleWords(a);
  inMemory(eng, 'chshuffle', 'x', a.x, a.C * a.HW * 4);
  inMemory(eng, 'chshuffle', 'y', a.y, a.n * a.HW * 4);
  disjoint('chshuffle', ['x', a.x, a.C * a.HW * 4], ['y', a.y, a.n * a.HW * 4]);
  eng.call('chshuffle', words);
}

/** The input channel that output channel j reads. */
export function chshuffleSource(C: number, groups: number, c0: number, j: number): number {
  const c = c0 + j;
  return (c % groups) * (C / groups) + Math.floor(c / groups);
}

/** Reference: [n][HW]. */
export function chshuffleRef(x: ArrayLike<number>, o: { C: number; HW: number; groups: number; c0: number; n: number }): Float64Array {
  const y = new Float64Array(o.n * o.HW);
  for (let j = 0; j < o.n; j++) {
    const s = chshuffleSource(o.C, o.groups, o.c0, j);
    for (let i = 0; i < o.HW; i++) y[j * o.HW + i] = x[s * o.HW + i];
  }
  return y;
}

// Graph-level spec: fields, shape rules, lowering to the kernel params.

/** Graph op `chshuffle` (docs/GRAPH.md). */
export const chshuffleOp: OpSpec = {
  fields: [buf('x', 'in'), buf('y', 'out'), int('C'), int('HW'), int('groups'), int('c0'), int('n')],
  plan(l) {
    const C = l.int('C'), HW = l.int('HW'), groups = l.int('groups'), c0 = l.int('c0'), n = l.int('n');
    l.kernelCheck(() => chshuffleWords({ x: 64, y: 64, C, HW, groups, c0, n }));
    l.bufferLead('x', C, HW, 'C, HW');
    l.bufferLead('y', n, HW, 'n, HW');
    return {
      extents: { x: C * HW, y: n * HW },
      scratch: 0,
      lower: (p) => [{ op: OPCODES.chshuffle, words: chshuffleWords({ x: p.buf('x'), y: p.buf('y'), C, HW, groups, c0, n }) }],
    };
  },
  ref(c) {
    c.put('y', chshuffleRef(c.buf('x'), { C: c.num('C'), HW: c.num('HW'), groups: c.num('groups'), c0: c.num('c0'), n: c.num('n') }));
  },
  bench: [{
    id: 'chshuffle-shufflenet', what: 'channel shuffle of 2 groups, 232ch @14 (ShuffleNetV2 stage 3; a copy: 0 flops)',
    layer: { x: 'x', y: 'y', C: 232, HW: 14 * 14, groups: 2, c0: 0, n: 232 },
    buffers: { x: [232, 14, 14], y: [232, 14, 14] },
    flops: 0,
  }],
};
