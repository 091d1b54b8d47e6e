/**
 * Nearest-neighbour 2x upsampling (PyTorch Upsample(scale_factor=2, mode='nearest')).
 *
 *   import { loadEngine, Arena } from '../wasm.js';
 *   import { upsample2x } from './upsample.js';
 *   const eng = loadEngine(), a = new Arena(eng);
 *   const x = a.allocF32(32 * 24 * 24), y = a.allocF32(32 * 48 * 48);
 *   upsample2x(eng, { x, y, C: 32, H: 24, W: 24 });
 *
 * Layout: x [C][H][W], y [C][2H][2W]; they must not overlap.
 */
import type { Engine } from '../wasm.js';
import { inMemory, disjoint, chwWords, type ChwArgs } from './check.js';
import { OPCODES } from '../plan/words.js';
import { buf, int, bound, type OpSpec } from './spec.js';

/** x [C][H][W] -> y [C][2H][2W] (the first cActive channels). */
export type UpsampleArgs = ChwArgs;

/** The params struct for the `upsample2x` kernel (layout in assembly/upsample.ts). */
export function upsample2xWords(a: UpsampleArgs): Int32Array {
  return chwWords('upsample2x', a);
}

export function upsample2x(eng: Engine, a: UpsampleArgs): void {
  const words = upsample2xWords(a);
  const xb = a.C * a.H * a.W * 4;
  inMemory(eng, 'upsample2x', 'x', a.x, xb);
  inMemory(eng, 'upsample2x', 'y', a.y, 4 * xb);
  disjoint('upsample2x', ['x', a.x, xb], ['y', a.y, 4 * xb]);
  eng.call('upsample2x', words);
}

/** Reference: [cActive][2H][2W]. */
export function upsample2xRef(x: ArrayLike<number>, o: { C: number; H: number; W: number; cActive?: number }): Float64Array {
  const { H, W } = o, cA = o.cActive ?? o.C;
  const y = new Float64Array(cA * 4 * H * W);
  for (let c = 0; c < cA; c++)
    for (let h = 0; h < 2 * H; h++)
      for (let w = 0; w < 2 * W; w++) y[(c * 2 * H + h) * 2 * W + w] = x[(c * H + (h >> 1)) * W + (w >> 1)];
  return y;
}

// Graph-level spec: fields, shape rules, lowering to the kernel params.

/** Graph op `upsample2x` (docs/GRAPH.md). */
export const upsampleOp: OpSpec = {
  fields: [buf('x', 'in'), buf('y', 'out'), int('C'), int('H'), int('W'), bound('cActive')],
  plan(l) {
    const C = l.int('C'), H = l.int('H'), W = l.int('W');
    const cA = l.activeCount('cActive', C, 'C');
    l.bufferShape('x', [C, H, W], 'C, H, W');
    l.bufferShape('y', [C, 2 * H, 2 * W], 'C, 2H, 2W');
    return {
      extents: { x: cA * H * W, y: cA * 4 * H * W },
      scratch: 0,
      lower: (p) => [{ op: OPCODES.upsample2x, words: upsample2xWords({ x: p.buf('x'), y: p.buf('y'), C, H, W, cActive: cA }) }],
    };
  },
  ref(c) {
    c.put('y', upsample2xRef(c.buf('x'), { C: c.num('C'), H: c.num('H'), W: c.num('W'), cActive: c.opt('cActive') }));
  },
  bench: [{
    id: 'upsample2x-decoder', what: 'nearest 2x upsampling 32ch @48->96 (a copy: 0 flops)',
    layer: { x: 'x', y: 'y', C: 32, H: 48, W: 48 },
    buffers: { x: [32, 48, 48], y: [32, 96, 96] },
    flops: 0,
  }],
};
