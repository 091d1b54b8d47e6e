/**
 * Every graph op by name (a blob stores a layer's op by name, and its field words in the order of
 * the op's fields). The plan compiler, the blob reader and writer, the packer, the tests and
 * bench/kernels.bench.ts iterate it. Adding an op: its kernel (assembly/), its op file here (call wrapper, f64 reference,
 * OpSpec with its bench cases), its test, one line below, and one opcode (src/engine/plan/words.ts and assembly/plan.ts).
 */
import { GraphError } from '../plan/graph.js';
import type { FieldSpec, OpSpec } from './spec.js';
import { conv2dOp } from './conv2d.js';
import { matmulOp } from './matmul.js';
import { instnormOp } from './instnorm.js';
import { seOp } from './se.js';
import { gapOp, maxpoolOp } from './pool.js';
import { addOp } from './add.js';
import { groupsumOp } from './groupsum.js';
import { upsampleOp } from './upsample.js';
import { actOp } from './act.js';
import { quantizeOp, dequantizeOp } from './quant.js';
import { affineOp } from './affine.js';
import { mulOp } from './mul.js';
import { concatOp } from './concat.js';
import { resizeOp } from './resize.js';
import { avgpoolOp } from './avgpool.js';
import { softmaxOp } from './softmax.js';
import { chshuffleOp } from './chshuffle.js';

/** Graph ops (docs/GRAPH.md). The field order is the order of a layer's field words in a blob. */
export const OPS: Record<string, OpSpec> = {
  conv2d: conv2dOp,
  matmul: matmulOp,
  instnorm: instnormOp,
  se: seOp,
  gap: gapOp,
  maxpool: maxpoolOp,
  add: addOp,
  groupsum: groupsumOp,
  upsample2x: upsampleOp,
  act: actOp,
  quantize: quantizeOp,
  dequantize: dequantizeOp,
  affine: affineOp,
  mul: mulOp,
  concat: concatOp,
  resize_bilinear: resizeOp,
  avgpool: avgpoolOp,
  softmax: softmaxOp,
  chshuffle: chshuffleOp,
};
/** Op names, in registry order. */
export const OP_NAMES = Object.keys(OPS);

export function opFields(op: string): FieldSpec[] {
  const s = OPS[op];
  if (!s) throw new GraphError('op', `unknown op '${op}' (known: ${OP_NAMES.join(', ')})`);
  return s.fields;
}
