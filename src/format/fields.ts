/**
 * What the blob writer and reader share: a layer's field words (one u32 per op field, in
 * OPS[op].fields order) and the structural rules both apply, so that a blob the writer accepts
 * is one the reader accepts.
 */
import { AXES, modeCount, type AxisDef } from '../codec/modes.js';
import { GraphError, LIMITS, type BufferDef, type FieldValue, type TensorInfo } from '../engine/plan/graph.js';
import { PADS, PAD_PIXELS } from '../engine/ops/spec.js';
import { Act, ACTS } from '../engine/ops/act.js';
import { ABSENT, MAX_AXIS_VALUES, BlobError, type BlobErrorCode, type InputInfo } from './schema.js';

const f32w = new Float32Array(1);
const u32w = new Uint32Array(f32w.buffer);
const i32w = new Int32Array(f32w.buffer);

export function encodeField(kind: string, v: FieldValue, tensorIndex: Map<string, number>, bufferIndex: Map<string, number>): number {
  if (v === null) return ABSENT;
  switch (kind) {
    case 'int':
      i32w[0] = v as number;
      return u32w[0];
    case 'float':
      f32w[0] = v as number;
      return u32w[0];
    case 'pad':
      return typeof v === 'number' ? PAD_PIXELS + v : PADS.indexOf(v as (typeof PADS)[number]);
    case 'act':
      return Act[v as keyof typeof Act];
    case 'tensor':
      return tensorIndex.get(v as string)!;
    default:
      return bufferIndex.get(v as string)!;
  }
}

/** Decodes a field word; returns a reason string instead of a value when the word is invalid. */
export function decodeField(kind: string, w: number, tensors: TensorInfo[], buffers: BufferDef[]): { v: FieldValue } | string {
  switch (kind) {
    case 'int':
      u32w[0] = w;
      return { v: i32w[0] };
    case 'float':
      u32w[0] = w;
      return Number.isFinite(f32w[0]) ? { v: f32w[0] } : `f32 bits 0x${w.toString(16)} are not a finite number`;
    case 'pad':
      if (w < PADS.length) return { v: PADS[w] };
      if (w >= PAD_PIXELS && w < PAD_PIXELS + 256) return { v: w - PAD_PIXELS };
      return `padding code ${w} is not 0..2 (${PADS.join(', ')}) or ${PAD_PIXELS}+pixels`;
    case 'act':
      return w < ACTS.length ? { v: ACTS[w] } : `activation code ${w} is not 0..${ACTS.length - 1}`;
    case 'tensor':
      return w < tensors.length ? { v: tensors[w].name } : `tensor index ${w} is out of range (${tensors.length} tensors)`;
    default:
      return w < buffers.length ? { v: buffers[w].name } : `buffer index ${w} is out of range (${buffers.length} buffers)`;
  }
}


export function fail(code: BlobErrorCode, detail: string): never {
  throw new BlobError(code, detail);
}

export function checkName(what: string, s: string): void {
  if (typeof s !== 'string' || s.length === 0 || s.length > 255 || s.includes('\0')) fail('meta', `${what} ${JSON.stringify(s)} must be a non-empty string of at most 255 characters without NUL`);
}

export function checkJson(what: string, s: string): void {
  if (s.includes('\0')) fail('meta', `${what} contains NUL`);
  if (s === '') return;
  try {
    JSON.parse(s);
  } catch {
    fail('meta', `${what} is not valid JSON`);
  }
}

export function checkDims(what: string, shape: number[]): number {
  if (shape.length > LIMITS.rank) fail('shape', `${what} has rank ${shape.length}, at most ${LIMITS.rank}`);
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 1) fail('shape', `${what} shape [${shape.join(', ')}] has a dim that is not a positive integer`);
    n *= d;
    if (n > LIMITS.elems) fail('limit', `${what} shape [${shape.join(', ')}] exceeds ${LIMITS.elems} elements`);
  }
  return n;
}

export function checkInput(inp: InputInfo): void {
  if (inp.shape.length === 0) fail('shape', 'model input shape is empty');
  checkDims('model input', inp.shape);
  for (const [k, v] of [['mean', inp.mean], ['std', inp.std]] as const) {
    if (v.length !== 0 && v.length !== inp.shape[0]) fail('shape', `model input ${k} has ${v.length} values, expected 0 or ${inp.shape[0]} (one per channel)`);
    for (const x of v) if (!Number.isFinite(x) || Math.fround(x) !== x) fail('meta', `model input ${k} value ${x} is not a finite f32`);
  }
  if (inp.mean.length !== inp.std.length) fail('shape', `model input mean has ${inp.mean.length} values but std ${inp.std.length}`);
  for (const x of inp.std) if (!(x > 0)) fail('meta', `model input std value ${x} must be positive`);
}

export function checkAxes(axes: AxisDef[]): void {
  let last = -1;
  for (const a of axes) {
    const k = AXES.indexOf(a.name);
    if (k < 0) fail('axis', `unknown mode axis '${a.name}' (known: ${AXES.join(', ')})`);
    if (k <= last) fail('axis', `mode axis '${a.name}' is repeated or out of order (order: ${AXES.join(', ')})`);
    last = k;
    if (a.values.length === 0 || a.values.length > MAX_AXIS_VALUES) fail('axis', `mode axis '${a.name}' has ${a.values.length} values, expected 1..${MAX_AXIS_VALUES}`);
    a.values.forEach((v, i) => {
      if (!Number.isFinite(v) || Math.fround(v) !== v) fail('axis', `mode axis '${a.name}' value ${v} is not a finite f32`);
      if (a.name !== 'width' && !(Number.isInteger(v) && v >= 1)) fail('axis', `mode axis '${a.name}' value ${v} must be a positive integer`);
      if (!(v > 0)) fail('axis', `mode axis '${a.name}' value ${v} must be positive`);
      if (i > 0 && !(v > a.values[i - 1])) fail('axis', `mode axis '${a.name}' values [${a.values.join(', ')}] must be strictly increasing`);
    });
  }
  if (modeCount(axes) > LIMITS.modes) fail('limit', `mode axes give ${modeCount(axes)} modes, more than ${LIMITS.modes}`);
}

export function checkGraphName(name: string): void {
  if (!/^[A-Za-z0-9_.-]{1,23}$/.test(name)) fail('meta', `graph name ${JSON.stringify(name)} must be 1..23 characters of A-Z a-z 0-9 _ . -`);
}


/** Runs a graph check, reporting its GraphError as a BlobError with the same code. */
export function wrap<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof GraphError) throw new BlobError(e.code as BlobErrorCode, e.detail);
    throw e;
  }
}
