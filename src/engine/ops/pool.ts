/**
 * Global average pooling and k x k max pooling.
 *
 *   import { loadEngine, Arena } from '../wasm.js';
 *   import { gap, maxpool, maxpoolGeometry } from './pool.js';
 *   const eng = loadEngine(), a = new Arena(eng);
 *   const x = a.allocF32(64 * 56 * 56), v = a.allocF32(64);
 *   gap(eng, { x, y: v, C: 64, H: 56, W: 56 });                        // v [64]
 *   const { OH, OW } = maxpoolGeometry(56, 56, 3, 2, 1);                // 28 x 28
 *   const y = a.allocF32(64 * OH * OW);
 *   maxpool(eng, { x, y, C: 64, H: 56, W: 56, k: 3, stride: 2, pad: 1, cActive: 32 });
 *
 * Layout: x [C][H][W]; gap y [C]; maxpool y [C][OH][OW]. Max pooling pads with -inf (padded
 * positions never win), like PyTorch's MaxPool2d; NaN propagates.
 */
import type { Engine } from '../wasm.js';
import { convGeometry, type ConvGeometry, type Padding } from './types.js';
import { posInt, active, ptr, inMemory, packWords, disjoint, chwWords, type ChwArgs } from './check.js';
import { OPCODES } from '../plan/words.js';
import { buf, int, bound, type OpSpec } from './spec.js';

/** x [C][H][W] -> y [C] (the first cActive channels). */
export type GapArgs = ChwArgs;

/** The params struct for the `gap` kernel (layout in assembly/pool.ts). */
export function gapWords(a: GapArgs): Int32Array {
  return chwWords('gap', a);
}

export function gap(eng: Engine, a: GapArgs): void {
  const words = gapWords(a);
  inMemory(eng, 'gap', 'x', a.x, a.C * a.H * a.W * 4);
  inMemory(eng, 'gap', 'y', a.y, a.C * 4);
  eng.call('gap', words);
}

/** f64 reference: [cActive] means. */
export function gapRef(x: ArrayLike<number>, o: { C: number; H: number; W: number; cActive?: number }): Float64Array {
  const HW = o.H * o.W, cA = o.cActive ?? o.C;
  const y = new Float64Array(cA);
  for (let c = 0; c < cA; c++) {
    let s = 0;
    for (let i = 0; i < HW; i++) s += x[c * HW + i];
    y[c] = s / HW;
  }
  return y;
}

export interface MaxpoolArgs {
  /** input [C][H][W] */
  x: number;
  /** output [C][OH][OW] (maxpoolGeometry); must not overlap x */
  y: number;
  C: number;
  H: number;
  W: number;
  k: number;
  stride: number;
  /** symmetric padding in pixels (PyTorch `padding`), or a named mode (src/engine/ops/types.ts) */
  pad: Padding | number;
  /** channels pooled (a prefix); defaults to C */
  cActive?: number;
}

/**
 * Output size and padding. A number p pads p on every side, as PyTorch's MaxPool2d(padding=p).
 * Every window must hold a real pixel (each pad < k), which PyTorch's p <= k/2 rule implies.
 */
export function maxpoolGeometry(H: number, W: number, k: number, stride: number, pad: Padding | number): ConvGeometry {
  let g: ConvGeometry;
  if (typeof pad === 'number') {
    if (!Number.isInteger(pad) || pad < 0) throw new Error(`slimsplit: maxpool padding must be a non-negative integer, got ${pad}`);
    const OH = Math.floor((H + 2 * pad - k) / stride) + 1, OW = Math.floor((W + 2 * pad - k) / stride) + 1;
    if (OH < 1 || OW < 1) throw new Error(`slimsplit: maxpool ${k}x${k}/${stride} pad ${pad} on ${H}x${W} gives an empty output`);
    g = { OH, OW, padT: pad, padL: pad, padB: pad, padR: pad };
  } else {
    g = convGeometry(H, W, k, stride, pad);
  }
  if (Math.max(g.padT, g.padL, g.padB, g.padR) >= k) {
    throw new Error(`slimsplit: maxpool padding (${g.padT},${g.padL},${g.padB},${g.padR}) must be below k=${k}: a window of padding alone has no maximum`);
  }
  return g;
}

/** The params struct for the `maxpool` kernel (layout in assembly/pool.ts). */
export function maxpoolWords(a: MaxpoolArgs): Int32Array {
  const op = 'maxpool';
  const C = posInt(op, 'C', a.C), H = posInt(op, 'H', a.H), W = posInt(op, 'W', a.W);
  const k = posInt(op, 'k', a.k), s = posInt(op, 'stride', a.stride);
  const g = maxpoolGeometry(H, W, k, s, a.pad);
  return packWords([ptr(op, 'x', a.x), ptr(op, 'y', a.y), C, H, W, k, s, g.padT, g.padL, g.OH, g.OW, active(op, 'cActive', a.cActive, C, 'C')]);
}

export function maxpool(eng: Engine, a: MaxpoolArgs): void {
  const words = maxpoolWords(a);
  const OH = words[9], OW = words[10];
  const xb = a.C * a.H * a.W * 4, yb = a.C * OH * OW * 4;
  inMemory(eng, 'maxpool', 'x', a.x, xb);
  inMemory(eng, 'maxpool', 'y', a.y, yb);
  disjoint('maxpool', ['x', a.x, xb], ['y', a.y, yb]);
  eng.call('maxpool', words);
}

/** f64 reference: [cActive][OH][OW], padded positions skipped. */
export function maxpoolRef(
  x: ArrayLike<number>, o: { C: number; H: number; W: number; k: number; stride: number; pad: Padding | number; cActive?: number },
): Float64Array {
  const { H, W, k, stride: s } = o;
  const g = maxpoolGeometry(H, W, k, s, o.pad);
  const cA = o.cActive ?? o.C;
  const y = new Float64Array(cA * g.OH * g.OW);
  for (let c = 0; c < cA; c++) {
    for (let oh = 0; oh < g.OH; oh++) {
      for (let ow = 0; ow < g.OW; ow++) {
        let m = -Infinity;
        for (let kh = 0; kh < k; kh++) {
          for (let kw = 0; kw < k; kw++) {
            const ih = oh * s - g.padT + kh, iw = ow * s - g.padL + kw;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const v = x[(c * H + ih) * W + iw];
            m = Number.isNaN(v) || Number.isNaN(m) ? NaN : Math.max(m, v);
          }
        }
        y[(c * g.OH + oh) * g.OW + ow] = m;
      }
    }
  }
  return y;
}

// Graph-level spec: fields, shape rules, lowering to the kernel params.

/** Graph op `gap` (docs/GRAPH.md). */
export const gapOp: OpSpec = {
  fields: [buf('x', 'in'), buf('y', 'out'), int('C'), int('H'), int('W'), bound('cActive')],
  plan(l) {
    const C = l.int('C'), H = l.int('H'), W = l.int('W');
    const cA = l.activeCount('cActive', C, 'C');
    l.bufferShape('x', [C, H, W], 'C, H, W');
    l.bufferShape('y', [C], 'C');
    return {
      extents: { x: cA * H * W, y: cA },
      scratch: 0,
      lower: (p) => [{ op: OPCODES.gap, words: gapWords({ x: p.buf('x'), y: p.buf('y'), C, H, W, cActive: cA }) }],
    };
  },
  ref(c) {
    c.put('y', gapRef(c.buf('x'), { C: c.num('C'), H: c.num('H'), W: c.num('W'), cActive: c.opt('cActive') }));
  },
  bench: [{
    id: 'gap-see', what: 'global average pool 144ch @96',
    layer: { x: 'x', y: 'y', C: 144, H: 96, W: 96 },
    buffers: { x: [144, 96, 96], y: [144] },
    flops: 144 * 96 * 96,
  }],
};

/** Graph op `maxpool` (docs/GRAPH.md). */
export const maxpoolOp: OpSpec = {
  fields: [buf('x', 'in'), buf('y', 'out'), int('C'), int('H'), int('W'), int('k'), int('stride'), { name: 'pad', kind: 'pad', numericPad: true }, bound('cActive')],
  plan(l) {
    const C = l.int('C'), H = l.int('H'), W = l.int('W'), k = l.int('k'), stride = l.int('stride');
    const pad = l.value('pad') as Padding | number;
    const cA = l.activeCount('cActive', C, 'C');
    if (k < 1 || stride < 1) l.fail('field', `k ${k} and stride ${stride} must be positive`);
    const g = l.kernelCheck(() => maxpoolGeometry(H, W, k, stride, pad));
    l.bufferShape('x', [C, H, W], 'C, H, W');
    l.bufferShape('y', [C, g.OH, g.OW], 'C, OH, OW');
    return {
      extents: { x: cA * H * W, y: cA * g.OH * g.OW },
      scratch: 0,
      lower: (p) => [{ op: OPCODES.maxpool, words: maxpoolWords({ x: p.buf('x'), y: p.buf('y'), C, H, W, k, stride, pad, cActive: cA }) }],
    };
  },
  ref(c) {
    c.put('y', maxpoolRef(c.buf('x'), { C: c.num('C'), H: c.num('H'), W: c.num('W'), k: c.num('k'), stride: c.num('stride'), pad: c.value('pad') as Padding | number, cActive: c.opt('cActive') }));
  },
  bench: [{
    id: 'maxpool-cifar', what: 'maxpool 2x2 s2 64ch @32 (a compare counts 1)',
    layer: { x: 'x', y: 'y', C: 64, H: 32, W: 32, k: 2, stride: 2, pad: 'none' },
    buffers: { x: [64, 32, 32], y: [64, 16, 16] },
    flops: 64 * 16 * 16 * 4,
  }],
};
