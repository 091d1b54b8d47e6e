/**
 * Pointwise (1x1) convolution and linear layers: one channel-sliced matmul kernel.
 *
 *   import { loadEngine, Arena } from '../wasm.js';
 *   import { matmul, pointwise } from './matmul.js';
 *   import { Act } from './act.js';
 *   const eng = loadEngine(), a = new Arena(eng);
 *   const x = a.allocF32(32 * 112 * 112), w = a.allocF32(16 * 32), y = a.allocF32(16 * 112 * 112);
 *   matmul(eng, { x, w, y, cin: 32, cout: 16, n: 112 * 112, act: Act.relu6 });
 *   // the same weights at half width: only the first 16 inputs and 8 outputs run
 *   matmul(eng, { x, w, y, cin: 32, cout: 16, cinActive: 16, coutActive: 8, n: 112 * 112 });
 *   // a 1x1 conv described like any other conv
 *   pointwise(eng, { x, w, y, cin: 32, cout: 16, H: 112, W: 112, k: 1, stride: 1, pad: 'none' });
 *
 * Layout: x [cinActive][n], W [cout][cin] (PyTorch linear / OIHW with k = 1), y [coutActive][n];
 * n = H*W positions, n = 1 for a linear layer.
 */
import type { Engine } from '../wasm.js';
import type { Conv2dArgs, DenseArgs } from './types.js';
import { actRef } from './act.js';
import { posInt } from './check.js';
import { OPCODES } from '../plan/words.js';
import { buf, ten, int, bound, actF, type OpSpec } from './spec.js';

/** x [cinActive][n], w [cout][cin], y [coutActive][n]. */
export interface MatmulArgs extends DenseArgs {
  /** positions per channel (H*W); 1 for a linear layer */
  n: number;
}


/** The params struct for the `matmul` kernel (layout documented in assembly/matmul.ts). */
export function matmulWords(a: MatmulArgs): Int32Array {
  const cinA = a.cinActive ?? a.cin, coutA = a.coutActive ?? a.cout;
  posInt('matmul', 'cin', a.cin); posInt('matmul', 'cout', a.cout); posInt('matmul', 'n', a.n);
  posInt('matmul', 'cinActive', cinA); posInt('matmul', 'coutActive', coutA);
  if (cinA > a.cin) throw new Error(`slimsplit: matmul cinActive ${cinA} exceeds cin ${a.cin}`);
  if (coutA > a.cout) throw new Error(`slimsplit: matmul coutActive ${coutA} exceeds cout ${a.cout}`);
  const act = a.act ?? 0;
  if (!(Number.isInteger(act) && act >= 0 && act <= 5)) throw new Error(`slimsplit: matmul activation code ${act} is not one of 0..5`);
  for (const [k, p] of [['x', a.x], ['w', a.w], ['y', a.y]] as const) {
    if (!(Number.isInteger(p) && p > 0 && p % 4 === 0)) throw new Error(`slimsplit: matmul pointer ${k}=${p} must be a non-zero multiple of 4`);
  }
  return Int32Array.of(a.x, a.w, a.y, a.bias ?? 0, a.scale ?? 0, a.shift ?? 0, a.cin, cinA, coutA, a.n, act);
}

export function matmul(eng: Engine, a: MatmulArgs): void {
  eng.call('matmul', matmulWords(a));
}

/** Words for a 1x1, stride-1, unpadded, ungrouped conv run as a matmul over n = H*W. */
export function pointwiseWords(a: Conv2dArgs): Int32Array {
  if (a.k !== 1) throw new Error(`slimsplit: pointwise needs k = 1, got k = ${a.k}`);
  if (a.stride !== 1) throw new Error(`slimsplit: pointwise needs stride 1, got ${a.stride}`);
  if ((a.groups ?? 1) !== 1) throw new Error(`slimsplit: pointwise needs groups = 1, got ${a.groups}`);
  if (a.pad !== 'none' && a.pad !== 'same' && a.pad !== 'tf-same') throw new Error(`slimsplit: unknown padding '${a.pad as string}'`);
  // with k = 1 and stride 1 every padding mode pads nothing
  posInt('matmul', 'H', a.H); posInt('matmul', 'W', a.W);
  return matmulWords({
    x: a.x, w: a.w, y: a.y, bias: a.bias, scale: a.scale, shift: a.shift,
    cin: a.cin, cout: a.cout, cinActive: a.cinActive, coutActive: a.coutActive, n: a.H * a.W, act: a.act,
  });
}

export function pointwise(eng: Engine, a: Conv2dArgs): void {
  eng.call('matmul', pointwiseWords(a));
}

/**
 * f64 reference: y [coutActive][n] from x [cinActive][n] and W [cout][cin] (row stride cin).
 * bias/scale/shift are [cout] arrays or undefined.
 */
export function matmulRef(
  x: ArrayLike<number>, w: ArrayLike<number>,
  o: { cin: number; cinActive?: number; coutActive: number; n: number; act?: number;
    bias?: ArrayLike<number>; scale?: ArrayLike<number>; shift?: ArrayLike<number> },
): Float64Array {
  const K = o.cinActive ?? o.cin, M = o.coutActive, n = o.n, act = o.act ?? 0;
  const y = new Float64Array(M * n);
  for (let co = 0; co < M; co++) {
    const b = o.bias ? o.bias[co] : 0, s = o.scale ? o.scale[co] : 1, h = o.shift ? o.shift[co] : 0;
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let ci = 0; ci < K; ci++) acc += w[co * o.cin + ci] * x[ci * n + j];
      y[co * n + j] = actRef((acc + b) * s + h, act);
    }
  }
  return y;
}

// Graph-level spec: fields, shape rules, lowering to the kernel params.

/** Graph op `matmul` (docs/GRAPH.md). */
export const matmulOp: OpSpec = {
  fields: [
    buf('x', 'in'), buf('y', 'out'), ten('w'), ten('bias', true), ten('scale', true), ten('shift', true),
    int('cin'), int('cout'), int('n'), actF, bound('cinActive'), bound('coutActive'),
  ],
  plan(l) {
    const cin = l.int('cin'), cout = l.int('cout'), n = l.int('n');
    const cinA = l.activeCount('cinActive', cin, 'cin'), coutA = l.activeCount('coutActive', cout, 'cout');
    l.bufferLead('x', cin, n, 'cin, n');
    l.bufferLead('y', cout, n, 'cout, n');
    l.tensorShape('w', [cout, cin], 'cout, cin');
    for (const v of ['bias', 'scale', 'shift']) l.tensorShape(v, [cout], 'cout');
    return {
      extents: { x: cinA * n, y: coutA * n },
      scratch: 0,
      lower: (p) => [{
        op: OPCODES.matmul,
        words: matmulWords({
          x: p.buf('x'), y: p.buf('y'), w: p.ten('w'), bias: p.ten('bias'), scale: p.ten('scale'), shift: p.ten('shift'),
          cin, cout, n, act: l.actCode(), cinActive: cinA, coutActive: coutA,
        }),
      }],
    };
  },
  ref(c) {
    c.put('y', matmulRef(c.buf('x'), c.tensor('w')!, {
      cin: c.num('cin'), cinActive: c.opt('cinActive'), coutActive: c.opt('coutActive') ?? c.num('cout'), n: c.num('n'), act: c.act,
      bias: c.tensor('bias'), scale: c.tensor('scale'), shift: c.tensor('shift'),
    }));
  },
  bench: [{
    id: 'matmul-see', what: 'matmul 144->24 over 96x96 columns (SEE projection)',
    layer: { x: 'x', y: 'y', w: 'w', bias: 'b', cin: 144, cout: 24, n: 96 * 96, act: 'none' },
    buffers: { x: [144, 96 * 96], y: [24, 96 * 96] }, tensors: { w: [24, 144], b: [24] },
    flops: 2 * 24 * 144 * 96 * 96,
  }],
};
