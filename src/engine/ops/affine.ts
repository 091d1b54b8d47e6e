/**
 * Scalar affine map with an optional activation: y = act(x * a + b) over the first nActive of n floats.
 *
 *   affine(eng, { x, y: x, n: 8192, a: 2 / 15, b: -1 });   // centre 4-bit codes dequantized as q
 */
import type { Engine } from '../wasm.js';
import { posInt, active, ptr, inMemory, finiteF32, packWords, intIn } from './check.js';
import { actRef } from './act.js';
import { OPCODES } from '../plan/words.js';
import { buf, int, bound, actF, type OpSpec } from './spec.js';

export interface AffineArgs {
  /** f32 [n] */
  x: number;
  /** f32 [n]; may equal x */
  y: number;
  n: number;
  a: number;
  b: number;
  nActive?: number;
  act?: number;
}

/** The params struct for the `affine` kernel (layout in assembly/affine.ts). */
export function affineWords(g: AffineArgs): Int32Array {
  const n = posInt('affine', 'n', g.n);
  return packWords([
    ptr('affine', 'x', g.x), ptr('affine', 'y', g.y), n,
    { f: finiteF32('affine', 'a', g.a) }, { f: finiteF32('affine', 'b', g.b) },
    active('affine', 'nActive', g.nActive, n, 'n'), intIn('affine', 'act', g.act ?? 0, 0, 5),
  ]);
}

export function affine(eng: Engine, g: AffineArgs): void {
  const words = affineWords(g);
  inMemory(eng, 'affine', 'x', g.x, g.n * 4);
  inMemory(eng, 'affine', 'y', g.y, g.n * 4);
  eng.call('affine', words);
}

/** f64 reference. */
export function affineRef(x: ArrayLike<number>, a: number, b: number, nActive: number, act = 0): Float64Array {
  const out = new Float64Array(nActive);
  for (let i = 0; i < nActive; i++) out[i] = actRef(x[i] * Math.fround(a) + Math.fround(b), act);
  return out;
}

// Graph-level spec: fields, shape rules, lowering to the kernel params.

/** Graph op `affine` (docs/GRAPH.md). */
export const affineOp: OpSpec = {
  fields: [
    buf('x', 'in'), buf('y', 'out'), int('n'), { name: 'a', kind: 'float', modal: true }, { name: 'b', kind: 'float', modal: true }, actF, bound('nActive'),
  ],
  alias: [['x', 'y']],
  plan(l) {
    const n = l.int('n');
    const nA = l.activeCount('nActive', n, 'n');
    l.bufferElems('x', n, 'n');
    l.bufferElems('y', n, 'n');
    const g = { n, a: l.float('a'), b: l.float('b'), act: l.actCode(), nActive: nA };
    return {
      extents: { x: nA, y: nA },
      scratch: 0,
      lower: (p) => [{ op: OPCODES.affine, words: affineWords({ ...g, x: p.buf('x'), y: p.buf('y') }) }],
    };
  },
  ref(c) {
    c.put('y', affineRef(c.buf('x'), c.num('a'), c.num('b'), c.opt('nActive') ?? c.num('n'), c.act));
  },
  bench: [{
    id: 'affine-input', what: 'affine y = 2x - 1 on a 3x384x384 input',
    layer: { x: 'x', y: 'y', n: 3 * 384 * 384, a: 2, b: -1, act: 'none' },
    buffers: { x: [3, 384, 384], y: [3, 384, 384] },
    flops: 2 * 3 * 384 * 384,
  }],
};
