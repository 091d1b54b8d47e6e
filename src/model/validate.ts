/**
 * What readBlob cannot check because it is the split API's, not the format's: the coder section's
 * own metadata and every CDF table, the split point, and their agreement with the graphs in every
 * mode. loadModel runs it, so a blob that loads also encodes, decodes and prices (modeTable) every
 * mode; nothing is left to fail later in encoder(), decoder() or setMode().
 *
 *   validateModel(readBlob(bytes), meta);   // throws BlobError naming the field, table or mode
 *
 * Rules (docs/FORMAT.md, "What loadModel adds"): a graph that outputs or takes codes (u8) makes the
 * blob a split model: it then needs mode axes members and bits, meta.split, and a 'rans-channel'
 * coder section with a table for every bit depth, each table [channels x contexts][T + 2] a valid
 * 16-bit CDF per row; the encoder writes, and the decoder reads, exactly the channels the split
 * sends in each mode. A coder section of another kind on a model without codes is left alone.
 */
import { BlobError, type Blob } from '../format/schema.js';
import { checkTable, contextsPerGroup, CoderError, CONTEXT_NEIGHBOURS } from '../codec/coder.js';
import { modesOf, sentChannels, splitInfo, type SplitInfo } from '../codec/modes.js';
import { PH, MODE_WORDS } from '../engine/plan/words.js';

function fail(code: 'coder' | 'meta', detail: string): never {
  throw new BlobError(code, detail);
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const posInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1;
const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

export function validateModel(blob: Blob, meta: Record<string, unknown>): void {
  if (meta.classes !== undefined && !(Array.isArray(meta.classes) && meta.classes.every((c) => typeof c === 'string'))) {
    fail('meta', `meta.classes must be an array of class names (strings), got ${show(meta.classes)}`);
  }
  const codes = blob.graphs.filter((g) => g.plan[PH.outDtype] === 1 || g.plan[PH.inDtype] === 1);
  if (codes.length === 0) {
    if (blob.coder && isRansChannel(blob)) checkCoder(blob, undefined);
    return;
  }
  const g0 = codes[0];
  const how = `graph '${g0.name}' ${g0.plan[PH.outDtype] === 1 ? 'outputs' : 'takes'} codes (u8)`;
  const axisNames = blob.axes.map((a) => a.name);
  if (axisNames.length !== 2 || !axisNames.includes('members') || !axisNames.includes('bits')) {
    fail('meta', `${how}, so its mode axes must be members and bits (what packets carry); it has ${axisNames.join(', ') || 'none'}`);
  }
  let split: SplitInfo;
  try {
    split = splitInfo(blob.name, meta);
  } catch (e) {
    return fail('meta', `${how}, so it needs meta.split: ${(e as Error).message.replace(/^slimsplit: /, '')}`);
  }
  for (const k of ['channelsPerMember', 'H', 'W'] as const) if (!posInt(split[k])) fail('meta', `meta.split.${k} must be a positive integer, got ${show(split[k])}`);
  if (!blob.coder) fail('coder', `${how}, so the blob needs a coder section (the entropy-coder tables); it has none`);
  const c = checkCoder(blob, split);

  // The graphs against the split, mode by mode (the plan's mode table holds each mode's element counts).
  const enc = blob.graphs.find((g) => g.name === 'encoder');
  const dec = blob.graphs.find((g) => g.name === 'decoder');
  if (enc && enc.plan[PH.outDtype] !== 1) fail('meta', `graph 'encoder' outputs floats; in a split model it outputs codes (u8)`);
  if (dec && dec.plan[PH.inDtype] !== 1) fail('meta', `graph 'decoder' takes floats; in a split model it takes codes (u8)`);
  modesOf(blob).forEach((mode, m) => {
    const want = sentChannels(split, mode.members!) * split.H * split.W;
    const where = `mode members=${mode.members}, bits=${mode.bits}`;
    if (sentChannels(split, mode.members!) > c.channels) fail('coder', `${where} sends ${sentChannels(split, mode.members!)} channels, the coder has tables for ${c.channels}`);
    for (const [g, word, verb] of [[enc, 3, 'writes'], [dec, 2, 'reads']] as const) {
      if (!g) continue;
      const n = g.plan[g.plan[PH.modes] + m * MODE_WORDS + word];
      if (n !== want) fail('coder', `${where}: graph '${g.name}' ${verb} ${n} codes, the split sends ${sentChannels(split, mode.members!)} channels of ${split.H}x${split.W} = ${want}`);
    }
  });
}

function isRansChannel(blob: Blob): boolean {
  const j = JSON.parse(blob.coder!.json) as unknown;
  return isObject(j) && j.kind === 'rans-channel';
}

/** The coder section of kind 'rans-channel': metadata, every table, every row; returns its channel count. */
function checkCoder(blob: Blob, split: SplitInfo | undefined): { channels: number } {
  const j = JSON.parse(blob.coder!.json) as unknown;
  if (!isObject(j)) fail('coder', `coder json must be an object, got ${show(j)}`);
  if (j.kind !== 'rans-channel') fail('coder', `coder kind ${show(j.kind)}, this reader knows "rans-channel"`);
  if (j.axis !== 'bits') fail('coder', `coder axis ${show(j.axis)}; a rans-channel coder selects its tables by "bits"`);
  const bitsAxis = blob.axes.find((a) => a.name === 'bits');
  if (!bitsAxis) fail('coder', `the coder selects tables by bits, but the model has no bits axis`);
  const bitsValues = bitsAxis.values.map(String);
  const { channels, groupSize, W } = j;
  if (!posInt(channels)) fail('coder', `coder channels must be a positive integer, got ${show(channels)}`);
  if (!posInt(groupSize)) fail('coder', `coder groupSize must be a positive integer, got ${show(groupSize)}`);
  if (split && groupSize !== split.H * split.W) fail('coder', `coder groupSize ${groupSize} is not the split's H x W = ${split.H * split.W}`);
  if (W !== undefined && !(posInt(W) && groupSize % W === 0)) fail('coder', `coder W ${show(W)} must divide groupSize ${groupSize}`);

  const contexts = j.contexts ?? {};
  if (!isObject(contexts)) fail('coder', `coder contexts must be an object keyed by bit depth, got ${show(j.contexts)}`);
  if (!isObject(j.tables)) fail('coder', `coder tables must be an object keyed by bit depth, got ${show(j.tables)}`);
  const tables = j.tables;
  for (const v of bitsValues) if (!(v in tables)) fail('coder', `coder has no table for bits=${v}, a value of the model's bits axis (${bitsValues.join(', ')})`);
  for (const [v, name] of Object.entries(tables)) {
    const where = `coder tables.${v}`;
    if (!bitsValues.includes(v)) fail('coder', `${where}: ${v} is not a value of the bits axis (${bitsValues.join(', ')})`);
    if (typeof name !== 'string') fail('coder', `${where} must name a tensor, got ${show(name)}`);
    const t = blob.tensors.find((q) => q.name === name);
    if (!t) fail('coder', `${where} names tensor '${name}', which the blob does not have`);
    if (!blob.coder!.tables.includes(name)) fail('coder', `${where} names tensor '${name}', which is not one of the coder section's tables (${blob.coder!.tables.join(', ')})`);
    const ctx = contexts[v];
    let per = 1;
    if (ctx !== undefined) {
      const cw = `coder contexts.${v}`;
      if (!isObject(ctx)) fail('coder', `${cw} must be an object { K, shift, neighbours? }, got ${show(ctx)}`);
      if (!(Number.isInteger(ctx.K) && (ctx.K as number) >= 1 && (ctx.K as number) <= 16)) fail('coder', `${cw}: K must be 1..16, got ${show(ctx.K)}`);
      if (!(Number.isInteger(ctx.shift) && (ctx.shift as number) >= 0 && (ctx.shift as number) <= 7)) fail('coder', `${cw}: shift must be 0..7, got ${show(ctx.shift)}`);
      if (ctx.neighbours !== undefined && !(CONTEXT_NEIGHBOURS as readonly unknown[]).includes(ctx.neighbours)) {
        fail('coder', `${cw}: neighbours must be one of ${CONTEXT_NEIGHBOURS.map((n) => `"${n}"`).join(', ')}, got ${show(ctx.neighbours)}`);
      }
      if (W === undefined) fail('coder', `${cw}: context coding needs the row length W`);
      per = contextsPerGroup(ctx as { K: number; neighbours?: (typeof CONTEXT_NEIGHBOURS)[number] });
    }
    if (t.shape.length !== 2) fail('coder', `coder table '${name}' has shape [${t.shape.join(', ')}], expected [rows, symbols + 2]`);
    const [rows, len] = t.shape;
    if (rows !== channels * per) fail('coder', `coder table '${name}' has ${rows} rows, the coder says ${channels} channels x ${per} contexts`);
    const data = blob.tensor(name);
    for (let r = 0; r < rows; r++) {
      try {
        checkTable({ cdf: data.subarray(r * len, (r + 1) * len), offset: 0 }, r);
      } catch (e) {
        if (!(e instanceof CoderError)) throw e;
        fail('coder', `coder table '${name}' row ${r}: ${e.message.replace(/^.*?table \d+: /, '')}`);
      }
    }
  }
  for (const v of Object.keys(contexts)) if (!(v in tables)) fail('coder', `coder contexts.${v}: no coder table for bits=${v}`);

  // Costs per channel (modeTable's expected bytes): finite and non-negative, one per channel sent.
  const costs = (what: string, a: unknown, n: number, exact: boolean): void => {
    const ok = Array.isArray(a) && (exact ? a.length === n : a.length >= n) && a.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0);
    if (!ok) fail('coder', `${what}: expected ${exact ? '' : 'at least '}${n} finite values >= 0 (bits per image per channel), got ${show(a)}`);
  };
  if (j.bitsPerImage !== undefined) {
    if (!isObject(j.bitsPerImage)) fail('coder', `coder bitsPerImage must be an object keyed by bit depth, got ${show(j.bitsPerImage)}`);
    for (const [v, a] of Object.entries(j.bitsPerImage)) {
      if (!(v in tables)) fail('coder', `coder bitsPerImage.${v}: no coder table for bits=${v}`);
      costs(`coder bitsPerImage.${v}`, a, channels, true);
    }
  }
  if (j.bitsPerImageByMembers !== undefined) {
    const members = blob.axes.find((a) => a.name === 'members')?.values.map(String) ?? [];
    if (!isObject(j.bitsPerImageByMembers)) fail('coder', `coder bitsPerImageByMembers must be an object keyed by bit depth, got ${show(j.bitsPerImageByMembers)}`);
    for (const [v, byM] of Object.entries(j.bitsPerImageByMembers)) {
      if (!(v in tables)) fail('coder', `coder bitsPerImageByMembers.${v}: no coder table for bits=${v}`);
      if (!isObject(byM)) fail('coder', `coder bitsPerImageByMembers.${v} must be an object keyed by members, got ${show(byM)}`);
      for (const [m, a] of Object.entries(byM)) {
        if (!members.includes(m)) fail('coder', `coder bitsPerImageByMembers.${v}.${m}: ${m} is not a value of the members axis (${members.join(', ') || 'none'})`);
        costs(`coder bitsPerImageByMembers.${v}.${m}`, a, split ? sentChannels(split, Number(m)) : 1, false);
      }
    }
  }
  return { channels };
}
