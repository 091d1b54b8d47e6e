/**
 * The server's main-thread work per frame that is the server's own (envelope and packet checks,
 * scheduler, metrics, live view, result object and its JSON), without sockets and without decoder
 * threads: FrameService from one or more builds, driven in-process by 64 closed-loop devices, with
 * a stand-in pool that answers each frame on the next microtask with a canned worker reply of
 * that build's format (structuredClone'd, as postMessage would deliver it). The main thread runs
 * flat out, so the time per frame is CPU time of this one thread; rounds of the builds alternate
 * and the minimum per build is reported, which a busy machine inflates least.
 *
 *   npx tsx bench/serve-mainpath.ts --dist .tmp/dist-before,dist [--rounds 15] [--frames 20000]
 *   npx tsx bench/serve-mainpath.ts --dist .tmp/dist-before,dist --pool real --frames 3000
 *
 * Sockets and the kernel's share of them are not in it: bench:serve --cpu measures the whole main
 * thread. --pool real uses the build's own decoder pool (2 workers decoding for real) instead of
 * the stand-in, adding the hand-over to the workers (postMessage, packet copies); the main thread
 * then waits for the workers, so its CPU time per frame is read from Linux's per-thread counter.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const val = (k: string): string | undefined => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : undefined);
const dists = (val('--dist') ?? 'dist').split(',');
const rounds = Number(val('--rounds') ?? 15);
const framesPerRound = Number(val('--frames') ?? 20000);
const modelName = val('--model') ?? 'see-cifar10-d4r';
const DEVICES = 64;
const realPool = val('--pool') === 'real';

/** this thread's CPU time in ns (Linux) */
function threadNs(): number {
  return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
}

interface Build {
  dist: string;
  run(): Promise<number>;
}

type AnyReply = Record<string, unknown>;

async function load(dist: string): Promise<Build> {
  const base = join(ROOT, dist, 'src');
  const { FrameService } = await import(join(base, 'server/frames.js'));
  const { ModelSet } = await import(join(base, 'server/models.js'));
  const { ServerMetrics } = await import(join(base, 'server/metrics.js'));
  const { LiveStats } = await import(join(base, 'server/live/stats.js'));
  const { writeEnvelope } = await import(join(base, 'server/envelope.js'));
  const { loadModel } = await import(join(base, 'index.js'));
  const { DecoderPool } = await import(join(base, 'server/pool.js'));
  const numbersReply = readFileSync(join(base, 'server/worker.js'), 'utf8').includes('scores:');
  const path = join(ROOT, 'weights', `${modelName}.slim`);
  const models = await ModelSet.load([path]);
  const m = await loadModel(path);
  const enc = m.encoder();
  enc.setMode({ members: 2, bits: 4 });
  const pixels = new Uint8Array(readFileSync(join(ROOT, 'test/fixtures/see-cifar10-d4/images.u8')));
  const packets: Uint8Array[] = Array.from({ length: 16 }, (_, i) => enc.encode({ data: pixels.subarray(i * 3072, (i + 1) * 3072), width: 32, height: 32, channels: 3 }));
  const reply = (id: number): AnyReply =>
    numbersReply
      ? { id, ok: true, classes: [3, 5, 2], scores: [0.81, 0.1, 0.05], members: 2, bits: 4, startedAt: performance.timeOrigin + performance.now(), decodeMs: 1.2 }
      : { id, ok: true, top: [{ class: 3, label: 'cat', score: 0.81 }, { class: 5, label: 'dog', score: 0.1 }, { class: 2, label: 'bird', score: 0.05 }], mode: { members: 2, bits: 4 }, startedAt: performance.timeOrigin + performance.now(), decodeMs: 1.2 };
  // the pool's surface FrameService uses: room for 2 workers x depth 2, answers on the next microtask
  let held = 0;
  let nextId = 1;
  let due: ((r: AnyReply) => void)[] = [];
  const flush = (): void => {
    const cbs = due;
    due = [];
    for (const cb of cbs) {
      held--;
      cb(structuredClone(reply(nextId++)));
    }
  };
  const pool = {
    size: 2,
    online: 2,
    get busy() {
      return Math.min(2, held);
    },
    get held() {
      return held;
    },
    hasRoom: () => held < 4,
    run(_model: number, packet: Uint8Array, cb: (r: AnyReply) => void): boolean {
      if (held >= 4) return false;
      held++;
      const copy = new Uint8Array(packet.length);
      copy.set(packet);
      if (due.length === 0) queueMicrotask(flush);
      due.push(cb);
      return true;
    },
  };
  const real = realPool ? new DecoderPool({ blobs: models.models.map((x: { bytes: Uint8Array }) => x.bytes), workers: 2, topK: 3, depth: 2 }) : undefined;
  if (real) {
    await real.ready();
    real.opts.onLoad = () => frames.pump();
  }
  const metrics = new ServerMetrics(false);
  const frames = new FrameService(models, real ?? pool, metrics, { maxQueue: 100_000, maxInflight: 1000, maxBody: 65536 });
  const live = new LiveStats();
  frames.onAnswer = (f: unknown) => live.record(f);
  if ('state' in metrics || numbersReply) metrics.state = { queueDepth: () => frames.scheduler.depth, inflight: () => frames.scheduler.inflight, workersBusy: () => pool.busy, workersOnline: () => 2 };
  let seq = 0;
  const names = Array.from({ length: DEVICES }, (_, d) => `dev-${d}`);
  return {
    dist,
    async run(): Promise<number> {
      // envelopes made before the clock starts: the devices' work is not the server's
      const n = framesPerRound;
      const envs: Uint8Array[] = [];
      for (let i = 0; i < n + DEVICES; i++) envs.push(writeEnvelope({ seq: seq + i, captureMs: 0, deadlineMs: 0 }, packets[i % packets.length]));
      let sent = 0;
      let answered = 0;
      let bytes = 0;
      let resolve!: () => void;
      const finished = new Promise<void>((r) => (resolve = r));
      const send = (): void => {
        const i = sent++;
        frames.handle(envs[i], { transport: 'ws', device: names[i % DEVICES] }, (r: unknown) => {
          bytes += Buffer.from(JSON.stringify(r)).length;
          if (++answered === n) resolve();
          else if (sent < n) send();
        });
      };
      const t0 = process.hrtime.bigint();
      const c0 = threadNs();
      for (let d = 0; d < DEVICES; d++) send();
      await finished;
      const perFrame = (real ? threadNs() - c0 : Number(process.hrtime.bigint() - t0)) / n;
      seq += n + DEVICES;
      if (bytes === 0) throw new Error('no results');
      return perFrame;
    },
  };
}

async function main(): Promise<void> {
  const builds: Build[] = [];
  for (const d of dists) builds.push(await load(d));
  const ns = new Map<string, number[]>(dists.map((d) => [d, []]));
  for (let r = 0; r < rounds; r++) for (const b of builds) ns.get(b.dist)!.push(await b.run());
  const base = Math.min(...ns.get(dists[0])!.slice(2));
  console.log(`${modelName}: server main-thread ${realPool ? 'CPU per frame with 2 decoder workers' : 'JS per frame (no decode)'}, no sockets, ${rounds} rounds of ${framesPerRound} frames, 64 devices; first 2 rounds are warm-up`);
  for (const d of dists) {
    const xs = ns.get(d)!.slice(2).sort((a, b) => a - b);
    const min = xs[0];
    console.log(`${d.padEnd(20)} min ${(min / 1000).toFixed(2)} µs  median ${(xs[xs.length >> 1] / 1000).toFixed(2)} µs  min vs ${dists[0]} ${(min / base).toFixed(3)}`);
  }
}

main().then(
  () => process.exit(0), // the real pools' workers would keep the process alive
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
