/**
 * The .slim weight blob: model header, tensor table, graphs with their compiled plans, optional
 * entropy-coder tables and the tensor data in one checksummed file (docs/FORMAT.md). Large f32
 * weights may be stored as int8 per row ("q8"), expanded to f32 when loaded.
 *
 *   import { readFileSync, writeFileSync } from 'node:fs';
 *   import { readBlob, blobSpec } from './reader.js';
 *   import { writeBlob } from './writer.js';
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
import { modeCount, type AxisDef, type AxisName } from '../codec/modes.js';
import { DTYPES, DTYPE_BYTES, type ActiveDef, type BufferDef, type DType, type FieldValue, type GraphDef, type LayerDef, type TensorInfo } from '../engine/plan/graph.js';
import { OPS } from '../engine/ops/registry.js';
import { compilePlan, checkPlan } from '../engine/plan/compile.js';
import { align } from '../util.js';
import { crc32 } from './checksum.js';
import {
  BLOB_MAGIC, BLOB_VERSION, FLAG_CODER, PREAMBLE_BYTES, DIR_ENTRY_BYTES, MAX_GRAPHS, DATA_ALIGN, TENSOR_ALIGN, STORAGES, ABSENT,
  SafeReader, Preamble, DirEntry, Meta, Coder, type DirEntryT, type MetaT, type Blob, type BlobGraph, type BlobSpec, type CoderInfo, type FieldTrace, type TensorArray, type TensorSpec,
} from './schema.js';
import { decodeField, fail, checkName, checkJson, checkDims, checkInput, checkAxes, wrap } from './fields.js';
import { q8StoredBytes, checkQ8, expandQ8, placeExpansions } from './q8.js';

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
    else if (dtype === 'f32') checkFinite(what, dv, dataOffset + t.offset, n);
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
  const graphs: BlobGraph[] = meta.graphs.map((g, gi) => {
    const def = decodeGraph(graphNames[gi], g, axes, tensors);
    const e = dir[gi];
    const plan = new Uint32Array(e.planBytes / 4);
    for (let k = 0; k < plan.length; k++) {
      plan[k] = dv.getUint32(dataOffset + e.planOffset + 4 * k, true);
      trace?.push({ offset: dataOffset + e.planOffset + 4 * k, size: 4, path: `plan '${def.name}' word ${k}` });
    }
    wrap(() => checkPlan(plan, { graph: def.name, dataBytes: dataBytes + expandBytes, modes: modeCount(axes) }));
    const compiled = wrap(() => compilePlan(def, { axes, tensors }));
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

  // The expanded data section is made only when asked for: a Runner writes it straight into WASM
  // memory (writeData), and a fresh 8 MB JavaScript buffer for a CIFAR model cost more in first
  // touches of its pages than the expansion's arithmetic (docs/BENCHMARKS.md)
  const section = bytes.subarray(dataOffset, dataOffset + dataBytes);
  const writeData = (dst: Uint8Array, at: number): void => {
    if (at + dataBytes + expandBytes > dst.length) throw new Error(`slimsplit: writeData: ${dataBytes + expandBytes} bytes at ${at} do not fit in ${dst.length}`);
    if ((dst.byteOffset + at) % TENSOR_ALIGN !== 0) throw new Error(`slimsplit: writeData: the data section must start ${TENSOR_ALIGN}-byte aligned, got byte ${dst.byteOffset + at}`);
    dst.set(section, at);
    const view = dst.subarray(at);
    for (const t of tensors) if (t.storage === 'q8') expandQ8(view, t);
  };
  let expanded: Uint8Array | undefined;
  const data = (): Uint8Array => {
    if (expandBytes === 0) return section;
    if (!expanded) writeData((expanded = new Uint8Array(dataBytes + expandBytes)), 0);
    return expanded;
  };
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
    get data(): Uint8Array {
      return data();
    },
    section,
    dataBytes: dataBytes + expandBytes,
    writeData,
    expandBytes,
    tensor(name: string): TensorArray {
      const t = byName.get(name);
      if (!t) throw new Error(`slimsplit: model '${meta.name}' has no tensor '${name}'`);
      // a tensor stored as it is read sits at the same offset in the file's data section
      return tensorView(t.storage === 'q8' ? data() : section, t);
    },
  };
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
    // fields added later (FieldSpec.trailing) may be left off the end: absent
    let minWords = spec.fields.length;
    while (minWords > 0 && spec.fields[minWords - 1].trailing) minWords--;
    if (l.fields.length < minWords || l.fields.length > spec.fields.length) {
      const count = minWords === spec.fields.length ? `${spec.fields.length}` : `${minWords} to ${spec.fields.length}`;
      fail('field', `${where} has ${l.fields.length} field words, ${l.op} has ${count} fields (${spec.fields.map((f) => f.name).join(', ')})`);
    }
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
      const w = fi < l.fields.length ? l.fields[fi] : ABSENT;
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

// A NaN or infinite weight runs without complaint and turns every logit into NaN (top-1 then
// falls on class 0): the packer refuses them, so the loader does too, checksum or not.
function checkFinite(what: string, dv: DataView, at: number, n: number): void {
  for (let k = 0; k < n; k++) {
    const v = dv.getFloat32(at + 4 * k, true);
    if (!Number.isFinite(v)) fail('tensor', `${what} value ${k} is ${v}; weights must be finite`);
  }
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

