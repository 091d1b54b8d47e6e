import { OPCODES } from '../plan/words.js';
import { buf, int, bound, actF, type OpSpec } from './spec.js';

/** Activation codes, mirrored from assembly/common.ts. */
export const Act = { none: 0, relu: 1, relu6: 2, swish: 3, hswish: 4, sigmoid: 5 } as const;
export type ActName = keyof typeof Act;
export const ACTS = Object.keys(Act) as ActName[];
export type ActCode = (typeof Act)[ActName];

export function actCode(name: string): ActCode {
  if (!(name in Act)) throw new Error(`slimsplit: unknown activation '${name}' (expected one of ${Object.keys(Act).join(', ')})`);
  return Act[name as ActName];
}

/** f64 reference used by the tests. */
export function actRef(x: number, act: number): number {
  switch (act) {
    case 0: return x;
    case 1: return x > 0 ? x : 0;
    case 2: return Math.min(Math.max(x, 0), 6);
    case 3: return x / (1 + Math.exp(-x));
    case 4: return (x * Math.min(Math.max(x + 3, 0), 6)) / 6;
    case 5: return 1 / (1 + Math.exp(-x));
    default: throw new Error(`slimsplit: unknown activation code ${act}`);
  }
}

// Graph-level spec: fields, shape rules, lowering to the kernel params.

/** Graph op `act` (docs/GRAPH.md). */
export const actOp: OpSpec = {
  fields: [buf('x', 'inout'), int('n'), actF, bound('nActive')],
  plan(l) {
    const n = l.int('n');
    const nA = l.activeCount('nActive', n, 'n');
    l.bufferElems('x', n, 'n');
    const act = l.actCode();
    // params of assembly/act.ts: [0] x [1] n [2] act
    return { extents: { x: nA }, scratch: 0, lower: (p) => [{ op: OPCODES.act, words: Int32Array.of(p.buf('x'), nA, act) }] };
  },
  ref(c) {
    const x = c.buf('x'), n = c.opt('nActive') ?? c.num('n');
    c.put('x', Array.from({ length: n }, (_, i) => actRef(x[i], c.act)));
  },
  bench: [{
    id: 'act-see', what: 'swish in place on 4x36ch @96 (1 flop per value)',
    layer: { x: 'x', n: 144 * 96 * 96, act: 'swish' },
    buffers: { x: [144, 96, 96] },
    flops: 144 * 96 * 96,
  }],
};
