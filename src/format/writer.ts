/**
 * Writes a .slim blob from a BlobSpec, compiling each graph's plan (docs/FORMAT.md).
 *
 *   import { writeBlob } from './writer.js';
 *   const bytes = writeBlob({ name, input, axes, tensors, graphs, coder });   // BlobError/GraphError if bad
 */
import bin from 'typed-binary';
import type { AxisDef } from '../codec/modes.js';
import { DTYPES, DTYPE_BYTES, type GraphDef, type TensorInfo } from '../engine/plan/graph.js';
import { OPS } from '../engine/ops/registry.js';
import { checkGraphStatic } from '../engine/plan/validate.js';
import { compilePlan } from '../engine/plan/compile.js';
import { align } from '../util.js';
import { crc32 } from './checksum.js';
import {
  BLOB_MAGIC, BLOB_VERSION, FLAG_CODER, PREAMBLE_BYTES, DIR_ENTRY_BYTES, DIR_NAME_BYTES, MAX_GRAPHS, DATA_ALIGN, TENSOR_ALIGN, STORAGES, ABSENT,
  Preamble, DirEntry, Meta, Coder, type PreambleT, type MetaT, type CoderT, type BlobSpec,
} from './schema.js';
import { encodeField, fail, checkName, checkJson, checkDims, checkInput, checkAxes, checkGraphName } from './fields.js';
import { q8StoredBytes, quantizeQ8, checkQ8, placeExpansions } from './q8.js';

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
  const compileAll = (): Uint32Array[] => spec.graphs.map((g) => compilePlan(g, { axes: spec.axes, tensors: infos }));
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
      const words = fields.map((f) => encodeField(f.kind, l.fields[f.name] ?? null, tensorIndex, bufferIndex));
      // absent trailing fields are left off (FieldSpec.trailing): the layer encodes as before they existed
      let n = words.length;
      while (n > 0 && fields[n - 1].trailing && words[n - 1] === ABSENT && !l.active[fields[n - 1].name]) n--;
      return {
        op: l.op,
        fields: words.slice(0, n),
        active: fields.flatMap((f, fi) => {
          const a = l.active[f.name];
          if (!a) return [];
          return [{ field: fi, axis: axes.findIndex((x) => x.name === a.axis), values: a.values.map((v) => encodeField(f.kind, v, tensorIndex, bufferIndex)) }];
        }),
      };
    }),
  };
}

