/**
 * Bilinear resize, TensorFlow's ResizeBilinear in its three coordinate conventions.
 *
 *   import { loadEngine, Arena } from '../wasm.js';
 *   import { resizeBilinear, resizeScratchBytes, RESIZE_MODES } from './resize.js';
 *   const eng = loadEngine(), a = new Arena(eng);
 *   const s = { C: 128, H: 16, W: 16, OH: 32, OW: 32, mode: RESIZE_MODES.legacy };
 *   const x = a.allocF32(128 * 16 * 16), y = a.allocF32(128 * 32 * 32);
 *   resizeBilinear(eng, { ...s, x, y, scratch: a.alloc(resizeScratchBytes(s)) });
 *
 * Modes (TF's attributes): legacy (align_corners = half_pixel_centers = false: source = i * in/out,
 * Keras UpSampling2D), align_corners (source = i * (in-1)/(out-1)), half_pixel (source =
 * (i + 0.5) * in/out - 0.5). Coordinates are computed in f32 as TensorFlow does; the neighbours
 * are clamped to the image. Layout: x [C][H][W], y [C][OH][OW]; they must not overlap.
 */
import type { Engine } from '../wasm.js';
import { posInt, ptr, inMemory, packWords, active, intIn, disjoint } from './check.js';
import { OPCODES } from '../plan/words.js';
import { buf, int, bound, type OpSpec } from './spec.js';

export const RESIZE_MODES = { legacy: 0, align_corners: 1, half_pixel: 2 } as const;
export type ResizeMode = keyof typeof RESIZE_MODES;

export interface ResizeShape {
  C: number;
  H: number;
  W: number;
  OH: number;
  OW: number;
  /** RESIZE_MODES code */
  mode: number;
}
export interface ResizeArgs extends ResizeShape {
  x: number;
  y: number;
  /** channels resized (a prefix); defaults to C */
  cActive?: number;
  /** resizeScratchBytes() bytes */
  scratch: number;
}

/** Column tables (lo, hi, t) and two horizontally interpolated rows. */
export function resizeScratchBytes(s: { OW: number }): number {
  return 5 * s.OW * 4;
}

/** The params struct for the `resize_bilinear` kernel (layout in assembly/resize.ts). */
export function resizeWords(a: ResizeArgs): Int32Array {
  const op = 'resize_bilinear';
  const C = posInt(op, 'C', a.C);
  return packWords([
    ptr(op, 'x', a.x), ptr(op, 'y', a.y), C, posInt(op, 'H', a.H), posInt(op, 'W', a.W), posInt(op, 'OH', a.OH), posInt(op, 'OW', a.OW),
    intIn(op, 'mode', a.mode, 0, 2), active(op, 'cActive', a.cActive, C, 'C'), ptr(op, 'scratch', a.scratch),
  ]);
}

export function resizeBilinear(eng: Engine, a: ResizeArgs): void {
  const words = resizeWords(a);
  const xb = a.C * a.H * a.W * 4, yb = a.C * a.OH * a.OW * 4, sb = resizeScratchBytes(a);
  inMemory(eng, 'resize_bilinear', 'x', a.x, xb);
  inMemory(eng, 'resize_bilinear', 'y', a.y, yb);
  inMemory(eng, 'resize_bilinear', 'scratch', a.scratch, sb);
  disjoint('resize_bilinear', ['x', a.x, xb], ['y', a.y, yb]);
  disjoint('resize_bilinear', ['scratch', a.scratch, sb], ['x', a.x, xb]);
  disjoint('resize_bilinear', ['scratch', a.scratch, sb], ['y', a.y, yb]);
  eng.call('resize_bilinear', words);
}

/** Source neighbours and weight of output index i along one axis (f32 coordinates, as TF). */
export function resizeCoord(i: number, inN: number, outN: number, mode: number): { lo: number; hi: number; t: number } {
  const f = Math.fround;
  const scale = mode === 1 && outN > 1 ? f(f(inN - 1) / f(outN - 1)) : f(f(inN) / f(outN));
  const s = mode === 2 ? f(f(f(i + 0.5) * scale) - 0.5) : f(i * scale);
  const fl = Math.floor(s);
  const clamp = (v: number): number => Math.min(Math.max(v, 0), inN - 1);
  return { lo: clamp(fl), hi: clamp(Math.ceil(s)), t: s - fl };
}

/** f64 reference (f32 coordinates, f64 arithmetic): [cActive][OH][OW]. */
export function resizeRef(x: ArrayLike<number>, o: ResizeShape & { cActive?: number }): Float64Array {
  const { H, W, OH, OW, mode } = o, cA = o.cActive ?? o.C;
  const y = new Float64Array(cA * OH * OW);
  const cols = Array.from({ length: OW }, (_, i) => resizeCoord(i, W, OW, mode));
  for (let c = 0; c < cA; c++) {
    for (let oy = 0; oy < OH; oy++) {
      const r = resizeCoord(oy, H, OH, mode);
      const r0 = (c * H + r.lo) * W, r1 = (c * H + r.hi) * W;
      for (let ox = 0; ox < OW; ox++) {
        const q = cols[ox];
        const top = x[r0 + q.lo] + (x[r0 + q.hi] - x[r0 + q.lo]) * q.t;
        const bot = x[r1 + q.lo] + (x[r1 + q.hi] - x[r1 + q.lo]) * q.t;
        y[(c * OH + oy) * OW + ox] = top + (bot - top) * r.t;
      }
    }
  }
  return y;
}

// Graph-level spec: fields, shape rules, lowering to the kernel params.

/** Graph op `resize_bilinear` (docs/GRAPH.md); mode 0 legacy, 1 align_corners, 2 half_pixel. */
export const resizeOp: OpSpec = {
  fields: [buf('x', 'in'), buf('y', 'out'), int('C'), int('H'), int('W'), int('OH'), int('OW'), int('mode'), bound('cActive')],
  plan(l) {
    const s = { C: l.int('C'), H: l.int('H'), W: l.int('W'), OH: l.int('OH'), OW: l.int('OW'), mode: l.int('mode') };
    const cA = l.activeCount('cActive', s.C, 'C');
    l.kernelCheck(() => resizeWords({ ...s, x: 64, y: 64, scratch: 64, cActive: cA }));
    l.bufferShape('x', [s.C, s.H, s.W], 'C, H, W');
    l.bufferShape('y', [s.C, s.OH, s.OW], 'C, OH, OW');
    return {
      extents: { x: cA * s.H * s.W, y: cA * s.OH * s.OW },
      scratch: resizeScratchBytes(s),
      lower: (p) => [{ op: OPCODES.resize_bilinear, words: resizeWords({ ...s, x: p.buf('x'), y: p.buf('y'), cActive: cA, scratch: p.scratch }) }],
    };
  },
  ref(c) {
    c.put('y', resizeRef(c.buf('x'), { C: c.num('C'), H: c.num('H'), W: c.num('W'), OH: c.num('OH'), OW: c.num('OW'), mode: c.num('mode'), cActive: c.opt('cActive') }));
  },
  bench: [{
    id: 'resize-centernet', what: 'bilinear 2x, legacy (Keras UpSampling2D) 64ch @64 -> @128 (CenterNet head; 3 operations per output)',
    layer: { x: 'x', y: 'y', C: 64, H: 64, W: 64, OH: 128, OW: 128, mode: 0 },
    buffers: { x: [64, 64, 64], y: [64, 128, 128] },
    flops: 3 * 64 * 128 * 128,
  }],
};
