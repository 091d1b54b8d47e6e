/**
 * Rate controllers on real uplink traces, in virtual time (src/device/sim.ts).
 *
 *   npm run bench:controller                              # every trace in ../shared/traces, 10,000 images
 *   npm run bench:controller -- --images 500 --frames 10000   # a subset, cycled to 10,000 frames
 *   npm run bench:controller -- --trace my.up --scale 0.1 --json out.json
 *
 * Step 1, once per model and image count: every test image is encoded in every mode by the engine
 * and decoded by the server side; its packet bytes and whether its top-1 is right are cached in
 * .tmp/controller-<model>-<images>.json with each mode's mean encode and decode ms (the 10,000
 * images x 16 modes of the 16x16 model take ~20 min of one core; 500 take ~1 min).
 * Step 2: for each trace, scale (1, 1/10, 1/50 unless --scale), fps (10, 30), deadline (100, 300
 * ms), every controller (each fixed mode, ema, slim) streams the frames over the trace-driven link;
 * rows { controller, trace, scale, fps, deadlineMs, accuracy, missRate, meanBytes, switchesPerMin }
 * (plus accuracyInclLate, timelyAccuracy, lateRate and skipRate; docs/CONTROLLER.md defines them) go
 * to --json (default bench/results/controller.json) and a chart of accuracy against miss rate per
 * trace to --svg (default bench/results/controller.svg). The simulated server refuses frames past
 * their deadline as `slimsplit serve` does (no class), and `accuracy` counts them as not right.
 *
 * Options: --model <blob> (default weights/see-cifar10.slim), --data <CIFAR test tarball>,
 * --images N, --frames N (default: one per image), --trace <file> (repeatable), --scale k
 * (repeatable), --fps, --deadline (repeatable), --delay ms (one-way, default 20), --overhead bytes
 * per frame the transport adds (default 20: the frame envelope of src/server/envelope.ts around a compact packet), --controllers a,b,c, --seed,
 * --tuning '{"fit":0.7}' (SlimController's knobs, src/device/controller.ts SlimTuning), --send drop-late|fifo
 * (the device's send path, the same for every controller and the oracle: drop-late, the default,
 * drops a frame that reaches the head of the device's send queue certain to be late; fifo puts every
 * frame on the link when encoded), --link-packet <bytes|link|none> (what slim is told of the link's
 * packet: the emulated link's own, 1,500 B x the scale, by default; controller-args.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { buildCache } from './controller-cache.js';
import { readTrace, meanMbps, type Trace } from '../src/device/trace.js';
import { TraceLink } from '../src/device/link.js';
import { makeController, controllerNames } from '../src/device/controller.js';
import { simulate, shuffledOrder, type SimDataset, type FrameRecord, type RunSummary } from '../src/device/sim.js';
import { oracleRun, excessMisses } from './controller-oracle.js';
import { parseArgs, scaleName, linkPacketFor, ROOT } from './controller-args.js';
import { targetsReport, controllerChartSvg, type BenchRow } from './controller-report.js';

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const cached = await buildCache(a, ROOT);
  // The controllers see expected bytes on the wire, as on the device (src/device/run.ts measureModes).
  const ds: SimDataset = { ...cached, modes: cached.modes.map((m) => ({ ...m, expectedBytes: m.expectedBytes + a.overhead })) };
  // Overhead: the frame envelope the transport adds to every packet.
  const names = a.controllers ?? controllerNames(ds.modes);
  const order = shuffledOrder(ds.count, a.seed);
  const frames = a.frames ?? ds.count;
  const traces: Trace[] = a.traces.map((p) => readTrace(p));
  const smallest = ds.modes.reduce((b, m, i) => (m.expectedBytes < ds.modes[b].expectedBytes ? i : b), 0);
  const smallestName = `fixed:${ds.modes[smallest].mode.members},${ds.modes[smallest].mode.bits}`;
  const rows: BenchRow[] = [];
  const t0 = performance.now();
  for (const trace of traces) {
    console.error(`${trace.name}: mean ${meanMbps(trace).toFixed(2)} Mbit/s, ${(trace.periodMs / 1000).toFixed(0)} s`);
    for (const scale of a.scales) for (const fps of a.fps) for (const deadlineMs of a.deadlines) {
      const setting = { trace: trace.name, scale: scaleName(scale), fps, deadlineMs };
      const runs = new Map<string, FrameRecord[]>();
      const linkOf = () => new TraceLink(trace, { scale, delayMs: a.delayMs });
      const sim = { fps, deadlineMs, frames, order, overheadBytes: a.overhead, dropLate: a.send === 'drop-late' };
      for (const name of names) {
        const link = linkOf();
        const ctl = makeController(name, ds.modes, { deadlineMs, fps, linkPacketBytes: linkPacketFor(a, link) }, a.tuning);
        const { frames: recs, summary: s } = simulate(ds, link, ctl, sim);
        runs.set(name, recs);
        rows.push({ controller: name, ...setting, ...rowOf(s) });
      }
      if (a.oracle) {
        const { summary: s } = oracleRun(ds, linkOf(), sim);
        rows.push({ controller: 'oracle', ...setting, ...rowOf(s) });
      }
      // Where slim's misses beyond the smallest fixed mode's come from.
      const slim = runs.get('slim');
      if (slim) {
        const small = runs.get(smallestName) ?? simulate(ds, linkOf(), makeController(smallestName, ds.modes, { deadlineMs, fps }), sim).frames;
        const row = rows.find((r) => r.controller === 'slim' && r.trace === trace.name && r.scale === setting.scale && r.fps === fps && r.deadlineMs === deadlineMs)!;
        row.excess = excessMisses(slim, small, smallest, deadlineMs, linkOf());
      }
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  mkdirSync(dirname(a.json), { recursive: true });
  writeFileSync(a.json, JSON.stringify({
    model: basename(a.model), images: ds.count, frames, delayMs: a.delayMs, overheadBytes: a.overhead, packet: 'compact', send: a.send,
    modes: ds.modes, seconds, rows,
  }, null, 1) + '\n');
  writeFileSync(a.svg, controllerChartSvg(rows));
  console.log(targetsReport(rows));
  console.error(`${rows.length} runs in ${seconds.toFixed(1)} s -> ${a.json}, ${a.svg}`);
}

function rowOf(s: RunSummary) {
  return { accuracy: s.accuracy, missRate: s.missRate, meanBytes: s.meanBytes, switchesPerMin: s.switchesPerMin, accuracyInclLate: s.accuracyInclLate ?? NaN, timelyAccuracy: s.timelyAccuracy, lateRate: s.lateRate, skipRate: s.skipRate, dropRate: s.dropRate };
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exit(1);
});
