/**
 * `slimsplit serve` on loopback: frames per second and end-to-end latency (p50/p99) for 1, 16, 64
 * and 256 concurrent devices, over HTTP, WebSocket and MQTT (embedded broker), with 1 worker and one
 * per core, for the shipped models. Each device runs closed-loop (sends its next frame when the
 * last is answered). Scaling efficiency = frames/s / (workers x the single-thread decode rate,
 * measured in this run as bench/split-speed.ts measures it). Then, per model and transport with
 * one worker per core, an open-loop run at 70% of the 64-device peak: p99 queueing delay (the
 * result's queueMs) against the median decode time.
 *
 *   npm run bench:serve                     # the whole grid, ~15 min; writes bench/results/serve.json
 *   npm run bench:serve -- --quick          # one model, 1 and 16 devices, short cells (a smoke run)
 *   npm run bench:serve -- --models see-cifar10-d4 --devices 64 --transports ws --seconds 10
 *   npm run bench:serve -- --models see-cifar10-d4r --devices 64 --workers 2 --seconds 3 --cpu --out /tmp/s.json
 *
 * Options: --models, --devices, --transports, --workers (comma lists), --seconds, --warmup,
 * --no-open-loop, --out; --cpu adds CPU µs per frame of the server's main thread, its decoder
 * workers, its other threads and of the load generator (this process), and each one's share of
 * the cores (Linux /proc); --serve-args "<flags>" passes flags to `slimsplit serve`; --cpu-prof
 * <dir> runs the server under node --cpu-prof (one profile per thread); --dist a,b runs every
 * cell against each server build in turn (a copy of dist/ kept from before a change, e.g.
 * .tmp/dist-before, against dist/), rows tagged with the build; --open-rate <frames/s> sets the
 * open-loop rate (default 70% of the 64-device closed-loop peak of the same run).
 * --server-cpus <list> runs the server (and the single-thread decode-rate processes) under
 * `taskset -c <list>` and makes "one worker per core" the list's size; --load-cpus <list> pins
 * every thread of this process, the load generator, to other cores (`taskset -a -p`). On a
 * machine with more cores than workers, this keeps the generator off the workers' cores, which
 * the efficiency target assumes (on 2 cores it cannot: docs/BENCHMARKS.md, "Where the CPU goes").
 *   npm run bench:serve -- --server-cpus 0-3 --load-cpus 4-7 --devices 64
 *
 * The server runs as its own process (the built CLI: run `npm run build` first); this process is
 * the load. Timings are only comparable within one run on a quiet machine.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import http from 'node:http';
import { WebSocket } from 'ws';
import mqtt, { type MqttClient } from 'mqtt';
import { loadModel } from '../src/index.js';
import { writeEnvelope } from '../src/server/envelope.js';
import type { FrameResult } from '../src/server/result.js';

const ROOT = join(import.meta.dirname, '..');
type Transport = 'http' | 'ws' | 'mqtt';

interface Opts {
  models: string[];
  devices: number[];
  transports: Transport[];
  workers: number[];
  seconds: number;
  warmup: number;
  mode: { members: number; bits: number };
  out: string;
  openLoop: boolean;
  /** per-cell CPU time per frame of the server's main thread, its decoder workers and the load */
  cpu: boolean;
  /** extra `slimsplit serve` flags (e.g. "--worker-depth 1") */
  serveArgs: string[];
  /** directory for the server's --cpu-prof profiles (one per thread) */
  cpuProf?: string;
  /** server builds to compare, each a folder holding src/cli/main.js (default: dist) */
  dists: string[];
  /** open-loop rate in frames/s instead of 70% of the 64-device peak */
  openRate?: number;
  /** taskset CPU lists: the server's cores, and this process's (the load generator) */
  serverCpus?: string;
  loadCpus?: string;
}

/** The CPUs of a taskset list ("0-3,6"), counted. */
export function cpuCount(list: string): number {
  let n = 0;
  for (const part of list.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`bench:serve: '${list}' is not a CPU list like 0-3,6`);
    const a = Number(m[1]), b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new Error(`bench:serve: CPU range ${part} runs backwards`);
    n += b - a + 1;
  }
  return n;
}

/** `cmd args` under taskset -c cpus when given. */
function pinned(cpus: string | undefined, cmd: string, args: string[]): [string, string[]] {
  return cpus ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args];
}

function parseArgs(argv: string[]): Opts {
  const quick = argv.includes('--quick');
  const serverCpus = argv.includes('--server-cpus') ? argv[argv.indexOf('--server-cpus') + 1] : undefined;
  const cores = serverCpus ? cpuCount(serverCpus) : cpus().length;
  const o: Opts = {
    models: quick ? ['see-cifar10-d4'] : ['see-cifar10-d4r', 'see-cifar10-d4', 'see-cifar10-d8', 'see-cifar10'],
    devices: quick ? [1, 16] : [1, 16, 64, 256],
    transports: ['http', 'ws', 'mqtt'],
    workers: [...new Set([1, cores])],
    seconds: quick ? 1.5 : 5,
    warmup: quick ? 0.5 : 1,
    mode: { members: 2, bits: 4 },
    out: join(ROOT, 'bench', 'results', 'serve.json'),
    openLoop: true,
    cpu: false,
    serveArgs: [],
    dists: ['dist'],
  };
  const val = (k: string): string | undefined => {
    const i = argv.indexOf(k);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const list = (k: string): string[] | undefined => val(k)?.split(',');
  o.models = list('--models') ?? o.models;
  o.devices = list('--devices')?.map(Number) ?? o.devices;
  o.transports = (list('--transports') as Transport[]) ?? o.transports;
  o.workers = list('--workers')?.map(Number) ?? o.workers;
  o.seconds = Number(val('--seconds') ?? o.seconds);
  o.warmup = Number(val('--warmup') ?? o.warmup);
  o.out = val('--out') ?? o.out;
  if (argv.includes('--no-open-loop')) o.openLoop = false;
  o.cpu = argv.includes('--cpu');
  o.serveArgs = val('--serve-args')?.split(' ').filter(Boolean) ?? [];
  o.cpuProf = val('--cpu-prof');
  o.dists = list('--dist') ?? o.dists;
  if (val('--open-rate')) o.openRate = Number(val('--open-rate'));
  o.serverCpus = serverCpus;
  o.loadCpus = val('--load-cpus');
  if (o.loadCpus) cpuCount(o.loadCpus);
  return o;
}

/** The golden images' packets in `mode`, for the load generator. */
async function goldenPackets(model: string, mode: Opts['mode']): Promise<Uint8Array[]> {
  const pixels = new Uint8Array(readFileSync(join(ROOT, 'test/fixtures/see-cifar10-d4/images.u8')));
  const m = await loadModel(join(ROOT, 'weights', `${model}.slim`));
  const enc = m.encoder();
  enc.setMode(mode);
  return Array.from({ length: 100 }, (_, i) => enc.encode({ data: pixels.subarray(i * 3072, (i + 1) * 3072), width: 32, height: 32, channels: 3 }));
}

/**
 * Single-thread decode rate (frames/s) and median decode ms, as bench/split-speed.ts measures it,
 * in fresh processes (bench/decode-rate.ts), the fastest of three: measured inside this process,
 * after the load generator's cells, the same decoder ran up to 1.4x slower than one server worker.
 */
function decodeRate(model: string, mode: Opts['mode'], quick: boolean, serverCpus?: string): { rate: number; ms: number } {
  let ms = Infinity;
  for (let i = 0; i < 3; i++) {
    const [cmd, args] = pinned(serverCpus, process.execPath, ['--import', 'tsx', join(ROOT, 'bench/decode-rate.ts'), model, String(mode.members), String(mode.bits), quick ? '5' : '21']);
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`bench/decode-rate.ts ${model}: ${r.stderr}`);
    ms = Math.min(ms, (JSON.parse(r.stdout) as { ms: number }).ms);
  }
  return { rate: 1000 / ms, ms };
}

interface Server {
  proc: ChildProcess;
  http: number;
  mqtt: number;
}

function startServer(model: string, workers: number, o: Opts, dist: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const node = o.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProf] : [];
    const [cmd, args] = pinned(o.serverCpus, process.execPath, [...node, join(ROOT, dist, 'src/cli/main.js'), 'serve', ...o.serveArgs, '--model', join(ROOT, 'weights', `${model}.slim`), '--workers', String(workers), '--port', '0', '--mqtt-port', '0', '--max-queue', '100000', '--max-inflight', '1000']);
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        const j = JSON.parse(line);
        resolve({ proc, http: j.listening.http.port, mqtt: j.listening.mqtt.port });
      }
    });
    proc.once('exit', (c) => reject(new Error(`serve exited ${c} (npm run build first?)`)));
  });
}

/** A device connection: send(envelope) and a callback per result. */
interface Link {
  send(bytes: Uint8Array): void;
  close(): void;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4096 });

async function connect(t: Transport, srv: Server, device: string, onResult: (r: FrameResult) => void): Promise<Link> {
  if (t === 'http') {
    return {
      send: (bytes) => {
        const req = http.request({ host: '127.0.0.1', port: srv.http, path: `/v1/frames?device=${device}`, method: 'POST', agent, headers: { 'content-length': bytes.length } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => onResult(JSON.parse(Buffer.concat(chunks).toString())));
        });
        req.end(bytes);
      },
      close: () => {},
    };
  }
  if (t === 'ws') {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.http}/v1/ws?device=${device}`, { perMessageDeflate: false });
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    ws.on('message', (d) => onResult(JSON.parse(String(d))));
    return { send: (b) => ws.send(b), close: () => ws.close() };
  }
  const c: MqttClient = await mqtt.connectAsync(`mqtt://127.0.0.1:${srv.mqtt}`, { clientId: device, reconnectPeriod: 0 });
  await c.subscribeAsync(`slimsplit/v1/results/${device}`, { qos: 0 });
  c.on('message', (_t, p) => onResult(JSON.parse(String(p))));
  return { send: (b) => c.publish(`slimsplit/v1/frames/${device}`, Buffer.from(b), { qos: 0 }), close: () => c.end(true) };
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

/** CPU ns of each thread of a process (Linux: /proc/<pid>/task/<tid>/schedstat, first field). */
function threadCpuNs(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try {
        out.set(Number(t), Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]));
      } catch {
        // the thread ended between the listing and the read
      }
    }
  } catch {
    // not Linux: no per-thread figures
  }
  return out;
}

/**
 * CPU µs per answered frame in a window: the server's main thread (accept loop, scheduler,
 * metrics, results), its `workers` busiest other threads (the decoder workers), the rest of the
 * server (GC and compiler helpers, libuv), and the whole load-generator process (this one).
 */
interface CpuSplit {
  mainUs: number;
  workersUs: number;
  serverOtherUs: number;
  loadUs: number;
  /** share of all cores' time in the window: server main, workers, server other, load */
  shares: [number, number, number, number];
}

function cpuProbe(pid: number, workers: number): () => (frames: number, secs: number) => CpuSplit {
  return () => {
    const s0 = threadCpuNs(pid);
    const l0 = process.cpuUsage();
    return (frames, secs) => {
      const s1 = threadCpuNs(pid);
      const l = process.cpuUsage(l0);
      const main = (s1.get(pid) ?? 0) - (s0.get(pid) ?? 0);
      const others = [...s1].filter(([t]) => t !== pid).map(([t, ns]) => ns - (s0.get(t) ?? 0)).sort((a, b) => b - a);
      const w = others.slice(0, workers).reduce((a, b) => a + b, 0);
      const rest = others.slice(workers).reduce((a, b) => a + b, 0);
      const load = (l.user + l.system) * 1000;
      const n = Math.max(1, frames);
      const all = secs * 1e9 * cpus().length;
      return { mainUs: main / n / 1000, workersUs: w / n / 1000, serverOtherUs: rest / n / 1000, loadUs: load / n / 1000, shares: [main / all, w / all, rest / all, load / all] };
    };
  };
}

interface Cell {
  cpu?: CpuSplit;
  framesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p99QueueMs: number;
  notOk: number;
}

/**
 * `devices` devices for warmup + seconds; closed loop (rate undefined: next frame on each answer)
 * or open loop at `rate` frames/s in all, spread evenly over the devices.
 */
async function runCell(t: Transport, srv: Server, devices: number, packets: Uint8Array[], o: Opts, tag: string, rate?: number, probe?: ReturnType<typeof cpuProbe>): Promise<Cell> {
  const lat: number[] = [];
  const queue: number[] = [];
  let done = 0;
  let notOk = 0;
  let measuring = false;
  let stopped = false;
  const links: Link[] = [];
  const sentAt: Map<number, number>[] = [];
  const seqs = new Array(devices).fill(0);
  const sendNext = (d: number): void => {
    if (stopped) return;
    const seq = seqs[d]++;
    sentAt[d].set(seq, performance.now());
    links[d].send(writeEnvelope({ seq, captureMs: 0, deadlineMs: 0 }, packets[(d * 13 + seq) % packets.length]));
  };
  for (let d = 0; d < devices; d++) {
    sentAt.push(new Map());
    const dev = d;
    links.push(
      await connect(t, srv, `${tag}-${d}`, (r) => {
        const t0 = sentAt[dev].get(r.seq ?? -1);
        sentAt[dev].delete(r.seq ?? -1);
        if (measuring && t0 !== undefined) {
          if (r.outcome === 'ok') {
            lat.push(performance.now() - t0);
            queue.push(r.queueMs ?? NaN);
            done++;
          } else notOk++;
        }
        if (rate === undefined) sendNext(dev);
      }),
    );
  }
  let timer: NodeJS.Timeout | undefined;
  if (rate === undefined) for (let d = 0; d < devices; d++) sendNext(d);
  else {
    // open loop: a tick every 2 ms sends what the schedule owes, round-robin over the devices
    const start = performance.now();
    let sent = 0;
    let next = 0;
    timer = setInterval(() => {
      const owed = Math.floor(((performance.now() - start) / 1000) * rate) - sent;
      for (let i = 0; i < owed; i++, sent++) sendNext(next++ % devices);
    }, 2);
  }
  await new Promise((r) => setTimeout(r, o.warmup * 1000));
  measuring = true;
  const stopProbe = probe?.();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, o.seconds * 1000));
  const secs = (performance.now() - t0) / 1000;
  measuring = false;
  const cpu = stopProbe?.(done + notOk, secs);
  stopped = true;
  if (timer) clearInterval(timer);
  const framesPerSec = done / secs;
  // let the frames in flight land before the next cell
  await new Promise((r) => setTimeout(r, 300));
  for (const l of links) l.close();
  return { framesPerSec, p50Ms: pct(lat, 0.5), p99Ms: pct(lat, 0.99), p99QueueMs: pct(queue, 0.99), notOk, cpu };
}

const r2 = (x: number): number => Math.round(x * 100) / 100;

function cpuFields(c: CpuSplit | undefined): Record<string, number | number[]> {
  if (!c) return {};
  return { mainUsPerFrame: r2(c.mainUs), workerUsPerFrame: r2(c.workersUs), serverOtherUsPerFrame: r2(c.serverOtherUs), loadUsPerFrame: r2(c.loadUs), cpuShares: c.shares.map(r2) };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (o.loadCpus) {
    const r = spawnSync('taskset', ['-a', '-pc', o.loadCpus, String(process.pid)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`bench:serve: taskset could not pin the load generator to ${o.loadCpus}: ${r.stderr || r.error}`);
  }
  const quick = process.argv.includes('--quick');
  const rows: Record<string, unknown>[] = [];
  const openRows: Record<string, unknown>[] = [];
  let cellNo = 0;
  for (const model of o.models) {
    const single = { ...decodeRate(model, o.mode, quick, o.serverCpus), packets: await goldenPackets(model, o.mode) };
    console.log(`${model}: single-thread decode ${single.ms.toFixed(3)} ms (${single.rate.toFixed(1)} frames/s), mode (${o.mode.members},${o.mode.bits})`);
    for (const workers of o.workers) for (const dist of o.dists) {
      const srv = await startServer(model, workers, o, dist);
      const tagged = o.dists.length > 1 ? { dist } : {};
      const probe = o.cpu ? cpuProbe(srv.proc.pid!, workers) : undefined;
      try {
        const peak64: Partial<Record<Transport, number>> = {};
        for (const t of o.transports) {
          for (const devices of o.devices) {
            const c = await runCell(t, srv, devices, single.packets, o, `c${cellNo++}`, undefined, probe);
            const efficiency = c.framesPerSec / (workers * single.rate);
            if (devices === 64) peak64[t] = c.framesPerSec;
            const row = { transport: t, devices, workers, model, ...tagged, framesPerSec: r2(c.framesPerSec), p50Ms: r2(c.p50Ms), p99Ms: r2(c.p99Ms), efficiency: r2(efficiency), singleThreadFramesPerSec: r2(single.rate), notOk: c.notOk, ...cpuFields(c.cpu) };
            rows.push(row);
            console.log(JSON.stringify(row));
          }
        }
        if (o.openLoop && workers === Math.max(...o.workers)) {
          for (const t of o.transports) {
            const peak = peak64[t];
            if (!peak && !o.openRate) continue;
            const rate = o.openRate ?? 0.7 * peak!;
            const c = await runCell(t, srv, 64, single.packets, o, `c${cellNo++}`, rate, probe);
            const row = { transport: t, devices: 64, workers, model, ...tagged, load: peak ? r2(rate / peak) : null, offeredFramesPerSec: r2(rate), framesPerSec: r2(c.framesPerSec), p50Ms: r2(c.p50Ms), p99Ms: r2(c.p99Ms), p99QueueMs: r2(c.p99QueueMs), decodeMs: r2(single.ms), p99QueueInDecodes: r2(c.p99QueueMs / single.ms), ...cpuFields(c.cpu) };
            openRows.push(row);
            console.log(JSON.stringify(row));
          }
        }
      } finally {
        srv.proc.kill('SIGTERM');
        await new Promise((r) => srv.proc.once('exit', r));
      }
    }
  }
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(o.out, JSON.stringify({ note: 'npm run bench:serve' + (quick ? ' -- --quick (smoke run, not for numbers)' : ''), cores: cpus().length, serverCpus: o.serverCpus, loadCpus: o.loadCpus, cpu: cpus()[0]?.model, node: process.version, mode: o.mode, rows, openLoop: openRows }, null, 1) + '\n');
  console.log(`\n| transport | devices | workers | model | frames/s | p50 ms | p99 ms | efficiency |\n| --- | --- | --- | --- | --- | --- | --- | --- |`);
  for (const r of rows) console.log(`| ${r.transport} | ${r.devices} | ${r.workers} | ${r.model} | ${r.framesPerSec} | ${r.p50Ms} | ${r.p99Ms} | ${r.efficiency} |`);
  if (openRows.length) {
    console.log(`\n| transport | model | workers | offered frames/s (70% of 64-device peak) | p99 queue ms | decode ms | p99 queue / decode |\n| --- | --- | --- | --- | --- | --- | --- |`);
    for (const r of openRows) console.log(`| ${r.transport} | ${r.model} | ${r.workers} | ${r.offeredFramesPerSec} | ${r.p99QueueMs} | ${r.decodeMs} | ${r.p99QueueInDecodes} |`);
  }
  console.log(`\nwrote ${o.out}`);
  agent.destroy();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
