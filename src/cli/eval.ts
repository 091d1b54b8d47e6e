/** The `eval` command: rate-accuracy over a CIFAR-10 JPEG tarball, every mode and the JPEG baseline. */
import { existsSync, writeFileSync } from 'node:fs';
import type { Mode, PacketFormat } from '../model/api.js';
import { rateAccuracySvg } from '../eval/chart.js';
import { runEval, DEFAULT_QUALITIES, type EvalResult } from '../eval/eval.js';
import { CliError, Ctx, openModel, progressBar, selectModes } from './common.js';
import { evalReport, evalSeries, torchComparison } from '../eval/report.js';

export async function cmdEval(io: Ctx, o: { data: string; limit?: number; json?: string; svg?: string; modes?: Mode[]; qualities?: number[]; model: string; baseline: string | false; packet: PacketFormat }): Promise<void> {
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
