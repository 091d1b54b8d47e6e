/**
 * Plan compilation (docs/FORMAT.md, "Plans"): every graph of a model compiled at pack time into a
 * flat list of kernel calls that assembly/plan.ts walks inside WASM, with an arena where buffers
 * whose lifetimes do not overlap share bytes; and checkPlan, the structural check of stored plans.
 *
 * Why precompiled: hosts without JavaScript (wasm3/WAMR on a microcontroller) have no plan
 * compiler, and a plan made at pack time keeps the device module small and dumb: it relocates
 * pointers once, writes a handful of words per mode switch, and calls kernels in order.
 */
import { GraphError, LIMITS, type GraphDef, type PlanLayout } from './graph.js';
import { OPCODE_NAMES, PLAN_MAGIC, PLAN_VERSION, PLAN_HEADER_WORDS, PH, RECORD_HEADER_WORDS, MODE_WORDS, PATCH_WORDS, RELOC, INDEX_MASK } from './words.js';
import { resolveGraph, type Resolved } from './validate.js';
import { OPS } from '../ops/registry.js';
import type { Ptrs } from '../ops/spec.js';
import { modeText } from '../../codec/modes.js';
import { align } from '../../util.js';

// Arena layout: buffers whose lifetimes do not overlap share bytes.

interface Slot {
  key: string;
  bytes: number;
  first: number;
  last: number;
  offset: number;
}

/**
 * `only`: lay the arena out for these modes alone (a device that runs only them): each buffer takes
 * the most elements any of them touches (the input: all of it), each layer the most scratch any of
 * them needs. The plan still holds every mode's words; running another mode would overrun.
 */
function slotSizes(r: Resolved, only?: boolean[]): { bytes: Map<string, number>; scratch: number[] } {
  const bytes = new Map<string, number>();
  if (!only) {
    for (const [name, b] of r.g.buffers) bytes.set(name, b.bytes);
    return { bytes, scratch: r.scratch };
  }
  const { graph } = r.g;
  const scratch = new Array<number>(graph.layers.length).fill(0);
  bytes.set(graph.input, r.g.buffers.get(graph.input)!.bytes);
  r.plans.forEach((pm, m) => {
    if (!only[m]) return;
    pm.forEach((p, i) => {
      scratch[i] = Math.max(scratch[i], p.scratch);
      for (const f of r.views[m][i].spec.fields) {
        if (f.kind !== 'buffer') continue;
        const b = r.views[m][i].buffer(f.name);
        bytes.set(b.name, Math.max(bytes.get(b.name) ?? 0, p.extents[f.name] * (b.dtype === 'u8' ? 1 : 4)));
      }
    });
  });
  return { bytes, scratch };
}

function layoutArena(r: Resolved, only?: boolean[]): { offsets: Map<string, number>; scratch: number[]; bytes: number; sizes: Map<string, number> } {
  const { graph } = r.g;
  const sizes = slotSizes(r, only);
  const n = graph.layers.length;
  const life = new Map<string, [number, number]>();
  const touch = (name: string, i: number): void => {
    const l = life.get(name);
    if (l) l[1] = Math.max(l[1], i);
    else life.set(name, [i, i]);
  };
  touch(graph.input, -1);
  graph.layers.forEach((L, i) => {
    for (const f of OPS[L.op].fields) if (f.kind === 'buffer') touch(L.fields[f.name] as string, i);
  });
  touch(graph.output, n);
  const slots: Slot[] = [];
  for (const [name, [first, last]] of life) slots.push({ key: 'b:' + name, bytes: align(sizes.bytes.get(name) ?? 0, 16), first, last, offset: 0 });
  sizes.scratch.forEach((s, i) => {
    if (s > 0) slots.push({ key: 's:' + i, bytes: align(s, 16), first: i, last: i, offset: 0 });
  });
  // Largest first, each at the lowest offset clear of every placed slot alive at the same time.
  const order = slots.map((s, i) => i).sort((a, b) => slots[b].bytes - slots[a].bytes || a - b);
  const placed: Slot[] = [];
  let top = 0;
  for (const i of order) {
    const s = slots[i];
    const busy = placed.filter((p) => p.first <= s.last && s.first <= p.last).sort((a, b) => a.offset - b.offset);
    let off = 0;
    for (const p of busy) {
      if (off + s.bytes <= p.offset) break;
      off = Math.max(off, p.offset + p.bytes);
    }
    s.offset = off;
    placed.push(s);
    top = Math.max(top, off + s.bytes);
  }
  if (top > LIMITS.arenaBytes) throw new GraphError('limit', `graph '${graph.name}' needs an arena of ${top} bytes, more than ${LIMITS.arenaBytes}`);
  const offsets = new Map<string, number>();
  const scratch = new Array<number>(n).fill(0);
  for (const s of slots) {
    if (s.key.startsWith('b:')) offsets.set(s.key.slice(2), s.offset);
    else scratch[Number(s.key.slice(2))] = s.offset;
  }
  return { offsets, scratch, bytes: top, sizes: sizes.bytes };
}

// Pointer words are found by lowering each layer of the largest mode twice, the second time
// with both bases moved by different steps: a word that moves by the blob step is a blob
// pointer, by the arena step an arena pointer, not at all a plain value. No kernel module has
// to declare its pointer words. A params struct keeps its pointers at fixed word positions
// (docs/ENGINE.md), so the other modes are lowered once and relocated with the same masks.
const BLOB0 = 0x01000000, ARENA0 = 0x04000000;
const BLOB_STEP = 0x01000000, ARENA_STEP = 0x04000000;

interface RelRec {
  layer: number;
  op: number;
  words: Int32Array;
  blobMask: number;
  arenaMask: number;
}

function lowerLayer(r: Resolved, m: number, i: number, arena: ReturnType<typeof layoutArena>, masks: RelRec[] | null): RelRec[] {
  const v = r.views[m][i], p = r.plans[m][i];
  const ptrs = (blob: number, ar: number): Ptrs => ({
    buf: (f) => ar + arena.offsets.get(v.def.fields[f] as string)!,
    ten: (f) => {
      const t = v.tensor(f);
      return t ? blob + t.offset : 0;
    },
    scratch: r.scratch[i] > 0 ? ar + arena.scratch[i] : 0,
  });
  const a = v.kernelCheck(() => p.lower(ptrs(BLOB0, ARENA0)));
  const b = masks ? null : v.kernelCheck(() => p.lower(ptrs(BLOB0 + BLOB_STEP, ARENA0 + ARENA_STEP)));
  return a.map((rec, k) => {
    const w = rec.words;
    if (w.length > LIMITS.recordWords) v.fail('plan', `kernel params of ${w.length} words exceed ${LIMITS.recordWords}`);
    let blobMask = 0, arenaMask = 0;
    const rel = new Int32Array(w.length);
    for (let j = 0; j < w.length; j++) {
      const d = b ? (b[k].words[j] - w[j]) | 0 : masks && masks[k] ? ((masks[k].blobMask >>> j) & 1 ? BLOB_STEP : (masks[k].arenaMask >>> j) & 1 ? ARENA_STEP : 0) : 0;
      if (d === 0) rel[j] = w[j];
      else if (d === BLOB_STEP) {
        blobMask |= 1 << j;
        rel[j] = w[j] - BLOB0;
      } else if (d === ARENA_STEP) {
        arenaMask |= 1 << j;
        rel[j] = w[j] - ARENA0;
      } else v.fail('plan', `internal: params word ${j} of the ${OPCODE_NAMES[rec.op]} call depends on the pointers in a way a plan cannot relocate`);
    }
    return { layer: i, op: rec.op, words: rel, blobMask: blobMask >>> 0, arenaMask: arenaMask >>> 0 };
  });
}

/** Per mode, per layer: the elements each buffer field touches (the kernels' contract; for tools such as the device blob writer). */
export function modeExtents(graph: GraphDef, layout: PlanLayout): Array<Array<Record<string, number>>> {
  return resolveGraph(graph, layout).plans.map((pm) => pm.map((p) => p.extents));
}

/**
 * Compiles one graph into plan words (docs/FORMAT.md, "Plans"): header, records in the largest
 * mode with pointers relative to the data base or the arena base, the mode table and the patches.
 * Deterministic: the blob loader recompiles and compares word for word.
 */
export function compilePlan(graph: GraphDef, layout: PlanLayout, opts: { only?: boolean[] } = {}): Uint32Array {
  const r = resolveGraph(graph, layout);
  if (opts.only && opts.only.length !== r.plans.length) throw new Error(`slimsplit: compilePlan: 'only' has ${opts.only.length} entries for ${r.plans.length} modes`);
  const arena = layoutArena(r, opts.only);
  if (opts.only) {
    // the modes left out lower as the largest kept one, so no record points past the smaller arena
    const keep = opts.only.lastIndexOf(true);
    if (keep < 0) throw new Error("slimsplit: compilePlan: 'only' keeps no mode");
    opts.only.forEach((k, m) => {
      if (k) return;
      r.plans[m] = r.plans[keep];
      r.views[m] = r.views[keep];
      r.inElems[m] = r.inElems[keep];
      r.outElems[m] = r.outElems[keep];
    });
  }
  const nm = r.plans.length, base = nm - 1;
  const baseByLayer = graph.layers.map((_, i) => lowerLayer(r, base, i, arena, null));
  const perMode: RelRec[][] = [];
  for (let m = 0; m < nm; m++) {
    const recs: RelRec[] = [];
    for (let i = 0; i < graph.layers.length; i++) recs.push(...(m === base ? baseByLayer[i] : lowerLayer(r, m, i, arena, baseByLayer[i])));
    perMode.push(recs);
  }
  const recs = perMode[base];
  const recStart: number[] = [];
  let at = PLAN_HEADER_WORDS;
  for (const rec of recs) {
    recStart.push(at);
    at += RECORD_HEADER_WORDS + rec.words.length;
  }
  const modesAt = at;
  const patchesAt = modesAt + nm * MODE_WORDS;
  const patches: number[] = [];
  const modeTable: number[] = [];
  for (let m = 0; m < nm; m++) {
    const start = patches.length / PATCH_WORDS;
    const pm = perMode[m];
    if (pm.length !== recs.length) r.views[m][0].fail('plan', `lowers to ${pm.length} kernel calls in ${modeText(r.g.axes, m)} but ${recs.length} in the largest mode`);
    pm.forEach((rec, k) => {
      const b = recs[k];
      if (rec.op !== b.op || rec.words.length !== b.words.length || rec.blobMask !== b.blobMask || rec.arenaMask !== b.arenaMask) {
        r.views[m][rec.layer].fail('plan', `lowers to a different kernel call in ${modeText(r.g.axes, m)} than in the largest mode (${OPCODE_NAMES[rec.op]} vs ${OPCODE_NAMES[b.op]})`);
      }
      for (let j = 0; j < rec.words.length; j++) {
        if (rec.words[j] === b.words[j]) continue;
        const kind = (b.blobMask >>> j) & 1 ? RELOC.blob : (b.arenaMask >>> j) & 1 ? RELOC.arena : RELOC.none;
        patches.push(((recStart[k] + RECORD_HEADER_WORDS + j) | (kind << 30)) >>> 0, rec.words[j] >>> 0, b.words[j] >>> 0);
      }
    });
    modeTable.push(start, patches.length / PATCH_WORDS - start, r.inElems[m], r.outElems[m]);
  }
  const total = patchesAt + patches.length;
  const out = new Uint32Array(total);
  const inB = r.g.buffers.get(graph.input)!, outB = r.g.buffers.get(graph.output)!;
  out[PH.magic] = PLAN_MAGIC;
  out[PH.version] = PLAN_VERSION;
  out[PH.words] = total;
  out[PH.nrec] = recs.length;
  out[PH.rec] = PLAN_HEADER_WORDS;
  out[PH.nmodes] = nm;
  out[PH.modes] = modesAt;
  out[PH.cur] = base;
  out[PH.base] = base;
  out[PH.arenaBytes] = arena.bytes;
  out[PH.inOff] = arena.offsets.get(inB.name)!;
  out[PH.inBytes] = arena.sizes.get(inB.name)!;
  out[PH.inDtype] = inB.dtype === 'u8' ? 1 : 0;
  out[PH.outOff] = arena.offsets.get(outB.name)!;
  out[PH.outBytes] = arena.sizes.get(outB.name)!;
  out[PH.outDtype] = outB.dtype === 'u8' ? 1 : 0;
  out[PH.patches] = patchesAt;
  out[PH.npatch] = patches.length / PATCH_WORDS;
  recs.forEach((rec, k) => {
    const s = recStart[k];
    out[s] = rec.op;
    out[s + 1] = rec.words.length;
    out[s + 2] = rec.blobMask;
    out[s + 3] = rec.arenaMask;
    out.set(new Uint32Array(rec.words.buffer, rec.words.byteOffset, rec.words.length), s + RECORD_HEADER_WORDS);
  });
  out.set(modeTable, modesAt);
  out.set(patches, patchesAt);
  return out;
}

/**
 * Structural check of stored plan words, independent of the layers: everything plan_bind,
 * plan_set_mode and plan_run would touch stays inside the plan, the data section and the arena.
 * The loader also recompiles and compares, so this is what names the damage precisely.
 * `dataBytes`: the data section as loaded, q8 expansion area included (every blob pointer's range).
 */
export function checkPlan(words: Uint32Array, ctx: { graph: string; dataBytes: number; modes: number }): void {
  const fail = (msg: string): never => {
    throw new GraphError('plan', `plan of graph '${ctx.graph}': ${msg}`);
  };
  const n = words.length;
  if (n < PLAN_HEADER_WORDS) fail(`${n} words, shorter than its ${PLAN_HEADER_WORDS}-word header`);
  const h = (k: keyof typeof PH): number => words[PH[k]];
  if (h('magic') !== PLAN_MAGIC) fail(`magic 0x${h('magic').toString(16)}, expected 0x${PLAN_MAGIC.toString(16)}`);
  if (h('version') !== PLAN_VERSION) fail(`version ${h('version')}, expected ${PLAN_VERSION}`);
  if (h('words') !== n) fail(`header says ${h('words')} words, the plan has ${n}`);
  if (h('bound') !== 0 || h('blobBase') !== 0 || h('arenaBase') !== 0) fail('is marked bound; a stored plan must hold relative offsets');
  for (let i = PH.npatch + 1; i < PLAN_HEADER_WORDS; i++) if (words[i] !== 0) fail(`reserved header word ${i} is ${words[i]}, expected 0`);
  if (h('nmodes') !== ctx.modes) fail(`has ${h('nmodes')} modes, the model's axes give ${ctx.modes}`);
  if (h('base') !== ctx.modes - 1 || h('cur') !== h('base')) fail(`base/current mode ${h('base')}/${h('cur')}, expected ${ctx.modes - 1}`);
  const arena = h('arenaBytes');
  if (arena > LIMITS.arenaBytes) fail(`arena of ${arena} bytes exceeds ${LIMITS.arenaBytes}`);
  for (const [o, b, d] of [['inOff', 'inBytes', 'inDtype'], ['outOff', 'outBytes', 'outDtype']] as const) {
    if (h(d) > 1) fail(`${d} ${h(d)} is neither 0 (f32) nor 1 (u8)`);
    if (h(o) % 16 !== 0 || h(o) + h(b) > arena) fail(`${o} ${h(o)} + ${b} ${h(b)} is misaligned or outside the ${arena}-byte arena`);
  }
  if (h('rec') !== PLAN_HEADER_WORDS) fail(`records start at word ${h('rec')}, expected ${PLAN_HEADER_WORDS}`);
  const paramWord = new Uint8Array(n); // 1: a record's param word, 2: a blob pointer, 3: an arena pointer
  let at = PLAN_HEADER_WORDS;
  for (let r = 0; r < h('nrec'); r++) {
    if (at + RECORD_HEADER_WORDS > n) fail(`record ${r} at word ${at} runs past the end (${n} words)`);
    const op = words[at], nw = words[at + 1], bm = words[at + 2], am = words[at + 3];
    if (!OPCODE_NAMES[op]) fail(`record ${r} has unknown opcode ${op}`);
    if (nw > LIMITS.recordWords || at + RECORD_HEADER_WORDS + nw > n) fail(`record ${r} (${OPCODE_NAMES[op]}) has ${nw} params, out of range`);
    if ((bm & am) !== 0 || (nw < 32 && (bm | am) >>> nw !== 0)) fail(`record ${r} (${OPCODE_NAMES[op]}) relocation masks 0x${bm.toString(16)}/0x${am.toString(16)} are inconsistent with its ${nw} params`);
    for (let j = 0; j < nw; j++) {
      const w = words[at + RECORD_HEADER_WORDS + j];
      const isB = (bm >>> j) & 1, isA = (am >>> j) & 1;
      if (isB && w >= ctx.dataBytes) fail(`record ${r} (${OPCODE_NAMES[op]}) param ${j} points ${w} bytes into a ${ctx.dataBytes}-byte data section`);
      if (isA && w >= arena) fail(`record ${r} (${OPCODE_NAMES[op]}) param ${j} points ${w} bytes into a ${arena}-byte arena`);
      paramWord[at + RECORD_HEADER_WORDS + j] = isB ? 2 : isA ? 3 : 1;
    }
    at += RECORD_HEADER_WORDS + nw;
  }
  if (h('modes') !== at) fail(`mode table at word ${h('modes')}, expected ${at} (right after the records)`);
  const patchesAt = at + ctx.modes * MODE_WORDS;
  if (h('patches') !== patchesAt) fail(`patches at word ${h('patches')}, expected ${patchesAt}`);
  const np = h('npatch');
  if (patchesAt + np * PATCH_WORDS !== n) fail(`${np} patches do not end the plan (${n} words)`);
  let next = 0;
  for (let m = 0; m < ctx.modes; m++) {
    const e = at + m * MODE_WORDS;
    const start = words[e], count = words[e + 1];
    if (start !== next || start + count > np) fail(`mode ${m} patches ${start}..${start + count} are out of order or out of range (${np} patches)`);
    next = start + count;
    if (words[e + 2] * (h('inDtype') ? 1 : 4) > h('inBytes') || words[e + 3] * (h('outDtype') ? 1 : 4) > h('outBytes')) fail(`mode ${m} input/output element counts exceed their buffers`);
    if (m === ctx.modes - 1 && count !== 0) fail(`the largest mode has ${count} patches, expected none`);
  }
  if (next !== np) fail(`mode table covers ${next} of ${np} patches`);
  for (let k = 0; k < np; k++) {
    const q = patchesAt + k * PATCH_WORDS;
    const idx = words[q] & INDEX_MASK, kind = words[q] >>> 30;
    if (idx >= n || paramWord[idx] === 0) fail(`patch ${k} targets word ${idx}, which is not a record's param`);
    const want = paramWord[idx] === 2 ? RELOC.blob : paramWord[idx] === 3 ? RELOC.arena : RELOC.none;
    if (kind !== want) fail(`patch ${k} relocation kind ${kind} disagrees with word ${idx} (kind ${want})`);
    for (const v of [words[q + 1], words[q + 2]]) {
      if (kind === RELOC.blob && v >= ctx.dataBytes) fail(`patch ${k} points ${v} bytes into a ${ctx.dataBytes}-byte data section`);
      if (kind === RELOC.arena && v >= arena) fail(`patch ${k} points ${v} bytes into a ${arena}-byte arena`);
    }
    if (words[q + 2] !== words[idx]) fail(`patch ${k} restores word ${idx} to ${words[q + 2]}, but the largest mode holds ${words[idx]}`);
  }
}
