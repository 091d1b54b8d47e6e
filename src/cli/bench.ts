/** The `bench` command: encode/decode timing per mode on the sample images. */
import { cpus } from 'node:os';
import type { Mode, PacketFormat } from '../model/api.js';
import { formatMode } from '../codec/modes.js';
import { median, mean } from '../util.js';
import { Ctx, loadSamples, openModel, progressBar, selectModes } from './common.js';
import { num, table } from '../eval/report.js';
import { yieldToEvents } from './pipe.js';

export async function cmdBench(io: Ctx, o: { model: string; samples: string; modes?: Mode[]; rounds: number; packet: PacketFormat }): Promise<void> {
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
      await yieldToEvents(); // a reader that went away (bench | head) ends the run here
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
      const bytes = mean(packets.map((p) => p.length));
      rows.push([formatMode(enc.mode), num(bytes, 1), num(median(encT), 3), num(mean(encT), 3), num(median(decT), 3), num(mean(decT), 3), num(1000 / mean(encT), 0)]);
    }
  } finally {
    bar.stop();
  }
  io.out(table(['mode', 'mean B', 'enc ms (median)', 'enc ms (mean)', 'dec ms (median)', 'dec ms (mean)', 'enc images/s'], rows));
}

// ------------------------------------------------------------------------------------------------
// Program
// ------------------------------------------------------------------------------------------------
