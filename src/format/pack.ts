/**
 * Packer: an exported graph (docs/GRAPH.md: <name>.graph.json + <name>.tensors.bin) becomes one
 * .slim blob (docs/FORMAT.md) with every graph's execution plan compiled in.
 *
 *   slimsplit pack train/out/see/see-384-random.graph.json train/out/see/see-384-random.tensors.bin -o weights/see-384-random.slim
 *
 *   import { packGraph } from './pack.js';
 *   const slim = packGraph(JSON.parse(readFileSync(graphPath, 'utf8')), readFileSync(tensorsPath));
 *
 * The JSON is checked field by field (errors give its path, e.g. graphs.encoder.layers[3].cout),
 * then every graph is validated in every mode while its plan is compiled, and the finished blob
 * is read back through the loader before it is returned.
 */
import { AXES, type AxisDef, type AxisName } from '../codec/modes.js';
import { OPS } from '../engine/ops/registry.js';
import { type BufferDef, type FieldValue, type GraphDef, type LayerDef, type ActiveDef } from '../engine/plan/graph.js';
import { writeBlob } from './writer.js';
import { readBlob } from './reader.js';
import { type BlobSpec, type TensorSpec, type CoderInfo } from './schema.js';
import { quantizeCdf, contextsPerGroup, CONTEXT_NEIGHBOURS, type ContextNeighbours } from '../codec/coder.js';

/** The exported JSON does not follow docs/GRAPH.md; `path` says where. */
export class PackError extends Error {
  readonly code = 'graph-json';
  readonly path: string;
  constructor(path: string, detail: string) {
    super(`slimsplit: pack: ${path}: ${detail}`);
    this.name = 'PackError';
    this.path = path;
  }
}

export interface PackOptions {
  /** entropy-coder tables to ship with the model (src/codec/coder.ts), stored as integer tensors */
  coder?: { json: string; tables: Record<string, Uint8Array | Uint16Array | Uint32Array | Int32Array> };
}

type Json = unknown;
const isObj = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: Json): string => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + '...' : s;
};

function obj(path: string, v: Json): Record<string, Json> {
  if (!isObj(v)) throw new PackError(path, `expected an object, got ${show(v)}`);
  return v;
}
function str(path: string, v: Json): string {
  if (typeof v !== 'string' || v.length === 0) throw new PackError(path, `expected a non-empty string, got ${show(v)}`);
  return v;
}
function ints(path: string, v: Json, min = 1): number[] {
  if (!Array.isArray(v)) throw new PackError(path, `expected a list of integers, got ${show(v)}`);
  return v.map((d, i) => {
    if (!Number.isInteger(d) || (d as number) < min || (d as number) > 0x7fffffff) throw new PackError(`${path}[${i}]`, `expected an integer >= ${min}, got ${show(d)}`);
    return d as number;
  });
}
function nums(path: string, v: Json): number[] {
  if (!Array.isArray(v)) throw new PackError(path, `expected a list of numbers, got ${show(v)}`);
  return v.map((d, i) => {
    if (typeof d !== 'number' || !Number.isFinite(Math.fround(d))) throw new PackError(`${path}[${i}]`, `expected a finite number, got ${show(d)}`);
    return Math.fround(d);
  });
}

/** A field value from JSON, checked against the field's kind (refs are checked by the plan compiler). */
function fieldValue(path: string, kind: string, v: Json): FieldValue {
  switch (kind) {
    case 'int':
      if (!Number.isInteger(v) || Math.abs(v as number) > 0x7fffffff) throw new PackError(path, `expected an integer, got ${show(v)}`);
      return v as number;
    case 'float':
      if (typeof v !== 'number' || !Number.isFinite(Math.fround(v))) throw new PackError(path, `expected a finite number, got ${show(v)}`);
      return Math.fround(v);
    case 'pad':
      if (typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v))) return v;
      throw new PackError(path, `expected none, same, tf-same or a pixel count, got ${show(v)}`);
    default:
      if (typeof v !== 'string') throw new PackError(path, `expected a name, got ${show(v)}`);
      return v;
  }
}

function layerDef(path: string, v: Json, axes: AxisDef[]): LayerDef {
  const L = obj(path, v);
  const op = str(`${path}.op`, L.op);
  const spec = OPS[op];
  if (!spec) throw new PackError(`${path}.op`, `unknown op '${op}' (known: ${Object.keys(OPS).join(', ')})`);
  const fields: Record<string, FieldValue> = {};
  for (const f of spec.fields) fields[f.name] = null;
  for (const [k, x] of Object.entries(L)) {
    if (k === 'op' || k === 'active') continue;
    const f = spec.fields.find((q) => q.name === k);
    if (!f) throw new PackError(`${path}.${k}`, `${op} has no field '${k}' (fields: ${spec.fields.map((q) => q.name).join(', ')})`);
    fields[k] = fieldValue(`${path}.${k}`, f.kind, x);
  }
  const active: Record<string, ActiveDef> = {};
  if (L.active !== undefined) {
    for (const [k, per] of Object.entries(obj(`${path}.active`, L.active))) {
      const p = `${path}.active.${k}`;
      const f = spec.fields.find((q) => q.name === k);
      if (!f || !f.modal) throw new PackError(p, `${op} field '${k}' cannot depend on the mode (allowed: ${spec.fields.filter((q) => q.modal).map((q) => q.name).join(', ')})`);
      const entries = Object.entries(obj(p, per));
      if (entries.length !== 1) throw new PackError(p, `expected exactly one mode axis, got ${entries.map(([a]) => a).join(', ') || 'none'}`);
      const [axis, vals] = entries[0];
      if (!axes.some((a) => a.name === axis)) throw new PackError(`${p}.${axis}`, `the model has no mode axis '${axis}' (modes: ${axes.map((a) => a.name).join(', ') || 'none'})`);
      if (!Array.isArray(vals)) throw new PackError(`${p}.${axis}`, `expected a list with one value per ${axis} value, got ${show(vals)}`);
      active[k] = { axis: axis as AxisName, values: vals.map((x, i) => fieldValue(`${p}.${axis}[${i}]`, f.kind, x) as number | string) };
      // Exporters may also give the fixed value the largest mode uses; the active entry decides.
      const largest = active[k].values[active[k].values.length - 1];
      if (fields[k] !== null && fields[k] !== largest) {
        throw new PackError(p, `field ${k} is fixed at ${fields[k]} but its active entry gives ${largest} in the largest mode; give the active entry alone`);
      }
      fields[k] = null;
    }
  }
  // GRAPH.md: the bits axis drives the split's quantizer unless a layer says otherwise.
  const bits = axes.find((a) => a.name === 'bits');
  if ((op === 'quantize' || op === 'dequantize') && bits && fields.bits === null && !active.bits) active.bits = { axis: 'bits', values: bits.values.slice() };
  return { op, fields, active };
}

/** The BlobSpec for an exported graph: everything packGraph writes, before plans are compiled. */
export function graphSpec(graphJson: Json, tensorsBin: Uint8Array, opts: PackOptions = {}): BlobSpec {
  const root = obj('graph', graphJson);
  const name = str('name', root.name);
  const inp = obj('input', root.input);
  const input = {
    shape: ints('input.shape', inp.shape),
    mean: inp.mean === undefined ? [] : nums('input.mean', inp.mean),
    std: inp.std === undefined ? [] : nums('input.std', inp.std),
  };
  const axes: AxisDef[] = [];
  const modes = root.modes === undefined ? {} : obj('modes', root.modes);
  for (const k of Object.keys(modes)) if (!(AXES as readonly string[]).includes(k)) throw new PackError(`modes.${k}`, `unknown mode axis (known: ${AXES.join(', ')})`);
  for (const a of AXES) if (modes[a] !== undefined) axes.push({ name: a, values: nums(`modes.${a}`, modes[a]) });

  const tensors: TensorSpec[] = [];
  const dv = new DataView(tensorsBin.buffer, tensorsBin.byteOffset, tensorsBin.byteLength);
  for (const [tn, tv] of Object.entries(obj('tensors', root.tensors))) {
    const p = `tensors.${tn}`;
    const t = obj(p, tv);
    if (t.dtype !== undefined && t.dtype !== 'f32') throw new PackError(`${p}.dtype`, `tensors.bin holds float32 only, got ${show(t.dtype)}`);
    if (t.storage !== undefined && t.storage !== 'q8') throw new PackError(`${p}.storage`, `unknown storage ${show(t.storage)} (only "q8": int8 per row with an f32 scale)`);
    const shape = ints(`${p}.shape`, t.shape);
    const [offset] = ints(`${p}.offset`, [t.offset], 0);
    if (offset % 16 !== 0) throw new PackError(`${p}.offset`, `${offset} is not 16-byte aligned (docs/GRAPH.md)`);
    const n = shape.reduce((a, b) => a * b, 1);
    if (offset + 4 * n > tensorsBin.byteLength) throw new PackError(p, `[${offset}, ${offset + 4 * n}) runs past the end of tensors.bin (${tensorsBin.byteLength} bytes)`);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      data[i] = dv.getFloat32(offset + 4 * i, true);
      if (!Number.isFinite(data[i])) throw new PackError(p, `value ${i} is ${data[i]}; weights must be finite`);
    }
    tensors.push(t.storage === 'q8' ? { name: tn, dtype: 'f32', shape, data, storage: 'q8' } : { name: tn, dtype: 'f32', shape, data });
  }

  const graphs: GraphDef[] = [];
  for (const [gn, gv] of Object.entries(obj('graphs', root.graphs))) {
    const p = `graphs.${gn}`;
    const g = obj(p, gv);
    const layersJson = g.layers;
    if (!Array.isArray(layersJson)) throw new PackError(`${p}.layers`, `expected a list of layers, got ${show(layersJson)}`);
    const layers = layersJson.map((l, i) => layerDef(`${p}.layers[${i}]`, l, axes));
    // Buffer element types follow from the ops: quantized codes are u8, everything else f32.
    const dtypes = new Map<string, 'u8' | 'f32'>();
    layers.forEach((l, i) => {
      for (const f of OPS[l.op].fields) {
        const b = l.fields[f.name];
        if (f.kind !== 'buffer' || typeof b !== 'string') continue;
        const want = f.dtype ?? 'f32', had = dtypes.get(b);
        if (had && had !== want) throw new PackError(`${p}.layers[${i}].${f.name}`, `buffer '${b}' is used as ${want} here but as ${had} by an earlier layer`);
        dtypes.set(b, want);
      }
    });
    const buffers: BufferDef[] = Object.entries(obj(`${p}.buffers`, g.buffers)).map(([bn, shape]) => ({
      name: bn,
      dtype: dtypes.get(bn) ?? 'f32',
      shape: ints(`${p}.buffers.${bn}`, shape),
    }));
    graphs.push({ name: gn, input: str(`${p}.input`, g.input), output: str(`${p}.output`, g.output), buffers, layers });
  }

  let coder: CoderInfo | null = null;
  let meta = root.meta;
  if (!opts.coder && isObj(meta) && meta.symbolCounts !== undefined) {
    const c = countsCoder(meta, axes);
    tensors.push(...c.tensors);
    coder = { json: c.json, tables: c.tensors.map((t) => t.name) };
    // the integer tables replace the counts they were made from
    meta = Object.fromEntries(Object.entries(meta).filter(([k]) => k !== 'symbolCounts' && k !== 'contextCounts' && k !== 'modeCounts'));
  }
  if (opts.coder) {
    coder = { json: opts.coder.json, tables: Object.keys(opts.coder.tables) };
    for (const [tn, arr] of Object.entries(opts.coder.tables)) {
      const dtype = arr instanceof Uint8Array ? 'u8' : arr instanceof Uint16Array ? 'u16' : arr instanceof Uint32Array ? 'u32' : 'i32';
      tensors.push({ name: tn, dtype, shape: [arr.length], data: arr });
    }
  }
  return {
    name,
    json: meta === undefined ? '' : JSON.stringify(meta),
    input,
    axes,
    tensors,
    graphs,
    coder,
  };
}

/**
 * Entropy-coder tables from the symbol statistics an exporter ships in meta.symbolCounts
 * ({ "<bits>": [channel][T] counts }, with meta.split = { H, W }): per bits value, one u32
 * tensor `coder.bits<b>` [channels][T + 2] of 16-bit-precision CDFs (src/codec/coder.ts quantizeCdf;
 * the last symbol is the escape, given the least mass), and the coder json
 * { kind: 'rans-channel', axis: 'bits', channels, groupSize: H*W, W, tables: { "<bits>": name },
 *   contexts: { "<bits>": { K, shift } }, bitsPerImage: { "<bits>": [channel] } }.
 * T, the same for every row of a bit depth, is 1..2^b: symbols from T up (values a quantizer with a
 * learned step never sends, say) go through the escape, so that a table need not span the 2^b
 * values its bit depth could send: at 8 bits with 4 levels in use a table is 6 words, not 258.
 * Bit depths in meta.contextCounts ({ "<bits>": { K, shift, neighbours?, counts: [channel][K^3][T] } },
 * K^4 contexts with neighbours "left,up,up-left,up-right") get that many tables per channel instead
 * ([channels * K^3][T + 2], channel-major), for context-adaptive
 * coding (src/codec/coder.ts CoderContext); a context seen rarely leans on its channel's overall counts.
 * bitsPerImage is what each channel costs per image on the training set under the shipped tables.
 * Optional meta.modeCounts ({ "<members>": { "<bits>": [channel][T], or [channel][contexts][T] for a
 * context-coded bit depth } }: one members count's own symbols, for the channels it sends) add
 * bitsPerImageByMembers { "<bits>": { "<members>": [channel] }, the same cost per mode: a refining
 * model's modes share tables (pooled counts) but not distributions.
 */
function countsCoder(meta: Record<string, Json>, axes: AxisDef[]): { json: string; tensors: TensorSpec[] } {
  const p = 'meta.symbolCounts';
  const counts = obj(p, meta.symbolCounts);
  const split = obj('meta.split', meta.split);
  const [H, W] = ints('meta.split', [split.H, split.W]);
  const bits = axes.find((a) => a.name === 'bits');
  if (!bits) throw new PackError(p, 'symbol counts need a bits mode axis');
  const ctxAll = meta.contextCounts === undefined ? {} : obj('meta.contextCounts', meta.contextCounts);
  let channels = -1;
  const tables: Record<string, string> = {};
  const contexts: Record<string, { K: number; shift: number; neighbours?: ContextNeighbours }> = {};
  const bitsPerImage: Record<string, number[]> = {};
  const byMembers: Record<string, Record<string, number[]>> = {};
  const modeCounts = meta.modeCounts === undefined ? {} : obj('meta.modeCounts', meta.modeCounts);
  const tensors: TensorSpec[] = [];
  const cost = (cnt: number[], cdf: Uint32Array, images: number) => {
    let bitsSum = 0;
    cnt.forEach((x, k) => { if (x > 0) bitsSum -= x * Math.log2((cdf[k + 1] - cdf[k]) / 65536); });
    return images > 0 ? bitsSum / images : 0;
  };
  // meta.modeCounts' costs under bit depth b's tables (nctx 1: per-channel tables, rows [channel][L])
  const perMembers = (b: number, nctx: number, L: number, cdfOf: (c: number, k: number) => Uint32Array) => {
    for (const [mk, mv] of Object.entries(modeCounts)) {
      if (!axes.find((a) => a.name === 'members')?.values.includes(Number(mk))) throw new PackError(`meta.modeCounts.${mk}`, `${mk} is not a value of the members axis`);
      const mp = `meta.modeCounts.${mk}.${b}`;
      const rows = obj(`meta.modeCounts.${mk}`, mv)[String(b)];
      if (rows === undefined) continue;
      if (!Array.isArray(rows) || rows.length < 1 || rows.length > channels) throw new PackError(mp, `expected counts for 1..${channels} channels, got ${show(rows)}`);
      (byMembers[String(b)] ??= {})[mk] = rows.map((row, c) => {
        const per = nctx === 1 ? [row] : row;
        if (!Array.isArray(per) || per.length !== nctx) throw new PackError(`${mp}[${c}]`, `expected ${nctx} contexts, got ${show(row)}`);
        const q = per.map((r, k) => {
          const v = ints(`${mp}[${c}]${nctx === 1 ? '' : `[${k}]`}`, r, 0);
          if (v.length !== L) throw new PackError(`${mp}[${c}]`, `has ${v.length} counts, expected ${L} as in ${p}.${b}`);
          return v;
        });
        const n = q.reduce((acc, v) => acc + v.reduce((x, y) => x + y, 0), 0) / (H * W);
        return q.reduce((acc, v, k) => acc + cost(v, cdfOf(c, k), n), 0);
      });
    }
  };
  for (const b of bits.values) {
    const rows = counts[String(b)];
    if (!Array.isArray(rows)) throw new PackError(`${p}.${b}`, `expected [channel][1..${2 ** b}] counts for bits ${b}, got ${show(rows)}`);
    if (channels < 0) channels = rows.length;
    if (rows.length !== channels || channels < 1) throw new PackError(`${p}.${b}`, `has ${rows.length} channels, expected ${channels}`);
    // L: the table's alphabet (symbols 0..L-1 plus the escape), the first channel's count
    const L = Array.isArray(rows[0]) ? rows[0].length : -1;
    if (L < 1 || L > 2 ** b) throw new PackError(`${p}.${b}[0]`, `expected 1..${2 ** b} counts (symbols 0..T-1 of ${b} bits), got ${show(rows[0])}`);
    const marg = rows.map((r, c) => {
      const q = ints(`${p}.${b}[${c}]`, r, 0);
      if (q.length !== L) throw new PackError(`${p}.${b}[${c}]`, `has ${q.length} counts, expected ${L} as channel 0`);
      return q;
    });
    // images per channel: a refining model's channels are counted once per mode that sends them
    const images = marg.map((q) => q.reduce((x, y) => x + y, 0) / (H * W));
    const cc = ctxAll[String(b)];
    if (cc === undefined) {
      const cdfs = new Uint32Array(channels * (L + 2));
      bitsPerImage[String(b)] = marg.map((q, c) => {
        const seen = q.some((x) => x > 0);
        // a channel never seen in training gets a flat table rather than no table
        const cdf = quantizeCdf([...q.map((x) => (seen ? x : 1)), 0]);
        cdfs.set(cdf, c * (L + 2));
        return cost(q, cdf, images[c]);
      });
      tables[String(b)] = `coder.bits${b}`;
      tensors.push({ name: `coder.bits${b}`, dtype: 'u32', shape: [channels, L + 2], data: cdfs });
      perMembers(b, 1, L, (c, k) => cdfs.subarray((c + k) * (L + 2), (c + k + 1) * (L + 2)));
      continue;
    }
    const cp = `meta.contextCounts.${b}`;
    const co = obj(cp, cc);
    const [K] = ints(`${cp}.K`, [co.K]);
    const [shift] = ints(`${cp}.shift`, [co.shift], 0);
    if (K > 16 || shift > 7) throw new PackError(cp, `K must be 1..16 and shift 0..7, got K ${K}, shift ${shift}`);
    const neighbours = co.neighbours === undefined ? undefined : (co.neighbours as ContextNeighbours);
    if (neighbours !== undefined && !CONTEXT_NEIGHBOURS.includes(neighbours)) {
      throw new PackError(`${cp}.neighbours`, `must be one of ${CONTEXT_NEIGHBOURS.map((x) => `"${x}"`).join(', ')}, got ${show(co.neighbours)}`);
    }
    const nctx = contextsPerGroup({ K, neighbours });
    const crows = co.counts;
    if (!Array.isArray(crows) || crows.length !== channels) throw new PackError(`${cp}.counts`, `expected [${channels}][${nctx}][${L}] counts, got ${show(crows)}`);
    const cdfs = new Uint32Array(channels * nctx * (L + 2));
    bitsPerImage[String(b)] = crows.map((per, c) => {
      if (!Array.isArray(per) || per.length !== nctx) throw new PackError(`${cp}.counts[${c}]`, `expected ${nctx} contexts, got ${show(per)}`);
      const m = marg[c], mt = m.reduce((x, y) => x + y, 0);
      let total = 0;
      per.forEach((r, k) => {
        const q = ints(`${cp}.counts[${c}][${k}]`, r, 0);
        if (q.length !== L) throw new PackError(`${cp}.counts[${c}][${k}]`, `has ${q.length} counts, expected ${L} as in ${p}.${b}`);
        // one pseudo-observation spread as the channel's marginal (flat if the channel was never seen)
        const cdf = quantizeCdf([...q.map((x, s) => x + (mt > 0 ? m[s] / mt : 1 / L)), 0]);
        cdfs.set(cdf, (c * nctx + k) * (L + 2));
        total += cost(q, cdf, images[c]);
      });
      return total;
    });
    tables[String(b)] = `coder.bits${b}`;
    contexts[String(b)] = neighbours === undefined ? { K, shift } : { K, shift, neighbours };
    perMembers(b, nctx, L, (c, k) => cdfs.subarray((c * nctx + k) * (L + 2), (c * nctx + k + 1) * (L + 2)));
    tensors.push({ name: `coder.bits${b}`, dtype: 'u32', shape: [channels * nctx, L + 2], data: cdfs });
  }
  for (const k of Object.keys(counts)) if (!bits.values.includes(Number(k))) throw new PackError(`${p}.${k}`, `${k} is not a value of the bits axis [${bits.values.join(', ')}]`);
  for (const k of Object.keys(ctxAll)) if (!bits.values.includes(Number(k))) throw new PackError(`meta.contextCounts.${k}`, `${k} is not a value of the bits axis [${bits.values.join(', ')}]`);
  const round = (v: number[]) => v.map((x) => Math.round(x * 100) / 100);
  return {
    json: JSON.stringify({
      kind: 'rans-channel', axis: 'bits', channels, groupSize: H * W, W, tables,
      ...(Object.keys(contexts).length ? { contexts } : {}),
      bitsPerImage: Object.fromEntries(Object.entries(bitsPerImage).map(([k, v]) => [k, round(v)])),
      ...(Object.keys(byMembers).length
        ? { bitsPerImageByMembers: Object.fromEntries(Object.entries(byMembers).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([m, r]) => [m, round(r)]))])) }
        : {}),
    }),
    tensors,
  };
}

/** Packs an exported graph into a .slim blob; throws PackError/GraphError/BlobError naming the problem. */
export function packGraph(graphJson: Json, tensorsBin: Uint8Array, opts: PackOptions = {}): Uint8Array {
  const bytes = writeBlob(graphSpec(graphJson, tensorsBin, opts));
  readBlob(bytes); // the loader's verdict, so a packer/loader disagreement never reaches a device
  return bytes;
}
