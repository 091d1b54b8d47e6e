/**
 * Modes: the one module that names, parses, formats and counts them, and chooses one at run time.
 *
 * A model has up to three mode axes (members, width, bits); a mode is one value per axis, written
 * `members=2,bits=4` everywhere (CLI options and output, error messages, reports). Mode index m
 * (plans, compact packets) counts through the axes in mixed radix, the last axis fastest.
 *
 * Choosing a mode: what each (members, bits) mode of a split model costs in bytes and gives in
 * accuracy, and the pick under a per-frame budget. Needs only the blob (no WASM engine), so a
 * scheduler or the CLI's inspect can use it without loading the kernels.
 *
 *   const table = model.modeTable();                       // or modeTable(readBlob(bytes), meta, id)
 *   const { info, fits } = pickMode(table, { maxBytes: linkBytesPerSecond / fps, maxMembers: 2 });
 *   enc.setMode(info.mode);
 */
import type { Blob } from '../format/schema.js';
import { overheadBytes } from './packet.js';

/** Mode axes, in the order a mode index is formed (the last listed axis varies fastest). */
export const AXES = ['members', 'width', 'bits'] as const;
export type AxisName = (typeof AXES)[number];
export interface AxisDef {
  name: AxisName;
  /** strictly increasing; the last value is the largest mode */
  values: number[];
}

/**
 * A run-time mode: a missing axis keeps its value; an axis the model does not have is an error
 * naming the model's axes (not ignored: { width: 2 } on a model without widths would otherwise
 * run a mode the caller did not ask for).
 */
export interface Mode {
  members?: number;
  width?: number;
  bits?: number;
}

/** Thrown by parseMode/parseModeList on text that is not a mode. */
export class ModeError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'ModeError';
  }
}

/** `members=2,bits=4` -> { members: 2, bits: 4 }. */
export function parseMode(text: string): Mode {
  const mode: Mode = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(members|width|bits)=(.*)$/.exec(part);
    if (!m) throw new ModeError(`'${part}' is not axis=value with axis members, width or bits (e.g. members=2,bits=4)`);
    const axis = m[1] as AxisName;
    if (!/^\d+$/.test(m[2]) || Number(m[2]) < 1) throw new ModeError(`${part}: ${axis} must be a positive integer, got '${m[2]}'`);
    if (mode[axis] !== undefined) throw new ModeError(`${axis} is given twice in '${text}'`);
    mode[axis] = Number(m[2]);
  }
  if (Object.keys(mode).length === 0) throw new ModeError(`'${text}' names no axis (e.g. members=2,bits=4)`);
  return mode;
}

/** Space- or ';'-separated modes; each selects the modes matching all its axis values. */
export function parseModeList(text: string): Mode[] {
  const terms = text.split(/[\s;]+/).filter(Boolean);
  if (terms.length === 0) throw new ModeError('no modes given (e.g. "members=1,bits=2 members=4")');
  return terms.map(parseMode);
}

/** The one spelling of a mode: `members=2,bits=4` (axes in AXES order; 'default' for none). */
export function formatMode(m: Mode): string {
  return AXES.filter((a) => m[a] !== undefined).map((a) => `${a}=${m[a]}`).join(',') || 'default';
}

/** Key of the exporter's per-mode references (meta.pytorchTop1): "members,bits". */
export function refKey(m: Mode): string {
  return `${m.members ?? 1},${m.bits ?? 8}`;
}

export function modeCount(axes: readonly AxisDef[]): number {
  return axes.reduce((n, a) => n * a.values.length, 1);
}

/** Value index of each axis in mode m (mixed radix, the last axis fastest). */
export function modeDigits(axes: readonly AxisDef[], m: number): number[] {
  const d = new Array<number>(axes.length);
  for (let i = axes.length - 1; i >= 0; i--) {
    const n = axes[i].values.length;
    d[i] = m % n;
    m = Math.floor(m / n);
  }
  return d;
}

export function modeIndex(axes: readonly AxisDef[], digits: number[]): number {
  let m = 0;
  for (let i = 0; i < axes.length; i++) m = m * axes[i].values.length + digits[i];
  return m;
}

/** The axis values of mode index m. */
export function modeAt(axes: readonly AxisDef[], m: number): Mode {
  const d = modeDigits(axes, m);
  return Object.fromEntries(axes.map((a, i) => [a.name, a.values[d[i]]]));
}

/** Mode m for messages: `mode members=2,bits=4`, or `the only mode`. */
export function modeText(axes: readonly AxisDef[], m: number): string {
  return axes.length === 0 ? 'the only mode' : `mode ${formatMode(modeAt(axes, m))}`;
}

/** One row of modeTable(). */
export interface ModeInfo {
  mode: Mode;
  /** expected packet bytes per image, header included (a mean: single packets vary, see the README's p95) */
  expectedBytes: number;
  /** the exporter's reference top-1 in this mode (0..1), when the model ships one */
  top1?: number;
}

/** What the device can afford for the next frame. */
export interface ModeBudget {
  /** bytes the link can carry for this frame (capacity x frame interval) */
  maxBytes?: number;
  /** ensemble members the device has time for (time the encoder per mode once to know it) */
  maxMembers?: number;
  /** bits per value the device will send at most */
  maxBits?: number;
  /**
   * accuracy (0..1) worth giving up for a cheaper mode: among the fitting modes within this much of
   * the best reference top-1, the one with the fewest members, then the fewest bytes. Default 0.
   * (On the shipped CIFAR-10 model 0.005 picks 1 member over 4 at every bit depth.)
   */
  tolerance?: number;
}

/** The split point as the exporter described it (blob meta `split`). */
export interface SplitInfo {
  channelsPerMember: number;
  H: number;
  W: number;
  /** members that own channels: later members refine theirs and add none (absent: every member) */
  channelMembers?: number;
}

/** Channels a mode sends: one group per member, up to the members that own channels. */
export function sentChannels(split: SplitInfo, members: number): number {
  return Math.min(members, split.channelMembers ?? members) * split.channelsPerMember;
}

export function splitInfo(modelName: string, meta: Record<string, unknown>): SplitInfo {
  const s = meta.split as SplitInfo | undefined;
  if (!s || !(s.channelsPerMember > 0 && s.H > 0 && s.W > 0)) throw new Error(`slimsplit: model '${modelName}' describes no split point (meta.split); it is not a split model`);
  if (s.channelMembers !== undefined && !(Number.isInteger(s.channelMembers) && s.channelMembers > 0)) {
    throw new Error(`slimsplit: model '${modelName}': meta.split.channelMembers must be a positive integer, got ${String(s.channelMembers)}`);
  }
  return s;
}

// A packet-sized stream's 4-byte final state costs ~2.5 B over the symbols' cross-entropy: 1-9 bits
// of the state itself, the rest lost while the state is still small (measured: `npm run bench:codec`,
// the per-packet rows, 2.4-2.5 B per image).
const RANS_FLUSH_BITS = 20;

/** Every combination of the blob's mode axes, smallest first. */
export function modesOf(blob: Blob): Mode[] {
  let out: Mode[] = [{}];
  for (const a of blob.axes) out = out.flatMap((m) => a.values.map((v) => ({ ...m, [a.name]: v })));
  return out;
}

/**
 * Per mode: the expected packet size from the coder tables (the packer's bits per image on the
 * training set, or a table's entropy; plus the coder's final state and the header) and the reference top-1 the exporter
 * measured (meta.pytorchTop1, "members,bits" keys). headerBytes: a fixed header + CRC size (a compact
 * packet's 4) instead of the full header's. Throws if the blob is not a split model with coder
 * tables (meta.split, the coder section).
 */
export function modeTable(blob: Blob, meta: Record<string, unknown>, modelId: number, headerBytes?: number): ModeInfo[] {
  const split = splitInfo(blob.name, meta);
  if (!blob.coder) throw new Error(`slimsplit: model '${blob.name}' ships no entropy-coder tables`);
  const coder = JSON.parse(blob.coder.json) as {
    groupSize: number;
    tables: Record<string, string>;
    bitsPerImage?: Record<string, number[]>;
    bitsPerImageByMembers?: Record<string, Record<string, number[]>>;
  };
  // the exporter's PyTorch top-1, or an import's agreement with the unsplit model (meta.referenceTop1Kind says which)
  const refs = (meta.pytorchTop1 ?? meta.referenceTop1 ?? {}) as Record<string, unknown>;
  return modesOf(blob).map((mode) => {
    const members = mode.members ?? 1, bits = mode.bits ?? 8;
    const name = coder.tables[String(bits)];
    if (name === undefined) throw new Error(`slimsplit: model '${blob.name}' has no coder tables for bits=${bits}`);
    const t = blob.tensor(name);
    const len = blob.tensors.find((q) => q.name === name)!.shape[1];
    const channels = sentChannels(split, members);
    let bitsPerImage = 0;
    // The packer's training-set cost per channel when it ships one (the only way with context tables),
    // this members count's own where given (refining members share tables, not distributions); else
    // each channel table's own entropy.
    const measured = coder.bitsPerImageByMembers?.[String(bits)]?.[String(members)] ?? coder.bitsPerImage?.[String(bits)];
    if (measured && measured.length < channels) throw new Error(`slimsplit: model '${blob.name}': coder costs for ${measured.length} channels at bits=${bits}, members=${members}; the mode sends ${channels}`);
    if (measured) for (let c = 0; c < channels; c++) bitsPerImage += measured[c];
    else for (let c = 0; c < channels; c++) bitsPerImage += coder.groupSize * tableEntropy(t.subarray(c * len, (c + 1) * len));
    const payload = Math.ceil((bitsPerImage + RANS_FLUSH_BITS) / 8);
    const header = headerBytes ?? overheadBytes({ modelId, mode: [members, bits], shape: [channels, split.H, split.W], quant: { kind: 'implied' } }, payload);
    const top1 = refs[refKey(mode)];
    return { mode, expectedBytes: payload + header, top1: typeof top1 === 'number' ? top1 : undefined };
  });
}

/**
 * The mode to run under a budget: among the modes that fit, the most accurate (reference top-1), then
 * the fewest bytes, then the fewest members. With a tolerance (0 included) the rule changes to the
 * fewest members, then the fewest bytes, among the modes within it of the best: a device that asks
 * for a tolerance wants compute saved first, even at tolerance 0 where only exact ties qualify.
 * When nothing fits the byte budget it returns the smallest mode within the compute limits, with
 * fits = false: the caller decides whether to send it, skip the frame or queue. Throws on a budget no mode can meet on compute (maxMembers < 1, ...).
 */
export function pickMode(table: readonly ModeInfo[], budget: ModeBudget): { info: ModeInfo; fits: boolean } {
  for (const [k, v] of Object.entries(budget)) {
    if (k === 'tolerance') {
      if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= 1)) throw new Error(`slimsplit: pickMode: budget.tolerance must be in 0..1, got ${String(v)}`);
    } else if (v !== undefined && !(typeof v === 'number' && v > 0)) {
      throw new Error(`slimsplit: pickMode: budget.${k} must be a positive number, got ${String(v)}`);
    }
  }
  const computeOk = table.filter((r) => (r.mode.members ?? 1) <= (budget.maxMembers ?? Infinity) && (r.mode.bits ?? 8) <= (budget.maxBits ?? Infinity));
  if (computeOk.length === 0) throw new Error(`slimsplit: pickMode: no mode has members <= ${budget.maxMembers} and bits <= ${budget.maxBits}`);
  const fit = computeOk.filter((r) => r.expectedBytes <= (budget.maxBytes ?? Infinity));
  const members = (r: ModeInfo) => r.mode.members ?? 1;
  if (fit.length === 0) {
    const smallest = computeOk.reduce((a, b) => (b.expectedBytes < a.expectedBytes || (b.expectedBytes === a.expectedBytes && members(b) < members(a)) ? b : a));
    return { info: smallest, fits: false };
  }
  const scores = referenceScores(table);
  const score = (r: ModeInfo) => scores[table.indexOf(r)];
  const best = fit.reduce((a, b) => {
    const d = score(b) - score(a);
    if (d !== 0) return d > 0 ? b : a;
    if (b.expectedBytes !== a.expectedBytes) return b.expectedBytes < a.expectedBytes ? b : a;
    return members(b) < members(a) ? b : a;
  });
  const tol = budget.tolerance;
  if (tol === undefined || best.top1 === undefined) return { info: best, fits: true };
  const cheap = fit
    .filter((r) => r.top1 !== undefined && r.top1 >= best.top1! - tol)
    .reduce((a, b) => (members(b) !== members(a) ? (members(b) < members(a) ? b : a) : b.expectedBytes < a.expectedBytes ? b : a));
  return { info: cheap, fits: true };
}

/**
 * What ranks modes by fidelity, one per row: the reference top-1. In a table with none (an imported
 * split model packed without calibration), the share of modes with fewer expected bytes, in [0, 1):
 * more bytes stand in for more information, and equal bytes tie. A row without a figure in a table
 * that has some scores 0. pickMode and the device's mode list (src/device/run.ts) both rank by it.
 */
export function referenceScores(table: readonly { expectedBytes: number; top1?: number }[]): number[] {
  if (table.some((t) => t.top1 !== undefined)) return table.map((t) => t.top1 ?? 0);
  return table.map((t) => table.filter((o) => o.expectedBytes < t.expectedBytes).length / table.length);
}

/** Bits per symbol a table spends on its own distribution (the entropy of the quantized pmf). */
function tableEntropy(cdf: ArrayLike<number>): number {
  const total = cdf[cdf.length - 1];
  let h = 0;
  for (let k = 0; k + 1 < cdf.length; k++) {
    const f = cdf[k + 1] - cdf[k];
    if (f > 0) h -= (f / total) * Math.log2(f / total);
  }
  return h;
}

