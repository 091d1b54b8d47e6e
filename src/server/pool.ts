/**
 * The decoder pool: N worker_threads (src/server/worker.ts), each with its own kernel module
 * instance per model. The main thread never decodes: it hands a worker up to `depth` frames (two
 * by default, so a worker has its next frame while the previous answer crosses back), the packet
 * bytes in a slot of a buffer shared with that worker, and gets results as events. A worker that dies is replaced; the frames it held are answered with
 * 'worker-died', never dropped.
 *
 *   const pool = new DecoderPool({ blobs, workers: 4, topK: 3 });
 *   await pool.ready();
 *   if (pool.hasRoom()) pool.run(model, packet, (r) => ...);
 *   await pool.close();
 */
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { WorkerInit, WorkerJob, WorkerReply } from './worker.js';

/** bytes of one shared packet slot: packets up to this size (the default --max-body) are not copied into a buffer of their own */
export const SLOT_BYTES = 65536;

export type PoolReply = WorkerReply | { id: number; ok: false; startedAt: number; error: { kind: 'died'; code: 'worker-died'; message: string } };

export interface PoolOptions {
  blobs: Uint8Array[];
  workers: number;
  topK: number;
  /** frames handed to one worker at a time (default 2) */
  depth?: number;
  build?: WorkerInit['build'];
  /** called after a dead worker's replacement is started */
  onRestart?: (index: number, reason: string) => void;
  /** called when a worker comes online or a dead one's frames were answered: frames may be handed over */
  onLoad?: () => void;
}

interface Slot {
  worker: Worker;
  online: boolean;
  /** job id -> callback, for the frames this worker holds */
  held: Map<number, (r: PoolReply) => void>;
  /** packet bytes shared with the worker: a slot of SLOT_BYTES per frame it may hold (at most 8) */
  shared: SharedArrayBuffer;
  /** job id in each packet slot (0: free) */
  slotIds: Float64Array;
  /** jobs handed over in this tick, posted together at its end (one message per worker per tick) */
  outbox: WorkerJob[];
  closing: boolean;
}

/**
 * The compiled worker: beside this file in dist/, or (running the TypeScript sources under a test
 * runner) the package's dist/src/server/worker.js, which `npm run build` writes.
 */
function workerFile(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, 'worker.js');
  if (existsSync(beside)) return beside;
  const built = join(here, '..', '..', 'dist', 'src', 'server', 'worker.js');
  if (existsSync(built)) return built;
  throw new Error(`slimsplit: serve: no compiled decoder worker at ${beside} or ${built}: run npm run build`);
}

export class DecoderPool {
  private readonly slots: Slot[] = [];
  private readonly opts: Required<Omit<PoolOptions, 'onRestart' | 'onLoad' | 'build'>> & PoolOptions;
  private nextId = 1;
  private closed = false;
  private readonly file = workerFile();
  restarts = 0;

  constructor(opts: PoolOptions) {
    if (!(Number.isInteger(opts.workers) && opts.workers >= 1)) throw new Error(`slimsplit: serve: --workers must be an integer >= 1, got ${opts.workers}`);
    this.opts = { ...opts, depth: opts.depth ?? 2 };
    for (let i = 0; i < opts.workers; i++) this.slots.push(this.spawn(i));
  }

  private spawn(index: number): Slot {
    const slots = Math.min(this.opts.depth!, 8);
    const shared = new SharedArrayBuffer(slots * SLOT_BYTES);
    const init: WorkerInit & { slimsplitDecoder: true } = { slimsplitDecoder: true, blobs: this.opts.blobs, topK: this.opts.topK, build: this.opts.build, shared, slotBytes: SLOT_BYTES };
    const worker = new Worker(this.file, { workerData: init });
    const slot: Slot = { worker, online: false, held: new Map(), shared, slotIds: new Float64Array(slots), outbox: [], closing: false };
    worker.on('message', (m: { replies: WorkerReply[] } | { ready: true }) => {
      if ('ready' in m) {
        slot.online = true;
        this.opts.onLoad?.();
        return;
      }
      // the callback hands this worker its next frame (FrameService.pump)
      for (const r of m.replies) {
        const cb = slot.held.get(r.id);
        if (!cb) continue;
        slot.held.delete(r.id);
        const k = slot.slotIds.indexOf(r.id);
        if (k >= 0) slot.slotIds[k] = 0;
        cb(r);
      }
    });
    let why = 'exited';
    worker.on('error', (e) => {
      why = `threw ${e.message}`;
    });
    worker.on('exit', (code) => {
      if (slot.closing || this.closed) return;
      const reason = `decoder worker ${index} ${why} (exit code ${code})`;
      const held = [...slot.held.entries()];
      slot.held.clear();
      slot.online = false;
      this.restarts++;
      this.slots[index] = this.spawn(index);
      this.opts.onRestart?.(index, reason);
      for (const [id, cb] of held) cb({ id, ok: false, startedAt: 0, error: { kind: 'died', code: 'worker-died', message: `${reason} while decoding this frame; send it again` } });
      this.opts.onLoad?.();
    });
    return slot;
  }

  /** Resolves once every worker has loaded its models (rejects if one cannot start). */
  ready(timeoutMs = 60_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const t0 = Date.now();
      const check = (): void => {
        if (this.slots.every((s) => s.online)) resolve();
        else if (Date.now() - t0 > timeoutMs) reject(new Error(`slimsplit: serve: decoder workers not ready after ${timeoutMs} ms`));
        else setTimeout(check, 5);
      };
      check();
    });
  }

  get size(): number {
    return this.slots.length;
  }
  get online(): number {
    return this.slots.filter((s) => s.online).length;
  }
  /** workers holding at least one frame */
  get busy(): number {
    return this.slots.filter((s) => s.held.size > 0).length;
  }
  get held(): number {
    return this.slots.reduce((a, s) => a + s.held.size, 0);
  }

  hasRoom(): boolean {
    return this.slots.some((s) => s.online && s.held.size < this.opts.depth!);
  }

  /** Hands a frame to the least loaded online worker; false if none has room. */
  run(model: number, packet: Uint8Array, cb: (r: PoolReply) => void): boolean {
    let best: Slot | undefined;
    for (const s of this.slots) if (s.online && s.held.size < this.opts.depth! && (!best || s.held.size < best.held.size)) best = s;
    if (!best) return false;
    const id = this.nextId++;
    best.held.set(id, cb);
    // the packet goes into one of the worker's shared slots (free: a worker holds fewer than
    // depth frames): no buffer to allocate, transfer and collect per frame; the packet may be a
    // view into a larger socket buffer, which postMessage would otherwise clone whole
    let job: WorkerJob;
    const k = packet.length <= SLOT_BYTES ? best.slotIds.indexOf(0) : -1;
    if (k >= 0) {
      best.slotIds[k] = id;
      new Uint8Array(best.shared, k * SLOT_BYTES, packet.length).set(packet);
      job = { id, model, slot: k, length: packet.length };
    } else {
      const copy = new Uint8Array(packet.length);
      copy.set(packet);
      job = { id, model, packet: copy };
    }
    if (best.outbox.length === 0 && !this.flushing.has(best)) {
      this.flushing.add(best);
      if (this.flushing.size === 1) queueMicrotask(() => this.flush());
    }
    best.outbox.push(job);
    return true;
  }

  private readonly flushing = new Set<Slot>();

  private flush(): void {
    for (const s of this.flushing) {
      const jobs = s.outbox;
      s.outbox = [];
      if (jobs.length) s.worker.postMessage({ jobs }, jobs.flatMap((j) => ('packet' in j ? [j.packet.buffer as ArrayBuffer] : [])));
    }
    this.flushing.clear();
  }

  /** Ends worker i as a crash would (operators and tests: the pool must replace it). */
  terminateWorker(i: number): Promise<number> {
    return this.slots[i].worker.terminate();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.slots.map((s) => {
        s.closing = true;
        return s.worker.terminate();
      }),
    );
  }
}
