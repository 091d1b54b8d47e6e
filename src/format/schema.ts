/**
 * The .slim blob's layout (docs/FORMAT.md lists every field): constants, the typed-binary schemas
 * of the preamble, directory and meta section, the bounds-checked reader they are read through,
 * the Blob and BlobSpec types, and BlobError.
 */
import bin, { Schema, Measurer, MaxValue, type ISerialInput, type ISerialOutput, type IMeasurer, type ISchema, type Parsed } from 'typed-binary';
import { AXES, type AxisDef } from '../codec/modes.js';
import { LIMITS, type DType, type GraphDef, type TensorInfo, type TensorStorage } from '../engine/plan/graph.js';

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
export const MAX_STRING = 1 << 16;
export const MAX_AXIS_VALUES = 256;
/** Tensor table storage codes (docs/FORMAT.md, "Tensor storage"). */
export const STORAGES: readonly TensorStorage[] = ['raw', 'q8'];

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
   * tensor, else a copy (expandBytes longer than the file's data section), made on first use.
   */
  readonly data: Uint8Array;
  /** the data section as in the file (q8 tensors in their stored form, no expansion area): data's first bytes */
  section: Uint8Array;
  /** data's length, known without making it */
  dataBytes: number;
  /** Writes data's bytes at dst[at...] (16-byte aligned; the file's data section, then each q8 tensor expanded) without making data. */
  writeData(dst: Uint8Array, at: number): void;
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

// Bounds-checked typed-binary input, with a path for error messages and an optional field trace

/** One primitive read: where it is and what it was (for fuzzers and hex-dump readers). */
export interface FieldTrace {
  offset: number;
  size: number;
  path: string;
}

export class SafeReader implements ISerialInput {
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

// Schemas (docs/FORMAT.md lists every field)

export const Preamble = bin.object({
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
export type PreambleT = bin.Parsed<typeof Preamble>;

export const DirEntry = bin.object({
  name: L('name', bin.chars(DIR_NAME_BYTES)),
  planOffset: L('planOffset', bin.u32),
  planBytes: L('planBytes', bin.u32),
});
export type DirEntryT = bin.Parsed<typeof DirEntry>;

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
export const Meta = bin.object({
  name: L('name', bin.string),
  json: L('json', bin.string),
  input: L('input', Input),
  axes: L('axes', new List(Axis, 5, AXES.length)),
  tensors: L('tensors', new List(Tensor, 19)),
  graphs: L('graphs', new List(Graph, 16, MAX_GRAPHS)),
});
export type MetaT = bin.Parsed<typeof Meta>;
export const Coder = bin.object({ json: L('json', bin.string), tables: L('tables', U32s) });
export type CoderT = bin.Parsed<typeof Coder>;
