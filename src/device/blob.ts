/**
 * The device-only blob: what the device half of a split model needs and nothing else, binary,
 * checksummed, read by the module itself (assembly/device.ts device_init; layout in docs/DEVICE.md).
 *
 *   import { makeDeviceBlob, readDeviceBlobInfo } from './device/blob.js';
 *   const dev = makeDeviceBlob(readFileSync('weights/see-cifar10.slim'), { bits: [2, 4] });
 *   readDeviceBlobInfo(dev);   // sizes per section, modes, model id
 *
 * It holds the encoder plan (pointers re-based onto its own data section), the encoder's tensors as
 * the full blob stores them (f32, or int8 rows with f32 scales), the coder's frequencies for the kept
 * bit depths (u16 each, freq - 1), the mode table (members, bits, compact mode byte, codes and
 * channels per mode) and the input normalization. The model id is the full blob's (FNV-1a), so the
 * server decoding with the full blob accepts the device's packets.
 */
import { readBlob } from '../format/reader.js';
import { crc32 } from '../format/checksum.js';
import type { Blob } from '../format/schema.js';
import { PH, RECORD_HEADER_WORDS, MODE_WORDS, PATCH_WORDS, RELOC } from '../engine/plan/words.js';
import { compilePlan, modeExtents } from '../engine/plan/compile.js';
import type { TensorInfo, GraphDef } from '../engine/plan/graph.js';
import type { AxisDef } from '../codec/modes.js';
import { modelIdOf } from '../codec/packet.js';
import { modesOf, splitInfo } from '../codec/modes.js';
import { contextsPerGroup, type ContextNeighbours } from '../codec/coder.js';
import type { CoderMeta } from '../model/model.js';

export const DEVICE_MAGIC = 0x56454453; // "SDEV" little-endian
export const DEVICE_VERSION = 1;
export const DEVICE_HEADER_BYTES = 64;
export const SECTION = { plan: 1, modes: 2, coder: 3, q8: 4, data: 5, name: 6 } as const;
export type SectionName = keyof typeof SECTION;
export const NOT_KEPT = 0xffffffff;
const DEV_MODE_WORDS = 8;
const SET_WORDS = 8;
const NEIGHBOURS: ContextNeighbours[] = ['left,up,prev', 'left,up,up-left,up-right'];

export class DeviceBlobError extends Error {
  constructor(detail: string) {
    super(`slimsplit: device blob: ${detail}`);
    this.name = 'DeviceBlobError';
  }
}

export interface DeviceBlobOptions {
  /** bit depths whose coder tables to keep (default: all the model has); other modes are refused on the device */
  bits?: number[];
  /**
   * members counts the device will run (default: all). Given, the encoder plan is recompiled with its
   * arena laid out for those modes only (each buffer as large as they touch), and other modes are
   * refused on the device (E_MODE_ARENA).
   */
  members?: number[];
}

const align = (x: number, a: number): number => Math.ceil(x / a) * a;
const DTYPE_SIZE: Record<string, number> = { f32: 4, u8: 1, u16: 2, u32: 4, i32: 4 };

/** The encoder's tensors that the plan points into (records and mode patches), in table order. */
function usedTensors(blob: Blob, plan: Uint32Array): TensorInfo[] {
  const find = (o: number): TensorInfo => {
    const t = blob.tensors.find((q) => o >= q.offset && o < q.offset + q.byteLength);
    if (!t) throw new DeviceBlobError(`encoder plan points at data offset ${o}, inside no tensor`);
    return t;
  };
  const used = new Set<TensorInfo>();
  forEachBlobWord(plan, (i) => used.add(find(plan[i])), (q) => {
    used.add(find(plan[q + 1]));
    used.add(find(plan[q + 2]));
  });
  return blob.tensors.filter((t) => used.has(t));
}

/** Calls rec(word index) for each blob-relative record param, patch(first word) for each blob patch. */
function forEachBlobWord(plan: Uint32Array, rec: (i: number) => void, patch: (q: number) => void): void {
  let at = plan[PH.rec];
  for (let r = 0; r < plan[PH.nrec]; r++) {
    const nw = plan[at + 1], bm = plan[at + 2];
    for (let j = 0; j < nw; j++) if ((bm >>> j) & 1) rec(at + RECORD_HEADER_WORDS + j);
    at += RECORD_HEADER_WORDS + nw;
  }
  for (let k = 0; k < plan[PH.npatch]; k++) {
    const q = plan[PH.patches] + k * PATCH_WORDS;
    if (plan[q] >>> 30 === RELOC.blob) patch(q);
  }
}

/**
 * Rows of shape[0] the runnable modes read of each tensor, where that is a prefix: a conv2d's or
 * matmul's w, bias, scale and shift are read for the output channels the mode computes (a prefix
 * of the output, by the kernels' extents), rounded up to whole blocks of 4 channels. Tensors used
 * any other way are absent (kept whole).
 */
function rowsNeeded(graph: GraphDef, axes: AxisDef[], tensors: TensorInfo[], runnable: boolean[]): Map<string, number> {
  const ext = modeExtents(graph, { axes, tensors });
  const rows = new Map<string, number>();
  const whole = new Set<string>();
  const refs = (L: GraphDef['layers'][number], f: string): string[] => {
    const v = L.fields[f];
    const act = L.active[f];
    return [...(typeof v === 'string' ? [v] : []), ...(act ? act.values.filter((x): x is string => typeof x === 'string') : [])];
  };
  graph.layers.forEach((L, i) => {
    const rowFields = L.op === 'conv2d' || L.op === 'matmul' ? ['w', 'bias', 'scale', 'shift'] : [];
    for (const f of Object.keys(L.fields)) {
      const names = refs(L, f).filter((n) => tensors.some((t) => t.name === n));
      if (!rowFields.includes(f)) names.forEach((n) => whole.add(n));
    }
    if (!rowFields.length) return;
    const cout = L.fields.cout as number;
    const yBuf = graph.buffers.find((b) => b.name === L.fields.y)!;
    const per = yBuf.shape.reduce((a, b) => a * b, 1) / cout; // elements per output channel
    let need = 0;
    runnable.forEach((k, m) => {
      if (k) need = Math.max(need, Math.ceil(ext[m][i].y / per));
    });
    need = Math.min(cout, Math.ceil(need / 4) * 4);
    for (const f of rowFields) for (const n of refs(L, f)) rows.set(n, Math.max(rows.get(n) ?? 0, need));
  });
  for (const n of whole) rows.delete(n);
  return rows;
}

/** Builds the device blob of a full .slim blob (validated by readBlob first, or `parsed`: readBlob's result for these bytes). */
export function makeDeviceBlob(full: Uint8Array, opts: DeviceBlobOptions = {}, parsed?: Blob): Uint8Array {
  const blob = parsed ?? readBlob(full);
  const meta = blob.json ? (JSON.parse(blob.json) as Record<string, unknown>) : {};
  const split = splitInfo(blob.name, meta);
  const g = blob.graphs.find((q) => q.name === 'encoder');
  if (!g) throw new DeviceBlobError(`model '${blob.name}' has no encoder graph`);
  if (!blob.coder) throw new DeviceBlobError(`model '${blob.name}' ships no coder tables`);
  if (g.plan[PH.outDtype] !== 1 || g.plan[PH.inDtype] !== 0) throw new DeviceBlobError(`model '${blob.name}': the encoder must take f32 pixels and output u8 codes`);
  if (blob.input.shape[0] !== 3) throw new DeviceBlobError(`model '${blob.name}' takes ${blob.input.shape[0]} channels; the device path makes RGB input`);
  const coder = JSON.parse(blob.coder.json) as CoderMeta;
  const have = Object.keys(coder.tables).map(Number).sort((a, b) => a - b);
  const bits = opts.bits ?? have;
  for (const b of bits) if (!have.includes(b)) throw new DeviceBlobError(`--bits ${b}: model '${blob.name}' has coder tables for bits ${have.join(', ')}`);
  if (bits.length === 0) throw new DeviceBlobError('keep at least one bit depth');
  const kept = have.filter((b) => bits.includes(b));

  const modes = modesOf(blob);
  const members = opts.members;
  if (members) {
    const have = blob.axes.find((a) => a.name === 'members')?.values ?? [1];
    for (const m of members) if (!have.includes(m)) throw new DeviceBlobError(`--members ${m}: model '${blob.name}' has members ${have.join(', ')}`);
    if (members.length === 0) throw new DeviceBlobError('keep at least one members count');
  }
  const runnable = modes.map((m) => members === undefined || members.includes(m.members ?? 1));
  // the arena for the runnable modes only (the stored plan's is for the largest mode)
  const srcPlan = members ? compilePlan(g, { axes: blob.axes, tensors: blob.tensors }, { only: runnable }) : g.plan;

  // data section: used tensors as stored (with --members, only the rows those modes read); q8 expansions after it
  const tensors = usedTensors(blob, srcPlan);
  const keepRows = members ? rowsNeeded(g, blob.axes, blob.tensors, runnable) : new Map<string, number>();
  const newOff = new Map<TensorInfo, number>();
  const parts: Array<{ at: number; bytes: Uint8Array; rows: number; n: number }> = [];
  let at = 0;
  for (const t of tensors) {
    at = align(at, 16);
    const rows0 = t.shape[0] ?? 1, n0 = t.byteLength / DTYPE_SIZE[t.dtype];
    const rows = Math.min(keepRows.get(t.name) ?? rows0, rows0);
    const n = (n0 / rows0) * rows;
    let stored: Uint8Array;
    if (t.storage === 'q8') {
      const s0 = blob.section.subarray(t.storedOffset!, t.storedOffset! + t.storedBytes!);
      stored = new Uint8Array(4 * rows + n);
      stored.set(s0.subarray(0, 4 * rows), 0);
      stored.set(s0.subarray(4 * rows0, 4 * rows0 + n), 4 * rows);
    } else stored = blob.section.subarray(t.offset, t.offset + n * DTYPE_SIZE[t.dtype]);
    parts.push({ at, bytes: stored, rows, n });
    if (t.storage !== 'q8') newOff.set(t, at);
    at += stored.length;
  }
  const dataBytes = align(at, 16);
  const q8: number[] = [];
  let exp = dataBytes;
  tensors.forEach((t, i) => {
    if (t.storage !== 'q8') return;
    exp = align(exp, 16);
    newOff.set(t, exp);
    q8.push(parts[i].at, exp, parts[i].rows, parts[i].n);
    exp += 4 * parts[i].n;
  });
  const expandBytes = align(exp, 16) - dataBytes;

  // plan with pointers re-based
  const plan = Uint32Array.from(srcPlan);
  const remap = (o: number): number => {
    const t = tensors.find((q) => o >= q.offset && o < q.offset + q.byteLength)!;
    return newOff.get(t)! + (o - t.offset);
  };
  forEachBlobWord(plan, (i) => (plan[i] = remap(plan[i])), (q) => {
    plan[q + 1] = remap(plan[q + 1]);
    plan[q + 2] = remap(plan[q + 2]);
  });
  // a patch restores the largest mode's word: records hold the largest mode, already remapped

  // coder sets
  const sets: Array<{ head: number[]; freqs: Uint16Array }> = kept.map((b) => {
    const name = coder.tables[String(b)];
    const ti = blob.tensors.find((q) => q.name === name)!;
    const cdf = blob.tensor(name);
    const [rows, len] = ti.shape;
    const nsym = len - 1;
    const freqs = new Uint16Array(rows * nsym);
    for (let r = 0; r < rows; r++) for (let k = 0; k < nsym; k++) freqs[r * nsym + k] = cdf[r * len + k + 1] - cdf[r * len + k] - 1;
    const ctx = coder.contexts?.[String(b)];
    const nb = ctx ? NEIGHBOURS.indexOf(ctx.neighbours ?? 'left,up,prev') : 0;
    if (ctx && rows !== coder.channels * contextsPerGroup(ctx)) throw new DeviceBlobError(`coder table '${name}' has ${rows} rows for ${coder.channels} channels`);
    return { head: [b, rows, nsym, ctx ? ctx.K : 0, ctx ? ctx.shift : 0, nb, ctx ? coder.W! : 0, 0], freqs };
  });

  // modes (the plan's numbering = modesOf order = the compact mode byte)
  const mt = plan[PH.modes];
  const modeWords: number[] = [modes.length, split.H, split.W, coder.groupSize, plan[PH.outBytes], 0, 0, 0];
  modes.forEach((m, i) => {
    const n = plan[mt + i * MODE_WORDS + 3];
    const set = kept.indexOf(m.bits ?? 8);
    modeWords.push(m.members ?? 1, m.bits ?? 8, i, n, n / coder.groupSize, set < 0 ? NOT_KEPT : set, runnable[i] ? 1 : 0, 0);
  });

  // sections
  const name = new TextEncoder().encode(blob.name);
  const coderHead = 16 + sets.length * SET_WORDS * 4;
  let coderBytes = coderHead;
  for (const s of sets) {
    s.head[7] = coderBytes;
    coderBytes = align(coderBytes + s.freqs.byteLength, 4);
  }
  const secs: Array<{ kind: number; bytes: number; write: (dv: DataView, u8: Uint8Array, off: number) => void }> = [
    { kind: SECTION.plan, bytes: plan.byteLength, write: (dv, u8, o) => u8.set(new Uint8Array(plan.buffer), o) },
    { kind: SECTION.modes, bytes: modeWords.length * 4, write: (dv, u8, o) => modeWords.forEach((v, i) => dv.setUint32(o + 4 * i, v >>> 0, true)) },
    {
      kind: SECTION.coder, bytes: coderBytes, write: (dv, u8, o) => {
        dv.setUint32(o, sets.length, true);
        sets.forEach((s, i) => {
          s.head.forEach((v, j) => dv.setUint32(o + 16 + (i * SET_WORDS + j) * 4, v, true));
          s.freqs.forEach((v, j) => dv.setUint16(o + s.head[7] + 2 * j, v, true));
        });
      },
    },
    {
      kind: SECTION.q8, bytes: 8 + q8.length * 4, write: (dv, u8, o) => {
        dv.setUint32(o, q8.length / 4, true);
        dv.setUint32(o + 4, expandBytes, true);
        q8.forEach((v, i) => dv.setUint32(o + 8 + 4 * i, v, true));
      },
    },
    { kind: SECTION.name, bytes: name.length, write: (dv, u8, o) => u8.set(name, o) },
    { kind: SECTION.data, bytes: dataBytes, write: (dv, u8, o) => parts.forEach((p) => u8.set(p.bytes, o + p.at)) },
  ];
  let off = DEVICE_HEADER_BYTES + secs.length * 16;
  const placed = secs.map((s) => {
    off = align(off, s.kind === SECTION.data ? 64 : 16);
    const o = off;
    off += s.bytes;
    return o;
  });
  const total = off;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  const mean = blob.input.mean, std = blob.input.std;
  const head = [DEVICE_MAGIC, DEVICE_VERSION, total, 0, modelIdOf(full), blob.input.shape[0], blob.input.shape[1], blob.input.shape[2]];
  head.forEach((v, i) => dv.setUint32(4 * i, v >>> 0, true));
  for (let c = 0; c < 3; c++) {
    dv.setFloat32(32 + 4 * c, mean.length ? mean[c] : 0, true);
    dv.setFloat32(44 + 4 * c, std.length ? std[c] : 1, true);
  }
  dv.setUint32(56, secs.length, true);
  secs.forEach((s, i) => {
    dv.setUint32(DEVICE_HEADER_BYTES + 16 * i, s.kind, true);
    dv.setUint32(DEVICE_HEADER_BYTES + 16 * i + 4, placed[i], true);
    dv.setUint32(DEVICE_HEADER_BYTES + 16 * i + 8, s.bytes, true);
    s.write(dv, out, placed[i]);
  });
  dv.setUint32(12, crc32(out, 16, total), true);
  return out;
}

export interface DeviceBlobInfo {
  name: string;
  modelId: number;
  bytes: number;
  input: [number, number, number];
  sections: Record<SectionName, number>;
  /** bytes the int8 tensors take once expanded to f32 on the device */
  expandBytes: number;
  arenaBytes: number;
  /** bytes of the largest runnable mode's codes (the packet buffer is sized from it) */
  maxCodes: number;
  /** per kept bit depth: tables and symbols per table */
  coderSets: Array<{ bits: number; tables: number; symbols: number }>;
  modes: Array<{ members: number; bits: number; compact: number; codes: number; channels: number; kept: boolean }>;
}

/** Reads a device blob's header and tables (no CRC or deep checks: device_init does those). */
export function readDeviceBlobInfo(b: Uint8Array): DeviceBlobInfo {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < DEVICE_HEADER_BYTES || dv.getUint32(0, true) !== DEVICE_MAGIC) throw new DeviceBlobError('not a device blob (magic SDEV)');
  const n = dv.getUint32(56, true);
  const sec = {} as Record<SectionName, number>;
  const offs = {} as Record<SectionName, number>;
  for (let i = 0; i < n; i++) {
    const kind = dv.getUint32(DEVICE_HEADER_BYTES + 16 * i, true);
    const nm = (Object.keys(SECTION) as SectionName[]).find((k) => SECTION[k] === kind);
    if (!nm) throw new DeviceBlobError(`unknown section kind ${kind}`);
    offs[nm] = dv.getUint32(DEVICE_HEADER_BYTES + 16 * i + 4, true);
    sec[nm] = dv.getUint32(DEVICE_HEADER_BYTES + 16 * i + 8, true);
  }
  const u32 = (o: number) => dv.getUint32(o, true);
  const m = offs.modes, c = offs.coder, p = offs.plan;
  const modes = Array.from({ length: u32(m) }, (_, i) => {
    const e = m + 32 + i * DEV_MODE_WORDS * 4;
    return { members: u32(e), bits: u32(e + 4), compact: u32(e + 8), codes: u32(e + 12), channels: u32(e + 16), kept: u32(e + 20) !== NOT_KEPT && u32(e + 24) === 1 };
  });
  const coderSets = Array.from({ length: u32(c) }, (_, i) => {
    const e = c + 16 + i * SET_WORDS * 4;
    return { bits: u32(e), tables: u32(e + 4), symbols: u32(e + 8) };
  });
  return {
    name: new TextDecoder().decode(b.subarray(offs.name, offs.name + sec.name)),
    modelId: u32(16),
    bytes: b.length,
    input: [u32(20), u32(24), u32(28)],
    sections: sec,
    expandBytes: u32(offs.q8 + 4),
    arenaBytes: u32(p + PH.arenaBytes * 4),
    maxCodes: u32(m + 16),
    coderSets,
    modes,
  };
}
