/**
 * Execution plans: every graph of a model compiled at pack time into a flat list of kernel calls
 * that assembly/plan.ts walks inside WASM, and the host-side Runner that drives one.
 *
 *   import { readFileSync } from 'node:fs';
 *   import { loadEngine } from './wasm.js';
 *   import { readBlob } from '../format/blob.js';
 *   import { Runner } from './plan.js';
 *   const blob = readBlob(readFileSync('weights/see-384-random.slim'));
 *   const enc = new Runner(loadEngine(), blob, 'encoder');  // blob copied into WASM once, arena planned
 *   enc.setMode({ members: 2 });                              // a few word writes inside WASM
 *   const z = enc.run(image);                                 // a view into WASM memory, valid until the next run
 *
 * Why precompiled: hosts without JavaScript (wasm3/WAMR on a microcontroller) have no plan
 * compiler, and a plan made at pack time keeps the device module small and dumb: it relocates
 * pointers once, writes a handful of words per mode switch, and calls kernels in order.
 * The plan layout is specified in docs/FORMAT.md ("Plans"); the constants below mirror
 * assembly/plan.ts.
 *
 * The same code validates a graph for the packer and for the blob loader: every shape, every
 * active bound in every mode, every buffer access, and the order buffers are written and read.
 */
import { Arena, type Engine } from './wasm.js';
import { Act } from './ops/act.js';
import type { Padding, Conv2dArgs } from './ops/types.js';
import { conv2dPlan, conv2dScratchBytes, conv2dWords } from './ops/conv2d.js';
import { matmulWords, pointwiseWords } from './ops/matmul.js';
import { dwconvWords } from './ops/dwconv.js';
import { instnormWords } from './ops/instnorm.js';
import { seWords, seScratchBytes } from './ops/se.js';
import { gapWords, maxpoolWords, maxpoolGeometry } from './ops/pool.js';
import { groupsumWords } from './ops/groupsum.js';
import { upsample2xWords } from './ops/upsample.js';
import { quantizeWords, dequantizeWords } from './ops/quant.js';
import { affineWords } from './ops/affine.js';

// ------------------------------------------------------------------------------------------------
// Model description shared with src/format/blob.ts
// ------------------------------------------------------------------------------------------------

/** Mode axes, in the order a mode index is formed (the last listed axis varies fastest). */
export const AXES = ['members', 'width', 'bits'] as const;
export type AxisName = (typeof AXES)[number];
export interface AxisDef {
  name: AxisName;
  /** strictly increasing; the last value is the largest mode */
  values: number[];
}

export const DTYPES = ['f32', 'u8', 'u16', 'u32', 'i32'] as const;
export type DType = (typeof DTYPES)[number];
export const DTYPE_BYTES: Record<DType, number> = { f32: 4, u8: 1, u16: 2, u32: 4, i32: 4 };

/**
 * A tensor as the kernels see it: offset is relative to the data base, byteLength what it takes
 * in memory. A q8 tensor (docs/FORMAT.md, "Tensor storage") lives expanded to f32 after the data
 * section; its compact int8 form sits at storedOffset in the file's data section.
 */
export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  offset: number;
  byteLength: number;
  storage?: TensorStorage;
  /** where the tensor's bytes are in the file's data section, and how many (raw: offset and byteLength) */
  storedOffset?: number;
  storedBytes?: number;
}
export type TensorStorage = 'raw' | 'q8';

export type BufferDType = 'f32' | 'u8';
/** An activation buffer; shape is the full (largest-mode) shape. */
export interface BufferDef {
  name: string;
  dtype: BufferDType;
  shape: number[];
}

/** int/float: number; pad: name or pixels; act: name; tensor/buffer: a name; null: absent or mode-dependent. */
export type FieldValue = number | string | null;
export interface ActiveDef {
  axis: AxisName;
  /** one value per value of the axis: numbers, or tensor names for a modal tensor field */
  values: Array<number | string>;
}
export interface LayerDef {
  op: string;
  /** every field of the op (OPS[op].fields), absent optional ones and mode-dependent ones null */
  fields: Record<string, FieldValue>;
  active: Record<string, ActiveDef>;
}
export interface GraphDef {
  name: string;
  input: string;
  output: string;
  buffers: BufferDef[];
  layers: LayerDef[];
}
export interface PlanLayout {
  axes: AxisDef[];
  tensors: TensorInfo[];
}

/** A graph that does not describe a runnable model; `code` says which rule it breaks. */
export class GraphError extends Error {
  readonly code: string;
  /** the message without the 'slimsplit: ' prefix, for wrapping */
  readonly detail: string;
  constructor(code: string, detail: string) {
    super(`slimsplit: ${detail}`);
    this.name = 'GraphError';
    this.code = code;
    this.detail = detail;
  }
}

// Ceilings that keep a hostile graph from costing minutes or gigabytes before it is rejected.
export const LIMITS = {
  modes: 1024,
  layers: 4096,
  /** layers x modes: the validation and compile work a blob may ask for */
  layerModes: 1 << 16,
  buffers: 4096,
  /** elements of one buffer or tensor */
  elems: 1 << 28,
  rank: 8,
  arenaBytes: 1 << 30,
  /** params words of one record: the two relocation masks are u32 */
  recordWords: 32,
} as const;

// ------------------------------------------------------------------------------------------------
// Opcodes and plan layout (mirrored by assembly/plan.ts; documented in docs/FORMAT.md)
// ------------------------------------------------------------------------------------------------

/** Kernel opcodes. A graph op may lower to another kernel (a 1x1 conv runs as matmul). */
export const OPCODES = {
  conv2d: 1,
  dwconv: 2,
  matmul: 3,
  instnorm: 4,
  se: 5,
  gap: 6,
  maxpool: 7,
  add: 8,
  groupsum: 9,
  upsample2x: 10,
  act: 11,
  quantize: 12,
  dequantize: 13,
  quantize_pc: 14,
  dequantize_pc: 15,
  affine: 16,
} as const;
export type KernelName = keyof typeof OPCODES;
export const OPCODE_NAMES: Record<number, KernelName> = Object.fromEntries(
  Object.entries(OPCODES).map(([k, v]) => [v, k as KernelName]),
);

export const PLAN_MAGIC = 0x4e4c5053; // "SPLN" read as a little-endian u32
export const PLAN_VERSION = 1;
export const PLAN_HEADER_WORDS = 32;
/** Header word indices. */
export const PH = {
  magic: 0,
  version: 1,
  words: 2,
  bound: 3,
  nrec: 4,
  rec: 5,
  nmodes: 6,
  modes: 7,
  cur: 8,
  base: 9,
  arenaBytes: 10,
  inOff: 11,
  inBytes: 12,
  inDtype: 13,
  outOff: 14,
  outBytes: 15,
  outDtype: 16,
  blobBase: 17,
  arenaBase: 18,
  patches: 19,
  npatch: 20,
} as const;
export const RECORD_HEADER_WORDS = 4;
export const MODE_WORDS = 4;
export const PATCH_WORDS = 3;
export const RELOC = { none: 0, blob: 1, arena: 2 } as const;
const INDEX_MASK = 0x3fffffff;

// ------------------------------------------------------------------------------------------------
// Ops: fields, validation and lowering to kernel params
// ------------------------------------------------------------------------------------------------

export type FieldKind = 'int' | 'float' | 'pad' | 'act' | 'tensor' | 'buffer';
export interface FieldSpec {
  name: string;
  kind: FieldKind;
  optional?: boolean;
  /** may be listed under `active` (a per-mode value) */
  modal?: boolean;
  /** buffers: read, written, or both (in place) */
  role?: 'in' | 'out' | 'inout';
  /** buffers: element type (default f32) */
  dtype?: BufferDType;
  /** pad: a number of pixels is allowed besides the named modes */
  numericPad?: boolean;
}

export const PADS = ['none', 'same', 'tf-same'] as const;
export const ACTS = Object.keys(Act) as Array<keyof typeof Act>;
/** Blob encoding of a numeric padding p: PAD_PIXELS + p (the named ones are their index in PADS). */
export const PAD_PIXELS = 0x100;

interface Ptrs {
  buf(field: string): number;
  /** 0 when the optional tensor is absent */
  ten(field: string): number;
  scratch: number;
}
interface Rec {
  op: number;
  words: Int32Array;
}
/** One layer in one mode: the elements it touches per buffer field, its scratch, its kernel calls. */
interface OpPlan {
  extents: Record<string, number>;
  scratch: number;
  lower(p: Ptrs): Rec[];
}
interface OpSpec {
  fields: FieldSpec[];
  /** buffer field pairs that may name the same buffer (the kernel allows y == x) */
  alias?: Array<[string, string]>;
  plan(l: LayerView): OpPlan;
}

const buf = (name: string, role: 'in' | 'out' | 'inout', dtype: BufferDType = 'f32'): FieldSpec => ({ name, kind: 'buffer', role, dtype });
const ten = (name: string, optional = false): FieldSpec => ({ name, kind: 'tensor', optional });
const modalTen = (name: string): FieldSpec => ({ name, kind: 'tensor', optional: true, modal: true });
const int = (name: string): FieldSpec => ({ name, kind: 'int' });
/** an optional active bound, defaulting to the full size inside the kernel */
const bound = (name: string): FieldSpec => ({ name, kind: 'int', optional: true, modal: true });
const actF: FieldSpec = { name: 'act', kind: 'act' };

const prod = (s: number[]): number => s.reduce((a, b) => a * b, 1);
const fmt = (s: number[]): string => `[${s.join(', ')}]`;

function conv2dOp(): OpSpec {
  return {
    fields: [
      // scale/shift may switch with the mode: a switchable norm folds one BatchNorm per members value
      buf('x', 'in'), buf('y', 'out'), ten('w'), ten('bias', true), modalTen('scale'), modalTen('shift'),
      int('cin'), int('cout'), int('groups'), int('k'), int('stride'), { name: 'pad', kind: 'pad' }, actF,
      bound('cinActive'), bound('coutActive'), bound('groupsActive'),
    ],
    plan(l) {
      const cin = l.int('cin'), cout = l.int('cout'), groups = l.int('groups'), k = l.int('k'), stride = l.int('stride');
      const x = l.buffer('x');
      if (x.shape.length !== 3 || x.shape[0] !== cin) l.fail('shape', `buffer x '${x.name}' has shape ${fmt(x.shape)}, expected [cin=${cin}, H, W]`);
      const H = x.shape[1], W = x.shape[2];
      const pad = l.str('pad') as Padding, act = l.actCode();
      const cinActive = l.optInt('cinActive'), coutActive = l.optInt('coutActive'), groupsActive = l.optInt('groupsActive');
      const shape = { cin, cout, groups, k, stride, H, W, pad, act, cinActive, coutActive, groupsActive };
      const pl = l.kernelCheck(() => conv2dPlan(shape));
      l.tensorShape('w', [cout, cin / groups, k, k], 'cout, cin/groups, k, k');
      for (const v of ['bias', 'scale', 'shift']) l.tensorShape(v, [cout], 'cout');
      l.bufferShape('y', [cout, pl.OH, pl.OW], 'cout, OH, OW');
      // GRAPH.md: a 1x1/stride-1 dense conv runs as a matmul, a 3x3 or 5x5 depthwise one as dwconv
      const pointwise = k === 1 && stride === 1 && groups === 1;
      const depthwise = groups === cin && cin === cout && groups > 1 && (k === 3 || k === 5);
      // written out, not spread: this runs for every layer in every mode at load time
      const args = (p: Ptrs): Conv2dArgs => ({
        x: p.buf('x'), y: p.buf('y'), w: p.ten('w'), bias: p.ten('bias'), scale: p.ten('scale'), shift: p.ten('shift'), scratch: p.scratch,
        cin, cout, groups, k, stride, H, W, pad, act, cinActive, coutActive, groupsActive,
      });
      return {
        extents: { x: pl.cinActive * H * W, y: pl.coutActive * pl.OH * pl.OW },
        scratch: pointwise || depthwise ? 0 : conv2dScratchBytes(shape),
        lower: (p) => [
          pointwise ? { op: OPCODES.matmul, words: pointwiseWords(args(p)) }
            : depthwise ? { op: OPCODES.dwconv, words: dwconvWords(args(p)) }
              : { op: OPCODES.conv2d, words: conv2dWords(args(p)) },
        ],
      };
    },
  };
}

function matmulOp(): OpSpec {
  return {
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
  };
}

function instnormOp(): OpSpec {
  return {
    fields: [
      buf('x', 'in'), buf('y', 'out'), int('C'), int('HW'), { name: 'eps', kind: 'float', optional: true },
      ten('gamma', true), ten('beta', true), actF, bound('cActive'),
    ],
    alias: [['x', 'y']],
    plan(l) {
      const C = l.int('C'), HW = l.int('HW');
      const cA = l.activeCount('cActive', C, 'C');
      l.bufferLead('x', C, HW, 'C, HW');
      l.bufferLead('y', C, HW, 'C, HW');
      l.tensorShape('gamma', [C], 'C');
      l.tensorShape('beta', [C], 'C');
      return {
        extents: { x: cA * HW, y: cA * HW },
        scratch: 0,
        lower: (p) => [{
          op: OPCODES.instnorm,
          words: instnormWords({
            x: p.buf('x'), y: p.buf('y'), C, HW, eps: l.optFloat('eps'), gamma: p.ten('gamma'), beta: p.ten('beta'), act: l.actCode(), cActive: cA,
          }),
        }],
      };
    },
  };
}

function seOp(): OpSpec {
  return {
    fields: [
      buf('x', 'in'), buf('y', 'out'), int('C'), int('R'), int('groups'), ten('w1'), ten('b1', true), ten('w2'), ten('b2', true),
      actF, int('H'), int('W'), bound('cActive'), bound('rActive'), bound('groupsActive'),
    ],
    alias: [['x', 'y']],
    plan(l) {
      const C = l.int('C'), R = l.int('R'), G = l.int('groups'), H = l.int('H'), W = l.int('W');
      const shape = { C, R, groups: G, H, W, act: l.actCode(), cActive: l.optInt('cActive'), rActive: l.optInt('rActive'), groupsActive: l.optInt('groupsActive') };
      // seWords holds the slicing rules (per-group bounds, no slicing inside groups when G > 1)
      l.kernelCheck(() => seWords({ ...shape, x: 64, y: 64, w1: 64, w2: 64, scratch: 64 }));
      const cg = C / G, rg = R / G;
      const cA = shape.cActive ?? cg, gA = shape.groupsActive ?? G;
      l.bufferShape('x', [C, H, W], 'C, H, W');
      l.bufferShape('y', [C, H, W], 'C, H, W');
      l.tensorShape('w1', [R, cg], 'R, C/groups');
      l.tensorShape('b1', [R], 'R');
      l.tensorShape('w2', [C, rg], 'C, R/groups');
      l.tensorShape('b2', [C], 'C');
      const n = gA * cA * H * W;
      return {
        extents: { x: n, y: n },
        scratch: seScratchBytes(shape),
        lower: (p) => [{
          op: OPCODES.se,
          words: seWords({ ...shape, x: p.buf('x'), y: p.buf('y'), w1: p.ten('w1'), b1: p.ten('b1'), w2: p.ten('w2'), b2: p.ten('b2'), scratch: p.scratch }),
        }],
      };
    },
  };
}

function gapOp(): OpSpec {
  return {
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
  };
}

function maxpoolOp(): OpSpec {
  return {
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
  };
}

function addOp(): OpSpec {
  return {
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
  };
}

function groupsumOp(): OpSpec {
  return {
    fields: [buf('x', 'in'), buf('y', 'out'), int('G'), int('C'), int('H'), int('W'), ten('weights'), bound('gActive')],
    alias: [['x', 'y']],
    plan(l) {
      const G = l.int('G'), C = l.int('C'), H = l.int('H'), W = l.int('W');
      const gA = l.activeCount('gActive', G, 'G');
      l.bufferShape('x', [G * C, H, W], 'G*C, H, W');
      l.bufferShape('y', [C, H, W], 'C, H, W');
      l.tensorShape('weights', [G], 'G');
      return {
        extents: { x: gA * C * H * W, y: C * H * W },
        scratch: 0,
        lower: (p) => [{ op: OPCODES.groupsum, words: groupsumWords({ x: p.buf('x'), y: p.buf('y'), G, C, H, W, weights: p.ten('weights'), gActive: gA }) }],
      };
    },
  };
}

function upsampleOp(): OpSpec {
  return {
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
  };
}

function actOp(): OpSpec {
  return {
    fields: [buf('x', 'inout'), int('n'), actF, bound('nActive')],
    plan(l) {
      const n = l.int('n');
      const nA = l.activeCount('nActive', n, 'n');
      l.bufferElems('x', n, 'n');
      const act = l.actCode();
      // params of assembly/act.ts: [0] x [1] n [2] act
      return { extents: { x: nA }, scratch: 0, lower: (p) => [{ op: OPCODES.act, words: Int32Array.of(p.buf('x'), nA, act) }] };
    },
  };
}

function affineOp(): OpSpec {
  return {
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
  };
}

function quantOp(dequant: boolean): OpSpec {
  return {
    fields: [
      buf('x', 'in', dequant ? 'u8' : 'f32'), buf('y', 'out', dequant ? 'f32' : 'u8'), int('n'),
      { name: 'bits', kind: 'int', modal: true }, { name: 'scale', kind: 'float', modal: true }, { name: 'zeroPoint', kind: 'int', modal: true },
      bound('nActive'),
    ],
    plan(l) {
      const n = l.int('n');
      const nA = l.activeCount('nActive', n, 'n');
      l.bufferElems('x', n, 'n');
      l.bufferElems('y', n, 'n');
      const q = { n, bits: l.int('bits'), scale: l.float('scale'), zeroPoint: l.int('zeroPoint'), nActive: nA };
      const words = dequant ? dequantizeWords : quantizeWords;
      l.kernelCheck(() => words({ ...q, x: 64, y: 64 }));
      return {
        extents: { x: nA, y: nA },
        scratch: 0,
        lower: (p) => [{ op: dequant ? OPCODES.dequantize : OPCODES.quantize, words: words({ ...q, x: p.buf('x'), y: p.buf('y') }) }],
      };
    },
  };
}

/** Graph ops (docs/GRAPH.md). The field order is the order of a layer's field words in a blob. */
export const OPS: Record<string, OpSpec> = {
  conv2d: conv2dOp(),
  matmul: matmulOp(),
  instnorm: instnormOp(),
  se: seOp(),
  gap: gapOp(),
  maxpool: maxpoolOp(),
  add: addOp(),
  groupsum: groupsumOp(),
  upsample2x: upsampleOp(),
  act: actOp(),
  quantize: quantOp(false),
  dequantize: quantOp(true),
  affine: affineOp(),
};
/** Op names in blob order: a layer stores its op as an index into this list. */
export const OP_NAMES = Object.keys(OPS);

export function opFields(op: string): FieldSpec[] {
  const s = OPS[op];
  if (!s) throw new GraphError('op', `unknown op '${op}' (known: ${OP_NAMES.join(', ')})`);
  return s.fields;
}

// ------------------------------------------------------------------------------------------------
// Modes
// ------------------------------------------------------------------------------------------------

export function modeCount(axes: AxisDef[]): number {
  return axes.reduce((n, a) => n * a.values.length, 1);
}

/** Value index of each axis in mode m (mixed radix, the last axis fastest). */
export function modeDigits(axes: AxisDef[], m: number): number[] {
  const d = new Array<number>(axes.length);
  for (let i = axes.length - 1; i >= 0; i--) {
    const n = axes[i].values.length;
    d[i] = m % n;
    m = Math.floor(m / n);
  }
  return d;
}

export function modeIndex(axes: AxisDef[], digits: number[]): number {
  let m = 0;
  for (let i = 0; i < axes.length; i++) m = m * axes[i].values.length + digits[i];
  return m;
}

export function modeText(axes: AxisDef[], m: number): string {
  if (axes.length === 0) return 'the only mode';
  const d = modeDigits(axes, m);
  return 'mode ' + axes.map((a, i) => `${a.name}=${a.values[d[i]]}`).join(', ');
}

// ------------------------------------------------------------------------------------------------
// Validation
// ------------------------------------------------------------------------------------------------

interface BufInfo extends BufferDef {
  elems: number;
  bytes: number;
}

interface GraphCtx {
  graph: GraphDef;
  axes: AxisDef[];
  tensors: Map<string, TensorInfo>;
  buffers: Map<string, BufInfo>;
}

/** One layer seen in one mode: field values resolved, with checks that name the layer. */
class LayerView {
  readonly spec: OpSpec;
  private readonly digits: number[];
  constructor(
    private readonly g: GraphCtx,
    readonly index: number,
    readonly def: LayerDef,
    readonly mode: number,
  ) {
    this.spec = OPS[def.op];
    this.digits = modeDigits(g.axes, mode);
  }
  get where(): string {
    return `graph '${this.g.graph.name}' layer ${this.index} (${this.def.op})`;
  }
  fail(code: string, msg: string): never {
    throw new GraphError(code, `${this.where}: ${msg}`);
  }
  private inMode(): string {
    return this.g.axes.length ? ` in ${modeText(this.g.axes, this.mode)}` : '';
  }
  value(name: string): FieldValue {
    const a = this.def.active[name];
    if (a) return a.values[this.digits[this.g.axes.findIndex((x) => x.name === a.axis)]];
    return this.def.fields[name] ?? null;
  }
  optInt(name: string): number | undefined {
    const v = this.value(name);
    return v === null ? undefined : (v as number);
  }
  int(name: string): number {
    const v = this.optInt(name);
    if (v === undefined) this.fail('field', `field ${name} is missing`);
    return v;
  }
  optFloat(name: string): number | undefined {
    return this.optInt(name);
  }
  float(name: string): number {
    return this.int(name);
  }
  str(name: string): string {
    return this.value(name) as string;
  }
  actCode(): number {
    return Act[this.str('act') as keyof typeof Act];
  }
  tensor(name: string): TensorInfo | null {
    const v = this.value(name);
    return typeof v === 'string' ? this.g.tensors.get(v)! : null;
  }
  buffer(name: string): BufInfo {
    return this.g.buffers.get(this.def.fields[name] as string)!;
  }
  /** an active count in 1..full (absent: full) */
  activeCount(name: string, full: number, fullName: string): number {
    const v = this.optInt(name);
    if (v === undefined) return full;
    if (v < 1 || v > full) this.fail('active', `${name} ${v}${this.inMode()} is outside 1..${fullName} (${full})`);
    return v;
  }
  /** Runs a kernel module's own argument check, naming this layer and mode in what it throws. */
  kernelCheck<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof GraphError) throw e;
      const msg = (e as Error).message.replace(/^slimsplit: /, '');
      this.fail(/Active|active/.test(msg) ? 'active' : 'field', `${msg}${this.inMode()}`);
    }
  }
  /** The tensor's shape must equal `want` ignoring size-1 dims (PyTorch's [c,1,1] vs [c]). */
  tensorShape(name: string, want: number[], what: string): void {
    const t = this.tensor(name);
    if (!t) return;
    if (t.dtype !== 'f32') this.fail('dtype', `tensor ${name} '${t.name}' has dtype ${t.dtype}, expected f32`);
    if (!sameSqueezed(t.shape, want)) this.fail('shape', `tensor ${name} '${t.name}' has shape ${fmt(t.shape)}, expected ${fmt(want)} (${what})`);
  }
  bufferShape(name: string, want: number[], what: string): void {
    const b = this.buffer(name);
    if (!sameSqueezed(b.shape, want)) this.fail('shape', `buffer ${name} '${b.name}' has shape ${fmt(b.shape)}, expected ${fmt(want)} (${what})`);
  }
  /** shape [lead, ...rest] with prod(rest) == inner */
  bufferLead(name: string, lead: number, inner: number, what: string): void {
    const b = this.buffer(name);
    if (b.shape[0] !== lead || prod(b.shape.slice(1)) !== inner) {
      this.fail('shape', `buffer ${name} '${b.name}' has shape ${fmt(b.shape)}, expected [${lead}, ...] holding ${lead}x${inner} (${what})`);
    }
  }
  bufferElems(name: string, n: number, what: string): void {
    const b = this.buffer(name);
    if (b.elems !== n) this.fail('shape', `buffer ${name} '${b.name}' has ${b.elems} elements (${fmt(b.shape)}), expected ${what} = ${n}`);
  }
}

function sameSqueezed(a: number[], b: number[]): boolean {
  const sa = a.filter((d) => d !== 1), sb = b.filter((d) => d !== 1);
  return sa.length === sb.length && sa.every((d, i) => d === sb[i]);
}

function isI32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff;
}
function isF32(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(Math.fround(v)) && Math.fround(v) === v;
}

function checkShape(where: string, shape: number[]): number {
  if (!Array.isArray(shape) || shape.length > LIMITS.rank) throw new GraphError('shape', `${where}: shape must be a list of at most ${LIMITS.rank} dims, got ${JSON.stringify(shape)}`);
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 1) throw new GraphError('shape', `${where}: shape ${JSON.stringify(shape)} has a dim that is not a positive integer`);
    n *= d;
    if (n > LIMITS.elems) throw new GraphError('limit', `${where}: shape ${fmt(shape)} exceeds ${LIMITS.elems} elements`);
  }
  return n;
}

/** Checks a field value against its kind; returns a reason or null. */
function badValue(f: FieldSpec, v: FieldValue, g: GraphCtx): string | null {
  switch (f.kind) {
    case 'int':
      return isI32(v) ? null : `must be a 32-bit integer, got ${JSON.stringify(v)}`;
    case 'float':
      return isF32(v) ? null : `must be a finite f32, got ${JSON.stringify(v)}`;
    case 'pad':
      if (typeof v === 'string' && (PADS as readonly string[]).includes(v)) return null;
      if (f.numericPad && typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 256) return null;
      return `must be one of ${PADS.join(', ')}${f.numericPad ? ' or a pixel count 0..255' : ''}, got ${JSON.stringify(v)}`;
    case 'act':
      return typeof v === 'string' && (ACTS as string[]).includes(v) ? null : `must be one of ${ACTS.join(', ')}, got ${JSON.stringify(v)}`;
    case 'tensor':
      return typeof v === 'string' && g.tensors.has(v) ? null : `names no tensor: ${JSON.stringify(v)}`;
    case 'buffer':
      return typeof v === 'string' && g.buffers.has(v) ? null : `names no buffer of this graph: ${JSON.stringify(v)}`;
  }
}

function graphContext(graph: GraphDef, layout: PlanLayout): GraphCtx {
  const gname = `graph '${graph.name}'`;
  if (graph.layers.length > LIMITS.layers) throw new GraphError('limit', `${gname} has ${graph.layers.length} layers, more than ${LIMITS.layers}`);
  if (graph.buffers.length > LIMITS.buffers) throw new GraphError('limit', `${gname} has ${graph.buffers.length} buffers, more than ${LIMITS.buffers}`);
  if (modeCount(layout.axes) > LIMITS.modes) throw new GraphError('limit', `the mode axes give ${modeCount(layout.axes)} modes, more than ${LIMITS.modes}`);
  if (graph.layers.length * modeCount(layout.axes) > LIMITS.layerModes) {
    throw new GraphError('limit', `${gname} has ${graph.layers.length} layers in ${modeCount(layout.axes)} modes, more than ${LIMITS.layerModes} layer-modes to validate`);
  }
  const tensors = new Map<string, TensorInfo>();
  for (const t of layout.tensors) tensors.set(t.name, t);
  const buffers = new Map<string, BufInfo>();
  for (const b of graph.buffers) {
    if (buffers.has(b.name)) throw new GraphError('ref', `${gname}: buffer '${b.name}' is declared twice`);
    if (b.dtype !== 'f32' && b.dtype !== 'u8') throw new GraphError('dtype', `${gname}: buffer '${b.name}' has dtype ${b.dtype}, expected f32 or u8`);
    const elems = checkShape(`${gname} buffer '${b.name}'`, b.shape);
    buffers.set(b.name, { ...b, elems, bytes: elems * (b.dtype === 'u8' ? 1 : 4) });
  }
  for (const [what, name] of [['input', graph.input], ['output', graph.output]]) {
    if (!buffers.has(name)) throw new GraphError('ref', `${gname}: ${what} '${name}' is not one of its buffers (${[...buffers.keys()].join(', ')})`);
  }
  return { graph, axes: layout.axes, tensors, buffers };
}

/** Field kinds, refs, active entries, dtypes, aliasing and dataflow: the checks no mode changes. */
function checkLayersStatic(g: GraphCtx): void {
  const written = new Set<string>([g.graph.input]);
  g.graph.layers.forEach((L, i) => {
    const spec = OPS[L.op];
    const where = `graph '${g.graph.name}' layer ${i} (${L.op})`;
    if (!spec) throw new GraphError('op', `${where}: unknown op '${L.op}' (known: ${OP_NAMES.join(', ')})`);
    const names = new Set(spec.fields.map((f) => f.name));
    for (const k of Object.keys(L.fields)) if (!names.has(k)) throw new GraphError('field', `${where}: unknown field '${k}' (${L.op} has ${[...names].join(', ')})`);
    for (const k of Object.keys(L.active)) {
      const f = spec.fields.find((x) => x.name === k);
      if (!f || !f.modal) {
        const modal = spec.fields.filter((x) => x.modal).map((x) => x.name);
        throw new GraphError('active', `${where}: field '${k}' cannot depend on the mode (${L.op} allows ${modal.join(', ') || 'none'})`);
      }
    }
    for (const f of spec.fields) {
      const v = L.fields[f.name] ?? null;
      const a = L.active[f.name];
      if (a) {
        if (v !== null) throw new GraphError('active', `${where}: field ${f.name} has both a fixed value and an active entry`);
        const ax = g.axes.find((x) => x.name === a.axis);
        if (!ax) throw new GraphError('axis', `${where}: active ${f.name} uses mode axis '${a.axis}', which this model does not have (axes: ${g.axes.map((x) => x.name).join(', ') || 'none'})`);
        if (a.values.length !== ax.values.length) throw new GraphError('active', `${where}: active ${f.name} has ${a.values.length} values, axis ${a.axis} has ${ax.values.length}`);
        for (const av of a.values) {
          const bad = badValue(f, av, g);
          if (bad) throw new GraphError('active', `${where}: active ${f.name} value ${bad}`);
        }
        continue;
      }
      if (v === null) {
        if (!f.optional) throw new GraphError('field', `${where}: required field ${f.name} is missing`);
        continue;
      }
      const bad = badValue(f, v, g);
      if (bad) throw new GraphError(f.kind === 'tensor' || f.kind === 'buffer' ? 'ref' : 'field', `${where}: field ${f.name} ${bad}`);
      if (f.kind === 'buffer') {
        const b = g.buffers.get(v as string)!;
        const want = f.dtype ?? 'f32';
        if (b.dtype !== want) throw new GraphError('dtype', `${where}: buffer ${f.name} '${b.name}' has dtype ${b.dtype}, expected ${want}`);
      }
    }
    const bufFields = spec.fields.filter((f) => f.kind === 'buffer');
    for (let a = 0; a < bufFields.length; a++) {
      for (let b = a + 1; b < bufFields.length; b++) {
        const fa = bufFields[a].name, fb = bufFields[b].name;
        if (L.fields[fa] !== L.fields[fb]) continue;
        if (!(spec.alias ?? []).some(([p, q]) => (p === fa && q === fb) || (p === fb && q === fa))) {
          throw new GraphError('alias', `${where}: ${fa} and ${fb} both name buffer '${L.fields[fa]}', which ${L.op} cannot do in place`);
        }
      }
    }
    for (const f of bufFields) {
      if (f.role !== 'out' && !written.has(L.fields[f.name] as string)) {
        throw new GraphError('dataflow', `${where}: reads buffer '${L.fields[f.name]}' (field ${f.name}) before any layer writes it`);
      }
    }
    for (const f of bufFields) if (f.role !== 'in') written.add(L.fields[f.name] as string);
  });
  if (!written.has(g.graph.output)) throw new GraphError('dataflow', `graph '${g.graph.name}': output '${g.graph.output}' is never written`);
}

interface Resolved {
  g: GraphCtx;
  /** [mode][layer] */
  plans: OpPlan[][];
  views: LayerView[][];
  /** per layer, the most scratch any mode needs */
  scratch: number[];
  inElems: number[];
  outElems: number[];
}

/** The checks that need no mode: ops, field kinds, refs, active entries, dtypes, aliasing, dataflow. */
export function checkGraphStatic(graph: GraphDef, layout: PlanLayout): void {
  checkLayersStatic(graphContext(graph, layout));
}

/** Validates a graph in every mode. Throws GraphError naming the graph, layer, field and mode. */
export function validateGraph(graph: GraphDef, layout: PlanLayout): void {
  resolveGraph(graph, layout);
}

function resolveGraph(graph: GraphDef, layout: PlanLayout): Resolved {
  const g = graphContext(graph, layout);
  checkLayersStatic(g);
  const nm = modeCount(g.axes);
  const layers = graph.layers;
  const plans: OpPlan[][] = [], views: LayerView[][] = [];
  const scratch = new Array<number>(layers.length).fill(0);
  const inElems: number[] = [], outElems: number[] = [];
  for (let m = 0; m < nm; m++) {
    const pm: OpPlan[] = [], vm: LayerView[] = [];
    // how many leading elements of each buffer hold this mode's values so far
    const filled = new Map<string, number>([[graph.input, g.buffers.get(graph.input)!.elems]]);
    let inN = 0, outN = 0;
    layers.forEach((L, i) => {
      const v = new LayerView(g, i, L, m);
      const p = v.spec.plan(v);
      for (const f of v.spec.fields) {
        if (f.kind !== 'buffer') continue;
        const b = v.buffer(f.name), n = p.extents[f.name];
        if (!(Number.isInteger(n) && n >= 0)) v.fail('plan', `internal: no extent for buffer field ${f.name}`);
        if (n > b.elems) v.fail('shape', `touches ${n} elements of buffer ${f.name} '${b.name}' ${fmt(b.shape)} in ${modeText(g.axes, m)}, more than its ${b.elems}`);
        if (f.role !== 'out') {
          const have = filled.get(b.name) ?? 0;
          if (n > have) v.fail('dataflow', `reads ${n} elements of buffer '${b.name}' (field ${f.name}) in ${modeText(g.axes, m)}, but only ${have} were written`);
          if (b.name === graph.input) inN = Math.max(inN, n);
        }
      }
      for (const f of v.spec.fields) {
        if (f.kind !== 'buffer' || f.role === 'in') continue;
        const b = v.buffer(f.name), n = p.extents[f.name];
        filled.set(b.name, Math.max(filled.get(b.name) ?? 0, n));
        if (b.name === graph.output) outN = Math.max(outN, n);
      }
      scratch[i] = Math.max(scratch[i], p.scratch);
      pm.push(p);
      vm.push(v);
    });
    if (inN === 0) inN = g.buffers.get(graph.input)!.elems;
    if (outN === 0) outN = filled.get(graph.output) ?? 0;
    plans.push(pm);
    views.push(vm);
    inElems.push(inN);
    outElems.push(outN);
  }
  return { g, plans, views, scratch, inElems, outElems };
}

// ------------------------------------------------------------------------------------------------
// Arena layout: buffers whose lifetimes do not overlap share bytes
// ------------------------------------------------------------------------------------------------

interface Slot {
  key: string;
  bytes: number;
  first: number;
  last: number;
  offset: number;
}

/**
 * `only`: lay the arena out for these modes alone (a device that runs only them): each buffer takes
 * the most elements any of them touches (the input: all of it), each layer the most scratch any of
 * them needs. The plan still holds every mode's words; running another mode would overrun.
 */
function slotSizes(r: Resolved, only?: boolean[]): { bytes: Map<string, number>; scratch: number[] } {
  const bytes = new Map<string, number>();
  if (!only) {
    for (const [name, b] of r.g.buffers) bytes.set(name, b.bytes);
    return { bytes, scratch: r.scratch };
  }
  const { graph } = r.g;
  const scratch = new Array<number>(graph.layers.length).fill(0);
  const inB = r.g.buffers.get(graph.input)!;
  bytes.set(graph.input, inB.bytes);
  r.plans.forEach((pm, m) => {
    if (!only[m]) return;
    pm.forEach((p, i) => {
      scratch[i] = Math.max(scratch[i], p.scratch);
      for (const f of r.views[m][i].spec.fields) {
        if (f.kind !== 'buffer') continue;
        const b = r.views[m][i].buffer(f.name);
        bytes.set(b.name, Math.max(bytes.get(b.name) ?? 0, p.extents[f.name] * (b.dtype === 'u8' ? 1 : 4)));
      }
    });
  });
  return { bytes, scratch };
}

function layoutArena(r: Resolved, only?: boolean[]): { offsets: Map<string, number>; scratch: number[]; bytes: number; sizes: Map<string, number> } {
  const { graph } = r.g;
  const sizes = slotSizes(r, only);
  const n = graph.layers.length;
  const life = new Map<string, [number, number]>();
  const touch = (name: string, i: number): void => {
    const l = life.get(name);
    if (l) l[1] = Math.max(l[1], i);
    else life.set(name, [i, i]);
  };
  touch(graph.input, -1);
  graph.layers.forEach((L, i) => {
    for (const f of OPS[L.op].fields) if (f.kind === 'buffer') touch(L.fields[f.name] as string, i);
  });
  touch(graph.output, n);
  const slots: Slot[] = [];
  for (const [name, [first, last]] of life) slots.push({ key: 'b:' + name, bytes: roundUp(sizes.bytes.get(name) ?? 0, 16), first, last, offset: 0 });
  sizes.scratch.forEach((s, i) => {
    if (s > 0) slots.push({ key: 's:' + i, bytes: roundUp(s, 16), first: i, last: i, offset: 0 });
  });
  // Largest first, each at the lowest offset clear of every placed slot alive at the same time.
  const order = slots.map((s, i) => i).sort((a, b) => slots[b].bytes - slots[a].bytes || a - b);
  const placed: Slot[] = [];
  let top = 0;
  for (const i of order) {
    const s = slots[i];
    const busy = placed.filter((p) => p.first <= s.last && s.first <= p.last).sort((a, b) => a.offset - b.offset);
    let off = 0;
    for (const p of busy) {
      if (off + s.bytes <= p.offset) break;
      off = Math.max(off, p.offset + p.bytes);
    }
    s.offset = off;
    placed.push(s);
    top = Math.max(top, off + s.bytes);
  }
  if (top > LIMITS.arenaBytes) throw new GraphError('limit', `graph '${graph.name}' needs an arena of ${top} bytes, more than ${LIMITS.arenaBytes}`);
  const offsets = new Map<string, number>();
  const scratch = new Array<number>(n).fill(0);
  for (const s of slots) {
    if (s.key.startsWith('b:')) offsets.set(s.key.slice(2), s.offset);
    else scratch[Number(s.key.slice(2))] = s.offset;
  }
  return { offsets, scratch, bytes: top, sizes: sizes.bytes };
}

function roundUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

// ------------------------------------------------------------------------------------------------
// Compilation
// ------------------------------------------------------------------------------------------------

// Pointer words are found by lowering each layer of the largest mode twice, the second time
// with both bases moved by different steps: a word that moves by the blob step is a blob
// pointer, by the arena step an arena pointer, not at all a plain value. No kernel module has
// to declare its pointer words. A params struct keeps its pointers at fixed word positions
// (docs/ENGINE.md), so the other modes are lowered once and relocated with the same masks.
const BLOB0 = 0x01000000, ARENA0 = 0x04000000;
const BLOB_STEP = 0x01000000, ARENA_STEP = 0x04000000;

interface RelRec {
  layer: number;
  op: number;
  words: Int32Array;
  blobMask: number;
  arenaMask: number;
}

function lowerLayer(r: Resolved, m: number, i: number, arena: ReturnType<typeof layoutArena>, masks: RelRec[] | null): RelRec[] {
  const v = r.views[m][i], p = r.plans[m][i];
  const ptrs = (blob: number, ar: number): Ptrs => ({
    buf: (f) => ar + arena.offsets.get(v.def.fields[f] as string)!,
    ten: (f) => {
      const t = v.tensor(f);
      return t ? blob + t.offset : 0;
    },
    scratch: r.scratch[i] > 0 ? ar + arena.scratch[i] : 0,
  });
  const a = v.kernelCheck(() => p.lower(ptrs(BLOB0, ARENA0)));
  const b = masks ? null : v.kernelCheck(() => p.lower(ptrs(BLOB0 + BLOB_STEP, ARENA0 + ARENA_STEP)));
  return a.map((rec, k) => {
    const w = rec.words;
    if (w.length > LIMITS.recordWords) v.fail('plan', `kernel params of ${w.length} words exceed ${LIMITS.recordWords}`);
    let blobMask = 0, arenaMask = 0;
    const rel = new Int32Array(w.length);
    for (let j = 0; j < w.length; j++) {
      const d = b ? (b[k].words[j] - w[j]) | 0 : masks && masks[k] ? ((masks[k].blobMask >>> j) & 1 ? BLOB_STEP : (masks[k].arenaMask >>> j) & 1 ? ARENA_STEP : 0) : 0;
      if (d === 0) rel[j] = w[j];
      else if (d === BLOB_STEP) {
        blobMask |= 1 << j;
        rel[j] = w[j] - BLOB0;
      } else if (d === ARENA_STEP) {
        arenaMask |= 1 << j;
        rel[j] = w[j] - ARENA0;
      } else v.fail('plan', `internal: params word ${j} of the ${OPCODE_NAMES[rec.op]} call depends on the pointers in a way a plan cannot relocate`);
    }
    return { layer: i, op: rec.op, words: rel, blobMask: blobMask >>> 0, arenaMask: arenaMask >>> 0 };
  });
}

/** Per mode, per layer: the elements each buffer field touches (the kernels' contract; for tools such as the device blob writer). */
export function modeExtents(graph: GraphDef, layout: PlanLayout): Array<Array<Record<string, number>>> {
  return resolveGraph(graph, layout).plans.map((pm) => pm.map((p) => p.extents));
}

/**
 * Compiles one graph into plan words (docs/FORMAT.md, "Plans"): header, records in the largest
 * mode with pointers relative to the data base or the arena base, the mode table and the patches.
 * Deterministic: the blob loader recompiles and compares word for word.
 */
export function compilePlan(graph: GraphDef, layout: PlanLayout, opts: { only?: boolean[] } = {}): Uint32Array {
  const r = resolveGraph(graph, layout);
  if (opts.only && opts.only.length !== r.plans.length) throw new Error(`slimsplit: compilePlan: 'only' has ${opts.only.length} entries for ${r.plans.length} modes`);
  const arena = layoutArena(r, opts.only);
  if (opts.only) {
    // the modes left out lower as the largest kept one, so no record points past the smaller arena
    const keep = opts.only.lastIndexOf(true);
    if (keep < 0) throw new Error("slimsplit: compilePlan: 'only' keeps no mode");
    opts.only.forEach((k, m) => {
      if (k) return;
      r.plans[m] = r.plans[keep];
      r.views[m] = r.views[keep];
      r.inElems[m] = r.inElems[keep];
      r.outElems[m] = r.outElems[keep];
    });
  }
  const nm = r.plans.length, base = nm - 1;
  const baseByLayer = graph.layers.map((_, i) => lowerLayer(r, base, i, arena, null));
  const perMode: RelRec[][] = [];
  for (let m = 0; m < nm; m++) {
    const recs: RelRec[] = [];
    for (let i = 0; i < graph.layers.length; i++) recs.push(...(m === base ? baseByLayer[i] : lowerLayer(r, m, i, arena, baseByLayer[i])));
    perMode.push(recs);
  }
  const recs = perMode[base];
  const recStart: number[] = [];
  let at = PLAN_HEADER_WORDS;
  for (const rec of recs) {
    recStart.push(at);
    at += RECORD_HEADER_WORDS + rec.words.length;
  }
  const modesAt = at;
  const patchesAt = modesAt + nm * MODE_WORDS;
  const patches: number[] = [];
  const modeTable: number[] = [];
  for (let m = 0; m < nm; m++) {
    const start = patches.length / PATCH_WORDS;
    const pm = perMode[m];
    if (pm.length !== recs.length) r.views[m][0].fail('plan', `lowers to ${pm.length} kernel calls in ${modeText(r.g.axes, m)} but ${recs.length} in the largest mode`);
    pm.forEach((rec, k) => {
      const b = recs[k];
      if (rec.op !== b.op || rec.words.length !== b.words.length || rec.blobMask !== b.blobMask || rec.arenaMask !== b.arenaMask) {
        r.views[m][rec.layer].fail('plan', `lowers to a different kernel call in ${modeText(r.g.axes, m)} than in the largest mode (${OPCODE_NAMES[rec.op]} vs ${OPCODE_NAMES[b.op]})`);
      }
      for (let j = 0; j < rec.words.length; j++) {
        if (rec.words[j] === b.words[j]) continue;
        const kind = (b.blobMask >>> j) & 1 ? RELOC.blob : (b.arenaMask >>> j) & 1 ? RELOC.arena : RELOC.none;
        patches.push(((recStart[k] + RECORD_HEADER_WORDS + j) | (kind << 30)) >>> 0, rec.words[j] >>> 0, b.words[j] >>> 0);
      }
    });
    modeTable.push(start, patches.length / PATCH_WORDS - start, r.inElems[m], r.outElems[m]);
  }
  const total = patchesAt + patches.length;
  const out = new Uint32Array(total);
  const inB = r.g.buffers.get(graph.input)!, outB = r.g.buffers.get(graph.output)!;
  out[PH.magic] = PLAN_MAGIC;
  out[PH.version] = PLAN_VERSION;
  out[PH.words] = total;
  out[PH.nrec] = recs.length;
  out[PH.rec] = PLAN_HEADER_WORDS;
  out[PH.nmodes] = nm;
  out[PH.modes] = modesAt;
  out[PH.cur] = base;
  out[PH.base] = base;
  out[PH.arenaBytes] = arena.bytes;
  out[PH.inOff] = arena.offsets.get(inB.name)!;
  out[PH.inBytes] = arena.sizes.get(inB.name)!;
  out[PH.inDtype] = inB.dtype === 'u8' ? 1 : 0;
  out[PH.outOff] = arena.offsets.get(outB.name)!;
  out[PH.outBytes] = arena.sizes.get(outB.name)!;
  out[PH.outDtype] = outB.dtype === 'u8' ? 1 : 0;
  out[PH.patches] = patchesAt;
  out[PH.npatch] = patches.length / PATCH_WORDS;
  recs.forEach((rec, k) => {
    const s = recStart[k];
    out[s] = rec.op;
    out[s + 1] = rec.words.length;
    out[s + 2] = rec.blobMask;
    out[s + 3] = rec.arenaMask;
    out.set(new Uint32Array(rec.words.buffer, rec.words.byteOffset, rec.words.length), s + RECORD_HEADER_WORDS);
  });
  out.set(modeTable, modesAt);
  out.set(patches, patchesAt);
  return out;
}

/**
 * Structural check of stored plan words, independent of the layers: everything plan_bind,
 * plan_set_mode and plan_run would touch stays inside the plan, the data section and the arena.
 * The loader also recompiles and compares, so this is what names the damage precisely.
 */
/** `dataBytes`: the data section as loaded, q8 expansion area included (every blob pointer's range). */
export function checkPlan(words: Uint32Array, ctx: { graph: string; dataBytes: number; modes: number }): void {
  const fail = (msg: string): never => {
    throw new GraphError('plan', `plan of graph '${ctx.graph}': ${msg}`);
  };
  const n = words.length;
  if (n < PLAN_HEADER_WORDS) fail(`${n} words, shorter than its ${PLAN_HEADER_WORDS}-word header`);
  const h = (k: keyof typeof PH): number => words[PH[k]];
  if (h('magic') !== PLAN_MAGIC) fail(`magic 0x${h('magic').toString(16)}, expected 0x${PLAN_MAGIC.toString(16)}`);
  if (h('version') !== PLAN_VERSION) fail(`version ${h('version')}, expected ${PLAN_VERSION}`);
  if (h('words') !== n) fail(`header says ${h('words')} words, the plan has ${n}`);
  if (h('bound') !== 0 || h('blobBase') !== 0 || h('arenaBase') !== 0) fail('is marked bound; a stored plan must hold relative offsets');
  for (let i = PH.npatch + 1; i < PLAN_HEADER_WORDS; i++) if (words[i] !== 0) fail(`reserved header word ${i} is ${words[i]}, expected 0`);
  if (h('nmodes') !== ctx.modes) fail(`has ${h('nmodes')} modes, the model's axes give ${ctx.modes}`);
  if (h('base') !== ctx.modes - 1 || h('cur') !== h('base')) fail(`base/current mode ${h('base')}/${h('cur')}, expected ${ctx.modes - 1}`);
  const arena = h('arenaBytes');
  if (arena > LIMITS.arenaBytes) fail(`arena of ${arena} bytes exceeds ${LIMITS.arenaBytes}`);
  for (const [o, b, d] of [['inOff', 'inBytes', 'inDtype'], ['outOff', 'outBytes', 'outDtype']] as const) {
    if (h(d) > 1) fail(`${d} ${h(d)} is neither 0 (f32) nor 1 (u8)`);
    if (h(o) % 16 !== 0 || h(o) + h(b) > arena) fail(`${o} ${h(o)} + ${b} ${h(b)} is misaligned or outside the ${arena}-byte arena`);
  }
  if (h('rec') !== PLAN_HEADER_WORDS) fail(`records start at word ${h('rec')}, expected ${PLAN_HEADER_WORDS}`);
  const paramWord = new Uint8Array(n); // 1: a record's param word, 2: a blob pointer, 3: an arena pointer
  let at = PLAN_HEADER_WORDS;
  for (let r = 0; r < h('nrec'); r++) {
    if (at + RECORD_HEADER_WORDS > n) fail(`record ${r} at word ${at} runs past the end (${n} words)`);
    const op = words[at], nw = words[at + 1], bm = words[at + 2], am = words[at + 3];
    if (!OPCODE_NAMES[op]) fail(`record ${r} has unknown opcode ${op}`);
    if (nw > LIMITS.recordWords || at + RECORD_HEADER_WORDS + nw > n) fail(`record ${r} (${OPCODE_NAMES[op]}) has ${nw} params, out of range`);
    if ((bm & am) !== 0 || (nw < 32 && (bm | am) >>> nw !== 0)) fail(`record ${r} (${OPCODE_NAMES[op]}) relocation masks 0x${bm.toString(16)}/0x${am.toString(16)} are inconsistent with its ${nw} params`);
    for (let j = 0; j < nw; j++) {
      const w = words[at + RECORD_HEADER_WORDS + j];
      const isB = (bm >>> j) & 1, isA = (am >>> j) & 1;
      if (isB && w >= ctx.dataBytes) fail(`record ${r} (${OPCODE_NAMES[op]}) param ${j} points ${w} bytes into a ${ctx.dataBytes}-byte data section`);
      if (isA && w >= arena) fail(`record ${r} (${OPCODE_NAMES[op]}) param ${j} points ${w} bytes into a ${arena}-byte arena`);
      paramWord[at + RECORD_HEADER_WORDS + j] = isB ? 2 : isA ? 3 : 1;
    }
    at += RECORD_HEADER_WORDS + nw;
  }
  if (h('modes') !== at) fail(`mode table at word ${h('modes')}, expected ${at} (right after the records)`);
  const patchesAt = at + ctx.modes * MODE_WORDS;
  if (h('patches') !== patchesAt) fail(`patches at word ${h('patches')}, expected ${patchesAt}`);
  const np = h('npatch');
  if (patchesAt + np * PATCH_WORDS !== n) fail(`${np} patches do not end the plan (${n} words)`);
  let next = 0;
  for (let m = 0; m < ctx.modes; m++) {
    const e = at + m * MODE_WORDS;
    const start = words[e], count = words[e + 1];
    if (start !== next || start + count > np) fail(`mode ${m} patches ${start}..${start + count} are out of order or out of range (${np} patches)`);
    next = start + count;
    if (words[e + 2] * (h('inDtype') ? 1 : 4) > h('inBytes') || words[e + 3] * (h('outDtype') ? 1 : 4) > h('outBytes')) fail(`mode ${m} input/output element counts exceed their buffers`);
    if (m === ctx.modes - 1 && count !== 0) fail(`the largest mode has ${count} patches, expected none`);
  }
  if (next !== np) fail(`mode table covers ${next} of ${np} patches`);
  for (let k = 0; k < np; k++) {
    const q = patchesAt + k * PATCH_WORDS;
    const idx = words[q] & INDEX_MASK, kind = words[q] >>> 30;
    if (idx >= n || paramWord[idx] === 0) fail(`patch ${k} targets word ${idx}, which is not a record's param`);
    const want = paramWord[idx] === 2 ? RELOC.blob : paramWord[idx] === 3 ? RELOC.arena : RELOC.none;
    if (kind !== want) fail(`patch ${k} relocation kind ${kind} disagrees with word ${idx} (kind ${want})`);
    for (const v of [words[q + 1], words[q + 2]]) {
      if (kind === RELOC.blob && v >= ctx.dataBytes) fail(`patch ${k} points ${v} bytes into a ${ctx.dataBytes}-byte data section`);
      if (kind === RELOC.arena && v >= arena) fail(`patch ${k} points ${v} bytes into a ${arena}-byte arena`);
    }
    if (words[q + 2] !== words[idx]) fail(`patch ${k} restores word ${idx} to ${words[q + 2]}, but the largest mode holds ${words[idx]}`);
  }
}

// ------------------------------------------------------------------------------------------------
// Runner
// ------------------------------------------------------------------------------------------------

/** What the Runner needs of a loaded blob (src/format/blob.ts Blob satisfies it). */
export interface RunnableBlob {
  name: string;
  axes: AxisDef[];
  /** the data section as loaded: tensors, plans, then q8 tensors expanded to f32 */
  data: Uint8Array;
  graphs: Array<{ name: string; planOffset: number; plan: Uint32Array }>;
}

export type Mode = Partial<Record<AxisName, number>>;

export interface RunnerOptions {
  /**
   * Where to allocate the data section and the arena. Default: one Arena per engine shared by
   * every Runner made without this option; pass your own when you also allocate from the engine.
   */
  arena?: Arena;
}

const sharedArenas = new WeakMap<Engine, Arena>();

interface PlanExports {
  plan_bind(plan: number, blobBase: number, arenaBase: number): number;
  plan_run(plan: number): number;
  plan_set_mode(plan: number, mode: number): number;
  plan_check(plan: number): number;
  plan_input(plan: number): number;
  plan_output(plan: number): number;
}

/**
 * Runs one graph of a blob: one export call per inference, no JavaScript between layers.
 * The data section (weights and plans) is copied into WASM memory once and the arena allocated
 * once; run() only copies the input in and returns a view of the output.
 */
export class Runner {
  readonly eng: Engine;
  readonly model: string;
  readonly graph: string;
  readonly axes: AxisDef[];
  /** byte addresses in WASM memory */
  readonly plan: number;
  readonly dataBase: number;
  readonly arenaBase: number;
  readonly inputDtype: BufferDType;
  readonly outputDtype: BufferDType;
  private readonly x: PlanExports;
  private readonly inPtr: number;
  private readonly outPtr: number;
  private digits: number[];
  private inN = 0;
  private outN = 0;
  /** per mode: input and output element counts (from the plan's mode table) */
  private readonly sizes: Uint32Array;

  constructor(eng: Engine, blob: RunnableBlob, graphName: string, opts: RunnerOptions = {}) {
    const g = blob.graphs.find((q) => q.name === graphName);
    if (!g) throw new Error(`slimsplit: model '${blob.name}' has no graph '${graphName}' (it has ${blob.graphs.map((q) => `'${q.name}'`).join(', ') || 'none'})`);
    const x = eng.exports as unknown as PlanExports;
    if (typeof x.plan_run !== 'function') throw new Error(`slimsplit: the ${eng.build} kernel module has no plan_run export; rebuild it (npm run asbuild)`);
    this.eng = eng;
    this.x = x;
    this.model = blob.name;
    this.graph = graphName;
    this.axes = blob.axes;
    let arena = opts.arena ?? sharedArenas.get(eng);
    if (!arena) sharedArenas.set(eng, (arena = new Arena(eng)));
    this.dataBase = arena.alloc(blob.data.byteLength, 64);
    this.arenaBase = arena.alloc(Math.max(g.plan[PH.arenaBytes], 16), 64);
    eng.u8().set(blob.data, this.dataBase);
    this.plan = this.dataBase + g.planOffset;
    const rc = x.plan_bind(this.plan, this.dataBase, this.arenaBase);
    if (rc !== 0) throw new Error(`slimsplit: plan_bind failed for graph '${graphName}' (code ${rc})`);
    const missing = x.plan_check(this.plan);
    if (missing !== 0) throw new Error(`slimsplit: graph '${graphName}' needs kernel '${OPCODE_NAMES[missing] ?? missing}', which the ${eng.build} build lacks`);
    this.inputDtype = g.plan[PH.inDtype] ? 'u8' : 'f32';
    this.outputDtype = g.plan[PH.outDtype] ? 'u8' : 'f32';
    this.inPtr = x.plan_input(this.plan);
    this.outPtr = x.plan_output(this.plan);
    const nm = g.plan[PH.nmodes], mt = g.plan[PH.modes];
    this.sizes = new Uint32Array(2 * nm);
    for (let m = 0; m < nm; m++) {
      this.sizes[2 * m] = g.plan[mt + m * MODE_WORDS + 2];
      this.sizes[2 * m + 1] = g.plan[mt + m * MODE_WORDS + 3];
    }
    this.digits = blob.axes.map((a) => a.values.length - 1);
    this.syncSizes(nm - 1);
  }

  /** The current value of every axis. */
  get mode(): Record<string, number> {
    return Object.fromEntries(this.axes.map((a, i) => [a.name, a.values[this.digits[i]]]));
  }
  get modeIndex(): number {
    return modeIndex(this.axes, this.digits);
  }
  /** Elements run() takes and returns in the current mode. */
  get inputLength(): number {
    return this.inN;
  }
  get outputLength(): number {
    return this.outN;
  }

  /** Sets the given axes (others keep their value). Throws, listing the valid values, on an unknown axis or value. */
  setMode(mode: Mode): void {
    const d = this.digits.slice();
    for (const [k, v] of Object.entries(mode)) {
      if (v === undefined) continue;
      const i = this.axes.findIndex((a) => a.name === k);
      const j = i < 0 ? -1 : this.axes[i].values.indexOf(Math.fround(v));
      if (j < 0) throw new Error(`slimsplit: model '${this.model}' has no mode ${k}=${v}; valid: ${this.validModes()}`);
      d[i] = j;
    }
    const m = modeIndex(this.axes, d);
    const rc = this.x.plan_set_mode(this.plan, m);
    if (rc !== 0) throw new Error(`slimsplit: plan_set_mode failed (code ${rc})`);
    this.digits = d;
    this.syncSizes(m);
  }

  private validModes(): string {
    return this.axes.length ? this.axes.map((a) => `${a.name} in {${a.values.join(', ')}}`).join('; ') : 'none (the model has one mode)';
  }

  private syncSizes(m: number): void {
    this.inN = this.sizes[2 * m];
    this.outN = this.sizes[2 * m + 1];
  }

  /** The input buffer itself, to fill in place instead of passing an array to run(). */
  inputView(): Float32Array | Uint8Array {
    return this.inputDtype === 'u8' ? this.eng.u8().subarray(this.inPtr, this.inPtr + this.inN) : this.eng.f32().subarray(this.inPtr >> 2, (this.inPtr >> 2) + this.inN);
  }

  /**
   * Runs the graph; `input` may be omitted when inputView() was filled for this run (refill it every
   * time: the arena lends the input's bytes to later layers once the first has read them). Returns a
   * view valid until the next run.
   */
  run(input?: Float32Array | Uint8Array): Float32Array | Uint8Array {
    if (input !== undefined) {
      const want = this.inputDtype === 'u8' ? Uint8Array : Float32Array;
      if (!(input instanceof want) || input.length !== this.inN) {
        throw new Error(`slimsplit: graph '${this.graph}' takes a ${want.name} of ${this.inN} elements in ${modeText(this.axes, this.modeIndex)}, got a ${input.constructor.name} of ${input.length}`);
      }
      if (this.inputDtype === 'u8') this.eng.u8().set(input, this.inPtr);
      else this.eng.f32().set(input, this.inPtr >> 2);
    }
    const rc = this.x.plan_run(this.plan);
    if (rc !== 0) throw new Error(`slimsplit: plan_run failed (code ${rc})`);
    return this.outputDtype === 'u8' ? this.eng.u8().subarray(this.outPtr, this.outPtr + this.outN) : this.eng.f32().subarray(this.outPtr >> 2, (this.outPtr >> 2) + this.outN);
  }
}
