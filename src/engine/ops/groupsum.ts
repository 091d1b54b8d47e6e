/**
 * Weighted sum of channel groups: the SEE ensemble reduction over its active members.
 *
 *   import { loadEngine, Arena } from '../wasm.js';
 *   import { groupsum } from './groupsum.js';
 *   const eng = loadEngine(), a = new Arena(eng);
 *   const x = a.allocF32(4 * 36 * 24 * 24), y = a.allocF32(36 * 24 * 24), w = a.allocF32(4);
 *   eng.f32().set([0.5, 0.5, 0, 0], w >> 2);
 *   groupsum(eng, { x, y, G: 4, C: 36, H: 24, W: 24, weights: w, gActive: 2 });
 *
 * Layout: x [G*C][H][W] (group g at channel g*C), weights [G], y [C][H][W]; y may be x (the
 * sum lands in group 0's place), otherwise it must not overlap x.
 */
import type { Engine } from '../wasm.js';
import { posInt, active, ptr, inMemory, packWords, disjoint } from './check.js';
import { OPCODES } from '../plan/words.js';
import { buf, ten, int, bound, type OpSpec } from './spec.js';

export interface GroupsumArgs {
  x: number;
  y: number;
  /** groups laid out in x */
  G: number;
  /** channels per group */
  C: number;
  H: number;
  W: number;
  /** f32 [G] */
  weights: number;
  /** groups summed (the first g); defaults to G */
  gActive?: number;
}

/** The params struct for the `groupsum` kernel (layout in assembly/groupsum.ts). */
export function groupsumWords(a: GroupsumArgs): Int32Array {
  const op = 'groupsum';
  const G = posInt(op, 'G', a.G);
  return packWords([
    ptr(op, 'x', a.x), ptr(op, 'y', a.y), G, posInt(op, 'C', a.C), posInt(op, 'H', a.H), posInt(op, 'W', a.W),
    ptr(op, 'weights', a.weights), active(op, 'gActive', a.gActive, G, 'G'),
  ]);
}

export function groupsum(eng: Engine, a: GroupsumArgs): void {
  const words = groupsumWords(a);
  const n = a.C * a.H * a.W * 4;
  inMemory(eng, 'groupsum', 'x', a.x, a.G * n);
  inMemory(eng, 'groupsum', 'y', a.y, n);
  inMemory(eng, 'groupsum', 'weights', a.weights, a.G * 4);
  if (a.y !== a.x) disjoint('groupsum', ['x', a.x, a.G * n], ['y', a.y, n]);
  disjoint('groupsum', ['weights', a.weights, a.G * 4], ['y', a.y, n]);
  eng.call('groupsum', words);
}

/** f64 reference: [C*H*W]. */
export function groupsumRef(x: ArrayLike<number>, w: ArrayLike<number>, o: { C: number; H: number; W: number; gActive: number }): Float64Array {
  const n = o.C * o.H * o.W;
  const y = new Float64Array(n);
  for (let g = 0; g < o.gActive; g++) for (let i = 0; i < n; i++) y[i] += w[g] * x[g * n + i];
  return y;
}

// Graph-level spec: fields, shape rules, lowering to the kernel params.

/** Graph op `groupsum` (docs/GRAPH.md). */
export const groupsumOp: OpSpec = {
  fields: [buf('x', 'in'), buf('y', 'out'), int('G'), int('C'), int('H'), int('W'), ten('weights'), bound('gActive')],
  alias: [['x', 'y']],
  plan(l) {
    const G = l.int('G'), C = l.int('C'), H = l.int('H'), W = l.int('W');
    const gA = l.activeCount('gActive', G, 'G');
    l.bufferShape('x', [G * C, H, W], 'G*C, H, W');
    l.bufferShape('y', [C, H, W], 'C, H, W');
    l.tensorShape('weights', [G], 'G');
    return {
      extents: { x: gA * C * H * W, y: C * H * W },
      scratch: 0,
      lower: (p) => [{ op: OPCODES.groupsum, words: groupsumWords({ x: p.buf('x'), y: p.buf('y'), G, C, H, W, weights: p.ten('weights'), gActive: gA }) }],
    };
  },
  ref(c) {
    c.put('y', groupsumRef(c.buf('x'), c.tensor('weights')!, { C: c.num('C'), H: c.num('H'), W: c.num('W'), gActive: c.opt('gActive') ?? c.num('G') }));
  },
  bench: [{
    id: 'groupsum-see', what: 'weighted sum of 4 members x 36ch @96',
    layer: { x: 'x', y: 'y', G: 4, C: 36, H: 96, W: 96, weights: 'w' },
    buffers: { x: [144, 96, 96], y: [36, 96, 96] }, tensors: { w: [4] },
    flops: 2 * 4 * 36 * 96 * 96,
  }],
};
