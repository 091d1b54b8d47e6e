/**
 * A decoder worker (worker_threads): one kernel module instance per model, one frame at a time.
 * The pool (src/server/pool.ts) posts { jobs: [{ id, model, packet }] } and gets back { replies: [...] }: the decode or the error.
 * Malformed packets come back as { error: { kind: 'malformed', code, message } } (the packet and
 * coder errors the decoder throws); anything else as kind 'internal'.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Model, PacketError, CoderError, type SplitDecoder } from '../index.js';
import { topKOf } from './result.js';

export interface WorkerInit {
  blobs: Uint8Array[];
  topK: number;
  build?: 'simd' | 'scalar' | 'auto';
  /** packet slots shared with the pool: `slots` of `slotBytes` each */
  shared?: SharedArrayBuffer;
  slotBytes?: number;
}

/** a frame to decode: its packet in shared slot `slot` (`length` bytes), or, larger than a slot, its own bytes */
export type WorkerJob = { id: number; model: number; slot: number; length: number } | { id: number; model: number; packet: Uint8Array };

/**
 * ok: the top-k classes and their scores (the main thread adds the labels: numbers clone faster
 * than objects with strings), the packet's mode, when the decode began and how long it took.
 */
export type WorkerReply =
  | { id: number; ok: true; classes: number[]; scores: number[]; members: number; bits: number; startedAt: number; decodeMs: number }
  | { id: number; ok: false; startedAt: number; error: { kind: 'malformed' | 'internal'; code: string; message: string } };

/** ms since the epoch with sub-ms resolution, comparable across threads */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

function start(port: NonNullable<typeof parentPort>, init: WorkerInit): void {
  const decoders: { dec: SplitDecoder; classes: string[] }[] = init.blobs.map((b) => {
    const m = new Model(b, { build: init.build ?? 'auto' });
    return { dec: m.decoder(), classes: m.info.classes };
  });
  const shared = init.shared;
  const slotBytes = init.slotBytes ?? 0;
  const decodeOne = (job: WorkerJob): WorkerReply => {
    const startedAt = nowMs();
    const d = decoders[job.model];
    try {
      if (!d) throw new Error(`no model ${job.model} in this worker`);
      // the slot is the pool's again once this answer reaches it: the decode reads it before that
      const packet = 'packet' in job ? job.packet : new Uint8Array(shared!, job.slot * slotBytes, job.length);
      const r = d.dec.decode(packet);
      const top = topKOf(r.logits, init.topK, d.classes);
      return { id: job.id, ok: true, classes: top.map((t) => t.class), scores: top.map((t) => t.score), members: r.mode.members, bits: r.mode.bits, startedAt, decodeMs: nowMs() - startedAt };
    } catch (e) {
      const err = e as Error;
      // a packet naming a mode the model lacks passes the CRC and fails in setMode ("has no mode")
      const wrongMode = /has no mode|has no coder tables for/.test(err.message);
      const malformed = e instanceof PacketError || e instanceof CoderError || wrongMode;
      const code = e instanceof PacketError ? `packet:${e.code}` : e instanceof CoderError ? 'coder' : wrongMode ? 'mode' : 'internal';
      return { id: job.id, ok: false, startedAt, error: { kind: malformed ? 'malformed' : 'internal', code, message: err.message } };
    }
  };
  // the pool posts the frames of one tick together; each answer goes back as soon as it is ready,
  // so that the pool can hand over the next frame while this worker decodes the one it holds
  port.on('message', (m: { jobs: WorkerJob[] }) => {
    for (const job of m.jobs) port.postMessage({ replies: [decodeOne(job)] });
  });
  port.postMessage({ ready: true });
}

if (parentPort && workerData && (workerData as { slimsplitDecoder?: boolean }).slimsplitDecoder) start(parentPort, workerData as WorkerInit);
