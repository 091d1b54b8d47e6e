/**
 * The device, link and server in virtual time: frames captured at fps, encoded one at a time on the
 * device, queued on a trace-driven link (link.ts), decoded one at a time on the server, the result
 * back at once. Packet sizes and correctness per image and mode come from a table made once with the
 * engine (bench/controller.bench.ts caches it), so a 10,000-frame run takes well under a second.
 *
 *   const run = simulate(dataset, new TraceLink(trace, { scale: 0.1 }), makeController('slim', dataset.modes, o), { fps: 30, deadlineMs: 100 });
 *   run.summary   // { accuracy, missRate, meanBytes, switchesPerMin, ... }
 *   run.frames    // one FrameRecord per frame (the same fields as the device's JSONL log)
 */
import type { Controller, ModeSpec } from './controller.js';
import type { TraceLink } from './link.js';

/** Per image and mode: bytes on the wire and whether the server's top-1 is right. */
export interface SimDataset {
  modes: ModeSpec[];
  /** images */
  count: number;
  /** [count * modes.length], image-major */
  bytes: Uint16Array | Uint32Array;
  /** [count * modes.length], 1 where the decoded top-1 equals the label */
  correct: Uint8Array;
}

export interface SimOptions {
  fps: number;
  deadlineMs: number;
  /** frames to stream (default: every image once) */
  frames?: number;
  /** image shown in frame k (default k mod count) */
  order?: ArrayLike<number>;
  /** bytes the transport adds to every frame (envelope, framing); default 0 */
  overheadBytes?: number;
  /** return path and server: server decode ms per mode (default: modes[].decodeMs) */
  decodeMs?: readonly number[];
  /** encoder ms per mode as run (default: modes[].encodeMs) */
  encodeMs?: readonly number[];
  /** server decode ms of frame k where a real run measured it (replaying its jitter); else decodeMs */
  decodeMsOfFrame?: (frame: number, mode: number) => number | undefined;
  /**
   * A real run's host times for frame k, replayed (controller-validate.ts): when its controller
   * decided, when the frame left the encoder, and the time from the link's delivery to the result
   * (server queue, decode, transport and event loop). The link itself is still simulated.
   */
  replay?: (frame: number) => FrameReplay | undefined;
}

export interface FrameReplay {
  decidedAt: number;
  sentAt: number;
  encodeMs: number;
  afterLinkMs: number;
  serverQueueMs: number;
  serverDecodeMs: number;
  /** the transport's bytes around this frame's packet (the envelope's varints vary) */
  overheadBytes?: number;
}

/** One frame, as the simulator and the device's log both write it. */
export interface FrameRecord {
  frame: number;
  image: number;
  /** mode index, -1 when skipped */
  mode: number;
  members: number;
  bits: number;
  bytes: number;
  capturedAt: number;
  sentAt: number;
  resultAt: number;
  encodeMs: number;
  uplinkMs: number;
  serverQueueMs: number;
  serverDecodeMs: number;
  e2eMs: number;
  missed: boolean;
  correct: boolean | null;
  predictedMs: number;
  uplinkBps: number;
  smallestMisses: boolean;
  /** real runs: when the controller decided, and when the emulated link delivered the last byte (ms from the stream's start) */
  decidedAt?: number;
  linkAt?: number;
}

export interface RunSummary {
  frames: number;
  /** top-1 over the frames that got a result (on time or late) */
  accuracy: number;
  /** correct and on time, over all frames */
  timelyAccuracy: number;
  /** frames with no result within the deadline (skipped ones included) */
  missRate: number;
  skipRate: number;
  /** over frames sent, transport overhead included */
  meanBytes: number;
  /** mode changes between consecutive sent frames, per minute of stream */
  switchesPerMin: number;
}

export function simulate(ds: SimDataset, link: TraceLink, ctl: Controller, o: SimOptions): { frames: FrameRecord[]; summary: RunSummary } {
  const M = ds.modes.length;
  const n = o.frames ?? ds.count;
  const interval = 1000 / o.fps;
  const over = o.overheadBytes ?? 0;
  const enc = o.encodeMs ?? ds.modes.map((m) => m.encodeMs);
  const dec = o.decodeMs ?? ds.modes.map((m) => m.decodeMs ?? 0);
  const frames: FrameRecord[] = [];
  // Results come back in send order (one FIFO link, one FIFO server): a queue, not a heap.
  const pending: FrameRecord[] = [];
  let encFree = 0, srvFree = 0;
  let lastSent = -Infinity;
  for (let k = 0; k < n; k++) {
    const cap = k * interval;
    const rp = o.replay?.(k);
    const decideAt = rp ? Math.max(rp.decidedAt, cap) : cap;
    while (pending.length && pending[0].resultAt <= decideAt) {
      const r = pending.shift()!;
      ctl.onResult({ frame: r.frame, resultAt: r.resultAt, serverQueueMs: r.serverQueueMs, serverDecodeMs: r.serverDecodeMs });
    }
    const image = o.order ? o.order[k % o.order.length] : k % ds.count;
    const d = ctl.decide(decideAt);
    const rec: FrameRecord = {
      frame: k, image, mode: d.mode, members: 0, bits: 0, bytes: 0, capturedAt: cap, sentAt: NaN, resultAt: NaN,
      encodeMs: 0, uplinkMs: NaN, serverQueueMs: NaN, serverDecodeMs: NaN, e2eMs: NaN, missed: true, correct: null,
      predictedMs: d.predictedMs, uplinkBps: d.uplinkBps, smallestMisses: d.smallestMisses,
    };
    frames.push(rec);
    if (d.mode < 0) continue;
    const m = d.mode;
    rec.members = ds.modes[m].mode.members;
    rec.bits = ds.modes[m].mode.bits;
    rec.bytes = ds.bytes[image * M + m] + (rp?.overheadBytes ?? over);
    const start = Math.max(cap, encFree);
    rec.encodeMs = rp ? rp.encodeMs : enc[m];
    rec.sentAt = encFree = Math.max(rp ? rp.sentAt : start + enc[m], lastSent);
    lastSent = rec.sentAt;
    ctl.onSent({ frame: k, mode: m, bytes: rec.bytes, capturedAt: cap, sentAt: rec.sentAt, encodeMs: rec.encodeMs });
    const arrived = link.transmit(rec.sentAt, rec.bytes);
    rec.uplinkMs = arrived - rec.sentAt;
    if (rp) {
      // The real run's server and host times after the link, as measured (its queueing included).
      rec.serverQueueMs = rp.serverQueueMs;
      rec.serverDecodeMs = rp.serverDecodeMs;
      rec.resultAt = srvFree = Math.max(arrived + rp.afterLinkMs, srvFree);
    } else {
      const s = Math.max(arrived, srvFree);
      rec.serverQueueMs = s - arrived;
      rec.serverDecodeMs = o.decodeMsOfFrame?.(k, m) ?? dec[m];
      rec.resultAt = srvFree = s + rec.serverDecodeMs;
    }
    rec.e2eMs = rec.resultAt - cap;
    rec.missed = rec.e2eMs > o.deadlineMs;
    rec.correct = ds.correct[image * M + m] === 1;
    pending.push(rec);
  }
  return { frames, summary: summarize(frames, o.fps) };
}

/** Summary of per-frame records (the simulator's or a device log's). */
export function summarize(frames: readonly FrameRecord[], fps: number): RunSummary {
  let answered = 0, correct = 0, timely = 0, missed = 0, skipped = 0, sent = 0, bytes = 0, switches = 0, prev = -1;
  for (const f of frames) {
    if (f.missed) missed++;
    if (f.mode < 0) {
      skipped++;
      continue;
    }
    sent++;
    bytes += f.bytes;
    if (prev >= 0 && f.mode !== prev) switches++;
    prev = f.mode;
    if (f.correct !== null) {
      answered++;
      if (f.correct) correct++;
      if (f.correct && !f.missed) timely++;
    }
  }
  const n = Math.max(frames.length, 1);
  const minutes = frames.length / fps / 60;
  return {
    frames: frames.length,
    accuracy: answered ? correct / answered : 0,
    timelyAccuracy: timely / n,
    missRate: missed / n,
    skipRate: skipped / n,
    meanBytes: sent ? bytes / sent : 0,
    switchesPerMin: minutes > 0 ? switches / minutes : 0,
  };
}

/** Frame k shows image order[k]: a fixed-seed shuffle, so classes mix and every controller sees the same stream. */
export function shuffledOrder(n: number, seed = 1): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  let s = seed >>> 0 || 1;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}
