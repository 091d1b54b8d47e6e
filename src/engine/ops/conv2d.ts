/**
 * General KxK convolution (k in {1,3,5,7}, stride 1 or 2, dilation >= 1, any padding, groups 1
 * or G equal groups) with a fused per-channel epilogue y = act((acc + bias) * scale + shift).
 *
 *   import { loadEngine, Arena } from '../wasm.js';
 *   import { conv2d, conv2dScratchBytes, convAuto } from './conv2d.js';
 *   import { Act } from './act.js';
 *   const eng = loadEngine(), a = new Arena(eng);
 *   const shape = { cin: 24, cout: 144, groups: 4, H: 96, W: 96, k: 3, stride: 1, pad: 'tf-same' as const };
 *   const x = a.allocF32(24 * 96 * 96), w = a.allocF32(144 * 6 * 9), y = a.allocF32(144 * 96 * 96);
 *   const scratch = a.alloc(conv2dScratchBytes({ ...shape, x, w, y }));
 *   conv2d(eng, { ...shape, x, w, y, scratch, act: Act.relu });
 *   // the first two ensemble members only: same weights, output [72][96][96]
 *   conv2d(eng, { ...shape, x, w, y, scratch, groupsActive: 2 });
 *   // a slimmed dense layer: the first 16 inputs and 8 outputs of a 32->64 conv
 *   conv2d(eng, { x, w, y, scratch, cin: 32, cout: 64, cinActive: 16, coutActive: 8, H: 32, W: 32, k: 3, stride: 1, pad: 'same' });
 *   // any conv, depthwise and 1x1 through their own kernels
 *   convAuto(eng, { x, w, y, scratch, cin: 32, cout: 32, groups: 32, H: 32, W: 32, k: 3, stride: 2, pad: 'same' });
 *
 * The scratch size depends on the active input channels and the output size, so the size
 * computed for the full width (all channels / all groups active) covers every narrower mode.
 */
import type { Engine } from '../wasm.js';
import { convGeometry, type Conv2dArgs, type ConvGeometry, type Padding } from './types.js';
import { actRef } from './act.js';
import { dwconv, dwconvWords } from './dwconv.js';
import { pointwise, pointwiseWords } from './matmul.js';
import { posInt } from './check.js';
import { OPCODES } from '../plan/words.js';
import { buf, ten, modalTen, int, bound, actF, type OpSpec, type Ptrs } from './spec.js';
import { shapeText } from '../../util.js';

/** The shape part of Conv2dArgs: what the f64 reference and the size functions need. */
export type Conv2dShape = Omit<Conv2dArgs, 'x' | 'w' | 'y' | 'bias' | 'scale' | 'shift' | 'scratch'>;

/** Resolved sizes of one call: full and active channel counts, geometry. */
export interface Conv2dPlan extends ConvGeometry {
  groups: number;
  groupsActive: number;
  /** full channels per group (weight strides) */
  cinG: number;
  coutG: number;
  /** channels the loops run over, in all active groups together */
  cinActive: number;
  coutActive: number;
  dilation: number;
}

// Mirrors assembly/conv2d.ts (scratch layout and the copy band's budget).
const STAGE_BYTES = 4 * 8 * 4;
const EPI_BYTES = 64;
const TAP_BYTES = 20;
const L2_BUDGET = 256 << 10;


/** Validates a shape and resolves its defaults; every error names the field that is wrong. */
export function conv2dPlan(a: Conv2dShape): Conv2dPlan {
  posInt('conv2d', 'cin', a.cin);
  posInt('conv2d', 'cout', a.cout);
  posInt('conv2d', 'H', a.H);
  posInt('conv2d', 'W', a.W);
  if (a.k !== 1 && a.k !== 3 && a.k !== 5 && a.k !== 7) throw new Error(`slimsplit: conv2d k must be 1, 3, 5 or 7, got ${a.k}`);
  if (a.stride !== 1 && a.stride !== 2) throw new Error(`slimsplit: conv2d stride must be 1 or 2, got ${a.stride}`);
  const dilation = a.dilation ?? 1;
  posInt('conv2d', 'dilation', dilation);
  const act = a.act ?? 0;
  if (!(Number.isInteger(act) && act >= 0 && act <= 6)) throw new Error(`slimsplit: conv2d act code ${act} is not one of 0..6`);
  const groups = a.groups ?? 1;
  posInt('conv2d', 'groups', groups);
  if (a.cin % groups !== 0) throw new Error(`slimsplit: conv2d cin ${a.cin} is not divisible by groups ${groups}`);
  if (a.cout % groups !== 0) throw new Error(`slimsplit: conv2d cout ${a.cout} is not divisible by groups ${groups}`);
  const cinG = a.cin / groups, coutG = a.cout / groups;
  let groupsActive: number, cinActive: number, coutActive: number;
  if (groups === 1) {
    if (a.groupsActive !== undefined && a.groupsActive !== 1) throw new Error(`slimsplit: conv2d groupsActive ${a.groupsActive} needs groups > 1 (groups is 1)`);
    groupsActive = 1;
    cinActive = a.cinActive ?? a.cin;
    coutActive = a.coutActive ?? a.cout;
    posInt('conv2d', 'cinActive', cinActive);
    posInt('conv2d', 'coutActive', coutActive);
    if (cinActive > a.cin) throw new Error(`slimsplit: conv2d cinActive ${cinActive} exceeds cin ${a.cin}`);
    if (coutActive > a.cout) throw new Error(`slimsplit: conv2d coutActive ${coutActive} exceeds cout ${a.cout}`);
  } else {
    groupsActive = a.groupsActive ?? groups;
    posInt('conv2d', 'groupsActive', groupsActive);
    if (groupsActive > groups) throw new Error(`slimsplit: conv2d groupsActive ${groupsActive} exceeds groups ${groups}`);
    cinActive = groupsActive * cinG;
    coutActive = groupsActive * coutG;
    // With groups, width is chosen by group count; a channel prefix inside a group is not a mode.
    if (a.cinActive !== undefined && a.cinActive !== cinActive)
      throw new Error(`slimsplit: conv2d cinActive ${a.cinActive} must be groupsActive*cin/groups = ${cinActive} when groups = ${groups} (slice with groupsActive)`);
    if (a.coutActive !== undefined && a.coutActive !== coutActive)
      throw new Error(`slimsplit: conv2d coutActive ${a.coutActive} must be groupsActive*cout/groups = ${coutActive} when groups = ${groups} (slice with groupsActive)`);
  }
  const g = convGeometry(a.H, a.W, a.k, a.stride, a.pad, dilation);
  // Fields spelled out: an object spread here cost ~14 us a call in Node 20's V8, a tenth
  // of a 16->16 3x3 conv at 32x32.
  return {
    OH: g.OH, OW: g.OW, padT: g.padT, padL: g.padL, padB: g.padB, padR: g.padR,
    groups, groupsActive, cinG, coutG, cinActive, coutActive, dilation,
  };
}

/** Whether the kernel reads a padded copy of the input (mirrors the test in assembly/conv2d.ts). */
function needsCopy(a: Conv2dShape, g: ConvGeometry): boolean {
  return a.stride !== 1 || g.padT !== 0 || g.padL !== 0 || g.padB !== 0 || g.padR !== 0 || g.OW < 8;
}

/**
 * Scratch bytes for this call (layout at the top of assembly/conv2d.ts): a staging block,
 * per block of 4 output channels an epilogue block and a tap stream (input offset + 4
 * weights per tap), and, for stride 2, any padding or OW < 8, a zero-padded copy of the
 * input rows of one band of output rows (at most ~256 KiB, or one row). Always > 0.
 */
export function conv2dScratchBytes(a: Conv2dShape): number {
  return scratchBytes(a, conv2dPlan(a));
}

function scratchBytes(a: Conv2dShape, pl: Conv2dPlan): number {
  const ciN = pl.groups === 1 ? pl.cinActive : pl.cinG;
  const coN = pl.groups === 1 ? pl.coutActive : pl.coutG;
  const blocks = pl.groupsActive * Math.ceil(coN / 4);
  const stream = Math.ceil((ciN * a.k * a.k * TAP_BYTES) / 16) * 16;
  let bytes = STAGE_BYTES + blocks * (EPI_BYTES + stream);
  if (needsCopy(a, pl)) {
    const OWe = Math.max(pl.OW, 8);
    const ke = (a.k - 1) * pl.dilation + 1; // the extent one output reads
    const Wrow = a.stride === 1 ? OWe - 1 + ke : 2 * (OWe + ((ke - 1) >> 1));
    const band = Math.min(Math.max(Math.floor(L2_BUDGET / (a.cin * a.stride * Wrow * 4)), 1), pl.OH);
    // dilated: kernel row by kernel row when that holds fewer rows (copyRows in assembly/conv2d.ts)
    const compact = a.k * ((band - 1) * a.stride + 1);
    const rows = pl.dilation > 1 && compact < (band - 1) * a.stride + ke ? compact : (band - 1) * a.stride + ke;
    bytes += pl.cinActive * rows * Wrow * 4;
  }
  return bytes;
}

// Mirrors assembly/conv2d_wino.ts winoScratchBytes and conv2d.ts's choice (WINO_MIN_CO).
const WINO_MIN_CO = 8;
const align16 = (n: number): number => Math.ceil(n / 16) * 16;
function winoBytes(nB: number, ciN: number, OW: number): number {
  const ntxP = Math.ceil(Math.ceil(OW / 2) / 8) * 8, E = ntxP + 1;
  return align16(nB * 16 * ciN * 16) + align16(16 * ciN * ntxP * 4) + align16(ciN * 4 * 2 * E * 4) + 16 * 4 * 8 * 4 + 4 * 32 * 4;
}

/**
 * The algorithm the kernel runs for this shape: Winograd F(2x2, 3x3) for 3x3 stride-1 undilated
 * layers with rows of >= 16 outputs and >= 8 output channels per group, when its scratch fits in
 * the direct path's (conv2dScratchBytes); the direct tiles otherwise. Results differ by
 * rounding only; both builds make the same choice and give identical bits.
 */
export function conv2dAlgo(a: Conv2dShape): 'winograd' | 'direct' {
  const pl = conv2dPlan(a);
  const ciN = pl.groups === 1 ? pl.cinActive : pl.cinG;
  const coN = pl.groups === 1 ? pl.coutActive : pl.coutG;
  const ok = a.k === 3 && a.stride === 1 && pl.dilation === 1 && pl.OW >= 16 && pl.OH >= 2 && coN >= WINO_MIN_CO;
  return ok && winoBytes(Math.ceil(coN / 4), ciN, pl.OW) <= scratchBytes(a, pl) ? 'winograd' : 'direct';
}

function ptr(v: number | undefined, what: string, required: boolean): number {
  if (v === undefined || v === 0) {
    if (required) throw new Error(`slimsplit: conv2d pointer ${what} is missing`);
    return 0;
  }
  if (!(Number.isInteger(v) && v > 0 && v % 4 === 0 && v <= 0xffffffff)) throw new Error(`slimsplit: conv2d pointer ${what}=${v} must be a non-zero multiple of 4`);
  return v;
}

/**
 * The params struct for the `conv2d` kernel (25 words, a direct call); layout documented at the
 * top of assembly/conv2d.ts. A plan record leaves off word 24 when the dilation is 1 (conv2dOp).
 */
export function conv2dWords(a: Conv2dArgs): Int32Array {
  const pl = conv2dPlan(a);
  const x = ptr(a.x, 'x', true), w = ptr(a.w, 'w', true), y = ptr(a.y, 'y', true);
  const scratch = ptr(a.scratch, 'scratch', false);
  const ss = scratchBytes(a, pl);
  if (scratch === 0) throw new Error(`slimsplit: conv2d args.scratch is missing: this shape needs ${ss} bytes (conv2dScratchBytes)`);
  if (scratch % 16 !== 0) throw new Error(`slimsplit: conv2d scratch=${scratch} must be 16-byte aligned`);
  // The kernel reads x while it writes y and scratch (w, bias, scale, shift are only read).
  const bufs: Array<[string, number, number]> = [
    ['x', x, pl.cinActive * a.H * a.W * 4], ['y', y, pl.coutActive * pl.OH * pl.OW * 4], ['scratch', scratch, ss],
  ];
  for (let i = 0; i < 3; i++) {
    for (let j = i + 1; j < 3; j++) {
      const [n1, p1, s1] = bufs[i], [n2, p2, s2] = bufs[j];
      if (p1 < p2 + s2 && p2 < p1 + s1) throw new Error(`slimsplit: conv2d ${n2} [${p2}, ${p2 + s2}) overlaps ${n1} [${p1}, ${p1 + s1})`);
    }
  }
  return Int32Array.of(
    x, w, y, ptr(a.bias, 'bias', false), ptr(a.scale, 'scale', false), ptr(a.shift, 'shift', false), scratch,
    a.cin, a.cout, pl.cinActive, pl.coutActive, pl.groups, pl.groupsActive,
    a.H, a.W, pl.OH, pl.OW,
    a.k, a.stride, pl.padT, pl.padL, a.act ?? 0,
    pl.padB, pl.padR, pl.dilation,
  );
}

/** Runs the conv: x [cinActive][H][W] -> y [coutActive][OH][OW]. Neither may overlap scratch or each other. */
export function conv2d(eng: Engine, a: Conv2dArgs): void {
  eng.call('conv2d', conv2dWords(a));
}

/**
 * The kernel convAuto runs: depthwise and 1x1 layers have kernels of their own. A dilated
 * depthwise conv runs through conv2d's grouped path (groups = channels): dwconv has dilation 1.
 */
export function convAutoKernel(a: Conv2dShape): 'dwconv' | 'pointwise' | 'conv2d' {
  const groups = a.groups ?? 1;
  const undilated = (a.dilation ?? 1) === 1;
  if (groups > 1 && groups === a.cin && groups === a.cout && (a.k === 3 || a.k === 5) && undilated) return 'dwconv';
  if (a.k === 1 && a.stride === 1 && groups === 1) return 'pointwise';
  return 'conv2d';
}

/**
 * Any conv: undilated depthwise 3x3/5x5 to dwconv (src/engine/ops/dwconv.ts), 1x1 stride 1 to the matmul
 * kernel (src/engine/ops/matmul.ts), everything else to conv2d. Only conv2d uses args.scratch.
 */
export function convAuto(eng: Engine, a: Conv2dArgs): void {
  const k = convAutoKernel(a);
  if (k === 'dwconv') dwconv(eng, a);
  else if (k === 'pointwise') pointwise(eng, a);
  else conv2d(eng, a);
}

/**
 * f64 reference. x holds at least the active input channels [.][H][W]; w is the full
 * weight tensor [cout][cin/groups][k][k]; bias/scale/shift are full [cout] vectors.
 * Returns y [coutActive][OH][OW] (coutActive over all active groups), with the activation.
 */
export function conv2dRef(
  x: ArrayLike<number>, w: ArrayLike<number>, a: Conv2dShape,
  bias?: ArrayLike<number>, scale?: ArrayLike<number>, shift?: ArrayLike<number>,
): Float64Array {
  const pl = conv2dPlan(a);
  const { OH, OW, padT, padL, cinG, coutG, groupsActive, dilation: d } = pl;
  const { H, W, k, stride } = a;
  const act = a.act ?? 0;
  // Within a group: the loops run over the active prefix (groups = 1) or the whole group.
  const ciN = pl.groups === 1 ? pl.cinActive : cinG;
  const coN = pl.groups === 1 ? pl.coutActive : coutG;
  if (x.length < (pl.groups === 1 ? ciN : groupsActive * cinG) * H * W) throw new Error(`slimsplit: conv2dRef x has ${x.length} values, fewer than the active input`);
  if (w.length < a.cout * cinG * k * k) throw new Error(`slimsplit: conv2dRef w has ${w.length} values, expected ${a.cout * cinG * k * k}`);
  const y = new Float64Array(groupsActive * coN * OH * OW);
  for (let g = 0; g < groupsActive; g++) {
    for (let co = 0; co < coN; co++) {
      const wc = g * coutG + co; // weight / epilogue channel
      const yc = g * coN + co; // output channel
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          let acc = 0;
          for (let ci = 0; ci < ciN; ci++) {
            const xc = (g * cinG + ci) * H * W;
            const wb = (wc * cinG + ci) * k * k;
            for (let ky = 0; ky < k; ky++) {
              const iy = oy * stride + ky * d - padT;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < k; kx++) {
                const ix = ox * stride + kx * d - padL;
                if (ix < 0 || ix >= W) continue;
                acc += x[xc + iy * W + ix] * w[wb + ky * k + kx];
              }
            }
          }
          const v = (acc + (bias ? bias[wc] : 0)) * (scale ? scale[wc] : 1) + (shift ? shift[wc] : 0);
          y[(yc * OH + oy) * OW + ox] = actRef(v, act);
        }
      }
    }
  }
  return y;
}

// Graph-level spec: fields, shape rules, lowering to the kernel params.

/** Graph op `conv2d` (docs/GRAPH.md). */
export const conv2dOp: OpSpec = {
  fields: [
    // scale/shift may switch with the mode: a switchable norm folds one BatchNorm per members value
    buf('x', 'in'), buf('y', 'out'), ten('w'), ten('bias', true), modalTen('scale'), modalTen('shift'),
    int('cin'), int('cout'), int('groups'), int('k'), int('stride'), { name: 'pad', kind: 'pad' }, actF,
    bound('cinActive'), bound('coutActive'), bound('groupsActive'),
    // added after blobs were first written: a layer's words may end before it (dilation 1)
    { name: 'dilation', kind: 'int', optional: true, trailing: true },
  ],
  plan(l) {
    const cin = l.int('cin'), cout = l.int('cout'), groups = l.int('groups'), k = l.int('k'), stride = l.int('stride');
    const x = l.buffer('x');
    if (x.shape.length !== 3 || x.shape[0] !== cin) l.fail('shape', `buffer x '${x.name}' has shape ${shapeText(x.shape)}, expected [cin=${cin}, H, W]`);
    const H = x.shape[1], W = x.shape[2];
    const pad = l.str('pad') as Padding, act = l.actCode();
    const cinActive = l.optInt('cinActive'), coutActive = l.optInt('coutActive'), groupsActive = l.optInt('groupsActive');
    const dilation = l.optInt('dilation') ?? 1;
    const shape = { cin, cout, groups, k, stride, H, W, pad, act, cinActive, coutActive, groupsActive, dilation };
    const pl = l.kernelCheck(() => conv2dPlan(shape));
    l.tensorShape('w', [cout, cin / groups, k, k], 'cout, cin/groups, k, k');
    for (const v of ['bias', 'scale', 'shift']) l.tensorShape(v, [cout], 'cout');
    l.bufferShape('y', [cout, pl.OH, pl.OW], 'cout, OH, OW');
    // GRAPH.md: a 1x1/stride-1 dense conv runs as a matmul (a 1x1 tap reads the same pixel at
    // any dilation), an undilated 3x3 or 5x5 depthwise one as dwconv
    const pointwise = k === 1 && stride === 1 && groups === 1;
    const depthwise = groups === cin && cin === cout && groups > 1 && (k === 3 || k === 5) && dilation === 1;
    // written out, not spread: this runs for every layer in every mode at load time
    const args = (p: Ptrs): Conv2dArgs => ({
      x: p.buf('x'), y: p.buf('y'), w: p.ten('w'), bias: p.ten('bias'), scale: p.ten('scale'), shift: p.ten('shift'), scratch: p.scratch,
      cin, cout, groups, k, stride, H, W, pad, act, cinActive, coutActive, groupsActive, dilation,
    });
    return {
      extents: { x: pl.cinActive * H * W, y: pl.coutActive * pl.OH * pl.OW },
      scratch: pointwise || depthwise ? 0 : conv2dScratchBytes(shape),
      lower: (p) => [
        pointwise ? { op: OPCODES.matmul, words: pointwiseWords(args(p)) }
          : depthwise ? { op: OPCODES.dwconv, words: dwconvWords(args(p)) }
            // dilation 1: the 24-word record every plan had before word 24 existed (old blobs' plans compare equal)
            : { op: OPCODES.conv2d, words: dilation === 1 ? conv2dWords(args(p)).subarray(0, 24) : conv2dWords(args(p)) },
      ],
    };
  },
  ref(c) {
    const [, H, W] = c.shape('x');
    const s = {
      cin: c.num('cin'), cout: c.num('cout'), groups: c.num('groups'), k: c.num('k'), stride: c.num('stride'), pad: c.str('pad') as Padding, act: c.act, H, W,
      cinActive: c.opt('cinActive'), coutActive: c.opt('coutActive'), groupsActive: c.opt('groupsActive'), dilation: c.opt('dilation'),
    };
    c.put('y', conv2dRef(c.buf('x'), c.tensor('w')!, s, c.tensor('bias'), c.tensor('scale'), c.tensor('shift')));
  },
  bench: [{
    id: 'conv2d-see', what: 'SEE block 3x3 tf-same 4x(6->36) @96 + relu, through the plan',
    layer: { x: 'x', y: 'y', w: 'w', bias: 'b', cin: 24, cout: 144, groups: 4, k: 3, stride: 1, pad: 'tf-same', act: 'relu' },
    buffers: { x: [24, 96, 96], y: [144, 96, 96] }, tensors: { w: [144, 6, 3, 3], b: [144] },
    flops: 2 * 144 * 96 * 96 * 6 * 9,
  }],
};
