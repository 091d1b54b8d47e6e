/**
 * Command-line options shared by the controller benchmark (controller.bench.ts) and its loss
 * analysis (controller-losses.ts); the header of controller.bench.ts lists them.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSlimTuning, type SlimTuning } from '../src/device/controller.js';
import { ENVELOPE_OVERHEAD } from '../src/device/run.js';
import type { TraceLink } from '../src/device/link.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface Args {
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
  /** add the clairvoyant greedy bound (controller-oracle.ts) as controller 'oracle' */
  oracle: boolean;
  /**
   * the device's send path, the same for every controller: 'drop-late' (default: frames wait for the
   * link in the device's queue, and one certain to be late at its head is dropped, link.ts
   * sendOrDrop) or 'fifo' (every frame enters the link when encoded, as before)
   */
  send: 'drop-late' | 'fifo';
  /**
   * what slim is told of the link's packet (ControllerOptions.linkPacketBytes): 'link', the default,
   * the emulated link's own (the trace's 1,500 B x the scale, as a device knows the link it is on);
   * a number of bytes whatever the scale; 'none', not told
   */
  linkPacket: 'link' | 'none' | number;
}

export function parseArgs(argv: string[]): Args {
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
    oracle: false,
    send: 'drop-late',
    linkPacket: 'link',
  };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n)) throw new Error(`bench:controller: ${flag} needs a number, got '${v}'`);
    return n;
  };
  let svgSet = false, jsonSet = false;
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
      case '--controllers': a.controllers = v.match(/fixed:\d+,\d+|[^,]+/g) ?? []; i++; break;
      case '--json': a.json = v; jsonSet = true; i++; break;
      case '--svg': a.svg = v; svgSet = true; i++; break;
      case '--seed': a.seed = num(f, v); i++; break;
      case '--oracle': a.oracle = true; break;
      case '--send':
        if (v !== 'drop-late' && v !== 'fifo') throw new Error(`bench:controller: --send is drop-late or fifo, got '${v}'`);
        a.send = v; i++; break;
      case '--link-packet':
        if (v === 'none' || v === 'link') a.linkPacket = v;
        else if (Number(v) > 0) a.linkPacket = Number(v);
        else throw new Error(`bench:controller: --link-packet is a number of bytes > 0, link or none, got '${v}'`);
        i++; break;
      case '--tuning': a.tuning = parseSlimTuning(v ?? ''); i++; break;
      default: throw new Error(`bench:controller: unknown option '${f}' (see the header of bench/controller.bench.ts)`);
    }
  }
  if (a.traces.length === 0) {
    const dir = join(ROOT, '..', 'shared', 'traces');
    a.traces = readdirSync(dir).filter((n) => n.endsWith('.up') || n.endsWith('.txt')).sort().map((n) => join(dir, n));
  }
  // A run written elsewhere keeps its chart beside it.
  if (jsonSet && !svgSet) a.svg = a.json.replace(/\.json$/, '') + '.svg';
  if (a.scales.length === 0) a.scales = [1, 1 / 10, 1 / 50];
  if (a.fps.length === 0) a.fps = [10, 30];
  if (a.deadlines.length === 0) a.deadlines = [100, 300];
  return a;
}

/** The link packet size slim is told on this link (Args.linkPacket). */
export function linkPacketFor(a: Pick<Args, 'linkPacket'>, link: TraceLink): number | undefined {
  return a.linkPacket === 'link' ? link.packetBytes : a.linkPacket === 'none' ? undefined : a.linkPacket;
}

/** '0.1', '1/10' */
export function parseScale(v: string | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(?:\/(\d+(?:\.\d+)?))?$/.exec(v ?? '');
  const k = m ? Number(m[1]) / (m[2] ? Number(m[2]) : 1) : NaN;
  if (!(k > 0)) throw new Error(`bench:controller: --scale needs a factor > 0 like 0.1 or 1/10, got '${v}'`);
  return k;
}

export function scaleName(k: number): string {
  return k >= 1 ? String(k) : `1/${Math.round(1 / k)}`;
}

