/**
 * The .slim weight blob: model header, tensor table, graphs with their compiled plans, optional
 * entropy-coder tables and the tensor data in one checksummed file (docs/FORMAT.md). Large f32
 * weights may be stored as int8 per row ("q8"), expanded to f32 when loaded.
 *
 *   import { readFileSync, writeFileSync } from 'node:fs';
 *   import { readBlob, writeBlob, blobSpec, BlobError } from './blob.js';
 *   const blob = readBlob(readFileSync('weights/see-384-random.slim'));   // BlobError (with .code) if bad
 *   const w = blob.tensor('stem.w');                                        // Float32Array [24][3][3][3]
 *   writeFileSync('copy.slim', writeBlob(blobSpec(blob)));                  // the same bytes again
 *
 * The loader trusts nothing: it checks the checksum, then every structural rule on its own (a
 * blob edited with the checksum recomputed must still be caught), then validates each graph in
 * every mode and recompiles its plan to compare word for word. Anything wrong is a BlobError
 * naming the field, layer and expected value; never a RangeError, a hang or a huge allocation.
 * Headers and tables are typed-binary schemas read through a bounds-checked reader.
 */
import bin, { Schema, Measurer, MaxValue, type ISerialInput, type ISerialOutput, type IMeasurer, type ISchema, type Parsed } from 'typed-binary';
import {
  AXES, DTYPES, DTYPE_BYTES, OPS, PADS, ACTS, PAD_PIXELS, LIMITS, GraphError, compilePlan, checkPlan, checkGraphStatic, modeCount,
  type AxisDef, type AxisName, type BufferDef, type DType, type FieldValue, type GraphDef, type LayerDef, type TensorInfo, type ActiveDef,
  type TensorStorage,
} from '../engine/plan.js';
import { Act } from '../engine/ops/act.js';

export const BLOB_MAGIC = 'SLIM';
export const BLOB_VERSION = 2;
/** flags bit 0: a coder section follows the graphs in the meta section */
export const FLAG_CODER = 1;
export const PREAMBLE_BYTES = 36;
export const DIR_ENTRY_BYTES = 32;
export const DIR_NAME_BYTES = 24;
export const MAX_GRAPHS = 8;
export const DATA_ALIGN = 64;
export const TENSOR_ALIGN = 16;
/** a field word meaning "absent" (optional field) or "per mode" (listed under active) */
export const ABSENT = 0xffffffff;
const MAX_STRING = 1 << 16;
const MAX_AXIS_VALUES = 256;
/** Tensor table storage codes (docs/FORMAT.md, "Tensor storage"). */
export const STORAGES: readonly TensorStorage[] = ['raw', 'q8'];
const Q8_MAX = 127;

export type BlobErrorCode =
  | 'truncated' | 'size' | 'magic' | 'version' | 'checksum' | 'flags' | 'layout' | 'align' | 'bounds' | 'meta'
  | 'tensor' | 'shape' | 'dtype' | 'ref' | 'op' | 'field' | 'active' | 'axis' | 'alias' | 'dataflow' | 'plan' | 'coder' | 'limit';

/** A blob that cannot be loaded; `code` classifies the problem, the message names it. */
export class BlobError extends Error {
  readonly code: BlobErrorCode;
  constructor(code: BlobErrorCode, detail: string) {
    super(`slimsplit: bad blob: ${detail}`);
    this.name = 'BlobError';
    this.code = code;
  }
}

export interface InputInfo {
  /** [C, H, W] */
  shape: number[];
  /** per-channel normalization (empty: none), f32 */
  mean: number[];
  std: number[];
}
export interface CoderInfo {
  /** the coder's own metadata, JSON text */
  json: string;
  /** names of integer tensors holding its tables */
  tables: string[];
}
export interface BlobGraph extends GraphDef {
  /** byte offset of the plan in the data section */
  planOffset: number;
  plan: Uint32Array;
}
export type TensorArray = Float32Array | Uint8Array | Uint16Array | Uint32Array | Int32Array;

export interface Blob {
  version: number;
  flags: number;
  name: string;
  /** free-form model metadata, JSON text ('' for none) */
  json: string;
  input: InputInfo;
  axes: AxisDef[];
  tensors: TensorInfo[];
  graphs: BlobGraph[];
  coder: CoderInfo | null;
  /**
   * The data section as it goes into memory: tensors and plans as in the file, then the expansion
   * area holding every q8 tensor as f32. A view of the loaded bytes when the model has no q8
   * tensor, else a copy (expandBytes longer than the file's data section).
   */
  data: Uint8Array;
  /** bytes of the expansion area at the end of `data` */
  expandBytes: number;
  /** a tensor's values, q8 ones expanded (a view when aligned, else a copy) */
  tensor(name: string): TensorArray;
}

export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: number[];
  /** little-endian values; a typed array of the dtype or raw bytes (q8: the f32 values to quantize) */
  data: ArrayBufferView;
  /** 'q8' (f32 only): stored as int8 per row of shape[0] with an f32 scale per row, expanded on load */
  storage?: 'q8';
  /**
   * q8 only: the stored form itself (f32 scales[rows], then int8 codes), used instead of quantizing
   * `data`. blobSpec passes it, because quantizing expanded values again need not give the same scales.
   */
  stored?: Uint8Array;
}
export interface BlobSpec {
  name: string;
  json?: string;
  input: InputInfo;
  axes: AxisDef[];
  tensors: TensorSpec[];
  graphs: GraphDef[];
  coder?: CoderInfo | null;
}

// ------------------------------------------------------------------------------------------------
// Bounds-checked typed-binary input, with a path for error messages and an optional field trace
// ------------------------------------------------------------------------------------------------

/** One primitive read: where it is and what it was (for fuzzers and hex-dump readers). */
export interface FieldTrace {
  offset: number;
  size: number;
  path: string;
}

class SafeReader implements ISerialInput {
  readonly endianness = 'little' as const;
  readonly path: string[] = [];
  private pos: number;
  private readonly dv: DataView;
  private static readonly utf8 = new TextDecoder('utf-8', { fatal: true });

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    private readonly end: number,
    private readonly section: string,
    private readonly trace?: FieldTrace[],
  ) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
  }
  get currentByteOffset(): number {
    return this.pos;
  }
  get remaining(): number {
    return this.end - this.pos;
  }
  where(): string {
    return this.path.join('') || this.section;
  }
  private take(n: number): number {
    if (n > this.end - this.pos) {
      throw new BlobError('meta', `${this.section} ends inside ${this.where()} (${n} bytes needed at offset ${this.pos}, the section ends at ${this.end})`);
    }
    const p = this.pos;
    this.pos += n;
    this.trace?.push({ offset: p, size: n, path: this.where() });
    return p;
  }
  readBool(): boolean {
    return this.dv.getUint8(this.take(1)) !== 0;
  }
  readByte(): number {
    return this.dv.getUint8(this.take(1));
  }
  readInt8(): number {
    return this.dv.getInt8(this.take(1));
  }
  readUint8(): number {
    return this.dv.getUint8(this.take(1));
  }
  readInt16(): number {
    return this.dv.getInt16(this.take(2), true);
  }
  readUint16(): number {
    return this.dv.getUint16(this.take(2), true);
  }
  readInt32(): number {
    return this.dv.getInt32(this.take(4), true);
  }
  readUint32(): number {
    return this.dv.getUint32(this.take(4), true);
  }
  readFloat16(): number {
    throw new BlobError('meta', `${this.where()}: f16 is not part of the format`);
  }
  readFloat32(): number {
    return this.dv.getFloat32(this.take(4), true);
  }
  readString(): string {
    const limit = Math.min(this.end, this.pos + MAX_STRING);
    let z = this.pos;
    while (z < limit && this.bytes[z] !== 0) z++;
    if (z >= limit) throw new BlobError('meta', `${this.where()}: string has no terminating NUL within ${limit - this.pos} bytes`);
    const p = this.take(z - this.pos + 1);
    try {
      return SafeReader.utf8.decode(this.bytes.subarray(p, z));
    } catch {
      throw new BlobError('meta', `${this.where()}: string is not valid UTF-8`);
    }
  }
  readSlice(view: ArrayBufferView, offset: number, byteLength: number): void {
    const p = this.take(byteLength);
    new Uint8Array(view.buffer, view.byteOffset + offset, byteLength).set(this.bytes.subarray(p, p + byteLength));
  }
  seekTo(offset: number): void {
    this.pos = offset;
  }
  skipBytes(bytes: number): void {
    this.pos += bytes;
  }
}

/** A property read under a name, so errors and traces say `tensors[3].shape`. */
class Labeled<T> extends Schema<T> {
  constructor(
    private readonly label: string,
    private readonly inner: ISchema<T>,
  ) {
    super();
  }
  read(input: ISerialInput): Parsed<T> {
    const path = input instanceof SafeReader ? input.path : null;
    path?.push(path.length ? '.' + this.label : this.label);
    try {
      return this.inner.read(input);
    } finally {
      path?.pop();
    }
  }
  write(output: ISerialOutput, value: Parsed<T>): void {
    this.inner.write(output, value);
  }
  measure(value: Parsed<T> | typeof MaxValue, measurer: IMeasurer = new Measurer()): IMeasurer {
    return this.inner.measure(value as never, measurer);
  }
}

/**
 * u32 count then the elements. The count is checked against the bytes left in the section
 * (each element takes at least `minBytes`) before anything is allocated or looped over.
 */
class List<T> extends Schema<T[]> {
  constructor(
    private readonly elem: ISchema<T>,
    private readonly minBytes: number,
    private readonly max: number = Infinity,
  ) {
    super();
  }
  read(input: ISerialInput): Parsed<T>[] {
    const n = input.readUint32();
    if (input instanceof SafeReader) {
      if (n > this.max) throw new BlobError('limit', `${input.where()}: ${n} entries, at most ${this.max} allowed`);
      if (n * this.minBytes > input.remaining) throw new BlobError('meta', `${input.where()}: count ${n} needs at least ${n * this.minBytes} bytes, ${input.remaining} remain in the section`);
    }
    const out: Parsed<T>[] = [];
    const path = input instanceof SafeReader ? input.path : null;
    for (let i = 0; i < n; i++) {
      path?.push(`[${i}]`);
      try {
        out.push(this.elem.read(input));
      } finally {
        path?.pop();
      }
    }
    return out;
  }
  write(output: ISerialOutput, values: Parsed<T>[]): void {
    output.writeUint32(values.length);
    for (const v of values) this.elem.write(output, v);
  }
  measure(values: Parsed<T>[] | typeof MaxValue, measurer: IMeasurer = new Measurer()): IMeasurer {
    if (values === MaxValue) return measurer.unbounded;
    measurer.add(4);
    for (const v of values) this.elem.measure(v, measurer);
    return measurer;
  }
}

const L = <T>(label: string, s: ISchema<T>): Labeled<T> => new Labeled(label, s);

// ------------------------------------------------------------------------------------------------
// Schemas (docs/FORMAT.md lists every field)
// ------------------------------------------------------------------------------------------------

const Preamble = bin.object({
  magic: L('magic', bin.chars(4)),
  version: L('version', bin.u16),
  flags: L('flags', bin.u16),
  fileBytes: L('fileBytes', bin.u32),
  graphCount: L('graphCount', bin.u32),
  metaOffset: L('metaOffset', bin.u32),
  metaBytes: L('metaBytes', bin.u32),
  dataOffset: L('dataOffset', bin.u32),
  dataBytes: L('dataBytes', bin.u32),
  expandBytes: L('expandBytes', bin.u32),
});
type PreambleT = bin.Parsed<typeof Preamble>;

const DirEntry = bin.object({
  name: L('name', bin.chars(DIR_NAME_BYTES)),
  planOffset: L('planOffset', bin.u32),
  planBytes: L('planBytes', bin.u32),
});
type DirEntryT = bin.Parsed<typeof DirEntry>;

const Dims = new List(bin.u32, 4, LIMITS.rank);
const F32s = new List(bin.f32, 4);
const U32s = new List(bin.u32, 4);

const Input = bin.object({ shape: L('shape', Dims), mean: L('mean', F32s), std: L('std', F32s) });
const Axis = bin.object({ name: L('name', bin.string), values: L('values', new List(bin.f32, 4, MAX_AXIS_VALUES)) });
const Tensor = bin.object({
  name: L('name', bin.string),
  dtype: L('dtype', bin.u8),
  storage: L('storage', bin.u8),
  shape: L('shape', Dims),
  offset: L('offset', bin.u32),
  bytes: L('bytes', bin.u32),
});
const Buffer_ = bin.object({ name: L('name', bin.string), dtype: L('dtype', bin.u8), shape: L('shape', Dims) });
const Active = bin.object({ field: L('field', bin.u8), axis: L('axis', bin.u8), values: L('values', U32s) });
const Layer = bin.object({ op: L('op', bin.string), fields: L('fields', U32s), active: L('active', new List(Active, 6)) });
const Graph = bin.object({
  input: L('input', bin.u32),
  output: L('output', bin.u32),
  buffers: L('buffers', new List(Buffer_, 6, LIMITS.buffers)),
  layers: L('layers', new List(Layer, 9, LIMITS.layers)),
});
const Meta = bin.object({
  name: L('name', bin.string),
  json: L('json', bin.string),
  input: L('input', Input),
  axes: L('axes', new List(Axis, 5, AXES.length)),
  tensors: L('tensors', new List(Tensor, 19)),
  graphs: L('graphs', new List(Graph, 16, MAX_GRAPHS)),
});
type MetaT = bin.Parsed<typeof Meta>;
const Coder = bin.object({ json: L('json', bin.string), tables: L('tables', U32s) });
type CoderT = bin.Parsed<typeof Coder>;

// ------------------------------------------------------------------------------------------------
// CRC-32 (IEEE 802.3, the zlib one)
// ------------------------------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ------------------------------------------------------------------------------------------------
// Field words: a layer stores one u32 per op field, in OPS[op].fields order
// ------------------------------------------------------------------------------------------------

const f32w = new Float32Array(1);
const u32w = new Uint32Array(f32w.buffer);
const i32w = new Int32Array(f32w.buffer);

function encodeField(kind: string, v: FieldValue, tensorIndex: Map<string, number>, bufferIndex: Map<string, number>): number {
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
function decodeField(kind: string, w: number, tensors: TensorInfo[], buffers: BufferDef[]): { v: FieldValue } | string {
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

// ------------------------------------------------------------------------------------------------
// Shared checks (writer and reader apply the same rules)
// ------------------------------------------------------------------------------------------------

const align = (x: number, a: number): number => Math.ceil(x / a) * a;
const prod = (s: number[]): number => s.reduce((a, b) => a * b, 1);

function fail(code: BlobErrorCode, detail: string): never {
  throw new BlobError(code, detail);
}

function checkName(what: string, s: string): void {
  if (typeof s !== 'string' || s.length === 0 || s.length > 255 || s.includes('\0')) fail('meta', `${what} ${JSON.stringify(s)} must be a non-empty string of at most 255 characters without NUL`);
}

function checkJson(what: string, s: string): void {
  if (s.includes('\0')) fail('meta', `${what} contains NUL`);
  if (s === '') return;
  try {
    JSON.parse(s);
  } catch {
    fail('meta', `${what} is not valid JSON`);
  }
}

function checkDims(what: string, shape: number[]): number {
  if (shape.length > LIMITS.rank) fail('shape', `${what} has rank ${shape.length}, at most ${LIMITS.rank}`);
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 1) fail('shape', `${what} shape [${shape.join(', ')}] has a dim that is not a positive integer`);
    n *= d;
    if (n > LIMITS.elems) fail('limit', `${what} shape [${shape.join(', ')}] exceeds ${LIMITS.elems} elements`);
  }
  return n;
}

function checkInput(inp: InputInfo): void {
  if (inp.shape.length === 0) fail('shape', 'model input shape is empty');
  checkDims('model input', inp.shape);
  for (const [k, v] of [['mean', inp.mean], ['std', inp.std]] as const) {
    if (v.length !== 0 && v.length !== inp.shape[0]) fail('shape', `model input ${k} has ${v.length} values, expected 0 or ${inp.shape[0]} (one per channel)`);
    for (const x of v) if (!Number.isFinite(x) || Math.fround(x) !== x) fail('meta', `model input ${k} value ${x} is not a finite f32`);
  }
  if (inp.mean.length !== inp.std.length) fail('shape', `model input mean has ${inp.mean.length} values but std ${inp.std.length}`);
  for (const x of inp.std) if (!(x > 0)) fail('meta', `model input std value ${x} must be positive`);
}

function checkAxes(axes: AxisDef[]): void {
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

function checkGraphName(name: string): void {
  if (!/^[A-Za-z0-9_.-]{1,23}$/.test(name)) fail('meta', `graph name ${JSON.stringify(name)} must be 1..23 characters of A-Z a-z 0-9 _ . -`);
}

// ------------------------------------------------------------------------------------------------
// q8 storage: int8 codes per row of shape[0], one f32 scale per row (docs/FORMAT.md)
// ------------------------------------------------------------------------------------------------

/** Bytes a q8 tensor of `n` values in `rows` rows takes in the file: f32 scales, then int8 codes. */
export function q8StoredBytes(rows: number, n: number): number {
  return 4 * rows + n;
}

// Ties to even, as torch.round and numpy round, so an exporter's fake quantization agrees.
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The stored q8 form of f32 values (little-endian bytes or a Float32Array) in `rows` rows:
 * scale_r = f32(max|w_r| / 127), code = clamp(round(w / scale_r), -127, 127); a row whose scale
 * is 0 keeps zero codes.
 */
export function quantizeQ8(values: ArrayBufferView, rows: number, what = 'q8 tensor'): Uint8Array {
  const src = new DataView(values.buffer, values.byteOffset, values.byteLength);
  const n = values.byteLength / 4, cols = n / rows;
  if (!Number.isInteger(n) || !Number.isInteger(cols)) fail('shape', `${what}: ${values.byteLength} bytes are not ${rows} rows of f32`);
  const out = new Uint8Array(q8StoredBytes(rows, n));
  const dv = new DataView(out.buffer);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let i = r * cols; i < (r + 1) * cols; i++) {
      const w = src.getFloat32(4 * i, true);
      if (!Number.isFinite(w)) fail('tensor', `${what} value ${i} is ${w}; q8 needs finite values`);
      max = Math.max(max, Math.abs(w));
    }
    const scale = Math.fround(max / Q8_MAX);
    dv.setFloat32(4 * r, scale, true);
    if (scale === 0) continue;
    for (let i = r * cols; i < (r + 1) * cols; i++) {
      const q = roundHalfEven(src.getFloat32(4 * i, true) / scale);
      dv.setInt8(4 * rows + i, Math.max(-Q8_MAX, Math.min(Q8_MAX, q)));
    }
  }
  checkQ8(what, out, rows, n);
  return out;
}

/**
 * A stored q8 form the loader accepts: every scale a finite f32 >= +0 whose 127-fold is finite
 * (so every expanded value is), codes in -127..127, and all-zero codes in a row of scale 0 (so
 * that a blob has one canonical form and expands to no -0).
 */
function checkQ8(what: string, stored: Uint8Array, rows: number, n: number): void {
  const dv = new DataView(stored.buffer, stored.byteOffset, stored.byteLength);
  const cols = n / rows;
  for (let r = 0; r < rows; r++) {
    const bits = dv.getUint32(4 * r, true), s = dv.getFloat32(4 * r, true);
    if (bits >>> 31 || !Number.isFinite(Math.fround(Q8_MAX * s))) {
      fail('tensor', `${what} (q8) row ${r} scale ${s} (bits 0x${bits.toString(16).padStart(8, '0')}) must be a finite f32 >= +0 with 127 * scale finite`);
    }
    for (let i = r * cols; i < (r + 1) * cols; i++) {
      const c = dv.getInt8(4 * rows + i);
      if (c === -128) fail('tensor', `${what} (q8) code ${i} (row ${r}) is -128; codes are -127..127`);
      if (s === 0 && c !== 0) fail('tensor', `${what} (q8) row ${r} has scale 0 but code ${i} is ${c}; a zero row has zero codes`);
    }
  }
}

/** Writes a q8 tensor's f32 values into its expansion region: f32(code * scale_r). */
function expandQ8(mem: Uint8Array, t: TensorInfo): void {
  const rows = t.shape[0], n = t.byteLength / 4, cols = n / rows;
  const scales = new DataView(mem.buffer, mem.byteOffset + t.storedOffset!, 4 * rows);
  const codes = new Int8Array(mem.buffer, mem.byteOffset + t.storedOffset! + 4 * rows, n);
  // mem is a fresh allocation and the region 16-byte aligned: a direct view; storing rounds to f32
  const out = new Float32Array(mem.buffer, mem.byteOffset + t.offset, n);
  for (let r = 0; r < rows; r++) {
    const s = scales.getFloat32(4 * r, true);
    for (let i = r * cols; i < (r + 1) * cols; i++) out[i] = codes[i] * s;
  }
}

/**
 * Places every q8 tensor's f32 expansion after the data section, in table order, each 16-byte
 * aligned; returns the expansion area's size. Plans point there, so this is part of the format.
 */
function placeExpansions(tensors: TensorInfo[], dataBytes: number): number {
  let at = dataBytes;
  for (const t of tensors) {
    if (t.storage !== 'q8') continue;
    at = align(at, TENSOR_ALIGN);
    t.offset = at;
    at += t.byteLength;
  }
  return align(at, TENSOR_ALIGN) - dataBytes;
}

/** q8 memory offsets enter the compiled plan but not the meta bytes, so they join the cache key. */
function expansionKey(tensors: TensorInfo[]): string {
  return tensors.filter((t) => t.storage === 'q8').map((t) => t.offset).join(',');
}

function wrap<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof GraphError) throw new BlobError(e.code as BlobErrorCode, e.detail);
    throw e;
  }
}

// ------------------------------------------------------------------------------------------------
// Writer
// ------------------------------------------------------------------------------------------------

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** Serializes a model, compiling each graph's plan. Throws BlobError/GraphError naming what is wrong. */
export function writeBlob(spec: BlobSpec): Uint8Array {
  checkName('model name', spec.name);
  const json = spec.json ?? '';
  checkJson('model json', json);
  checkInput(spec.input);
  checkAxes(spec.axes);
  if (spec.graphs.length > MAX_GRAPHS) fail('limit', `${spec.graphs.length} graphs, at most ${MAX_GRAPHS}`);
  // tensors, in order, each 16-byte aligned
  const infos: TensorInfo[] = [];
  const stored: Uint8Array[] = [];
  const tensorIndex = new Map<string, number>();
  let at = 0;
  for (const t of spec.tensors) {
    checkName('tensor name', t.name);
    const what = `tensor '${t.name}'`;
    if (tensorIndex.has(t.name)) fail('tensor', `${what} appears twice`);
    if (!DTYPES.includes(t.dtype)) fail('dtype', `${what} has unknown dtype ${t.dtype}`);
    const n = checkDims(what, t.shape);
    const bytes = n * DTYPE_BYTES[t.dtype];
    const storage = t.storage ?? 'raw';
    if (!STORAGES.includes(storage)) fail('tensor', `${what} has unknown storage ${JSON.stringify(storage)} (known: ${STORAGES.join(', ')})`);
    let body: Uint8Array;
    if (storage === 'q8') {
      if (t.dtype !== 'f32') fail('dtype', `${what} has dtype ${t.dtype}; q8 storage is for f32 tensors`);
      if (t.shape.length === 0) fail('shape', `${what} has no dims; q8 stores rows of shape[0]`);
      const want = q8StoredBytes(t.shape[0], n);
      if (t.stored) {
        if (t.stored.byteLength !== want) fail('shape', `${what} q8 stored form is ${t.stored.byteLength} bytes, [${t.shape.join(', ')}] stores ${want} (${t.shape[0]} scales, ${n} codes)`);
        checkQ8(what, t.stored, t.shape[0], n);
        body = t.stored;
      } else {
        if (t.data.byteLength !== bytes) fail('shape', `${what} f32 [${t.shape.join(', ')}] needs ${bytes} bytes, got ${t.data.byteLength}`);
        body = quantizeQ8(t.data, t.shape[0], what);
      }
    } else {
      if (t.stored) fail('tensor', `${what} has a stored q8 form but raw storage`);
      if (t.data.byteLength !== bytes) fail('shape', `${what} ${t.dtype} [${t.shape.join(', ')}] needs ${bytes} bytes, got ${t.data.byteLength}`);
      body = bytesOf(t.data);
    }
    at = align(at, TENSOR_ALIGN);
    tensorIndex.set(t.name, infos.length);
    infos.push({ name: t.name, dtype: t.dtype, shape: t.shape.slice(), offset: at, byteLength: bytes, storage, storedOffset: at, storedBytes: body.byteLength });
    stored.push(body);
    at += body.byteLength;
  }
  const names = new Set<string>();
  for (const g of spec.graphs) {
    checkGraphName(g.name);
    if (names.has(g.name)) fail('meta', `graph '${g.name}' appears twice`);
    names.add(g.name);
    // encoding needs every name to resolve; the full per-mode validation runs in compilePlan
    checkGraphStatic(g, { axes: spec.axes, tensors: infos });
  }
  let coder: CoderT | null = null;
  if (spec.coder) {
    checkJson('coder json', spec.coder.json);
    coder = {
      json: spec.coder.json,
      tables: spec.coder.tables.map((n) => {
        const i = tensorIndex.get(n);
        if (i === undefined) fail('coder', `coder table '${n}' names no tensor`);
        if (infos[i].dtype === 'f32') fail('coder', `coder table '${n}' has dtype f32, expected an integer dtype`);
        return i;
      }),
    };
    if (new Set(coder.tables).size !== coder.tables.length) fail('coder', 'coder tables list a tensor twice');
  }
  const meta: MetaT = {
    name: spec.name,
    json,
    input: { shape: spec.input.shape.slice(), mean: spec.input.mean.slice(), std: spec.input.std.slice() },
    axes: spec.axes.map((a) => ({ name: a.name, values: a.values.slice() })),
    tensors: infos.map((t) => ({ name: t.name, dtype: DTYPES.indexOf(t.dtype), storage: STORAGES.indexOf(t.storage!), shape: t.shape, offset: t.storedOffset!, bytes: t.storedBytes! })),
    graphs: spec.graphs.map((g) => encodeGraph(g, spec.axes, tensorIndex)),
  };
  const metaBytes = Meta.measure(meta).size + (coder ? Coder.measure(coder).size : 0);
  const metaBuf = new Uint8Array(metaBytes);
  const mw = new bin.BufferWriter(metaBuf.buffer, { endianness: 'little' });
  Meta.write(mw, meta);
  if (coder) Coder.write(mw, coder);
  const graphNames = spec.graphs.map((g) => g.name);
  const compileAll = (): Uint32Array[] => {
    const key = cacheKey(metaBuf, 0, metaBytes, graphNames, expansionKey(infos));
    return spec.graphs.map((g, i) => compiledPlan(key, i, () => compilePlan(g, { axes: spec.axes, tensors: infos })));
  };
  const tensorsEnd = at;
  // q8 tensors live after the plans, whose sizes do not depend on where tensors are: a first
  // compile with any placement sizes the plans, a second one points at the real place.
  const hasQ8 = infos.some((t) => t.storage === 'q8');
  if (hasQ8) placeExpansions(infos, align(tensorsEnd, TENSOR_ALIGN));
  let plans = compileAll();
  const planOffsets: number[] = [];
  for (const p of plans) {
    at = align(at, TENSOR_ALIGN);
    planOffsets.push(at);
    at += p.byteLength;
  }
  const dataBytes = align(at, TENSOR_ALIGN);
  const expandBytes = placeExpansions(infos, dataBytes);
  if (hasQ8) {
    const sized = plans;
    plans = compileAll();
    if (plans.some((p, i) => p.length !== sized[i].length)) throw new Error('slimsplit: internal: a plan changed size with the q8 tensor placement');
  }
  const metaOffset = PREAMBLE_BYTES + DIR_ENTRY_BYTES * spec.graphs.length;
  const dataOffset = align(metaOffset + metaBytes, DATA_ALIGN);
  const fileBytes = dataOffset + dataBytes + 4;
  const out = new Uint8Array(fileBytes);
  const w = new bin.BufferWriter(out.buffer, { endianness: 'little' });
  const pre: PreambleT = {
    magic: BLOB_MAGIC, version: BLOB_VERSION, flags: coder ? FLAG_CODER : 0, fileBytes,
    graphCount: spec.graphs.length, metaOffset, metaBytes, dataOffset, dataBytes, expandBytes,
  };
  Preamble.write(w, pre);
  spec.graphs.forEach((g, i) => {
    DirEntry.write(w, { name: g.name.padEnd(DIR_NAME_BYTES, '\0'), planOffset: planOffsets[i], planBytes: plans[i].byteLength });
  });
  out.set(metaBuf, metaOffset);
  stored.forEach((b, i) => out.set(b, dataOffset + infos[i].storedOffset!));
  const dv = new DataView(out.buffer);
  plans.forEach((p, i) => {
    for (let k = 0; k < p.length; k++) dv.setUint32(dataOffset + planOffsets[i] + 4 * k, p[k], true);
  });
  dv.setUint32(fileBytes - 4, crc32(out, 0, fileBytes - 4), true);
  return out;
}

function encodeGraph(g: GraphDef, axes: AxisDef[], tensorIndex: Map<string, number>): MetaT['graphs'][number] {
  const bufferIndex = new Map(g.buffers.map((b, i) => [b.name, i]));
  return {
    input: bufferIndex.get(g.input)!,
    output: bufferIndex.get(g.output)!,
    buffers: g.buffers.map((b) => ({ name: b.name, dtype: b.dtype === 'u8' ? 1 : 0, shape: b.shape.slice() })),
    layers: g.layers.map((l) => {
      const fields = OPS[l.op].fields;
      return {
        op: l.op,
        fields: fields.map((f) => encodeField(f.kind, l.fields[f.name] ?? null, tensorIndex, bufferIndex)),
        active: fields.flatMap((f, fi) => {
          const a = l.active[f.name];
          if (!a) return [];
          return [{ field: fi, axis: axes.findIndex((x) => x.name === a.axis), values: a.values.map((v) => encodeField(f.kind, v, tensorIndex, bufferIndex)) }];
        }),
      };
    }),
  };
}

// ------------------------------------------------------------------------------------------------
// Reader
// ------------------------------------------------------------------------------------------------

/**
 * Loads and fully validates a blob. The result's data and tensors are views of `bytes`, or of one
 * copy of the data section with the q8 tensors expanded after it when the model has any.
 */
export function readBlob(bytes: Uint8Array): Blob {
  return parse(bytes);
}

/** Every primitive field of a valid blob with its offset (headers, tables, plan words). */
export function blobFields(bytes: Uint8Array): FieldTrace[] {
  const trace: FieldTrace[] = [];
  parse(bytes, trace);
  return trace;
}

function parse(bytes: Uint8Array, trace?: FieldTrace[]): Blob {
  if (!(bytes instanceof Uint8Array)) fail('size', `expected a Uint8Array, got ${Object.prototype.toString.call(bytes)}`);
  const size = bytes.length;
  if (size < PREAMBLE_BYTES + 4) fail('truncated', `${size} bytes, shorter than the ${PREAMBLE_BYTES}-byte preamble and checksum`);
  const pre = Preamble.read(new SafeReader(bytes, 0, PREAMBLE_BYTES, 'preamble', trace));
  if (pre.magic !== BLOB_MAGIC) fail('magic', `magic ${JSON.stringify(pre.magic)}, expected "SLIM" (not a .slim file)`);
  if (pre.version !== BLOB_VERSION) {
    const hint = pre.version < BLOB_VERSION ? ' (an older packer wrote it: repack the model with slimsplit pack)' : '';
    fail('version', `format version ${pre.version}, this reader supports ${BLOB_VERSION}${hint}`);
  }
  if (pre.fileBytes > size) fail('truncated', `file is ${size} bytes but its preamble says ${pre.fileBytes}: truncated`);
  if (pre.fileBytes < size) fail('size', `file is ${size} bytes but its preamble says ${pre.fileBytes}: trailing bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, size);
  const stored = dv.getUint32(size - 4, true), actual = crc32(bytes, 0, size - 4);
  trace?.push({ offset: size - 4, size: 4, path: 'checksum' });
  if (stored !== actual) fail('checksum', `CRC-32 0x${actual.toString(16).padStart(8, '0')} does not match the stored 0x${stored.toString(16).padStart(8, '0')}`);

  // Structure, checked on its own: a checksum recomputed over edited bytes proves nothing.
  if (pre.flags & ~FLAG_CODER) fail('flags', `unknown flag bits 0x${(pre.flags & ~FLAG_CODER).toString(16)} (this reader knows 0x${FLAG_CODER.toString(16)})`);
  if (pre.graphCount > MAX_GRAPHS) fail('limit', `graphCount ${pre.graphCount} exceeds ${MAX_GRAPHS}`);
  const metaOffset = PREAMBLE_BYTES + DIR_ENTRY_BYTES * pre.graphCount;
  if (pre.metaOffset !== metaOffset) fail('layout', `metaOffset ${pre.metaOffset}, expected ${metaOffset} (right after ${pre.graphCount} directory entries)`);
  const metaEnd = pre.metaOffset + pre.metaBytes;
  if (pre.dataOffset % DATA_ALIGN !== 0) fail('align', `dataOffset ${pre.dataOffset} is not a multiple of ${DATA_ALIGN}`);
  if (pre.dataOffset !== align(metaEnd, DATA_ALIGN)) fail('layout', `dataOffset ${pre.dataOffset}, expected ${align(metaEnd, DATA_ALIGN)} (meta ends at ${metaEnd})`);
  if (pre.dataOffset + pre.dataBytes + 4 !== pre.fileBytes) fail('layout', `dataOffset ${pre.dataOffset} + dataBytes ${pre.dataBytes} + 4 is not fileBytes ${pre.fileBytes}`);
  if (pre.dataBytes % TENSOR_ALIGN !== 0) fail('align', `dataBytes ${pre.dataBytes} is not a multiple of ${TENSOR_ALIGN}`);
  for (let i = metaEnd; i < pre.dataOffset; i++) if (bytes[i] !== 0) fail('layout', `padding byte ${i} before the data section is ${bytes[i]}, expected 0`);
  const dataOffset = pre.dataOffset, dataBytes = pre.dataBytes;

  const dirReader = new SafeReader(bytes, PREAMBLE_BYTES, metaOffset, 'plan directory', trace);
  const dir: DirEntryT[] = [];
  for (let i = 0; i < pre.graphCount; i++) {
    dirReader.path.push(`directory[${i}]`);
    dir.push(DirEntry.read(dirReader));
    dirReader.path.pop();
  }
  const graphNames = dir.map((e, i) => {
    const name = e.name.replace(/\0+$/, '');
    if (!/^[A-Za-z0-9_.-]{1,23}$/.test(name)) fail('meta', `directory entry ${i} name ${JSON.stringify(e.name)} is not 1..23 characters of A-Z a-z 0-9 _ . - padded with NUL`);
    if (dir.slice(0, i).some((p) => p.name === e.name)) fail('meta', `graph '${name}' appears twice in the directory`);
    return name;
  });

  const mr = new SafeReader(bytes, metaOffset, metaEnd, 'meta section', trace);
  const meta = Meta.read(mr);
  const coderT = pre.flags & FLAG_CODER ? Coder.read(mr) : null;
  if (mr.remaining !== 0) fail('meta', `meta section has ${mr.remaining} bytes left over after its last field`);

  checkName('model name', meta.name);
  checkJson('model json', meta.json);
  checkInput(meta.input);
  const axes: AxisDef[] = meta.axes.map((a) => ({ name: a.name as AxisName, values: a.values }));
  checkAxes(axes);

  // Tensors: packed in table order, each 16-byte aligned, zero padding between them.
  const tensors: TensorInfo[] = [];
  const seen = new Set<string>();
  let at = 0;
  meta.tensors.forEach((t, i) => {
    const what = `tensor ${i} '${t.name}'`;
    checkName(`tensor ${i} name`, t.name);
    if (seen.has(t.name)) fail('tensor', `${what} appears twice`);
    seen.add(t.name);
    if (t.dtype >= DTYPES.length) fail('dtype', `${what} has dtype code ${t.dtype}, expected 0..${DTYPES.length - 1} (${DTYPES.join(', ')})`);
    const dtype = DTYPES[t.dtype];
    if (t.storage >= STORAGES.length) fail('tensor', `${what} has storage code ${t.storage}, expected 0..${STORAGES.length - 1} (${STORAGES.join(', ')})`);
    const storage = STORAGES[t.storage];
    const n = checkDims(what, t.shape);
    if (storage === 'q8') {
      if (dtype !== 'f32') fail('dtype', `${what} is stored q8 but has dtype ${dtype}; q8 is for f32 tensors`);
      if (t.shape.length === 0) fail('shape', `${what} is stored q8 but has no dims; q8 stores rows of shape[0]`);
      const want = q8StoredBytes(t.shape[0], n);
      if (t.bytes !== want) fail('shape', `${what} is ${t.bytes} bytes, but q8 [${t.shape.join(', ')}] stores ${want} (${t.shape[0]} f32 scales, ${n} int8 codes)`);
    } else if (t.bytes !== n * DTYPE_BYTES[dtype]) fail('shape', `${what} is ${t.bytes} bytes, but ${dtype} [${t.shape.join(', ')}] needs ${n * DTYPE_BYTES[dtype]}`);
    if (t.offset % TENSOR_ALIGN !== 0) fail('align', `${what} offset ${t.offset} is not ${TENSOR_ALIGN}-byte aligned`);
    if (t.offset + t.bytes > dataBytes) fail('bounds', `${what} [${t.offset}, ${t.offset + t.bytes}) runs past the ${dataBytes}-byte data section`);
    const want = align(at, TENSOR_ALIGN);
    if (t.offset !== want) fail('layout', `${what} offset ${t.offset}, expected ${want} (tensors are packed in table order)`);
    zeros(bytes, dataOffset + at, dataOffset + want, 'before ' + what);
    if (storage === 'q8') checkQ8(what, bytes.subarray(dataOffset + t.offset, dataOffset + t.offset + t.bytes), t.shape[0], n);
    tensors.push({ name: t.name, dtype, shape: t.shape, offset: t.offset, byteLength: n * DTYPE_BYTES[dtype], storage, storedOffset: t.offset, storedBytes: t.bytes });
    at = t.offset + t.bytes;
  });

  // Plans follow the tensors, in directory order.
  dir.forEach((e, i) => {
    const what = `plan of graph '${graphNames[i]}'`;
    if (e.planOffset % TENSOR_ALIGN !== 0) fail('align', `${what} offset ${e.planOffset} is not ${TENSOR_ALIGN}-byte aligned`);
    if (e.planBytes % 4 !== 0) fail('align', `${what} is ${e.planBytes} bytes, not whole words`);
    if (e.planOffset + e.planBytes > dataBytes) fail('bounds', `${what} [${e.planOffset}, ${e.planOffset + e.planBytes}) runs past the ${dataBytes}-byte data section`);
    const want = align(at, TENSOR_ALIGN);
    if (e.planOffset !== want) fail('layout', `${what} offset ${e.planOffset}, expected ${want} (plans follow the tensors in directory order)`);
    zeros(bytes, dataOffset + at, dataOffset + want, 'before ' + what);
    at = e.planOffset + e.planBytes;
  });
  if (align(at, TENSOR_ALIGN) !== dataBytes) fail('layout', `dataBytes ${dataBytes}, expected ${align(at, TENSOR_ALIGN)} (the end of the last item, 16-byte aligned)`);
  zeros(bytes, dataOffset + at, dataOffset + dataBytes, 'at the end of the data section');
  const expandBytes = placeExpansions(tensors, dataBytes);
  if (pre.expandBytes !== expandBytes) fail('layout', `expandBytes ${pre.expandBytes}, expected ${expandBytes} (the q8 tensors expanded to f32 after the ${dataBytes}-byte data section)`);

  if (meta.graphs.length !== pre.graphCount) fail('meta', `meta lists ${meta.graphs.length} graphs, the directory ${pre.graphCount}`);
  const key = cacheKey(bytes, metaOffset, metaEnd, graphNames, expansionKey(tensors));
  const graphs: BlobGraph[] = meta.graphs.map((g, gi) => {
    const def = decodeGraph(graphNames[gi], g, axes, tensors);
    const e = dir[gi];
    const plan = new Uint32Array(e.planBytes / 4);
    for (let k = 0; k < plan.length; k++) {
      plan[k] = dv.getUint32(dataOffset + e.planOffset + 4 * k, true);
      trace?.push({ offset: dataOffset + e.planOffset + 4 * k, size: 4, path: `plan '${def.name}' word ${k}` });
    }
    wrap(() => checkPlan(plan, { graph: def.name, dataBytes: dataBytes + expandBytes, modes: modeCount(axes) }));
    const compiled = wrap(() => compiledPlan(key, gi, () => compilePlan(def, { axes, tensors })));
    // A mismatch is an edited plan, or one packed for kernels whose params or scratch differ.
    const stale = 'edited, or packed for other kernels: repack the model';
    if (compiled.length !== plan.length) fail('plan', `plan of graph '${def.name}' has ${plan.length} words, its layers compile to ${compiled.length} (${stale})`);
    for (let k = 0; k < plan.length; k++) {
      if (compiled[k] !== plan[k]) fail('plan', `plan of graph '${def.name}' word ${k} is ${plan[k]}, its layers compile to ${compiled[k]} (${stale})`);
    }
    return { ...def, planOffset: e.planOffset, plan };
  });

  let coder: CoderInfo | null = null;
  if (coderT) {
    checkJson('coder json', coderT.json);
    const tables = coderT.tables.map((i) => {
      if (i >= tensors.length) fail('coder', `coder table index ${i} is out of range (${tensors.length} tensors)`);
      if (tensors[i].dtype === 'f32') fail('coder', `coder table '${tensors[i].name}' has dtype f32, expected an integer dtype`);
      return tensors[i].name;
    });
    if (new Set(tables).size !== tables.length) fail('coder', 'coder tables list a tensor twice');
    coder = { json: coderT.json, tables };
  }

  let data = bytes.subarray(dataOffset, dataOffset + dataBytes);
  if (expandBytes > 0) {
    data = new Uint8Array(dataBytes + expandBytes);
    data.set(bytes.subarray(dataOffset, dataOffset + dataBytes));
    for (const t of tensors) if (t.storage === 'q8') expandQ8(data, t);
  }
  const byName = new Map(tensors.map((t) => [t.name, t]));
  return {
    version: pre.version,
    flags: pre.flags,
    name: meta.name,
    json: meta.json,
    input: meta.input,
    axes,
    tensors,
    graphs,
    coder,
    data,
    expandBytes,
    tensor(name: string): TensorArray {
      const t = byName.get(name);
      if (!t) throw new Error(`slimsplit: model '${meta.name}' has no tensor '${name}'`);
      return tensorView(data, t);
    },
  };
}

// Compiling is a pure function of the meta section (layers, buffers, axes, tensor table) and the
// graph names; weights and plan words do not enter it. Loading or writing the same model again
// (a second Runner, the packer's read-back, a reloaded file) reuses the result, failures included.
const planCache = new Map<string, Array<Uint32Array | GraphError>>();
const PLAN_CACHE_ENTRIES = 8;

function cacheKey(bytes: Uint8Array, from: number, to: number, graphs: string[], extra: string): string {
  let s = graphs.join('|') + '|' + extra + '|';
  for (let i = from; i < to; i += 4096) s += String.fromCharCode(...bytes.subarray(i, Math.min(to, i + 4096)));
  return s;
}

function compiledPlan(key: string, graph: number, compile: () => Uint32Array): Uint32Array {
  let entry = planCache.get(key);
  if (entry) planCache.delete(key); // re-inserted below: the map's order is least recently used first
  else {
    if (planCache.size >= PLAN_CACHE_ENTRIES) planCache.delete(planCache.keys().next().value!);
    entry = [];
  }
  planCache.set(key, entry);
  if (entry[graph] === undefined) {
    try {
      entry[graph] = compile();
    } catch (e) {
      if (!(e instanceof GraphError)) throw e;
      entry[graph] = e;
    }
  }
  const r = entry[graph];
  if (r instanceof GraphError) throw r;
  return r;
}

function zeros(bytes: Uint8Array, from: number, to: number, where: string): void {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) fail('layout', `padding byte ${i} ${where} is ${bytes[i]}, expected 0`);
}

type ArrayCtor = { new (b: ArrayBufferLike, offset: number, length: number): TensorArray; readonly BYTES_PER_ELEMENT: number };
const ARRAYS: Record<DType, ArrayCtor> = { f32: Float32Array, u8: Uint8Array, u16: Uint16Array, u32: Uint32Array, i32: Int32Array };

function tensorView(data: Uint8Array, t: TensorInfo): TensorArray {
  const C = ARRAYS[t.dtype];
  const n = t.byteLength / C.BYTES_PER_ELEMENT;
  const at = data.byteOffset + t.offset;
  if (at % C.BYTES_PER_ELEMENT === 0) return new C(data.buffer, at, n);
  const copy = data.slice(t.offset, t.offset + t.byteLength);
  return new C(copy.buffer, 0, n);
}

function decodeGraph(name: string, g: MetaT['graphs'][number], axes: AxisDef[], tensors: TensorInfo[]): GraphDef {
  const gw = `graph '${name}'`;
  const buffers: BufferDef[] = g.buffers.map((b, i) => {
    checkName(`${gw} buffer ${i} name`, b.name);
    if (b.dtype > 1) fail('dtype', `${gw} buffer '${b.name}' has dtype code ${b.dtype}, expected 0 (f32) or 1 (u8)`);
    return { name: b.name, dtype: b.dtype === 1 ? 'u8' : 'f32', shape: b.shape };
  });
  for (const [what, i] of [['input', g.input], ['output', g.output]] as const) {
    if (i >= buffers.length) fail('ref', `${gw} ${what} buffer index ${i} is out of range (${buffers.length} buffers)`);
  }
  const layers: LayerDef[] = g.layers.map((l, li) => {
    const where = `${gw} layer ${li} (${l.op})`;
    const spec = OPS[l.op];
    if (!spec) fail('op', `${gw} layer ${li}: unknown op '${l.op}' (known: ${Object.keys(OPS).join(', ')})`);
    if (l.fields.length !== spec.fields.length) fail('field', `${where} has ${l.fields.length} field words, ${l.op} has ${spec.fields.length} fields (${spec.fields.map((f) => f.name).join(', ')})`);
    const active: Record<string, ActiveDef> = {};
    let lastField = -1;
    for (const a of l.active) {
      if (a.field >= spec.fields.length) fail('active', `${where}: active entry names field index ${a.field}, ${l.op} has ${spec.fields.length} fields`);
      if (a.field <= lastField) fail('active', `${where}: active entries are repeated or out of field order`);
      lastField = a.field;
      const f = spec.fields[a.field];
      if (a.axis >= axes.length) fail('axis', `${where}: active ${f.name} uses mode axis index ${a.axis}, the model has ${axes.length} axes (${axes.map((x) => x.name).join(', ') || 'none'})`);
      if (f.kind !== 'int' && f.kind !== 'float' && f.kind !== 'tensor') fail('active', `${where}: field ${f.name} (${f.kind}) cannot depend on the mode`);
      const values = a.values.map((w) => {
        const d = decodeField(f.kind, w, tensors, buffers);
        if (typeof d === 'string') fail('active', `${where}: active ${f.name} ${d}`);
        return d.v as number | string;
      });
      active[f.name] = { axis: axes[a.axis].name, values };
    }
    const fields: Record<string, FieldValue> = {};
    spec.fields.forEach((f, fi) => {
      const w = l.fields[fi];
      if (active[f.name]) {
        if (w !== ABSENT) fail('active', `${where}: field ${f.name} is listed under active but its word is ${w}, expected 0x${ABSENT.toString(16)}`);
        fields[f.name] = null;
        return;
      }
      if (w === ABSENT && f.optional) {
        fields[f.name] = null;
        return;
      }
      const d = decodeField(f.kind, w, tensors, buffers);
      if (typeof d === 'string') fail(f.kind === 'tensor' || f.kind === 'buffer' ? 'ref' : 'field', `${where}: field ${f.name}: ${d}`);
      fields[f.name] = d.v;
    });
    return { op: l.op, fields, active };
  });
  return { name, input: buffers[g.input].name, output: buffers[g.output].name, buffers, layers };
}

/** The spec that writeBlob turns back into the same bytes. */
export function blobSpec(b: Blob): BlobSpec {
  return {
    name: b.name,
    json: b.json,
    input: { shape: b.input.shape.slice(), mean: b.input.mean.slice(), std: b.input.std.slice() },
    axes: b.axes.map((a) => ({ name: a.name, values: a.values.slice() })),
    tensors: b.tensors.map((t): TensorSpec => {
      const data = b.data.subarray(t.offset, t.offset + t.byteLength);
      if (t.storage !== 'q8') return { name: t.name, dtype: t.dtype, shape: t.shape.slice(), data };
      const at = t.storedOffset!;
      return { name: t.name, dtype: t.dtype, shape: t.shape.slice(), data, storage: 'q8', stored: b.data.subarray(at, at + t.storedBytes!) };
    }),
    graphs: b.graphs.map(({ name, input, output, buffers, layers }) => ({ name, input, output, buffers, layers })),
    coder: b.coder ? { json: b.coder.json, tables: b.coder.tables.slice() } : null,
  };
}
