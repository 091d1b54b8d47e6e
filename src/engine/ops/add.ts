/**
 * Elementwise add with a fused activation: y = act(a + b). The kernel (assembly/add.ts) has no TS
 * call wrapper; graphs reach it through this op, tests through test/util.ts params().
 */
import { OPCODES } from '../plan/words.js';
import { buf, int, bound, actF, type OpSpec } from './spec.js';
import { actRef } from './act.js';

/** Graph op `add` (docs/GRAPH.md). */
export const addOp: OpSpec = {
  fields: [buf('a', 'in'), buf('b', 'in'), buf('y', 'out'), int('n'), actF, bound('nActive')],
  alias: [['a', 'b'], ['a', 'y'], ['b', 'y']],
  plan(l) {
    const n = l.int('n');
    const nA = l.activeCount('nActive', n, 'n');
    for (const f of ['a', 'b', 'y']) l.bufferElems(f, n, 'n');
    const act = l.actCode();
    // params of assembly/add.ts: [0] a [1] b [2] out [3] n [4] act (no TS twin module to borrow)
    return {
      extents: { a: nA, b: nA, y: nA },
      scratch: 0,
      lower: (p) => [{ op: OPCODES.add, words: Int32Array.of(p.buf('a'), p.buf('b'), p.buf('y'), nA, act) }],
    };
  },
  ref(c) {
    const a = c.buf('a'), b = c.buf('b'), n = c.opt('nActive') ?? c.num('n');
    c.put('y', Array.from({ length: n }, (_, i) => actRef(a[i] + b[i], c.act)));
  },
  bench: [{
    id: 'add-see', what: 'residual add 144ch @96 + relu (a + a: a graph has one input)',
    layer: { a: 'a', b: 'a', y: 'y', n: 144 * 96 * 96, act: 'relu' },
    buffers: { a: [144, 96, 96], y: [144, 96, 96] },
    flops: 144 * 96 * 96,
  }],
};
