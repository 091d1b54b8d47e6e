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
 * (plus timelyAccuracy and skipRate) go to --json (default bench/results/controller.json) and a
 * chart of accuracy against miss rate per trace to --svg (default bench/results/controller.svg).
 *
 * Options: --model <blob> (default weights/see-cifar10.slim), --data <CIFAR test tarball>,
 * --images N, --frames N (default: one per image), --trace <file> (repeatable), --scale k
 * (repeatable), --fps, --deadline (repeatable), --delay ms (one-way, default 20), --overhead bytes
 * per frame the transport adds (default 20: the frame envelope of src/server/envelope.ts around a compact packet), --controllers a,b,c, --seed,
 * --tuning '{"fit":0.7}' (SlimController's knobs, src/device/controller.ts SlimTuning).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCache } from './controller-cache.js';
import { readTrace, meanMbps, type Trace } from '../src/device/trace.js';
import { TraceLink } from '../src/device/link.js';
import { makeController, controllerNames, type ModeSpec, type SlimTuning } from '../src/device/controller.js';
import { simulate, shuffledOrder, type SimDataset } from '../src/device/sim.js';
import { ENVELOPE_OVERHEAD } from '../src/device/run.js';
import { targetsReport, controllerChartSvg, type BenchRow } from './controller-report.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

interface Args {
  model: string;
  data: string;
  images?: number;
  frames?: number;
  traces: string[];
  scales: number[];
  fps: number[];
  deadlines: number[];
  delayMs: number;
  overhead: number;
  controllers?: string[];
  json: string;
  svg: string;
  seed: number;
  tuning: Partial<SlimTuning>;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    model: join(ROOT, 'weights/see-cifar10.slim'),
    data: join(ROOT, '..', 'shared', 'datasets', 'cifar10-jpeg', 'test.tar.gz'),
    traces: [],
    scales: [],
    fps: [],
    deadlines: [],
    delayMs: 20,
    overhead: ENVELOPE_OVERHEAD,
    json: join(ROOT, 'bench/results/controller.json'),
    svg: join(ROOT, 'bench/results/controller.svg'),
    seed: 1,
    tuning: {},
  };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n)) throw new Error(`bench:controller: ${flag} needs a number, got '${v}'`);
    return n;
  };
  let svgSet = false;
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i], v = argv[i + 1];
    switch (f) {
      case '--model': a.model = v; i++; break;
      case '--data': a.data = v; i++; break;
      case '--images': a.images = num(f, v); i++; break;
      case '--frames': a.frames = num(f, v); i++; break;
      case '--trace': a.traces.push(v); i++; break;
      case '--scale': a.scales.push(parseScale(v)); i++; break;
      case '--fps': a.fps.push(num(f, v)); i++; break;
      case '--deadline': a.deadlines.push(num(f, v)); i++; break;
      case '--delay': a.delayMs = num(f, v); i++; break;
      case '--overhead': a.overhead = num(f, v); i++; break;
      case '--controllers': a.controllers = v.split(','); i++; break;
      case '--json': a.json = v; i++; break;
      case '--svg': a.svg = v; svgSet = true; i++; break;
      case '--seed': a.seed = num(f, v); i++; break;
      case '--tuning': a.tuning = JSON.parse(v) as Partial<SlimTuning>; i++; break;
      default: throw new Error(`bench:controller: unknown option '${f}' (see the header of bench/controller.bench.ts)`);
    }
  }
  if (a.traces.length === 0) {
    const dir = join(ROOT, '..', 'shared', 'traces');
    a.traces = readdirSync(dir).filter((n) => n.endsWith('.up') || n.endsWith('.txt')).sort().map((n) => join(dir, n));
  } else if (!svgSet) a.svg = a.json.replace(/\.json$/, '') + '.svg';
  if (a.scales.length === 0) a.scales = [1, 1 / 10, 1 / 50];
  if (a.fps.length === 0) a.fps = [10, 30];
  if (a.deadlines.length === 0) a.deadlines = [100, 300];
  return a;
}

/** '0.1', '1/10' */
function parseScale(v: string | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(?:\/(\d+(?:\.\d+)?))?$/.exec(v ?? '');
  const k = m ? Number(m[1]) / (m[2] ? Number(m[2]) : 1) : NaN;
  if (!(k > 0)) throw new Error(`bench:controller: --scale needs a factor > 0 like 0.1 or 1/10, got '${v}'`);
  return k;
}

function scaleName(k: number): string {
  return k >= 1 ? String(k) : `1/${Math.round(1 / k)}`;
}

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
  const rows: BenchRow[] = [];
  const t0 = performance.now();
  for (const trace of traces) {
    console.error(`${trace.name}: mean ${meanMbps(trace).toFixed(2)} Mbit/s, ${(trace.periodMs / 1000).toFixed(0)} s`);
    for (const scale of a.scales) for (const fps of a.fps) for (const deadlineMs of a.deadlines) {
      for (const name of names) {
        const link = new TraceLink(trace, { scale, delayMs: a.delayMs });
        const ctl = makeController(name, ds.modes, { deadlineMs, fps }, a.tuning);
        const { summary: s } = simulate(ds, link, ctl, { fps, deadlineMs, frames, order, overheadBytes: a.overhead });
        rows.push({
          controller: name, trace: trace.name, scale: scaleName(scale), fps, deadlineMs,
          accuracy: s.accuracy, missRate: s.missRate, meanBytes: s.meanBytes, switchesPerMin: s.switchesPerMin,
          timelyAccuracy: s.timelyAccuracy, skipRate: s.skipRate,
        });
      }
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  mkdirSync(dirname(a.json), { recursive: true });
  writeFileSync(a.json, JSON.stringify({
    model: basename(a.model), images: ds.count, frames, delayMs: a.delayMs, overheadBytes: a.overhead, packet: 'compact',
    modes: ds.modes, seconds, rows,
  }, null, 1) + '\n');
  writeFileSync(a.svg, controllerChartSvg(rows));
  console.log(targetsReport(rows));
  console.error(`${rows.length} runs in ${seconds.toFixed(1)} s -> ${a.json}, ${a.svg}`);
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exit(1);
});
