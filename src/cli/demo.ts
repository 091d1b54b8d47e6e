/** The `demo` command: the sample images through every mode, then a simulated link whose budget changes per frame. */
import { basename } from 'node:path';
import type { Mode, PacketFormat } from '../model/api.js';
import { readBlob } from '../format/reader.js';
import { BLOB_MAGIC } from '../format/schema.js';
import { modelIdOf, COMPACT_OVERHEAD } from '../codec/packet.js';
import { modeTable, pickMode, formatMode } from '../codec/modes.js';
import { Ctx, loadSamples, openModel, selectModes } from './common.js';
import { table } from '../eval/report.js';
import { yieldToEvents } from './pipe.js';

/** Per-frame byte budgets of the demo's simulated link (a drop to a congested link and back). */
export const LINK_BUDGETS = [1000, 400, 250, 120, 100, 60, 120, 250];

export async function cmdDemo(io: Ctx, o: { model: string; samples: string; modes?: Mode[]; packet: PacketFormat }): Promise<void> {
  io.out(`slimsplit demo: loading model ${o.model} and the samples in ${o.samples}\n`);
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
    await yieldToEvents(); // a reader that went away (demo | head) ends the run here
    io.out(`\n${basename(s.file)} (true class: ${s.label >= 0 ? classes[s.label] : 'unknown'})\n`);
    const rows: string[][] = [];
    modes.forEach((m, i) => {
      enc.setMode(m);
      const t = performance.now();
      const packet = enc.encode(s.raw); // device side
      const ms = performance.now() - t;
      const r = dec.decode(packet); // server side, from the packet bytes only
      if (r.top1 === s.label) correct[i]++;
      rows.push([formatMode(enc.mode), String(packet.length), ms.toFixed(2), r.label, s.label < 0 ? '' : r.top1 === s.label ? 'ok' : 'wrong']);
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
      return [String(f + 1), String(budget), formatMode(enc.mode), String(packet.length), fits ? '' : 'over budget', basename(s.file), r.label];
    });
    io.out(table(['frame', 'budget B', 'mode', 'bytes', '', 'sample', 'predicted'], rows).replace(/^/gm, '  '));
  }
  if (counted === 0) io.out(`\nno sample is named after one of this model's classes (the file name is the class): no accuracy to show\n`);
  else io.out(`\naccuracy on the ${counted} samples per mode: ${modes.map((m, i) => `${formatMode(m)} ${correct[i]}/${counted}`).join('; ')}\n`);
}
