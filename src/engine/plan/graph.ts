/**
 * The model description shared by the packer, the blob reader and the plan compiler: mode axes,
 * tensors, activation buffers, layers and graphs (docs/GRAPH.md), the error every check throws,
 * and the ceilings that bound what a blob may ask for.
 */
import type { AxisDef, AxisName } from '../../codec/modes.js';

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
