/**
 * Instance normalization (PyTorch InstanceNorm2d: per-channel mean and biased variance over
 * H x W), with an optional affine and a fused activation.
 *
 *   import { loadEngine, Arena } from '../wasm.js';
 *   import { instnorm } from './instnorm.js';
 *   import { Act } from './act.js';
 *   const eng = loadEngine(), a = new Arena(eng);
 *   const x = a.allocF32(24 * 96 * 96), g = a.allocF32(24), b = a.allocF32(24);
 *   instnorm(eng, { x, y: x, C: 24, HW: 96 * 96, eps: 1e-5, gamma: g, beta: b, act: Act.relu });
 *   // a slimmable half-width layer: the first 12 channels, the same gamma/beta vectors
 *   instnorm(eng, { x, y: x, C: 24, HW: 96 * 96, gamma: g, beta: b, cActive: 12 });
 *
 * Layout: x, y [C][HW] (y may be x); gamma, beta [C] (absent: 1 and 0).
 */
import type { Engine } from '../wasm.js';
import { actRef } from './act.js';
import { posInt, active, ptr, inMemory, finiteF32, actCodeOk, packWords, disjoint } from './check.js';
import { OPCODES } from '../plan/words.js';
import { buf, ten, int, bound, actF, type OpSpec } from './spec.js';

export interface InstnormArgs {
  /** input [C][HW] */
  x: number;
  /** output [C][HW]; may be x */
  y: number;
  /** full channel count (gamma/beta length) */
  C: number;
  /** positions per channel (H*W) */
  HW: number;
  /** added to the variance; PyTorch's default 1e-5. Stored as f32. */
  eps?: number;
  /** optional [C] affine vectors (0 or undefined = absent) */
  gamma?: number;
  beta?: number;
  /** activation code (src/engine/ops/act.ts) */
  act?: number;
  /** channels normalized (a prefix); defaults to C */
  cActive?: number;
}

/** The params struct for the `instnorm` kernel (layout in assembly/instnorm.ts). */
export function instnormWords(a: InstnormArgs): Int32Array {
  const op = 'instnorm';
  const C = posInt(op, 'C', a.C), HW = posInt(op, 'HW', a.HW);
  const cA = active(op, 'cActive', a.cActive, C, 'C');
  const eps = finiteF32(op, 'eps', a.eps ?? 1e-5);
  if (eps < 0) throw new Error(`slimsplit: instnorm eps must be >= 0, got ${a.eps}`);
  return packWords([
    ptr(op, 'x', a.x), ptr(op, 'y', a.y), C, HW, { f: eps },
    ptr(op, 'gamma', a.gamma, { optional: true }), ptr(op, 'beta', a.beta, { optional: true }),
    actCodeOk(op, a.act), cA,
  ]);
}

export function instnorm(eng: Engine, a: InstnormArgs): void {
  const words = instnormWords(a);
  const bytes = a.C * a.HW * 4;
  inMemory(eng, 'instnorm', 'x', a.x, bytes);
  inMemory(eng, 'instnorm', 'y', a.y, bytes);
  if (a.y !== a.x) disjoint('instnorm', ['x', a.x, bytes], ['y', a.y, bytes]);
  inMemory(eng, 'instnorm', 'gamma', a.gamma ?? 0, a.C * 4);
  inMemory(eng, 'instnorm', 'beta', a.beta ?? 0, a.C * 4);
  eng.call('instnorm', words);
}

/** f64 reference: y [cActive][HW]. eps is rounded to f32 as the kernel stores it. */
export function instnormRef(
  x: ArrayLike<number>,
  o: { C: number; HW: number; eps?: number; gamma?: ArrayLike<number>; beta?: ArrayLike<number>; act?: number; cActive?: number },
): Float64Array {
  const HW = o.HW, cA = o.cActive ?? o.C, eps = Math.fround(o.eps ?? 1e-5), act = o.act ?? 0;
  const y = new Float64Array(cA * HW);
  for (let c = 0; c < cA; c++) {
    let s = 0;
    for (let i = 0; i < HW; i++) s += x[c * HW + i];
    const mean = s / HW;
    let v = 0;
    for (let i = 0; i < HW; i++) v += (x[c * HW + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / HW + eps);
    const g = o.gamma ? o.gamma[c] : 1, b = o.beta ? o.beta[c] : 0;
    for (let i = 0; i < HW; i++) y[c * HW + i] = actRef(g * (x[c * HW + i] - mean) * inv + b, act);
  }
  return y;
}

// Graph-level spec: fields, shape rules, lowering to the kernel params.

/** Graph op `instnorm` (docs/GRAPH.md). */
export const instnormOp: OpSpec = {
  fields: [
    buf('x', 'in'), buf('y', 'out'), int('C'), int('HW'), { name: 'eps', kind: 'float', optional: true },
    ten('gamma', true), ten('beta', true), actF, bound('cActive'),
  ],
  alias: [['x', 'y']],
  plan(l) {
    const C = l.int('C'), HW = l.int('HW');
    const cA = l.activeCount('cActive', C, 'C');
    l.bufferLead('x', C, HW, 'C, HW');
    l.bufferLead('y', C, HW, 'C, HW');
    l.tensorShape('gamma', [C], 'C');
    l.tensorShape('beta', [C], 'C');
    return {
      extents: { x: cA * HW, y: cA * HW },
      scratch: 0,
      lower: (p) => [{
        op: OPCODES.instnorm,
        words: instnormWords({
          x: p.buf('x'), y: p.buf('y'), C, HW, eps: l.optFloat('eps'), gamma: p.ten('gamma'), beta: p.ten('beta'), act: l.actCode(), cActive: cA,
        }),
      }],
    };
  },
  ref(c) {
    c.put('y', instnormRef(c.buf('x'), { C: c.num('C'), HW: c.num('HW'), eps: c.opt('eps'), gamma: c.tensor('gamma'), beta: c.tensor('beta'), act: c.act, cActive: c.opt('cActive') }));
  },
  bench: [{
    id: 'instnorm-see', what: 'instnorm 144ch @96x96 + swish (4 flops per value)',
    layer: { x: 'x', y: 'y', C: 144, HW: 96 * 96, eps: 1e-3, gamma: 'g', beta: 'b', act: 'swish' },
    buffers: { x: [144, 96 * 96], y: [144, 96 * 96] }, tensors: { g: [144], b: [144] },
    flops: 4 * 144 * 96 * 96,
  }],
};
