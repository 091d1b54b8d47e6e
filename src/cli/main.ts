#!/usr/bin/env node
/**
 * The `slimsplit` command line.
 *
 *   slimsplit demo                                            # samples/*.jpg through every mode
 *   slimsplit encode cat.jpg --mode members=2,bits=4 -o cat.pkt   # device side
 *   slimsplit decode cat.pkt                                  # server side: top-1 label
 *   slimsplit inspect weights/see-cifar10.slim                # a blob, a packet or a JPEG
 *   slimsplit eval --data ../shared/datasets/cifar10-jpeg/test.tar.gz --limit 1000 --svg rate.svg
 *   slimsplit bench --rounds 5
 *   slimsplit pack model.graph.json model.tensors.bin -o model.slim
 *
 *   import { main } from './main.js';
 *   const code = await main(['inspect', 'x.slim'], { out: (s) => ..., err: (s) => ... });   // 0, 1 or 2
 *   await main(['demo'], io, async (bytes) => myModel);                                       // another loader
 *
 * Exit codes: 0 done, 1 runtime error (missing or bad file, ...), 2 usage error (unknown command,
 * bad option). Default paths (the model, samples/) are resolved from the package root, so the
 * commands work from any directory right after `npm install`; paths given by the user are relative
 * to the current directory. The model runtime (src/model/model.ts) is imported only by the commands that
 * run the model, so help, inspect and pack start fast.
 */
import { existsSync, readFileSync, readdirSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import type { Mode, PacketFormat, RawImage } from '../model/api.js';
import { decodeImage, isJpeg, isPng } from '../model/image.js';
import { parseJpeg } from '../model/jpeg.js';
import { rateAccuracySvg, type ChartSeries } from '../eval/chart.js';
import { runEval, DEFAULT_QUALITIES, type SplitModel, type ClassifierModel, type EvalResult, type JpegMatch } from '../eval/eval.js';
import { readBlob, BLOB_MAGIC } from '../format/blob.js';
import { readPacket, modelIdOf, MAGIC as PACKET_MAGIC, isCompactPacket, readCompactPacket, splitCompactPacket, COMPACT_OVERHEAD } from '../codec/packet.js';
import { packGraph } from '../format/pack.js';
import { contextsPerGroup, type ContextNeighbours } from '../codec/coder.js';
import { modeTable, modesOf, pickMode, splitInfo, type ModeInfo } from '../codec/modes.js';
import { DTYPE_BYTES, PH } from '../engine/plan.js';
import { makeDeviceBlob, readDeviceBlobInfo, DEVICE_MAGIC } from '../device/blob.js';
import { budgetPerMode, budgetTable, describeDeviceBlob, heapBase } from '../device/report.js';
import { deviceBudget } from '../device/budget.js';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const defaultIo: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

/** Turns blob bytes into a model; src/model/model.ts's loadModel unless a caller (a test) passes another. */
export type ModelLoader = (bytes: Uint8Array) => Promise<SplitModel & ClassifierModel>;

interface Ctx extends Io {
  load?: ModelLoader;
}

/** An error with its exit code: 1 for runtime problems, 2 for usage. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2 = 1) {
    super(message);
    this.name = 'CliError';
  }
}

type FullModel = SplitModel & ClassifierModel;

/** The directory holding slimsplit's package.json (src/ when run from source, dist/src/ when built). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if (JSON.parse(readFileSync(pj, 'utf8')).name === 'slimsplit') return dir;
      } catch {
        // an unreadable package.json further down is not ours: keep walking up
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new CliError(`cannot find slimsplit's package.json above ${fileURLToPath(import.meta.url)}; reinstall the package`);
    dir = up;
  }
}

const ROOT = packageRoot();
export const DEFAULT_MODEL = join(ROOT, 'weights', 'see-cifar10.slim');
export const DEFAULT_BASELINE = join(ROOT, 'weights', 'jpeg-baseline.slim');
export const SAMPLES_DIR = join(ROOT, 'samples');

// ------------------------------------------------------------------------------------------------
// Shared helpers: files, models, modes, tables
// ------------------------------------------------------------------------------------------------

function readInput(path: string, what: string): Uint8Array {
  if (!existsSync(path)) throw new CliError(`${what} not found: ${path} (relative paths start at ${process.cwd()})`);
  if (!statSync(path).isFile()) throw new CliError(`${what} is not a file: ${path}`);
  return new Uint8Array(readFileSync(path));
}

async function openModel(ctx: Ctx, path: string, what = 'model file'): Promise<{ model: FullModel; bytes: Uint8Array }> {
  if (!existsSync(path)) {
    const hint = path === DEFAULT_MODEL
      ? 'the trained model ships as weights/see-cifar10.slim; export it with train/export_cifar.py or pass --model <file.slim>'
      : path === DEFAULT_BASELINE
        ? 'export it with train/export_cifar.py, pass --baseline <file.slim>, or --no-baseline'
        : 'run from the repo root or pass --model <file.slim>';
    throw new CliError(`${what} not found: ${path} (${hint})`);
  }
  const bytes = readInput(path, what);
  const load: ModelLoader = ctx.load ?? (await import('../model/model.js')).loadModel;
  return { model: await load(bytes), bytes };
}

/** `members=2,bits=4` -> { members: 2, bits: 4 }; throws InvalidArgumentError (usage). */
export function parseModeTerm(text: string): Mode {
  const mode: Mode = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(members|width|bits)=(\d+)$/.exec(part);
    if (!m) throw new InvalidArgumentError(`'${part}' is not axis=value with axis members, width or bits (e.g. members=2,bits=4)`);
    const axis = m[1] as keyof Mode;
    if (mode[axis] !== undefined) throw new InvalidArgumentError(`${axis} is given twice in '${text}'`);
    mode[axis] = Number(m[2]);
  }
  if (Object.keys(mode).length === 0) throw new InvalidArgumentError(`'${text}' names no axis (e.g. members=2,bits=4)`);
  return mode;
}

/** Space- or ';'-separated mode terms; each selects the modes matching all its axis values. */
export function parseModeList(text: string): Mode[] {
  const terms = text.split(/[\s;]+/).filter(Boolean);
  if (terms.length === 0) throw new InvalidArgumentError('no modes given (e.g. "members=1,bits=2 members=4")');
  return terms.map(parseModeTerm);
}

export function modeText(m: Mode): string {
  return (['members', 'width', 'bits'] as const).filter((a) => m[a] !== undefined).map((a) => `${a}=${m[a]}`).join(',') || 'default';
}

/** Checks each axis value against the model's axes; a wrong one is a usage error listing the choices. */
function checkMode(model: FullModel, mode: Mode): void {
  const axes = model.info.axes;
  for (const [axis, v] of Object.entries(mode)) {
    const values = axes[axis];
    if (!values) throw new CliError(`this model has no ${axis} axis (its axes: ${Object.keys(axes).join(', ') || 'none'})`, 2);
    if (!values.includes(v as number)) throw new CliError(`${axis}=${v} is not a mode of this model (${axis} takes ${values.join(', ')})`, 2);
  }
}

/** The model's modes matching any of the terms (all modes when none), in the model's order. */
function selectModes(model: FullModel, terms: Mode[] | undefined): Mode[] {
  const all = model.modes();
  if (!terms) return all;
  for (const t of terms) checkMode(model, t);
  const match = (m: Mode, t: Mode): boolean => Object.entries(t).every(([k, v]) => m[k as keyof Mode] === v);
  return all.filter((m) => terms.some((t) => match(m, t)));
}

function num(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '-';
}

function pct(v: number): string {
  return `${(v * 100).toFixed(2)}%`;
}

/** Aligned text table: a column whose cells are all numbers (or '-') is right-aligned, header included. */
export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = (s: string): boolean => /^[-+<>≤≥]?[\d.]/.test(s) || s === '-' || s === '';
  const right = head.map((_, i) => rows.length > 0 && rows.every((r) => numeric(r[i] ?? '')));
  const line = (r: string[]): string => r.map((c, i) => (right[i] ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ').trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n') + '\n';
}

function progressBar(unit: string): cliProgress.SingleBar {
  return new cliProgress.SingleBar(
    { format: `{bar} {percentage}% | {value}/{total} ${unit} | {duration_formatted} elapsed, ETA {eta_formatted}`, hideCursor: true, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
}

function sampleFiles(dir: string): string[] {
  if (!existsSync(dir)) throw new CliError(`samples folder not found: ${dir} (reinstall the package, or pass --samples <dir>)`);
  const files = readdirSync(dir).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
  if (files.length === 0) throw new CliError(`no .jpg or .png files in ${dir}`);
  return files.map((f) => join(dir, f));
}

function positiveInt(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return Number(v);
  };
}

function hex32(v: number): string {
  return '0x' + (v >>> 0).toString(16).padStart(8, '0');
}

// ------------------------------------------------------------------------------------------------
// Commands
// ------------------------------------------------------------------------------------------------

async function cmdEncode(io: Ctx, image: string, o: { mode?: Mode; maxBytes?: number; maxMembers?: number; out: string; model: string; compact?: boolean }): Promise<void> {
  if ((o.mode === undefined) === (o.maxBytes === undefined)) throw new CliError('encode: give either --mode or --max-bytes', 2);
  if (o.maxMembers !== undefined && o.maxBytes === undefined) throw new CliError('encode: --max-members goes with --max-bytes', 2);
  const bytes = readInput(image, 'image file');
  const { model, bytes: blobBytes } = await openModel(io, o.model);
  let mode = o.mode;
  let picked = '';
  if (mode === undefined) {
    const blob = readBlob(blobBytes);
    const tab = modeTable(blob, blob.json ? JSON.parse(blob.json) : {}, modelIdOf(blobBytes), o.compact ? COMPACT_OVERHEAD : undefined);
    const { info, fits } = pickMode(tab, { maxBytes: o.maxBytes, maxMembers: o.maxMembers });
    mode = info.mode;
    const ref = info.top1 === undefined ? '' : `, reference top-1 ${(100 * info.top1).toFixed(2)}%`;
    picked = ` (picked for <= ${o.maxBytes} bytes: expected ${info.expectedBytes}${ref})`;
    if (!fits) io.err(`slimsplit: no mode is expected to fit ${o.maxBytes} bytes; sending the smallest (${modeText(mode)}, expected ${info.expectedBytes})\n`);
  }
  checkMode(model, mode);
  const raw = decodeImage(bytes);
  const enc = model.encoder({ packet: o.compact ? 'compact' : 'full' });
  enc.setMode(mode);
  const t = performance.now();
  const packet = enc.encode(raw);
  const ms = performance.now() - t;
  writeFileSync(o.out, packet);
  io.out(`${o.out}: ${packet.length} bytes${o.compact ? ' (compact packet)' : ''}, mode ${modeText(enc.mode)}${picked}, ${raw.width}x${raw.height} image, encoder ${ms.toFixed(2)} ms\n`);
}

async function cmdDecode(io: Ctx, file: string, o: { model: string; json?: boolean }): Promise<void> {
  const bytes = readInput(file, 'packet file');
  const { model } = await openModel(io, o.model);
  const t = performance.now();
  const r = model.decoder().decode(bytes);
  const ms = performance.now() - t;
  // softmax for the top-3 listing (logits of any scale)
  const max = Math.max(...r.logits);
  const e = Array.from(r.logits, (v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  const top = e.map((p, i) => ({ i, p: p / sum })).sort((a, b) => b.p - a.p).slice(0, 3);
  const classes = model.info.classes;
  if (o.json) {
    io.out(JSON.stringify({
      file, bytes: bytes.length, mode: r.mode, top1: r.top1, label: r.label, decodeMs: ms,
      top: top.map((t) => ({ index: t.i, label: classes[t.i] ?? String(t.i), prob: t.p })), logits: Array.from(r.logits),
    }, null, 2) + '\n');
    return;
  }
  io.out(`${r.label} (class ${r.top1}), mode ${modeText(r.mode)}, ${bytes.length} bytes, decoder ${ms.toFixed(2)} ms\n`);
  io.out(`top-3: ${top.map((t) => `${classes[t.i] ?? t.i} ${(t.p * 100).toFixed(1)}%`).join(', ')}\n`);
}

function inspectBlob(io: Io, file: string, bytes: Uint8Array, json: boolean): void {
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
    return { name: g.name, layers: g.layers.length, ops, input: { name: g.input, shape: buf(g.input) }, output: { name: g.output, shape: buf(g.output) }, planBytes: g.plan.byteLength, arenaBytes: g.plan[PH.arenaBytes] };
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
  if (info.classes) io.out(`classes: ${(info.classes as unknown[]).join(', ')}\n`);
  io.out(`tensors: ${b.tensors.length}, ${info.tensors.bytes} bytes (${Object.entries(byDtype).map(([d, n]) => `${d} ${n / DTYPE_BYTES[d as keyof typeof DTYPE_BYTES]} values`).join(', ') || 'none'})\n`);
  for (const g of graphs) {
    const ops = Object.entries(g.ops).map(([op, n]) => `${op} x${n}`).join(', ');
    io.out(`graph ${g.name}: ${g.layers} layers (${ops || 'none'}), ${g.input.name} [${g.input.shape.join(', ')}] -> ${g.output.name} [${g.output.shape.join(', ')}], plan ${g.planBytes} bytes, arena ${g.arenaBytes} bytes\n`);
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
    io.out('modes (expected packet bytes from the coder tables; reference top-1 from the exporter):\n');
    io.out(table(['mode', 'expected B', 'top-1'], modeRows.map((r) => [modeText(r.mode), String(r.expectedBytes), r.top1 === undefined ? '-' : `${(100 * r.top1).toFixed(2)}%`])));
  }
}

function inspectPacket(io: Io, file: string, bytes: Uint8Array, json: boolean, modelPath: string | undefined): void {
  const p = readPacket(bytes);
  const f = p.fields;
  const header = bytes.length - p.payload.length - 2;
  const [C, H, W] = f.shape;
  let model: { path: string; id: string; match: boolean } | null = null;
  const path = modelPath ?? (existsSync(DEFAULT_MODEL) ? DEFAULT_MODEL : undefined);
  if (path) {
    const id = modelIdOf(readInput(path, 'model file'));
    model = { path, id: hex32(id), match: id === f.modelId };
  }
  const modeNames = ['members', 'bits', 'byte 3'];
  const info = {
    file, kind: 'packet', bytes: bytes.length, version: f.version, headerBytes: header, payloadBytes: p.payload.length, checksumBytes: 2,
    modelId: hex32(f.modelId), mode: f.mode, shape: f.shape, elements: C * H * W, quant: f.quant, model,
  };
  if (json) {
    io.out(JSON.stringify(info, null, 2) + '\n');
    return;
  }
  io.out(`${file}: packet v${f.version}, ${bytes.length} bytes (header ${header} + payload ${p.payload.length} + checksum 2), checksum ok\n`);
  io.out(`model id: ${info.modelId}${model ? (model.match ? ` (matches ${model.path})` : ` (NOT ${model.path}, which is ${model.id})`) : ''}\n`);
  io.out(`mode: [${f.mode.join(', ')}]${f.mode.length ? ` (${f.mode.map((v, i) => `${modeNames[i]}=${v}`).join(', ')})` : ''}\n`);
  io.out(`tensor: [${C}, ${H}, ${W}] = ${C * H * W} values, ${((p.payload.length * 8) / (C * H * W)).toFixed(3)} bits each\n`);
  io.out(`quant: ${f.quant.kind === 'inline' ? `inline, scale ${f.quant.scale}, zero point ${f.quant.zeroPoint}` : f.quant.kind === 'index' ? `index ${f.quant.index}` : 'implied by the mode'}\n`);
}

/** A compact packet carries no model id: the CRC and the mode byte can only be read against a model. */
function inspectCompactPacket(io: Io, file: string, bytes: Uint8Array, json: boolean, modelPath: string | undefined): void {
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
  io.out(`mode byte ${modeByte}: ${checked.mode ? modeText(checked.mode) : 'not a mode of this model'}\n`);
}

function inspectImage(io: Io, file: string, bytes: Uint8Array, json: boolean): void {
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

function cmdInspect(io: Io, file: string, o: { json?: boolean; model?: string; device?: boolean }): void {
  const bytes = readInput(file, 'file');
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 4 && dv.getUint32(0, true) === DEVICE_MAGIC) return inspectDeviceBlob(io, bytes, !!o.json);
  if (o.device) {
    if (magic !== BLOB_MAGIC) throw new CliError(`${file}: --device takes a .slim blob or a device blob`, 2);
    const rows = budgetPerMode(bytes);
    if (o.json) io.out(JSON.stringify(rows, null, 2) + '\n');
    else {
      io.out(`${file}: linear memory of the device path per mode (KiB; a device blob for that mode alone: its bits' tables, an arena for its members count; an RGB frame of the model's input size; scalar build)\n`);
      io.out(budgetTable(rows));
    }
    return;
  }
  if (magic === BLOB_MAGIC) return inspectBlob(io, file, bytes, !!o.json);
  if (bytes[0] === PACKET_MAGIC[0] && bytes[1] === PACKET_MAGIC[1]) return inspectPacket(io, file, bytes, !!o.json, o.model);
  if (isCompactPacket(bytes)) return inspectCompactPacket(io, file, bytes, !!o.json, o.model);
  if (isJpeg(bytes) || isPng(bytes)) return inspectImage(io, file, bytes, !!o.json);
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new CliError(`${file}: not a .slim blob, a packet, a JPEG or a PNG (starts with ${head || 'nothing'})`);
}

function inspectDeviceBlob(io: Io, bytes: Uint8Array, json: boolean): void {
  const info = readDeviceBlobInfo(bytes);
  const budget = deviceBudget(bytes, heapBase('scalar'));
  if (json) return io.out(JSON.stringify({ ...info, budget }, null, 2) + '\n');
  io.out(describeDeviceBlob(info));
  io.out(`linear memory (scalar build, RGB frame of the input size): ${budget.total} bytes: ${Object.entries(budget.parts).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
}

function cmdDeviceBlob(io: Io, file: string, o: { out: string; bits?: number[]; members?: number[] }): void {
  const bytes = readInput(file, 'blob');
  let dev: Uint8Array;
  try {
    dev = makeDeviceBlob(bytes, { bits: o.bits, members: o.members });
  } catch (e) {
    throw new CliError(`${file}: ${(e as Error).message.replace(/^slimsplit: /, '')}`);
  }
  writeFileSync(o.out, dev);
  io.out(`${o.out}: ${dev.length} bytes (from ${bytes.length}; ${readDeviceBlobInfo(dev).coderSets.map((s) => s.bits).join(',')} bits kept)\n`);
}

function cmdPack(io: Io, graph: string, tensors: string, o: { out: string }): void {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(readInput(graph, 'graph JSON')));
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${graph} is not valid JSON (${(e as Error).message})`);
  }
  const bytes = packGraph(json, readInput(tensors, 'tensor file'));
  writeFileSync(o.out, bytes);
  const b = readBlob(bytes);
  const modes = b.axes.map((a) => `${a.name} [${a.values.join(', ')}]`).join(', ') || 'one mode';
  io.out(`${o.out}: ${bytes.length} bytes, model '${b.name}', ${b.tensors.length} tensors, modes: ${modes}\n`);
  for (const g of b.graphs) io.out(`  ${g.name}: ${g.layers.length} layers, plan ${g.plan.byteLength} bytes, arena ${g.plan[PH.arenaBytes]} bytes\n`);
}

function matchText(m: JpegMatch | undefined): [string, string] {
  if (!m) return ['-', '-'];
  const sign = m.kind === 'at-most' ? '≤' : m.kind === 'at-least' ? '>' : '';
  return [`${sign}${m.bytes.toFixed(1)}`, `${sign}${m.ratio.toFixed(2)}x`];
}

/** The three tables `eval` prints. */
export function evalReport(r: EvalResult): string {
  let s = `${r.model.name}: ${r.images} images, ${r.seconds.toFixed(1)} s, ${r.packet ?? 'full'} packets (bytes include header and checksum)\n\n`;
  s += table(
    ['mode', 'top-1', 'mean B', 'p95 B', 'enc ms', 'dec ms'],
    r.modes.map((m) => [modeText(m.mode), pct(m.acc), num(m.meanBytes, 1), String(m.p95Bytes), num(m.encMs, 2), num(m.decMs, 2)]),
  );
  if (r.jpeg.length) {
    s += `\nJPEG baseline${r.baselineClean ? ` (on the original files: top-1 ${pct(r.baselineClean.acc)}, ${r.baselineClean.meanBytes.toFixed(1)} B)` : ''}\n`;
    s += table(['quality', 'top-1', 'file B', 'stripped B'], r.jpeg.map((j) => [String(j.quality), pct(j.acc), num(j.meanBytes, 1), num(j.meanStrippedBytes, 1)]));
    s += '\nper mode vs JPEG at the same top-1 (log-bytes interpolation; ≤/> where the JPEG curve ends)\n';
    s += table(
      ['mode', 'top-1', 'mean B', 'JPEG stripped B', 'ratio', 'JPEG file B', 'ratio'],
      r.modes.map((m) => [modeText(m.mode), pct(m.acc), num(m.meanBytes, 1), ...matchText(m.vsJpeg?.stripped), ...matchText(m.vsJpeg?.full)]),
    );
  }
  return s;
}

/** Chart series: one line per ensemble size (through its bit depths), then the JPEG curves. */
export function evalSeries(r: EvalResult): ChartSeries[] {
  const byMembers = new Map<number, ChartSeries>();
  for (const m of r.modes) {
    const key = m.mode.members ?? 1;
    if (!byMembers.has(key)) byMembers.set(key, { name: `slimsplit N=${key}`, points: [] });
    byMembers.get(key)!.points.push({ bytes: m.meanBytes, acc: m.acc, label: modeText(m.mode) });
  }
  const out = [...byMembers.values()];
  if (r.jpeg.length) {
    out.push({ name: 'JPEG (header-stripped)', points: r.jpeg.map((j) => ({ bytes: j.meanStrippedBytes, acc: j.acc, label: `q${j.quality}` })) });
    out.push({ name: 'JPEG (file)', points: r.jpeg.map((j) => ({ bytes: j.meanBytes, acc: j.acc, label: `q${j.quality}` })) });
  }
  return out;
}

async function cmdEval(io: Ctx, o: { data: string; limit?: number; json?: string; svg?: string; modes?: Mode[]; qualities?: number[]; model: string; baseline: string | false; packet: PacketFormat }): Promise<void> {
  if (!existsSync(o.data)) throw new CliError(`data file not found: ${o.data} (pass the CIFAR-10 JPEG test tarball, e.g. --data ../shared/datasets/cifar10-jpeg/test.tar.gz)`);
  const { model } = await openModel(io, o.model);
  const baseline = o.baseline === false ? undefined : (await openModel(io, o.baseline, 'baseline model file')).model;
  const modes = selectModes(model, o.modes);
  const bar = progressBar('images');
  let started = false;
  let r: EvalResult;
  try {
    r = await runEval({
      model, baseline, data: o.data, limit: o.limit, modes, qualities: o.qualities ?? DEFAULT_QUALITIES, packet: o.packet,
      onProgress: (done, total) => {
        if (!started) {
          bar.start(total ?? done, 0);
          started = true;
        }
        bar.update(done);
      },
    });
  } finally {
    if (started) bar.stop();
  }
  io.out(evalReport(r));
  const torch = torchComparison(model, r);
  if (torch) io.out(torch.text);
  if (o.json) {
    writeFileSync(o.json, JSON.stringify(torch ? { ...r, pytorch: torch.rows } : r, null, 2) + '\n');
    io.out(`wrote ${o.json}\n`);
  }
  if (o.svg) {
    writeFileSync(o.svg, rateAccuracySvg(evalSeries(r), { title: `${r.model.name}: top-1 vs bytes per image (${r.images} images)` }));
    io.out(`wrote ${o.svg}\n`);
  }
}

/**
 * The engine's top-1 per mode beside PyTorch's for the same model (the exporter stores PyTorch's,
 * measured on all 10,000 test images, in the blob's meta.pytorchTop1). Only a full run compares like
 * with like; on a subset the column is printed for information.
 */
export function torchComparison(model: unknown, r: EvalResult): { text: string; rows: Array<{ mode: string; engine: number; pytorch: number; deltaPoints: number }> } | null {
  const t = (model as { meta?: { pytorchTop1?: Record<string, number> } }).meta?.pytorchTop1;
  if (!t) return null;
  const rows = r.modes.flatMap((m) => {
    const key = `${m.mode.members},${m.mode.bits}`;
    return key in t ? [{ mode: modeText(m.mode), engine: m.acc, pytorch: t[key], deltaPoints: 100 * (m.acc - t[key]) }] : [];
  });
  if (!rows.length) return null;
  const worst = Math.max(...rows.map((x) => Math.abs(x.deltaPoints)));
  let text = `\nengine vs PyTorch top-1 (PyTorch on all 10,000 test images as jpeg-js decodes them${r.images === 10000 ? '' : `; this run used ${r.images}, so the difference is not like for like`})\n`;
  text += table(['mode', 'engine', 'PyTorch', 'diff (points)'], rows.map((x) => [x.mode, pct(x.engine), pct(x.pytorch), x.deltaPoints.toFixed(2)]));
  text += `largest difference: ${worst.toFixed(2)} points\n`;
  return { text, rows };
}

interface Sample {
  file: string;
  raw: RawImage;
  /** class index from the file name, -1 if the name is not a class */
  label: number;
}

function loadSamples(model: FullModel, dir: string): Sample[] {
  return sampleFiles(dir).map((file) => {
    const stem = basename(file, extname(file)).toLowerCase();
    return { file, raw: decodeImage(readInput(file, 'sample image')), label: model.info.classes.indexOf(stem) };
  });
}

/** Per-frame byte budgets of the demo's simulated link (a drop to a congested link and back). */
const LINK_BUDGETS = [1000, 400, 250, 120, 100, 60, 120, 250];

async function cmdDemo(io: Ctx, o: { model: string; samples: string; modes?: Mode[]; packet: PacketFormat }): Promise<void> {
  const { model, bytes } = await openModel(io, o.model);
  const samples = loadSamples(model, o.samples);
  const modes = selectModes(model, o.modes);
  const enc = model.encoder({ packet: o.packet });
  const dec = model.decoder();
  const classes = model.info.classes;
  io.out(`model '${model.info.name}' (${bytes.length} bytes), ${samples.length} samples from ${o.samples}, ${modes.length} modes, ${o.packet} packets\n`);
  const correct = modes.map(() => 0);
  const counted = samples.filter((s) => s.label >= 0).length;
  for (const s of samples) {
    io.out(`\n${basename(s.file)} (true class: ${s.label >= 0 ? classes[s.label] : 'unknown'})\n`);
    const rows: string[][] = [];
    modes.forEach((m, i) => {
      enc.setMode(m);
      const t = performance.now();
      const packet = enc.encode(s.raw); // device side
      const ms = performance.now() - t;
      const r = dec.decode(packet); // server side, from the packet bytes only
      if (r.top1 === s.label) correct[i]++;
      rows.push([modeText(enc.mode), String(packet.length), ms.toFixed(2), r.label, s.label < 0 ? '' : r.top1 === s.label ? 'ok' : 'wrong']);
    });
    io.out(table(['mode', 'bytes', 'enc ms', 'predicted', ''], rows).replace(/^/gm, '  '));
  }
  // (a model from a custom loader need not be a .slim blob; the section needs the blob's coder tables)
  const blob = String.fromCharCode(...bytes.subarray(0, 4)) === BLOB_MAGIC ? readBlob(bytes) : undefined;
  const meta = blob?.json ? (JSON.parse(blob.json) as Record<string, unknown>) : {};
  if (blob?.coder && typeof meta.split === 'object' && meta.split !== null && samples.length > 0) {
    // The link's capacity changes frame by frame: each frame gets the mode pickMode chooses for it.
    const modeTab = modeTable(blob, meta, modelIdOf(bytes), o.packet === 'compact' ? COMPACT_OVERHEAD : undefined);
    io.out('\nfollowing a link whose budget changes per frame (pickMode, members within 0.5 point of the best):\n');
    const rows = LINK_BUDGETS.map((budget, f) => {
      const s = samples[f % samples.length];
      const { info, fits } = pickMode(modeTab, { maxBytes: budget, tolerance: 0.005 });
      enc.setMode(info.mode);
      const packet = enc.encode(s.raw);
      const r = dec.decode(packet);
      return [String(f + 1), String(budget), modeText(enc.mode), String(packet.length), fits ? '' : 'over budget', basename(s.file), r.label];
    });
    io.out(table(['frame', 'budget B', 'mode', 'bytes', '', 'sample', 'predicted'], rows).replace(/^/gm, '  '));
  }
  io.out(`\naccuracy on the ${counted} samples per mode: ${modes.map((m, i) => `${modeText(m)} ${correct[i]}/${counted}`).join('; ')}\n`);
}

async function cmdBench(io: Ctx, o: { model: string; samples: string; modes?: Mode[]; rounds: number; packet: PacketFormat }): Promise<void> {
  const { model } = await openModel(io, o.model);
  const samples = loadSamples(model, o.samples);
  const modes = selectModes(model, o.modes);
  const enc = model.encoder({ packet: o.packet });
  const dec = model.decoder();
  io.out(`model '${model.info.name}', ${samples.length} samples x ${o.rounds} rounds per mode, node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}\n`);
  const bar = progressBar('encodes');
  bar.start(modes.length * o.rounds * samples.length, 0);
  const rows: string[][] = [];
  try {
    for (const m of modes) {
      enc.setMode(m);
      // one warm-up pass so first-call costs (JIT, arena growth) stay out of the numbers
      const packets = samples.map((s) => enc.encode(s.raw));
      for (const p of packets) dec.decode(p);
      const encT: number[] = [];
      const decT: number[] = [];
      for (let r = 0; r < o.rounds; r++) {
        for (let i = 0; i < samples.length; i++) {
          const t0 = performance.now();
          const p = enc.encode(samples[i].raw);
          const t1 = performance.now();
          dec.decode(p);
          encT.push(t1 - t0);
          decT.push(performance.now() - t1);
          bar.increment();
        }
      }
      const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
      const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
      const bytes = mean(packets.map((p) => p.length));
      rows.push([modeText(enc.mode), num(bytes, 1), num(med(encT), 3), num(mean(encT), 3), num(med(decT), 3), num(mean(decT), 3), num(1000 / mean(encT), 0)]);
    }
  } finally {
    bar.stop();
  }
  io.out(table(['mode', 'mean B', 'enc ms (median)', 'enc ms (mean)', 'dec ms (median)', 'dec ms (mean)', 'enc images/s'], rows));
}

// ------------------------------------------------------------------------------------------------
// Program
// ------------------------------------------------------------------------------------------------

function buildProgram(io: Ctx): Command {
  const program = new Command('slimsplit');
  // set before the subcommands are made, so they inherit it
  program
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError('(add --help for usage)')
    .description('Split computing with slimmable ensemble encoders: device-side encode, server-side decode, evaluation.')
    .version(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  const modelOpt = () => new Option('--model <file.slim>', 'model blob').default(DEFAULT_MODEL, "the package's weights/see-cifar10.slim");
  const packetOpt = () => new Option('--packet <format>', "packets to write: 'compact' (4 bytes around the payload, for links that frame packets) or 'full' (self-describing: model id, mode, shape, length; 15-16 bytes)").choices(['compact', 'full']).default('compact');
  const modesOpt = () => new Option('--modes <list>', 'modes to run: space- or ;-separated terms, each selecting the modes that match it (e.g. "members=1,bits=2 members=4")').argParser(parseModeList);

  program
    .command('encode')
    .description('device side: image (JPEG/PNG) -> packet')
    .argument('<image>', 'JPEG or PNG file')
    .option('--mode <mode>', 'mode, e.g. members=2,bits=4 (axes not given keep the model default)', parseModeTerm)
    .option('--max-bytes <n>', 'instead of --mode: the most accurate mode expected to fit n bytes (slimsplit inspect <model> lists them)', positiveInt('--max-bytes'))
    .option('--max-members <n>', 'with --max-bytes: run at most n ensemble members', positiveInt('--max-members'))
    .option('--compact', 'write a compact packet (4 bytes around the payload instead of 15-16; for links that frame packets themselves)')
    .requiredOption('-o, --out <packet>', 'where to write the packet')
    .addOption(modelOpt())
    .addHelpText('after', '\nExamples:\n  slimsplit encode samples/cat.jpg --mode members=2,bits=4 -o cat.pkt\n  slimsplit encode samples/cat.jpg --max-bytes 100 --max-members 1 --compact -o cat.pkt')
    .action((image, o) => cmdEncode(io, image, o));

  program
    .command('decode')
    .description('server side: packet -> top-1 class')
    .argument('<packet>', 'packet file written by encode')
    .addOption(modelOpt())
    .option('--json', 'print JSON (label, mode, bytes, top-3, logits)')
    .addHelpText('after', '\nExample:\n  slimsplit decode cat.pkt --json')
    .action((file, o) => cmdDecode(io, file, o));

  program
    .command('inspect')
    .description('show the fields of a .slim blob, a packet, or a JPEG/PNG file (detected by magic bytes)')
    .argument('<file>', 'blob, packet or image')
    .option('--json', 'print JSON')
    .option('--model <file.slim>', 'for a packet: check its model id against this blob (default: the package model, if present)')
    .option('--device', "for a .slim blob: the device path's linear memory per mode (see docs/DEVICE.md)")
    .addHelpText('after', '\nExamples:\n  slimsplit inspect weights/see-cifar10.slim\n  slimsplit inspect cat.pkt\n  slimsplit inspect samples/cat.jpg')
    .action((file, o) => cmdInspect(io, file, o));

  program
    .command('device-blob')
    .description('write the device-only blob of a split model: encoder plan and weights as stored, coder tables for the kept bit depths, normalization, model id (docs/DEVICE.md)')
    .argument('<blob.slim>', 'full model blob')
    .requiredOption('-o, --out <out.sdev>', 'where to write the device blob')
    .option('--bits <list>', 'bit depths to keep, comma-separated (default: all the model has)', (v: string) => v.split(',').map((b) => {
      if (!/^\d+$/.test(b.trim())) throw new InvalidArgumentError(`'${b}' is not a bit depth`);
      return Number(b);
    }))
    .option('--members <list>', 'members counts the device runs, comma-separated (default: all); the arena is laid out for these only', (v: string) => v.split(',').map((b) => {
      if (!/^\d+$/.test(b.trim())) throw new InvalidArgumentError(`'${b}' is not a members count`);
      return Number(b);
    }))
    .addHelpText('after', '\nExamples:\n  slimsplit device-blob weights/see-cifar10.slim -o see-cifar10.sdev\n  slimsplit device-blob weights/see-cifar10.slim --bits 1,2 --members 1 -o see-cifar10-m1.sdev')
    .action((file, o) => cmdDeviceBlob(io, file, o));

  program
    .command('pack')
    .description('pack an exported graph (docs/GRAPH.md) into a .slim blob')
    .argument('<graph.json>', 'graph JSON')
    .argument('<tensors.bin>', 'tensor data')
    .requiredOption('-o, --out <out.slim>', 'where to write the blob')
    .action((graph, tensors, o) => cmdPack(io, graph, tensors, o));

  program
    .command('eval')
    .description('rate-accuracy over a CIFAR-10 JPEG tarball: every mode, and the JPEG baseline at each quality')
    .requiredOption('--data <test.tar.gz>', 'CIFAR-10 JPEG tarball (test/<class>/<NNNN>.jpg)')
    .option('--limit <n>', 'at most n images, balanced over the classes', positiveInt('--limit'))
    .option('--json <file>', 'write the full results as JSON')
    .option('--svg <file>', 'write the rate-accuracy chart')
    .addOption(modesOpt())
    .option('--qualities <list>', 'JPEG qualities, comma-separated (default 5, every one from 10 to 40, 45, 50, 60, ..., 95)', (v: string) => v.split(',').map((q) => {
      if (!/^\d+$/.test(q.trim()) || Number(q) < 1 || Number(q) > 100) throw new InvalidArgumentError(`'${q}' is not a quality 1..100`);
      return Number(q);
    }))
    .addOption(modelOpt())
    .addOption(new Option('--baseline <file.slim>', 'JPEG-baseline classifier blob').default(DEFAULT_BASELINE, "the package's weights/jpeg-baseline.slim"))
    .option('--no-baseline', 'skip the JPEG baseline')
    .addOption(packetOpt())
    .addHelpText('after', '\nExample:\n  slimsplit eval --data ../shared/datasets/cifar10-jpeg/test.tar.gz --limit 1000 --json eval.json --svg rate.svg')
    .action((o) => cmdEval(io, o));

  program
    .command('demo')
    .description("the package's sample images through every mode: encoder (device) -> packet -> decoder (server)")
    .addOption(modelOpt())
    .option('--samples <dir>', 'folder of <class>.jpg images', SAMPLES_DIR)
    .addOption(modesOpt())
    .addOption(packetOpt())
    .action((o) => cmdDemo(io, o));

  program
    .command('bench')
    .description('encode/decode timing per mode on the sample images')
    .addOption(modelOpt())
    .option('--samples <dir>', 'folder of images', SAMPLES_DIR)
    .option('--rounds <n>', 'timed passes over the samples per mode', positiveInt('--rounds'), 5)
    .addOption(modesOpt())
    .addOption(packetOpt())
    .action((o) => cmdBench(io, o));

  return program;
}

/** Runs the CLI on `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], io: Io = defaultIo, load?: ModelLoader): Promise<number> {
  const program = buildProgram({ ...io, load });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    // help and --version end with exit code 0; every other commander error is a usage error
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    const msg = (e as Error).message ?? String(e);
    io.err(`${msg.startsWith('slimsplit:') ? msg : `slimsplit: ${msg}`}\n`);
    return e instanceof CliError ? e.exitCode : 1;
  }
}

function invokedDirectly(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
