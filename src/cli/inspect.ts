/** The `inspect` command: the fields of a .slim blob, a full or compact packet, or a JPEG/PNG file, detected by magic bytes. */
import { existsSync } from 'node:fs';
import type { Mode, RawImage } from '../model/api.js';
import { decodeImage, isJpeg, isPng } from '../model/image.js';
import { parseJpeg } from '../model/jpeg.js';
import { readBlob } from '../format/reader.js';
import { BLOB_MAGIC } from '../format/schema.js';
import { readPacket, modelIdOf, MAGIC as PACKET_MAGIC, isCompactPacket, readCompactPacket, splitCompactPacket } from '../codec/packet.js';
import { contextsPerGroup, type ContextNeighbours } from '../codec/coder.js';
import { modeTable, modesOf, splitInfo, formatMode, type ModeInfo } from '../codec/modes.js';
import { DTYPE_BYTES } from '../engine/plan/graph.js';
import { PH } from '../engine/plan/words.js';
import { graphStats } from '../engine/stats.js';
import { CliError, DEFAULT_MODEL, Io, hex32, readInput } from './common.js';
import { table } from '../eval/report.js';
import { DEVICE_MAGIC } from '../device/blob.js';
import { inspectDeviceBlob, inspectDeviceBudget } from './device-blob.js';

export function inspectBlob(io: Io, file: string, bytes: Uint8Array, json: boolean): void {
  const b = readBlob(bytes);
  let meta: Record<string, unknown> = {};
  try {
    meta = b.json ? JSON.parse(b.json) : {};
  } catch {
    // free-form metadata need not be JSON for the blob to be valid
  }
  const modes = b.axes.reduce((n, a) => n * a.values.length, 1);
  const byDtype: Record<string, number> = {};
  for (const t of b.tensors) byDtype[t.dtype] = (byDtype[t.dtype] ?? 0) + t.byteLength;
  const graphs = b.graphs.map((g) => {
    const ops: Record<string, number> = {};
    for (const l of g.layers) ops[l.op] = (ops[l.op] ?? 0) + 1;
    const buf = (n: string) => g.buffers.find((x) => x.name === n)?.shape ?? [];
    const st = graphStats(g, b.tensors);
    return { name: g.name, layers: g.layers.length, ops, input: { name: g.input, shape: buf(g.input) }, output: { name: g.output, shape: buf(g.output) }, planBytes: g.plan.byteLength, arenaBytes: g.plan[PH.arenaBytes], weights: st.weights, macs: st.macs };
  });
  // A split model with coder tables also gets its mode table (expected bytes, reference top-1).
  let modeRows: ModeInfo[] | undefined;
  if (b.coder && typeof meta.split === 'object' && meta.split !== null) modeRows = modeTable(b, meta, modelIdOf(bytes));
  const info = {
    file, kind: 'blob', bytes: bytes.length, version: b.version, flags: b.flags, name: b.name, modelId: hex32(modelIdOf(bytes)),
    input: b.input, axes: Object.fromEntries(b.axes.map((a) => [a.name, a.values])), modes,
    classes: Array.isArray(meta.classes) ? meta.classes : undefined,
    tensors: { count: b.tensors.length, bytes: Object.values(byDtype).reduce((a, c) => a + c, 0), byDtype },
    graphs, coder: b.coder ? { tables: b.coder.tables, jsonBytes: b.coder.json.length } : null, modeTable: modeRows, meta,
  };
  if (json) {
    io.out(JSON.stringify(info, null, 2) + '\n');
    return;
  }
  io.out(`${file}: .slim blob v${b.version}, ${bytes.length} bytes, model '${b.name}', id ${info.modelId} (FNV-1a, as packets carry it)\n`);
  io.out(`input: [${b.input.shape.join(', ')}]${b.input.mean.length ? `, mean [${b.input.mean.map((v) => v.toFixed(4)).join(', ')}], std [${b.input.std.map((v) => v.toFixed(4)).join(', ')}]` : ', no normalization'}\n`);
  io.out(`modes: ${b.axes.map((a) => `${a.name} [${a.values.join(', ')}]`).join(' x ') || 'one'} = ${modes} mode${modes === 1 ? '' : 's'}\n`);
  if (info.classes) {
    const cl = info.classes as unknown[];
    // an ImageNet head has 1000 names: the count and both ends say enough
    io.out(`classes: ${cl.length > 20 ? `${cl.length} (${cl.slice(0, 5).join(', ')}, ..., ${cl.slice(-2).join(', ')})` : cl.join(', ')}\n`);
  }
  io.out(`tensors: ${b.tensors.length}, ${info.tensors.bytes} bytes (${Object.entries(byDtype).map(([d, n]) => `${d} ${n / DTYPE_BYTES[d as keyof typeof DTYPE_BYTES]} values`).join(', ') || 'none'})\n`);
  for (const g of graphs) {
    const ops = Object.entries(g.ops).map(([op, n]) => `${op} x${n}`).join(', ');
    io.out(`graph ${g.name}: ${g.layers} layers (${ops || 'none'}), ${g.input.name} [${g.input.shape.join(', ')}] -> ${g.output.name} [${g.output.shape.join(', ')}], plan ${g.planBytes} bytes, arena ${g.arenaBytes} bytes\n`);
    io.out(`  weights ${g.weights.toLocaleString('en-US')}, multiply-adds ${g.macs.toLocaleString('en-US')} (${(g.macs / 1e6).toFixed(1)} M)\n`);
  }
  // a table's row is its symbols + 2 words: narrower than 2^bits + 2 where the exporter cut the alphabet
  const shapeOf = (name: string) => b.tensors.find((t) => t.name === name)?.shape.join('x') ?? '?';
  io.out(b.coder ? `coder: ${b.coder.tables.length} table tensors (${b.coder.tables.map((n) => `${n} ${shapeOf(n)}`).join(', ')}), ${b.coder.json.length} bytes of metadata\n` : 'coder: none\n');
  const ctx = b.coder ? (JSON.parse(b.coder.json) as { contexts?: Record<string, { K: number; shift: number; neighbours?: ContextNeighbours }> }).contexts : undefined;
  if (ctx) {
    // Blobs whose contexts all use the default neighbours print as they always did.
    const named = Object.values(ctx).some((c) => c.neighbours !== undefined);
    const parts = Object.entries(ctx).map(([bits, c]) => `bits=${bits}: ${named ? `${(c.neighbours ?? 'left,up,prev').replace(/,/g, ', ')}, ` : ''}K=${c.K}${c.shift ? `, shift ${c.shift}` : ''} (${contextsPerGroup(c)} tables per channel)`);
    io.out(`coder contexts${named ? '' : ' (left, up, previous channel)'}: ${parts.join('; ')}\n`);
  }
  if (modeRows) {
    const sp = splitInfo(b.name, meta);
    const K = sp.channelMembers;
    io.out(`split: ${sp.channelsPerMember} channels of ${sp.H}x${sp.W} per member${K === undefined ? '' : `; members past ${K} refine the first ${K === 1 ? "member's" : `${K} members'`} channels instead of sending their own`}\n`);
    const kind = typeof meta.referenceTop1Kind === 'string' ? meta.referenceTop1Kind : 'reference top-1 from the exporter';
    io.out(`modes (expected packet bytes from the coder tables; top-1: ${kind}):\n`);
    io.out(table(['mode', 'expected B', 'top-1'], modeRows.map((r) => [formatMode(r.mode), String(r.expectedBytes), r.top1 === undefined ? '-' : `${(100 * r.top1).toFixed(2)}%`])));
  }
}

export function inspectPacket(io: Io, file: string, bytes: Uint8Array, json: boolean, modelPath: string | undefined): void {
  const p = readPacket(bytes);
  const f = p.fields;
  const header = bytes.length - p.payload.length - 2;
  const [C, H, W] = f.shape;
  let model: { path: string; id: string; match: boolean; modeKnown: boolean; axes: Record<string, number[]> } | null = null;
  const path = modelPath ?? (existsSync(DEFAULT_MODEL) ? DEFAULT_MODEL : undefined);
  if (path) {
    const blobBytes = readInput(path, 'model file');
    const id = modelIdOf(blobBytes);
    // the mode bytes are [members, bits] (src/model/model.ts); a mode the model lacks cannot be decoded
    const axes = Object.fromEntries(readBlob(blobBytes).axes.map((a) => [a.name, a.values]));
    const [members, bits] = f.mode;
    const modeKnown = f.mode.length === 2 && !!axes.members?.includes(members) && !!axes.bits?.includes(bits);
    model = { path, id: hex32(id), match: id === f.modelId, modeKnown, axes };
  }
  const modeNames = ['members', 'bits', 'byte 3'];
  const info = {
    file, kind: 'packet', bytes: bytes.length, version: f.version, headerBytes: header, payloadBytes: p.payload.length, checksumBytes: 2,
    modelId: hex32(f.modelId), mode: f.mode, shape: f.shape, elements: C * H * W, quant: f.quant,
    model: model && { path: model.path, id: model.id, match: model.match, modeKnown: model.modeKnown },
  };
  if (json) {
    io.out(JSON.stringify(info, null, 2) + '\n');
    return;
  }
  const missing = model !== null && !model.modeKnown;
  io.out(`${file}: packet v${f.version}, ${bytes.length} bytes (header ${header} + payload ${p.payload.length} + checksum 2), checksum ok${missing ? "; its mode is NOT one of the model's (below): it cannot be decoded" : ''}\n`);
  io.out(`model id: ${info.modelId}${model ? (model.match ? ` (matches ${model.path})` : ` (NOT ${model.path}, which is ${model.id})`) : ''}\n`);
  const modeLine = `mode: [${f.mode.join(', ')}]${f.mode.length ? ` (${f.mode.map((v, i) => `${modeNames[i]}=${v}`).join(', ')})` : ''}`;
  const axesList = model ? Object.entries(model.axes).map(([k, v]) => `${k} takes ${v.join(', ')}`).join('; ') : '';
  io.out(`${modeLine}${model ? (model.modeKnown ? `, a mode of ${model.path}` : `: NOT a mode of ${model.path} (${axesList})`) : ''}\n`);
  io.out(`tensor: [${C}, ${H}, ${W}] = ${C * H * W} values, ${((p.payload.length * 8) / (C * H * W)).toFixed(3)} bits each\n`);
  io.out(`quant: ${f.quant.kind === 'inline' ? `inline, scale ${f.quant.scale}, zero point ${f.quant.zeroPoint}` : f.quant.kind === 'index' ? `index ${f.quant.index}` : 'implied by the mode'}\n`);
}

/** A compact packet carries no model id: the CRC and the mode byte can only be read against a model. */
export function inspectCompactPacket(io: Io, file: string, bytes: Uint8Array, json: boolean, modelPath: string | undefined): void {
  const path = modelPath ?? (existsSync(DEFAULT_MODEL) ? DEFAULT_MODEL : undefined);
  const { mode: modeByte, payload } = splitCompactPacket(bytes);
  let checked: { path: string; id: string; mode: Mode | null } | null = null;
  if (path) {
    const blobBytes = readInput(path, 'model file');
    const id = modelIdOf(blobBytes);
    readCompactPacket(bytes, id); // throws on a damaged packet or another model's
    checked = { path, id: hex32(id), mode: modesOf(readBlob(blobBytes))[modeByte] ?? null };
  }
  const info = { file, kind: 'compact-packet', bytes: bytes.length, payloadBytes: payload.length, modeByte, model: checked };
  if (json) {
    io.out(JSON.stringify(info, null, 2) + '\n');
    return;
  }
  io.out(`${file}: compact packet, ${bytes.length} bytes (tag 1 + mode 1 + payload ${payload.length} + checksum 2)\n`);
  if (!checked) {
    io.out(`mode byte ${modeByte}; checksum not checked: it is keyed by the model id (give --model)\n`);
    return;
  }
  io.out(`checksum ok for ${checked.path} (model id ${checked.id})\n`);
  io.out(`mode byte ${modeByte}: ${checked.mode ? formatMode(checked.mode) : 'not a mode of this model'}\n`);
}

export function inspectImage(io: Io, file: string, bytes: Uint8Array, json: boolean): void {
  const img: RawImage = decodeImage(bytes);
  const layout = isJpeg(bytes) ? parseJpeg(bytes) : null;
  const info = {
    file, kind: layout ? 'jpeg' : 'png', bytes: bytes.length, width: img.width, height: img.height, channels: img.channels,
    segments: layout?.segments, entropyBytes: layout?.entropyBytes, strippedBytes: layout ? layout.entropyBytes + 2 : undefined,
  };
  if (json) {
    io.out(JSON.stringify(info, null, 2) + '\n');
    return;
  }
  io.out(`${file}: ${info.kind.toUpperCase()} ${img.width}x${img.height}, ${bytes.length} bytes\n`);
  if (layout) {
    io.out(table(['segment', 'offset', 'bytes'], layout.segments.map((s) => [s.name, String(s.offset), String(s.bytes)])));
    io.out(`header-stripped: ${layout.entropyBytes + 2} bytes (entropy-coded data + EOI; see src/model/jpeg.ts)\n`);
  }
}

export function cmdInspect(io: Io, file: string, o: { json?: boolean; model?: string; device?: boolean }): void {
  const bytes = readInput(file, 'file');
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (bytes.length >= 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) === DEVICE_MAGIC) return inspectDeviceBlob(io, bytes, !!o.json);
  if (o.device) {
    if (magic !== BLOB_MAGIC) throw new CliError(`${file}: --device takes a .slim blob or a device blob`, 2);
    return inspectDeviceBudget(io, file, bytes, !!o.json);
  }
  if (magic === BLOB_MAGIC) return inspectBlob(io, file, bytes, !!o.json);
  if (bytes[0] === PACKET_MAGIC[0] && bytes[1] === PACKET_MAGIC[1]) return inspectPacket(io, file, bytes, !!o.json, o.model);
  if (isCompactPacket(bytes)) return inspectCompactPacket(io, file, bytes, !!o.json, o.model);
  if (isJpeg(bytes) || isPng(bytes)) return inspectImage(io, file, bytes, !!o.json);
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new CliError(`${file}: not a .slim blob, a packet, a JPEG or a PNG (starts with ${head || 'nothing'})`);
}
