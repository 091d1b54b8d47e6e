/**
 * Squeeze-excite, for one block or for G ensemble members side by side (each member its own
 * C/G -> R/G -> C/G block, weights block-diagonal).
 *
 *   import { loadEngine, Arena } from '../wasm.js';
 *   import { se, seScratchBytes } from './se.js';
 *   import { Act } from './act.js';
 *   const eng = loadEngine(), a = new Arena(eng);
 *   // SEE encoder: 4 members of 36 channels, R = 1 per member
 *   const shape = { C: 144, R: 4, groups: 4, H: 48, W: 48 };
 *   const x = a.allocF32(144 * 48 * 48);
 *   const w1 = a.allocF32(4 * 36), b1 = a.allocF32(4), w2 = a.allocF32(144), b2 = a.allocF32(144);
 *   const scratch = a.alloc(seScratchBytes(shape));
 *   se(eng, { ...shape, x, y: x, w1, b1, w2, b2, act: Act.relu, scratch, groupsActive: 2 });
 *
 * Layout: x, y [channels][H][W] with group g's channels at g * C/G; w1 [G][R/G][C/G] (PyTorch's
 * grouped 1x1 conv [R][C/G]), b1 [R], w2 [G][C/G][R/G], b2 [C].
 */
import type { Engine } from '../wasm.js';
import { actRef } from './act.js';
import { posInt, active, ptr, inMemory, actCodeOk, packWords, disjoint } from './check.js';
import { OPCODES } from '../plan/words.js';
import { buf, ten, int, bound, actF, type OpSpec } from './spec.js';

export interface SeShape {
  /** full channel count, all groups */
  C: number;
  /** full reduced (hidden) count, all groups */
  R: number;
  /** G: independent SE blocks side by side (ensemble members); default 1 */
  groups?: number;
  H: number;
  W: number;
}

export interface SeArgs extends SeShape {
  /** input [channels][H][W] */
  x: number;
  /** output, same shape; may be x */
  y: number;
  w1: number;
  /** optional [R] (0 or undefined = absent) */
  b1?: number;
  w2: number;
  /** optional [C] */
  b2?: number;
  /** hidden activation code (src/engine/ops/act.ts); the gate is always a sigmoid */
  act?: number;
  /** active channels and hidden units per group; slicing inside a group needs groups = 1 */
  cActive?: number;
  rActive?: number;
  /** members run (the first g groups); defaults to groups */
  groupsActive?: number;
  /** seScratchBytes() bytes */
  scratch: number;
}

/** Scratch the kernel needs: one group's pooled (C/G) and hidden (R/G) vectors. */
export function seScratchBytes(s: SeShape): number {
  const G = s.groups ?? 1;
  return (s.C / G + s.R / G) * 4;
}

/** The params struct for the `se` kernel (layout in assembly/se.ts). */
export function seWords(a: SeArgs): Int32Array {
  const op = 'se';
  const C = posInt(op, 'C', a.C), R = posInt(op, 'R', a.R), G = posInt(op, 'groups', a.groups ?? 1);
  if (C % G !== 0) throw new Error(`slimsplit: se C (${C}) is not divisible by groups (${G})`);
  if (R % G !== 0) throw new Error(`slimsplit: se R (${R}) is not divisible by groups (${G}); each group needs R/G >= 1 hidden units`);
  const cg = C / G, rg = R / G;
  const cA = active(op, 'cActive', a.cActive, cg, 'C/groups');
  const rA = active(op, 'rActive', a.rActive, rg, 'R/groups');
  if (G > 1 && (cA !== cg || rA !== rg)) {
    throw new Error(`slimsplit: se slices channels inside groups only for groups = 1 (got groups=${G}, cActive=${cA} of ${cg}, rActive=${rA} of ${rg}); use groupsActive`);
  }
  const gA = active(op, 'groupsActive', a.groupsActive, G, 'groups');
  return packWords([
    ptr(op, 'x', a.x), ptr(op, 'y', a.y), C, R, G,
    ptr(op, 'w1', a.w1), ptr(op, 'b1', a.b1, { optional: true }),
    ptr(op, 'w2', a.w2), ptr(op, 'b2', a.b2, { optional: true }),
    actCodeOk(op, a.act), posInt(op, 'H', a.H), posInt(op, 'W', a.W), cA, rA, gA,
    ptr(op, 'scratch', a.scratch),
  ]);
}

export function se(eng: Engine, a: SeArgs): void {
  const words = seWords(a);
  const G = a.groups ?? 1, bytes = a.C * a.H * a.W * 4, sb = seScratchBytes(a);
  const ranges: Array<[string, number, number]> = [
    ['x', a.x, bytes], ['y', a.y, bytes], ['w1', a.w1, a.R * (a.C / G) * 4], ['b1', a.b1 ?? 0, a.R * 4],
    ['w2', a.w2, a.C * (a.R / G) * 4], ['b2', a.b2 ?? 0, a.C * 4], ['scratch', a.scratch, sb],
  ];
  for (const [k, p, n] of ranges) inMemory(eng, 'se', k, p, n);
  if (a.y !== a.x) disjoint('se', ['x', a.x, bytes], ['y', a.y, bytes]);
  for (const r of ranges) if (r[0] !== 'scratch' && r[1] !== 0) disjoint('se', ['scratch', a.scratch, sb], r);
  eng.call('se', words);
}

/** f64 reference: y [groupsActive * cActive][H*W]. */
export function seRef(
  x: ArrayLike<number>, w1: ArrayLike<number>, b1: ArrayLike<number> | undefined, w2: ArrayLike<number>, b2: ArrayLike<number> | undefined,
  o: { C: number; R: number; groups?: number; HW: number; act?: number; cActive?: number; rActive?: number; groupsActive?: number },
): Float64Array {
  const G = o.groups ?? 1, cg = o.C / G, rg = o.R / G, HW = o.HW, act = o.act ?? 0;
  const cA = o.cActive ?? cg, rA = o.rActive ?? rg, gA = o.groupsActive ?? G;
  const y = new Float64Array(gA * cA * HW);
  for (let g = 0; g < gA; g++) {
    const base = g * cA;
    const s = new Float64Array(cA), h = new Float64Array(rA);
    for (let c = 0; c < cA; c++) {
      let t = 0;
      for (let i = 0; i < HW; i++) t += x[(base + c) * HW + i];
      s[c] = t / HW;
    }
    for (let r = 0; r < rA; r++) {
      let t = b1 ? b1[g * rg + r] : 0;
      for (let c = 0; c < cA; c++) t += w1[(g * rg + r) * cg + c] * s[c];
      h[r] = actRef(t, act);
    }
    for (let c = 0; c < cA; c++) {
      let t = b2 ? b2[g * cg + c] : 0;
      for (let r = 0; r < rA; r++) t += w2[(g * cg + c) * rg + r] * h[r];
      const gate = 1 / (1 + Math.exp(-t));
      for (let i = 0; i < HW; i++) y[(base + c) * HW + i] = x[(base + c) * HW + i] * gate;
    }
  }
  return y;
}

// Graph-level spec: fields, shape rules, lowering to the kernel params.

/** Graph op `se` (docs/GRAPH.md). */
export const seOp: OpSpec = {
  fields: [
    buf('x', 'in'), buf('y', 'out'), int('C'), int('R'), int('groups'), ten('w1'), ten('b1', true), ten('w2'), ten('b2', true),
    actF, int('H'), int('W'), bound('cActive'), bound('rActive'), bound('groupsActive'),
  ],
  alias: [['x', 'y']],
  plan(l) {
    const C = l.int('C'), R = l.int('R'), G = l.int('groups'), H = l.int('H'), W = l.int('W');
    const shape = { C, R, groups: G, H, W, act: l.actCode(), cActive: l.optInt('cActive'), rActive: l.optInt('rActive'), groupsActive: l.optInt('groupsActive') };
    // seWords holds the slicing rules (per-group bounds, no slicing inside groups when G > 1)
    l.kernelCheck(() => seWords({ ...shape, x: 64, y: 64, w1: 64, w2: 64, scratch: 64 }));
    const cg = C / G, rg = R / G;
    const cA = shape.cActive ?? cg, gA = shape.groupsActive ?? G;
    l.bufferShape('x', [C, H, W], 'C, H, W');
    l.bufferShape('y', [C, H, W], 'C, H, W');
    l.tensorShape('w1', [R, cg], 'R, C/groups');
    l.tensorShape('b1', [R], 'R');
    l.tensorShape('w2', [C, rg], 'C, R/groups');
    l.tensorShape('b2', [C], 'C');
    const n = gA * cA * H * W;
    return {
      extents: { x: n, y: n },
      scratch: seScratchBytes(shape),
      lower: (p) => [{
        op: OPCODES.se,
        words: seWords({ ...shape, x: p.buf('x'), y: p.buf('y'), w1: p.ten('w1'), b1: p.ten('b1'), w2: p.ten('w2'), b2: p.ten('b2'), scratch: p.scratch }),
      }],
    };
  },
  ref(c) {
    c.put('y', seRef(c.buf('x'), c.tensor('w1')!, c.tensor('b1'), c.tensor('w2')!, c.tensor('b2'), {
      C: c.num('C'), R: c.num('R'), groups: c.num('groups'), HW: c.num('H') * c.num('W'), act: c.act,
      cActive: c.opt('cActive'), rActive: c.opt('rActive'), groupsActive: c.opt('groupsActive'),
    }));
  },
  bench: [{
    id: 'se-see', what: 'SE 4 groups x 36ch, R 36 @96 + swish (pool and rescale: 2 flops per value)',
    layer: { x: 'x', y: 'y', C: 144, R: 36, groups: 4, w1: 'w1', b1: 'b1', w2: 'w2', b2: 'b2', act: 'swish', H: 96, W: 96 },
    buffers: { x: [144, 96, 96], y: [144, 96, 96] }, tensors: { w1: [36, 36], b1: [36], w2: [144, 9], b2: [144] },
    flops: 2 * 144 * 96 * 96 + 2 * 36 * 36 + 2 * 144 * 9,
  }],
};
