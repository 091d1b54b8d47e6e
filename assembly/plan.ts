// Plan interpreter: runs a graph compiled by src/engine/plan.ts (layout: docs/FORMAT.md, "Plans")
// in one export call, calling the kernels directly, so no host code runs between layers. A
// bare runtime (wasm3, WAMR) needs only these exports and the blob's data section in memory:
//   plan_bind(plan, dataBase, arenaBase)   once: plan-relative offsets become addresses
//   plan_set_mode(plan, m)                  per mode switch: writes only the words that change
//   plan_run(plan)                          per inference
//
// Plan words (u32): a 32-word header, then records [opcode, nwords, blobMask, arenaMask,
// params...] whose params are exactly the kernel's params struct (pointer words flagged by
// the masks hold offsets until bound), then the mode table (4 words per mode: first patch,
// patch count, input elements, output elements), then patches of 3 words: [word index |
// relocation kind << 30, value in this mode, value in the largest mode]. Records hold the
// largest mode; a mode switch puts back the current mode's words, then writes the new mode's.
// The host validated the plan (src/format/blob.ts); these functions only refuse the wrong call order.

import { act } from './act';
import { add } from './add';
import { affine } from './affine';
import { conv2dRecord } from './conv2d';
import { dwconv } from './dwconv';
import { matmul } from './matmul';
import { instnorm } from './instnorm';
import { se } from './se';
import { gap, maxpool } from './pool';
import { groupsum } from './groupsum';
import { upsample2x } from './upsample';
import { chshuffle } from './chshuffle';
import { quantize, dequantize, quantize_pc, dequantize_pc } from './quant';
import { mul } from './mul';
import { concat } from './concat';
import { resize_bilinear } from './resize';
import { avgpool } from './avgpool';
import { softmax } from './softmax';
import { PLAN_MAGIC, PLAN_VERSION, PH_MAGIC, PH_VERSION, PH_BOUND, PH_NREC, PH_REC, PH_NMODES, PH_MODES, PH_CUR, PH_ARENA_BYTES, PH_IN_OFF, PH_IN_DTYPE, PH_OUT_OFF, PH_OUT_DTYPE, PH_BLOB_BASE, PH_ARENA_BASE, PH_PATCHES, PH_NPATCH } from './plan_header';

// Opcodes: OPCODES in src/engine/plan.ts and the table in docs/FORMAT.md.
const OP_CONV2D: u32 = 1;
const OP_DWCONV: u32 = 2;
const OP_MATMUL: u32 = 3;
const OP_INSTNORM: u32 = 4;
const OP_SE: u32 = 5;
const OP_GAP: u32 = 6;
const OP_MAXPOOL: u32 = 7;
const OP_ADD: u32 = 8;
const OP_GROUPSUM: u32 = 9;
const OP_UPSAMPLE2X: u32 = 10;
const OP_ACT: u32 = 11;
const OP_QUANTIZE: u32 = 12;
const OP_DEQUANTIZE: u32 = 13;
const OP_QUANTIZE_PC: u32 = 14;
const OP_DEQUANTIZE_PC: u32 = 15;
const OP_AFFINE: u32 = 16;
// 17-29: the ops TF.js CenterNet import added; 30-39: the ONNX import's
const OP_MUL: u32 = 17;
const OP_CONCAT: u32 = 18;
const OP_RESIZE_BILINEAR: u32 = 19;
const OP_AVGPOOL: u32 = 20;
const OP_SOFTMAX: u32 = 21;
const OP_CHSHUFFLE: u32 = 30;

const INDEX_MASK: u32 = 0x3fffffff;
const RELOC_BLOB: u32 = 1;
const RELOC_ARENA: u32 = 2;

// Status codes returned to the host.
const E_MAGIC: i32 = -1;
const E_BOUND: i32 = -2;
const E_UNBOUND: i32 = -3;
const E_MODE: i32 = -4;

@inline function hw(plan: usize, i: i32): u32 {
  return load<u32>(plan + (<usize>i << 2));
}
@inline function setHw(plan: usize, i: i32, v: u32): void {
  store<u32>(plan + (<usize>i << 2), v);
}
@inline function at(plan: usize, word: u32): usize {
  return plan + (<usize>word << 2);
}

// Adds `base` to every params word whose bit is set in `mask`.
@inline function relocate(params: usize, mask: u32, base: u32): void {
  while (mask != 0) {
    const a = params + (<usize>ctz(mask) << 2);
    store<u32>(a, load<u32>(a) + base);
    mask &= mask - 1;
  }
}

export function plan_bind(plan: usize, blobBase: usize, arenaBase: usize): i32 {
  if (hw(plan, PH_MAGIC) != PLAN_MAGIC || hw(plan, PH_VERSION) != PLAN_VERSION) return E_MAGIC;
  if (hw(plan, PH_BOUND) != 0) return E_BOUND;
  const b = <u32>blobBase, a = <u32>arenaBase;
  let r = at(plan, hw(plan, PH_REC));
  for (let n = hw(plan, PH_NREC); n > 0; n--) {
    const params = r + 16;
    relocate(params, load<u32>(r, 8), b);
    relocate(params, load<u32>(r, 12), a);
    r = params + (<usize>load<u32>(r, 4) << 2);
  }
  let q = at(plan, hw(plan, PH_PATCHES));
  for (let n = hw(plan, PH_NPATCH); n > 0; n--, q += 12) {
    const kind = load<u32>(q) >>> 30;
    const d = kind == RELOC_BLOB ? b : kind == RELOC_ARENA ? a : 0;
    store<u32>(q, load<u32>(q, 4) + d, 4);
    store<u32>(q, load<u32>(q, 8) + d, 8);
  }
  setHw(plan, PH_BLOB_BASE, b);
  setHw(plan, PH_ARENA_BASE, a);
  setHw(plan, PH_BOUND, 1);
  if (ASC_FEATURE_SIMD) packMatmuls(plan, arenaBase, hw(plan, PH_ARENA_BYTES));
  return 0;
}

// SIMD build: rewrite each pointwise matmul's weights into the packed row groups its 4-row tiles
// read as one stream (assembly/matmul.ts, "Packed rows"), and record how many rows are packed
// in the act word. Runs once, inside plan_bind, on this copy of the data section; the arena,
// which holds nothing yet, is the scratch. A record is left as stored when its weights could be
// read by anything else or could move: a linear layer (n == 1: it reads whole rows), weights
// another pointer of the plan points into, a mode patch on the words that locate or size them,
// or an arena too small for one group.
function packMatmuls(plan: usize, scratch: usize, scratchBytes: u32): void {
  let r = at(plan, hw(plan, PH_REC));
  for (let n = hw(plan, PH_NREC); n > 0; n--) {
    const p = r + 16;
    if (load<u32>(r) == OP_MATMUL && (load<u32>(r, 8) & 2) != 0) {
      const w = <usize>load<u32>(p, 4), cinF = load<u32>(p, 24), M = load<u32>(p, 32), npos = load<u32>(p, 36);
      const actWord = load<u32>(p, 40), P = M & ~3;
      const ws = <usize>cinF << 2, bytes = <usize>M * ws;
      const base = <u32>((p - plan) >> 2);
      if (npos > 1 && P > 0 && (actWord >>> 8) == 0 && (cinF << 4) <= scratchBytes &&
          !patched(plan, base) && !pointedInto(plan, p, w, w + bytes)) {
        for (let g: u32 = 0; g < P; g += 4) packGroup(w + <usize>g * ws, cinF, scratch);
        store<u32>(p, actWord | ((P >> 2) << 8), 40);
      }
    }
    r = p + (<usize>load<u32>(r, 4) << 2);
  }
}

// Four rows of cinF floats at g, [r][ci], become [ci][r] in place (through the scratch).
function packGroup(g: usize, cinF: u32, scratch: usize): void {
  memory.copy(scratch, g, <usize>cinF << 4);
  const rs = <usize>cinF << 2;
  for (let ci: u32 = 0; ci < cinF; ci++) {
    const s = scratch + (<usize>ci << 2), d = g + (<usize>ci << 4);
    store<f32>(d, load<f32>(s));
    store<f32>(d, load<f32>(s + rs), 4);
    store<f32>(d, load<f32>(s + 2 * rs), 8);
    store<f32>(d, load<f32>(s + 3 * rs), 12);
  }
}

// Whether a mode patch writes the weights pointer, the row stride, n or the act word of the
// matmul record whose params start at plan word `base`.
function patched(plan: usize, base: u32): bool {
  let q = at(plan, hw(plan, PH_PATCHES));
  for (let n = hw(plan, PH_NPATCH); n > 0; n--, q += 12) {
    const i = load<u32>(q) & INDEX_MASK;
    if (i == base + 1 || i == base + 6 || i == base + 9 || i == base + 10) return true;
  }
  return false;
}

// Whether any bound pointer other than params word 1 at `self` (record params or a mode's
// patched value) falls inside [lo, hi).
function pointedInto(plan: usize, self: usize, lo: usize, hi: usize): bool {
  let r = at(plan, hw(plan, PH_REC));
  for (let n = hw(plan, PH_NREC); n > 0; n--) {
    const p = r + 16;
    let mask = load<u32>(r, 8) | load<u32>(r, 12);
    while (mask != 0) {
      const a = p + (<usize>ctz(mask) << 2);
      mask &= mask - 1;
      if (a == self + 4) continue;
      const v = <usize>load<u32>(a);
      if (v >= lo && v < hi) return true;
    }
    r = p + (<usize>load<u32>(r, 4) << 2);
  }
  let q = at(plan, hw(plan, PH_PATCHES));
  for (let n = hw(plan, PH_NPATCH); n > 0; n--, q += 12) {
    if (load<u32>(q) >>> 30 == 0) continue;
    const v4 = <usize>load<u32>(q, 4), v8 = <usize>load<u32>(q, 8);
    if ((v4 >= lo && v4 < hi) || (v8 >= lo && v8 < hi)) return true;
  }
  return false;
}

// Writes `count` patches starting at `q`, taking each word from offset `which` (4: the mode's
// value, 8: the largest mode's value).
@inline function patch(plan: usize, q: usize, count: u32, which: usize): void {
  for (; count > 0; count--, q += 12) store<u32>(at(plan, load<u32>(q) & INDEX_MASK), load<u32>(q + which));
}

export function plan_set_mode(plan: usize, mode: u32): i32 {
  if (hw(plan, PH_BOUND) != 1) return E_UNBOUND;
  if (mode >= hw(plan, PH_NMODES)) return E_MODE;
  const cur = hw(plan, PH_CUR);
  if (cur == mode) return 0;
  const patches = at(plan, hw(plan, PH_PATCHES));
  const modes = at(plan, hw(plan, PH_MODES));
  const c = modes + (<usize>cur << 4), m = modes + (<usize>mode << 4);
  patch(plan, patches + <usize>load<u32>(c) * 12, load<u32>(c, 4), 8);
  patch(plan, patches + <usize>load<u32>(m) * 12, load<u32>(m, 4), 4);
  setHw(plan, PH_CUR, mode);
  return 0;
}

export function plan_run(plan: usize): i32 {
  if (hw(plan, PH_BOUND) != 1) return E_UNBOUND;
  let r = at(plan, hw(plan, PH_REC));
  for (let n = hw(plan, PH_NREC); n > 0; n--) {
    const p = r + 16;
    switch (load<u32>(r)) {
      case OP_CONV2D: conv2dRecord(p, load<u32>(r, 4)); break;
      case OP_DWCONV: dwconv(p); break;
      case OP_MATMUL: matmul(p); break;
      case OP_INSTNORM: instnorm(p); break;
      case OP_SE: se(p); break;
      case OP_GAP: gap(p); break;
      case OP_MAXPOOL: maxpool(p); break;
      case OP_ADD: add(p); break;
      case OP_GROUPSUM: groupsum(p); break;
      case OP_UPSAMPLE2X: upsample2x(p); break;
      case OP_ACT: act(p); break;
      case OP_QUANTIZE: quantize(p); break;
      case OP_DEQUANTIZE: dequantize(p); break;
      case OP_QUANTIZE_PC: quantize_pc(p); break;
      case OP_DEQUANTIZE_PC: dequantize_pc(p); break;
      case OP_AFFINE: affine(p); break;
      case OP_MUL: mul(p); break;
      case OP_CONCAT: concat(p); break;
      case OP_RESIZE_BILINEAR: resize_bilinear(p); break;
      case OP_AVGPOOL: avgpool(p); break;
      case OP_SOFTMAX: softmax(p); break;
      case OP_CHSHUFFLE: chshuffle(p); break;
      default: return <i32>load<u32>(r);
    }
    r = p + (<usize>load<u32>(r, 4) << 2);
  }
  return 0;
}

/** 1 when this build has the kernel for `op`. */
export function plan_supports(op: u32): i32 {
  return (op >= OP_CONV2D && op <= OP_AFFINE) || (op >= OP_MUL && op <= OP_SOFTMAX) || op == OP_CHSHUFFLE ? 1 : 0;
}

/** 0, or the first opcode in the plan this build lacks. */
export function plan_check(plan: usize): i32 {
  let r = at(plan, hw(plan, PH_REC));
  for (let n = hw(plan, PH_NREC); n > 0; n--) {
    const op = load<u32>(r);
    if (!plan_supports(op)) return <i32>op;
    r = r + 16 + (<usize>load<u32>(r, 4) << 2);
  }
  return 0;
}

export function plan_arena_bytes(plan: usize): u32 {
  return hw(plan, PH_ARENA_BYTES);
}
export function plan_modes(plan: usize): u32 {
  return hw(plan, PH_NMODES);
}
export function plan_mode(plan: usize): u32 {
  return hw(plan, PH_CUR);
}
/** Address of the input buffer (valid once bound). */
export function plan_input(plan: usize): usize {
  return <usize>hw(plan, PH_ARENA_BASE) + hw(plan, PH_IN_OFF);
}
export function plan_output(plan: usize): usize {
  return <usize>hw(plan, PH_ARENA_BASE) + hw(plan, PH_OUT_OFF);
}
/** 0: f32, 1: u8 */
export function plan_input_dtype(plan: usize): u32 {
  return hw(plan, PH_IN_DTYPE);
}
export function plan_output_dtype(plan: usize): u32 {
  return hw(plan, PH_OUT_DTYPE);
}
/** Elements the current mode reads from the input / writes to the output. */
export function plan_input_elems(plan: usize): u32 {
  return load<u32>(at(plan, hw(plan, PH_MODES)) + (<usize>hw(plan, PH_CUR) << 4), 8);
}
export function plan_output_elems(plan: usize): u32 {
  return load<u32>(at(plan, hw(plan, PH_MODES)) + (<usize>hw(plan, PH_CUR) << 4), 12);
}
