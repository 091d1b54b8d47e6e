/**
 * A float64 forward pass of an imported IR graph (src/import/graph.ts): the reference an imported
 * blob is checked against (tests, `slimsplit eval-imagenet`). Plain loops, f64 accumulation and
 * f64 activations, nothing shared with the engine's kernels but the geometry rule (convGeometry).
 *
 *   const ir = readTflite(bytes);
 *   const logits = referenceForward(ir, x);   // x: the engine's input [C][H][W] (normalized)
 */
import { convGeometry } from '../engine/ops/types.js';
import { actRef } from '../engine/ops/act.js';
import { Act } from '../engine/ops/act.js';
import { resizeRef, RESIZE_MODES } from '../engine/ops/resize.js';
import { avgpoolRef } from '../engine/ops/avgpool.js';
import { upsample2xRef } from '../engine/ops/upsample.js';
import { chshuffleRef } from '../engine/ops/chshuffle.js';
import { softmaxRef } from '../engine/ops/softmax.js';
import { ImportError, nodeInputs, type IrGraph, type IrNode } from './graph.js';

/** Every activation of the graph, by tensor name, after running it on `x`; or only the output. */
export function referenceForward(g: IrGraph, x: ArrayLike<number>, opts: { upTo?: string } = {}): Float64Array {
  const vals = new Map<string, Float64Array>();
  const inShape = g.tensors.get(g.input)!.shape;
  const n = inShape.reduce((a, b) => a * b, 1);
  if (x.length !== n) throw new ImportError(`reference input has ${x.length} values, the model takes ${n}`);
  vals.set(g.input, Float64Array.from(x));
  // last use of each tensor, to free what no later node reads
  const last = new Map<string, number>();
  g.nodes.forEach((nd, i) => {
    for (const t of nodeInputs(nd)) last.set(t, i);
  });
  const stop = opts.upTo ?? g.output;
  for (let i = 0; i < g.nodes.length; i++) {
    const nd = g.nodes[i];
    vals.set(nd.y, runNode(g, nd, vals));
    if (nd.y === stop) return vals.get(stop)!;
    for (const t of nodeInputs(nd)) if (last.get(t) === i && t !== nd.y) vals.delete(t);
  }
  const out = vals.get(stop);
  if (!out) throw new ImportError(`reference: tensor '${stop}' was not computed`);
  return out;
}

/** Every activation by tensor name (the input included), for per-layer checks and benchmarks. */
export function referenceActivations(g: IrGraph, x: ArrayLike<number>): Map<string, Float64Array> {
  const vals = new Map<string, Float64Array>([[g.input, Float64Array.from(x)]]);
  for (const nd of g.nodes) vals.set(nd.y, runNode(g, nd, vals));
  return vals;
}

/** y[co][p] = act(bias[co] + sum_ci w[co][ci] x[ci][p]), four output channels per pass over x. */
function pointwise(x: Float64Array, w: Float32Array, bias: Float32Array | undefined, cin: number, cout: number, HW: number, code: number): Float64Array {
  const y = new Float64Array(cout * HW);
  const acc4 = new Float64Array(4 * HW);
  for (let c0 = 0; c0 < cout; c0 += 4) {
    const nb = Math.min(4, cout - c0);
    for (let j = 0; j < 4; j++) acc4.fill(j < nb && bias ? bias[c0 + j] : 0, j * HW, (j + 1) * HW);
    for (let ci = 0; ci < cin; ci++) {
      const w0 = w[c0 * cin + ci], w1 = nb > 1 ? w[(c0 + 1) * cin + ci] : 0;
      const w2 = nb > 2 ? w[(c0 + 2) * cin + ci] : 0, w3 = nb > 3 ? w[(c0 + 3) * cin + ci] : 0;
      const xo = ci * HW;
      for (let p = 0; p < HW; p++) {
        const xv = x[xo + p];
        acc4[p] += w0 * xv;
        acc4[HW + p] += w1 * xv;
        acc4[2 * HW + p] += w2 * xv;
        acc4[3 * HW + p] += w3 * xv;
      }
    }
    for (let j = 0; j < nb; j++) for (let p = 0; p < HW; p++) y[(c0 + j) * HW + p] = actRef(acc4[j * HW + p], code);
  }
  return y;
}

/** Any grouped k x k conv with dilation d, OIHW weights, explicit top/left padding (the rest is implied by OH, OW). */
function conv(
  x: Float64Array, w: Float32Array, bias: Float32Array | undefined, cin: number, cout: number, groups: number,
  H: number, W: number, k: number, s: number, d: number, OH: number, OW: number, padT: number, padL: number, code: number,
): Float64Array {
  const cinG = cin / groups, coutG = cout / groups;
  const y = new Float64Array(cout * OH * OW);
  const acc = new Float64Array(OH * OW);
  for (let co = 0; co < cout; co++) {
    acc.fill(bias ? bias[co] : 0);
    const gi = Math.floor(co / coutG);
    for (let ci = 0; ci < cinG; ci++) {
      const xc = (gi * cinG + ci) * H * W;
      for (let ky = 0; ky < k; ky++) {
        for (let kx = 0; kx < k; kx++) {
          const wv = w[((co * cinG + ci) * k + ky) * k + kx];
          if (wv === 0) continue;
          // the output columns whose input column ox*s + kx*d - padL is inside the image: ox in [oxLo, oxHi)
          const cx = kx * d;
          const oxLo = Math.max(0, Math.ceil((padL - cx) / s)), oxHi = Math.min(OW, Math.floor((W - 1 + padL - cx) / s) + 1);
          for (let oy = 0; oy < OH; oy++) {
            const iy = oy * s + ky * d - padT;
            if (iy < 0 || iy >= H) continue;
            const row = xc + iy * W + cx - padL, orow = oy * OW;
            for (let ox = oxLo; ox < oxHi; ox++) acc[orow + ox] += wv * x[row + ox * s];
          }
        }
      }
    }
    for (let p = 0; p < OH * OW; p++) y[co * OH * OW + p] = actRef(acc[p], code);
  }
  return y;
}

function act(v: number, a: string): number {
  return actRef(v, Act[a as keyof typeof Act]);
}

function runNode(g: IrGraph, nd: IrNode, vals: Map<string, Float64Array>): Float64Array {
  const get = (t: string): Float64Array => vals.get(t)!;
  const shape = (t: string): number[] => g.tensors.get(t)!.shape;
  switch (nd.op) {
    case 'conv2d': {
      const [, H, W] = shape(nd.x);
      const d = nd.dilation ?? 1;
      const geo = convGeometry(H, W, nd.k, nd.stride, nd.pad, d);
      const code = Act[nd.act];
      // separate monomorphic functions: V8 optimizes each hot loop on its own
      if (nd.k === 1 && nd.stride === 1 && nd.groups === 1 && geo.padT === 0 && geo.padL === 0) return pointwise(get(nd.x), nd.w, nd.bias, nd.cin, nd.cout, H * W, code);
      return conv(get(nd.x), nd.w, nd.bias, nd.cin, nd.cout, nd.groups, H, W, nd.k, nd.stride, d, geo.OH, geo.OW, geo.padT, geo.padL, code);
    }
    case 'matmul': {
      const x = get(nd.x);
      const y = new Float64Array(nd.cout);
      for (let o = 0; o < nd.cout; o++) {
        let a = nd.bias ? nd.bias[o] : 0;
        for (let i = 0; i < nd.cin; i++) a += nd.w[o * nd.cin + i] * x[i];
        y[o] = act(a, nd.act);
      }
      return y;
    }
    case 'add': {
      const a = get(nd.a), b = get(nd.b);
      const y = new Float64Array(a.length);
      for (let i = 0; i < a.length; i++) y[i] = act(a[i] + b[i], nd.act);
      return y;
    }
    case 'gap': {
      const x = get(nd.x);
      const [C, H, W] = shape(nd.x);
      const y = new Float64Array(C);
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let i = 0; i < H * W; i++) s += x[c * H * W + i];
        y[c] = s / (H * W);
      }
      return y;
    }
    case 'maxpool': {
      const x = get(nd.x);
      const [C, H, W] = shape(nd.x);
      const { OH, OW, padT, padL } = convGeometry(H, W, nd.k, nd.stride, nd.pad);
      const y = new Float64Array(C * OH * OW);
      for (let c = 0; c < C; c++) {
        for (let oy = 0; oy < OH; oy++) {
          for (let ox = 0; ox < OW; ox++) {
            let m = -Infinity;
            for (let ky = 0; ky < nd.k; ky++) {
              const iy = oy * nd.stride + ky - padT;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < nd.k; kx++) {
                const ix = ox * nd.stride + kx - padL;
                if (ix >= 0 && ix < W) m = Math.max(m, x[(c * H + iy) * W + ix]);
              }
            }
            y[(c * OH + oy) * OW + ox] = m;
          }
        }
      }
      return y;
    }
    case 'act': {
      const x = get(nd.x);
      return x.map((v) => act(v, nd.act));
    }
    case 'scale': {
      const x = get(nd.x);
      return x.map((v) => act(v * nd.a + (nd.b ?? 0), nd.act ?? 'none'));
    }
    case 'alias':
      return get(nd.x);
    case 'mul': {
      const a = get(nd.a), b = get(nd.b);
      const C = shape(nd.a)[0], per = b.length !== a.length ? a.length / C : 0;
      if (per && b.length !== C) throw new ImportError(`reference: mul '${nd.name}' of ${a.length} and ${b.length} values`);
      const y = new Float64Array(a.length);
      for (let i = 0; i < a.length; i++) y[i] = act(a[i] * b[per ? Math.floor(i / per) : i], nd.act);
      return y;
    }
    case 'concat': {
      const a = get(nd.a), b = get(nd.b);
      const y = new Float64Array(a.length + b.length);
      for (let i = 0; i < a.length; i++) y[i] = act(a[i], nd.act);
      for (let i = 0; i < b.length; i++) y[a.length + i] = act(b[i], nd.act);
      return y;
    }
    case 'avgpool': {
      const [C, H, W] = shape(nd.x);
      return avgpoolRef(get(nd.x), { C, H, W, k: nd.k, stride: nd.stride, pad: nd.pad, countPad: nd.countPad });
    }
    case 'softmax': {
      const x = get(nd.x), C = shape(nd.x)[0];
      return softmaxRef(x, C, x.length / C);
    }
    case 'resize_bilinear': {
      const [C, H, W] = shape(nd.x), [, OH, OW] = shape(nd.y);
      return resizeRef(get(nd.x), { C, H, W, OH, OW, mode: RESIZE_MODES[nd.mode] });
    }
    case 'upsample2x': {
      const [C, H, W] = shape(nd.x);
      return upsample2xRef(get(nd.x), { C, H, W });
    }
    case 'chshuffle': {
      const x = get(nd.x), C = shape(nd.x)[0];
      return chshuffleRef(x, { C, HW: x.length / C, groups: nd.groups, c0: nd.c0, n: shape(nd.y)[0] });
    }
  }
}
