/**
 * k x k average pooling: over the pixels inside the image (TensorFlow's AvgPool, ONNX
 * count_include_pad = 0), or over k x k with padding counted as zeros (countPad: PyTorch's default).
 *
 *   import { loadEngine, Arena } from '../wasm.js';
 *   import { avgpool } from './avgpool.js';
 *   const eng = loadEngine(), a = new Arena(eng);
 *   const x = a.allocF32(64 * 56 * 56), y = a.allocF32(64 * 28 * 28);
 *   avgpool(eng, { x, y, C: 64, H: 56, W: 56, k: 3, stride: 2, pad: 'tf-same' });
 *
 * Layout: x [C][H][W], y [C][OH][OW] (maxpoolGeometry); they must not overlap.
 */
import type { Engine } from '../wasm.js';
import type { Padding } from './types.js';
import { maxpoolGeometry } from './pool.js';
import { posInt, active, ptr, inMemory, packWords, disjoint, intIn } from './check.js';
import { OPCODES } from '../plan/words.js';
import { buf, int, bound, type OpSpec } from './spec.js';

export interface AvgpoolArgs {
  x: number;
  y: number;
  C: number;
  H: number;
  W: number;
  k: number;
  stride: number;
  /** symmetric padding in pixels, or a named mode (src/engine/ops/types.ts) */
  pad: Padding | number;
  /** divide by k * k (padding counts as zeros) instead of by the pixels inside the image */
  countPad?: boolean;
  cActive?: number;
}

/** The params struct for the `avgpool` kernel (layout in assembly/avgpool.ts). */
export function avgpoolWords(a: AvgpoolArgs): Int32Array {
  const op = 'avgpool';
  const C = posInt(op, 'C', a.C), H = posInt(op, 'H', a.H), W = posInt(op, 'W', a.W);
  const k = posInt(op, 'k', a.k), s = posInt(op, 'stride', a.stride);
  const g = maxpoolGeometry(H, W, k, s, a.pad);
  return packWords([ptr(op, 'x', a.x), ptr(op, 'y', a.y), C, H, W, k, s, g.padT, g.padL, g.OH, g.OW, active(op, 'cActive', a.cActive, C, 'C'), a.countPad ? 1 : 0]);
}

export function avgpool(eng: Engine, a: AvgpoolArgs): void {
  const words = avgpoolWords(a);
  const xb = a.C * a.H * a.W * 4, yb = a.C * words[9] * words[10] * 4;
  inMemory(eng, 'avgpool', 'x', a.x, xb);
  inMemory(eng, 'avgpool', 'y', a.y, yb);
  disjoint('avgpool', ['x', a.x, xb], ['y', a.y, yb]);
  eng.call('avgpool', words);
}

/** f64 reference: [cActive][OH][OW]. */
export function avgpoolRef(x: ArrayLike<number>, o: Omit<AvgpoolArgs, 'x' | 'y'>): Float64Array {
  const { H, W, k, stride: s } = o;
  const g = maxpoolGeometry(H, W, k, s, o.pad);
  const cA = o.cActive ?? o.C;
  const y = new Float64Array(cA * g.OH * g.OW);
  for (let c = 0; c < cA; c++) {
    for (let oh = 0; oh < g.OH; oh++) {
      for (let ow = 0; ow < g.OW; ow++) {
        let sum = 0, n = 0;
        for (let kh = 0; kh < k; kh++) {
          for (let kw = 0; kw < k; kw++) {
            const ih = oh * s - g.padT + kh, iw = ow * s - g.padL + kw;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            sum += x[(c * H + ih) * W + iw];
            n++;
          }
        }
        y[(c * g.OH + oh) * g.OW + ow] = sum / (o.countPad ? k * k : n);
      }
    }
  }
  return y;
}

// Graph-level spec: fields, shape rules, lowering to the kernel params.

/** Graph op `avgpool` (docs/GRAPH.md); countPad 0: over the pixels inside, 1: over k x k. */
export const avgpoolOp: OpSpec = {
  fields: [buf('x', 'in'), buf('y', 'out'), int('C'), int('H'), int('W'), int('k'), int('stride'), { name: 'pad', kind: 'pad', numericPad: true }, int('countPad'), bound('cActive')],
  plan(l) {
    const C = l.int('C'), H = l.int('H'), W = l.int('W'), k = l.int('k'), stride = l.int('stride');
    const pad = l.value('pad') as Padding | number;
    const countPad = l.kernelCheck(() => intIn('avgpool', 'countPad', l.int('countPad'), 0, 1)) === 1;
    const cA = l.activeCount('cActive', C, 'C');
    if (k < 1 || stride < 1) l.fail('field', `k ${k} and stride ${stride} must be positive`);
    const g = l.kernelCheck(() => maxpoolGeometry(H, W, k, stride, pad));
    l.bufferShape('x', [C, H, W], 'C, H, W');
    l.bufferShape('y', [C, g.OH, g.OW], 'C, OH, OW');
    return {
      extents: { x: cA * H * W, y: cA * g.OH * g.OW },
      scratch: 0,
      lower: (p) => [{ op: OPCODES.avgpool, words: avgpoolWords({ x: p.buf('x'), y: p.buf('y'), C, H, W, k, stride, pad, countPad, cActive: cA }) }],
    };
  },
  ref(c) {
    c.put('y', avgpoolRef(c.buf('x'), { C: c.num('C'), H: c.num('H'), W: c.num('W'), k: c.num('k'), stride: c.num('stride'), pad: c.value('pad') as Padding | number, countPad: c.num('countPad') === 1, cActive: c.opt('cActive') }));
  },
  bench: [{
    id: 'avgpool-3x3', what: 'avgpool 3x3 s1 SAME 64ch @56 (an add counts 1)',
    layer: { x: 'x', y: 'y', C: 64, H: 56, W: 56, k: 3, stride: 1, pad: 'tf-same', countPad: 0 },
    buffers: { x: [64, 56, 56], y: [64, 56, 56] },
    flops: 64 * 56 * 56 * 9,
  }],
};
