/**
 * Kernel opcodes and the word layout of a compiled plan (docs/FORMAT.md, "Plans"). Mirrored by
 * assembly/plan.ts; test/engine/constants.test.ts checks the two against each other.
 */
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
  // 17-29: ops added for TF.js CenterNet import
  mul: 17,
  concat: 18,
  resize_bilinear: 19,
  avgpool: 20,
  softmax: 21,
  // 30-39: ops added for ONNX import
  chshuffle: 30,
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
export const INDEX_MASK = 0x3fffffff;
