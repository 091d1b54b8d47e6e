/**
 * What a graph op declares (docs/GRAPH.md): its fields, which buffers may alias, and plan(): the
 * shape rules checked in one mode and the lowering to kernel params. Each op file exports its
 * OpSpec; src/engine/ops/registry.ts lists them. The plan compiler hands plan() a LayerView: one
 * layer in one mode, field values resolved, with checks that name the layer and mode.
 */
import type { BufferDType, BufferDef, FieldValue, TensorInfo } from '../plan/graph.js';

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
  /**
   * optional, and added to the op after blobs were first written: a blob layer's field words may
   * end before it (read as absent), and the writer leaves it off when absent, so older blobs load
   * and undilated layers encode as they always did. Only at the end of an op's fields.
   */
  trailing?: boolean;
}

export const PADS = ['none', 'same', 'tf-same'] as const;
/** Blob encoding of a numeric padding p: PAD_PIXELS + p (the named ones are their index in PADS). */
export const PAD_PIXELS = 0x100;

/** Byte addresses a lowering fills in (the compiler lowers twice to find which words are pointers). */
export interface Ptrs {
  buf(field: string): number;
  /** 0 when the optional tensor is absent */
  ten(field: string): number;
  scratch: number;
}
/** One kernel call: opcode and params words. */
export interface Rec {
  op: number;
  words: Int32Array;
}
/** One layer in one mode: the elements it touches per buffer field, its scratch, its kernel calls. */
export interface OpPlan {
  extents: Record<string, number>;
  scratch: number;
  lower(p: Ptrs): Rec[];
}
export interface OpSpec {
  fields: FieldSpec[];
  /** buffer field pairs that may name the same buffer (the kernel allows y == x) */
  alias?: Array<[string, string]>;
  plan(l: LayerView): OpPlan;
  /** The layer through the op's f64 reference (tests compare whole graphs against it). */
  ref(c: RefLayer): void;
  /** Shapes bench/kernels.bench.ts times this op on (it says so of an op without any). */
  bench?: BenchCase[];
}

/**
 * One benchmark case: a one-layer graph. bench/kernels.bench.ts compiles it, checks its output
 * on both builds against ref() (f64), then times the plan run. The graph's input is the layer's
 * first 'in' (or 'inout') buffer, seeded; its output the 'out' (or 'inout') buffer. A graph reads
 * no buffer but its input before a layer writes it, so a second input field names the first
 * one's buffer. Tensors get seeded values.
 */
export interface BenchCase {
  /** unique among all ops' cases (the bench selects cases by id or by op name) */
  id: string;
  what: string;
  /** the layer's field values (buffer fields name `buffers`, tensor fields name `tensors`) */
  layer: Record<string, FieldValue>;
  buffers: Record<string, number[]>;
  tensors?: Record<string, number[]>;
  /** arithmetic operations per run, for GFLOP/s (multiply-adds count 2) */
  flops: number;
}

/** One layer in one mode for a graph-level f64 reference run: field values resolved, buffers as f64. */
export interface RefLayer {
  /** a numeric field (int or float) */
  num(field: string): number;
  /** an optional numeric field: undefined when absent */
  opt(field: string): number | undefined;
  str(field: string): string;
  value(field: string): FieldValue;
  /** the layer's activation code (0 when the op has none) */
  readonly act: number;
  /** the buffer a field names (f64, full shape) and its shape */
  buf(field: string): Float64Array;
  shape(field: string): number[];
  /** the f32 values of the tensor a field names; undefined when absent */
  tensor(field: string): Float32Array | undefined;
  /** writes the layer's result into the buffer a field names */
  put(field: string, y: ArrayLike<number>): void;
}

export interface BufInfo extends BufferDef {
  elems: number;
  bytes: number;
}

/** One layer seen in one mode (implemented in src/engine/plan/validate.ts). */
export interface LayerView {
  readonly where: string;
  fail(code: string, msg: string): never;
  value(name: string): FieldValue;
  optInt(name: string): number | undefined;
  int(name: string): number;
  optFloat(name: string): number | undefined;
  float(name: string): number;
  str(name: string): string;
  actCode(): number;
  tensor(name: string): TensorInfo | null;
  buffer(name: string): BufInfo;
  /** an active count in 1..full (absent: full) */
  activeCount(name: string, full: number, fullName: string): number;
  /** Runs a kernel module's own argument check, naming this layer and mode in what it throws. */
  kernelCheck<T>(f: () => T): T;
  /** The tensor's shape must equal `want` ignoring size-1 dims (PyTorch's [c,1,1] vs [c]). */
  tensorShape(name: string, want: number[], what: string): void;
  bufferShape(name: string, want: number[], what: string): void;
  /** shape [lead, ...rest] with product(rest) == inner */
  bufferLead(name: string, lead: number, inner: number, what: string): void;
  bufferElems(name: string, n: number, what: string): void;
}

// Field constructors for the op files.
export const buf = (name: string, role: 'in' | 'out' | 'inout', dtype: BufferDType = 'f32'): FieldSpec => ({ name, kind: 'buffer', role, dtype });
export const ten = (name: string, optional = false): FieldSpec => ({ name, kind: 'tensor', optional });
export const modalTen = (name: string): FieldSpec => ({ name, kind: 'tensor', optional: true, modal: true });
export const int = (name: string): FieldSpec => ({ name, kind: 'int' });
/** an optional active bound, defaulting to the full size inside the kernel */
export const bound = (name: string): FieldSpec => ({ name, kind: 'int', optional: true, modal: true });
export const actF: FieldSpec = { name: 'act', kind: 'act' };
