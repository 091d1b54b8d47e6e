/**
 * Unpacker: the inverse of the packer (pack.ts). A .slim blob becomes the exported graph it was
 * packed from (docs/GRAPH.md: graph JSON + tensors.bin), so that packing that again gives the same
 * bytes; the blob's coder section, when it has one, comes back as a coder file (below).
 *
 *   slimsplit unpack weights/see-cifar10.slim -o out/
 *
 *   import { unpackBlob } from './unpack.js';
 *   const u = unpackBlob(readFileSync('weights/see-cifar10.slim'));
 *   packGraph(u.graph, u.tensors, u.coder ? { coder: u.coder } : {});   // the same bytes again
 *
 * q8 tensors come back as float32 values that quantize to exactly the stored scales and codes
 * (each row's +-127 codes get f32(127 * scale)), and every tensor is checked
 * by quantizing it again.
 *
 * What a blob does not hold: the symbol statistics (meta.symbolCounts, contextCounts, modeCounts)
 * an exporter gives the packer are turned into integer CDF tables and a coder json, then dropped.
 * Those counts cannot be recovered (many counts give one table), so a blob with a coder section
 * unpacks to its tables as they are (`coder`), which `slimsplit pack --coder` takes instead of counts.
 */
import { AXES } from '../codec/modes.js';
import { OPS } from '../engine/ops/registry.js';
import { DTYPE_BYTES, type DType } from '../engine/plan/graph.js';
import { align } from '../util.js';
import { readBlob } from './reader.js';
import { TENSOR_ALIGN, BlobError, type Blob, type TensorArray } from './schema.js';
import { quantizeQ8 } from './q8.js';

/** A coder section as the packer takes it (PackOptions.coder): its json and its integer tables. */
export interface UnpackedCoder {
  json: string;
  tables: Record<string, { shape: number[]; data: Uint8Array | Uint16Array | Uint32Array | Int32Array }>;
}

export interface Unpacked {
  /** the graph JSON (docs/GRAPH.md), as an object */
  graph: Record<string, unknown>;
  /** tensors.bin: every non-coder tensor as little-endian float32, 16-byte aligned */
  tensors: Uint8Array;
  /** the coder section, or null when the blob has none */
  coder: UnpackedCoder | null;
}

const cant = (detail: string): never => {
  throw new BlobError('meta', `cannot unpack: ${detail}`);
};

// JSON objects put keys that look like array indices first, whatever order they were set in.
const INDEX_KEY = /^(0|[1-9]\d*)$/;
function keyed(what: string, names: string[]): void {
  for (const n of names) if (INDEX_KEY.test(n) && Number(n) < 2 ** 32 - 1) cant(`${what} '${n}' is an integer-like name, which a JSON object would reorder`);
  if (new Set(names).size !== names.length) cant(`${what} names repeat`);
}

/** f32 values that quantizeQ8 turns into exactly `stored` (f32 scales[rows], then int8 codes). */
function q8Values(name: string, stored: Uint8Array, rows: number, n: number): Float32Array {
  const dv = new DataView(stored.buffer, stored.byteOffset, stored.byteLength);
  const cols = n / rows;
  const out = new Float32Array(n);
  for (let r = 0; r < rows; r++) {
    const s = dv.getFloat32(4 * r, true);
    if (s === 0) continue;
    // the row's largest magnitude m must give fround(m / 127) === s; f32(127 s) is the nearest
    // candidate, and a scale it misses is one no f32 maximum gives (the packer never writes it)
    const m = Math.fround(127 * s);
    if (Math.fround(m / 127) !== s) cant(`q8 tensor '${name}' row ${r}: no f32 maximum quantizes to scale ${s} (bits 0x${dv.getUint32(4 * r, true).toString(16)}), so the packer did not write it`);
    for (let i = r * cols; i < (r + 1) * cols; i++) {
      const c = dv.getInt8(4 * rows + i);
      out[i] = c === 127 ? m : c === -127 ? -m : c * s;
    }
  }
  const again = quantizeQ8(out, rows, `tensor '${name}'`);
  for (let i = 0; i < again.length; i++) {
    if (again[i] !== stored[i]) cant(`q8 tensor '${name}': its stored form is not one the packer writes (byte ${i} differs after requantizing; a row whose largest code is not +-127?)`);
  }
  return out;
}

/** The exported graph (and coder tables) a blob was packed from; BlobError if it cannot be had. */
export function unpackBlob(bytes: Uint8Array): Unpacked {
  const b: Blob = readBlob(bytes);
  const coderNames = new Set(b.coder?.tables ?? []);
  // the packer appends coder tables after the graph's tensors, in the coder's order
  const graphTensors = b.tensors.filter((t) => !coderNames.has(t.name));
  const tail = b.tensors.slice(graphTensors.length).map((t) => t.name);
  if (b.coder && tail.join('\0') !== b.coder.tables.join('\0')) cant('the coder tables are not the last tensors, in the coder section\'s order, as the packer writes them');
  keyed('tensor', graphTensors.map((t) => t.name));
  keyed('coder table', [...coderNames]);
  keyed('graph', b.graphs.map((g) => g.name));

  // tensors.bin
  let size = 0;
  const offsets: number[] = [];
  for (const t of graphTensors) {
    if (t.dtype !== 'f32') cant(`tensor '${t.name}' is ${t.dtype} and no coder table; tensors.bin holds float32 only`);
    size = align(size, TENSOR_ALIGN);
    offsets.push(size);
    size += t.byteLength;
  }
  const bin = new Uint8Array(size);
  const tensors: Record<string, unknown> = {};
  graphTensors.forEach((t, i) => {
    let values: Uint8Array;
    if (t.storage === 'q8') {
      const stored = b.section.subarray(t.storedOffset!, t.storedOffset! + t.storedBytes!);
      const v = q8Values(t.name, stored, t.shape[0], t.byteLength / 4);
      values = new Uint8Array(v.buffer);
    } else {
      values = b.section.subarray(t.offset, t.offset + t.byteLength);
    }
    bin.set(values, offsets[i]);
    tensors[t.name] = t.storage === 'q8' ? { shape: t.shape.slice(), offset: offsets[i], storage: 'q8' } : { shape: t.shape.slice(), offset: offsets[i] };
  });

  // graphs
  const graphs: Record<string, unknown> = {};
  for (const g of b.graphs) {
    keyed(`graph ${g.name} buffer`, g.buffers.map((x) => x.name));
    const dtypes = new Map<string, 'u8' | 'f32'>();
    const layers = g.layers.map((l) => {
      const spec = OPS[l.op];
      const out: Record<string, unknown> = { op: l.op };
      for (const f of spec.fields) {
        const v = l.fields[f.name];
        if (v !== null && v !== undefined) out[f.name] = v;
        if (f.kind === 'buffer' && typeof v === 'string') dtypes.set(v, f.dtype ?? 'f32');
      }
      const active: Record<string, unknown> = {};
      for (const f of spec.fields) {
        const a = l.active[f.name];
        if (a) active[f.name] = { [a.axis]: a.values.slice() };
      }
      if (Object.keys(active).length) out.active = active;
      return out;
    });
    const buffers: Record<string, number[]> = {};
    for (const x of g.buffers) {
      // the packer derives a buffer's dtype from the ops that use it
      if ((dtypes.get(x.name) ?? 'f32') !== x.dtype) cant(`graph ${g.name} buffer '${x.name}' is ${x.dtype}, but its ops make it ${dtypes.get(x.name) ?? 'f32'}`);
      buffers[x.name] = x.shape.slice();
    }
    graphs[g.name] = { input: g.input, output: g.output, buffers, layers };
  }

  const graph: Record<string, unknown> = {
    name: b.name,
    input: b.input.mean.length || b.input.std.length
      ? { shape: b.input.shape.slice(), mean: b.input.mean.slice(), std: b.input.std.slice() }
      : { shape: b.input.shape.slice() },
  };
  if (b.axes.length) graph.modes = Object.fromEntries(AXES.flatMap((n) => b.axes.filter((a) => a.name === n).map((a) => [n, a.values.slice()])));
  graph.tensors = tensors;
  graph.graphs = graphs;
  if (b.json !== '') {
    const meta = JSON.parse(b.json);
    if (JSON.stringify(meta) !== b.json) cant('the model json is not in the form JSON.stringify writes (spacing or number spelling), so the packer would not rewrite it byte for byte');
    if (!b.coder && meta && typeof meta === 'object' && 'symbolCounts' in meta) cant('the model json holds symbolCounts but the blob has no coder section; the packer would build one');
    graph.meta = meta;
  }

  let coder: UnpackedCoder | null = null;
  if (b.coder) {
    const tables: UnpackedCoder['tables'] = {};
    for (const n of b.coder.tables) {
      const t = b.tensors.find((x) => x.name === n)!;
      tables[n] = { shape: t.shape.slice(), data: b.tensor(n).slice() as Exclude<TensorArray, Float32Array> };
    }
    coder = { json: b.coder.json, tables };
  }
  return { graph, tensors: bin, coder };
}

/** A coder as JSON text (`<name>.coder.json`, what `slimsplit pack --coder` reads). */
export function coderToJson(c: UnpackedCoder): string {
  const dtype = (a: ArrayBufferView): DType => (a instanceof Uint8Array ? 'u8' : a instanceof Uint16Array ? 'u16' : a instanceof Uint32Array ? 'u32' : 'i32');
  return JSON.stringify({
    json: c.json,
    tables: Object.fromEntries(Object.entries(c.tables).map(([n, t]) => [n, { dtype: dtype(t.data), shape: t.shape, values: Array.from(t.data) }])),
  });
}

/** Reads a coder file written by coderToJson; BlobError naming what is wrong. */
export function coderFromJson(text: string): UnpackedCoder {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    return cant(`coder file is not valid JSON (${(e as Error).message})`);
  }
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(o) || typeof o.json !== 'string' || !isObj(o.tables)) return cant('coder file must be { "json": "<text>", "tables": { name: { dtype, shape, values } } }');
  const tables: UnpackedCoder['tables'] = {};
  for (const [n, t] of Object.entries(o.tables)) {
    if (!isObj(t) || !Array.isArray(t.shape) || !Array.isArray(t.values)) cant(`coder table '${n}' must be { dtype, shape, values }`);
    const tt = t as { dtype: unknown; shape: unknown[]; values: unknown[] };
    const make = ({ u8: Uint8Array, u16: Uint16Array, u32: Uint32Array, i32: Int32Array } as Record<string, typeof Uint8Array | typeof Uint16Array | typeof Uint32Array | typeof Int32Array>)[tt.dtype as string];
    if (!make) return cant(`coder table '${n}' dtype ${JSON.stringify(tt.dtype)} is not u8, u16, u32 or i32`);
    const n0 = tt.shape.reduce((a: number, d) => (Number.isInteger(d) && (d as number) > 0 ? a * (d as number) : NaN), 1);
    if (!(n0 === tt.values.length)) cant(`coder table '${n}' has ${tt.values.length} values for shape ${JSON.stringify(tt.shape)}`);
    const data = new make(tt.values.length);
    const lim = 2 ** (8 * DTYPE_BYTES[tt.dtype as DType]);
    tt.values.forEach((v, i) => {
      const lo = tt.dtype === 'i32' ? -(2 ** 31) : 0, hi = tt.dtype === 'i32' ? 2 ** 31 : lim;
      if (!Number.isInteger(v) || (v as number) < lo || (v as number) >= hi) cant(`coder table '${n}' value ${i} (${JSON.stringify(v)}) is not a ${tt.dtype}`);
      data[i] = v as number;
    });
    tables[n] = { shape: tt.shape as number[], data };
  }
  return { json: o.json, tables };
}
