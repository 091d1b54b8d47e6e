/**
 * The device, link and server in virtual time: frames captured at fps, encoded one at a time on the
 * device, waiting in the device's send queue until the trace-driven link (link.ts) has finished the
 * frame before (dropped there when already certain to be late, `sendOrDrop`), decoded one at a time
 * on the server, the result back at once. The server's late rule is `slimsplit serve`'s (src/server/frames.ts): a frame whose
 * capture time + deadline has passed when it arrives, or when the worker frees up for it, is answered
 * `late` with no class and not decoded (the worker stays free). Packet sizes and correctness per image and mode come from a table made once with the
 * engine (bench/controller.bench.ts caches it), so a 10,000-frame run takes well under a second.
 *
 *   const run = simulate(dataset, new TraceLink(trace, { scale: 0.1 }), makeController('slim', dataset.modes, o), { fps: 30, deadlineMs: 100 });
 *   run.summary   // { accuracy, missRate, meanBytes, switchesPerMin, ... }
 *   run.frames    // one FrameRecord per frame (the same fields as the device's JSONL log)
 */
import type { Controller, ModeSpec } from './controller.js';
import { sendOrDrop, DROPPED_LATE, type TraceLink } from './link.js';

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
  /**
   * The device's send queue (link.ts `sendOrDrop`): a frame enters the link only when the link has
   * finished the one before, and one that reaches the head of the queue already certain to be late
   * (now + the link's one-way delay >= capture + deadline) is dropped there, a miss, outcome
   * `dropped: late at the device`. Default true; false: every frame enters the link FIFO when encoded.
   */
  dropLate?: boolean;
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
  /** the real run's send queue dropped this frame; afterLinkMs is then from the drop to the device hearing of it */
  dropped?: boolean;
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
  /**
   * The device received the right class. false when it received a wrong one or none (skipped, late,
   * lost); null only where the frame's label is not known.
   */
  correct: boolean | null;
  /**
   * Simulator only: whether this mode's decode of the image is right, whether or not the server
   * decoded it (the input of `accuracyInclLate`); null when skipped.
   */
  correctIfDecoded?: boolean | null;
  /**
   * the server's outcome (ok, late, ...), `lost: <why>` when no result came, `dropped: late at the
   * device` when the device's send queue dropped it (it never reached the link); absent when skipped
   */
  outcome?: string;
  /** real runs: the server's error for an outcome other than ok and late (refused, malformed, failed...) */
  error?: { code: string; message: string };
  predictedMs: number;
  uplinkBps: number;
  smallestMisses: boolean;
  /**
   * real runs: when the controller decided, and when the emulated link delivered the last byte (for
   * a dropped frame: when the send queue dropped it, which the simulator records too), ms from the
   * stream's start
   */
  decidedAt?: number;
  linkAt?: number;
}

export interface RunSummary {
  frames: number;
  /**
   * Frames for which the device received the right class, over all labelled frames: a frame that got
   * no class (skipped, answered late, lost) counts as not right. What an application reading the
   * stream gets; missing frames cannot raise it.
   */
  accuracy: number;
  /**
   * The previous definition (simulator only): top-1 over the frames sent, each counted as decoded
   * even when the server refused it as late. Absent for real runs, where late frames are not decoded.
   */
  accuracyInclLate?: number;
  /** right class received within the deadline, over all labelled frames */
  timelyAccuracy: number;
  /** frames with no result within the deadline (skipped and late ones included) */
  missRate: number;
  /** frames the server refused as late (no class) */
  lateRate: number;
  skipRate: number;
  /** frames the device's send queue dropped as certainly late (never sent on the link) */
  dropRate: number;
  /** over frames put on the link, transport overhead included */
  meanBytes: number;
  /** mode changes between consecutive encoded frames (dropped ones included), per minute of stream */
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
      if (r.outcome === DROPPED_LATE) ctl.onDropped({ frame: r.frame, at: r.resultAt });
      else ctl.onResult({ frame: r.frame, resultAt: r.resultAt, serverQueueMs: r.serverQueueMs, serverDecodeMs: r.serverDecodeMs });
    }
    const image = o.order ? o.order[k % o.order.length] : k % ds.count;
    const d = ctl.decide(decideAt);
    const rec: FrameRecord = {
      frame: k, image, mode: d.mode, members: 0, bits: 0, bytes: 0, capturedAt: cap, sentAt: NaN, resultAt: NaN,
      encodeMs: 0, uplinkMs: NaN, serverQueueMs: NaN, serverDecodeMs: NaN, e2eMs: NaN, missed: true, correct: null,
      predictedMs: d.predictedMs, uplinkBps: d.uplinkBps, smallestMisses: d.smallestMisses,
    };
    frames.push(rec);
    if (d.mode < 0) {
      rec.correct = false;
      continue;
    }
    const m = d.mode;
    rec.members = ds.modes[m].mode.members;
    rec.bits = ds.modes[m].mode.bits;
    rec.bytes = ds.bytes[image * M + m] + (rp?.overheadBytes ?? over);
    const start = Math.max(cap, encFree);
    rec.encodeMs = rp ? rp.encodeMs : enc[m];
    rec.sentAt = encFree = Math.max(rp ? rp.sentAt : start + enc[m], lastSent);
    lastSent = rec.sentAt;
    ctl.onSent({ frame: k, mode: m, bytes: rec.bytes, capturedAt: cap, sentAt: rec.sentAt, encodeMs: rec.encodeMs });
    const due = cap + o.deadlineMs;
    rec.correctIfDecoded = ds.correct[image * M + m] === 1;
    const sent = sendOrDrop(link, rec.sentAt, rec.bytes, o.dropLate === false ? Infinity : due);
    if (sent.dropped) {
      // The controller hears of it when the queue drops it, as the real device does.
      rec.outcome = DROPPED_LATE;
      rec.correct = false;
      // a replayed run's host learned of it a little after the drop (timers, event loop)
      rec.resultAt = sent.droppedAt + (rp && Number.isFinite(rp.afterLinkMs) && rp.dropped ? rp.afterLinkMs : 0);
      rec.linkAt = sent.droppedAt;
      rec.e2eMs = rec.resultAt - cap;
      insertByResult(pending, rec);
      continue;
    }
    const arrived = sent.arrival;
    rec.uplinkMs = arrived - rec.sentAt;
    let late: boolean;
    if (rp) {
      // The real run's server and host times after the link, as measured (its queueing included).
      // It reached a worker (or was judged late) at most the decode before its result came back:
      // the return leg counts as before the worker, a ms or two on loopback.
      const reach = arrived + rp.afterLinkMs - rp.serverDecodeMs;
      late = reach > due;
      rec.serverQueueMs = rp.serverQueueMs;
      rec.serverDecodeMs = late ? 0 : rp.serverDecodeMs;
      if (late) rec.resultAt = reach;
      else rec.resultAt = srvFree = Math.max(arrived + rp.afterLinkMs, srvFree);
    } else {
      const sv = serveFrame(arrived, due, srvFree, o.decodeMsOfFrame?.(k, m) ?? dec[m]);
      late = sv.late;
      srvFree = sv.srvFree;
      rec.serverQueueMs = sv.queueMs;
      rec.serverDecodeMs = sv.decodeMs;
      rec.resultAt = sv.resultAt;
    }
    rec.e2eMs = rec.resultAt - cap;
    rec.missed = late || rec.e2eMs > o.deadlineMs;
    rec.outcome = late ? 'late' : 'ok';
    rec.correct = !late && rec.correctIfDecoded;
    insertByResult(pending, rec);
  }
  return { frames, summary: summarize(frames, o.fps) };
}

/**
 * A frame refused as late on arrival is answered while earlier ones may still be decoding, and a
 * dropped one is known at once: results reach the controller in the order they come back.
 */
function insertByResult(pending: FrameRecord[], rec: FrameRecord): void {
  let at = pending.length;
  while (at > 0 && pending[at - 1].resultAt > rec.resultAt) at--;
  pending.splice(at, 0, rec);
}

/** One frame at the server, as `slimsplit serve` treats it (src/server/frames.ts) with one worker. */
export interface Served {
  /** refused as late: answered with no class, not decoded */
  late: boolean;
  /** when the answer leaves the server */
  resultAt: number;
  /** from arrival to a worker starting on it, or to being judged late */
  queueMs: number;
  /** 0 when late */
  decodeMs: number;
  /** when the worker is free again */
  srvFree: number;
}

/**
 * The server's deadline rule: a frame whose due time (capture + deadline, both on the device's clock
 * as the envelope carries them, compared with the server's clock, assumed in step with it) has passed
 * when it arrives is answered late at once; one that waits for the worker is checked again when the
 * worker frees up, and answered late then if its due time has passed. Only frames that reach the
 * worker in time are decoded, and their result comes back whatever the time by then.
 */
export function serveFrame(arrived: number, due: number, srvFree: number, decodeMs: number): Served {
  if (arrived > due) return { late: true, resultAt: arrived, queueMs: 0, decodeMs: 0, srvFree };
  const start = Math.max(arrived, srvFree);
  if (start > due) return { late: true, resultAt: start, queueMs: start - arrived, decodeMs: 0, srvFree };
  return { late: false, resultAt: start + decodeMs, queueMs: start - arrived, decodeMs, srvFree: start + decodeMs };
}

/** Summary of per-frame records (the simulator's or a device log's). */
export function summarize(frames: readonly FrameRecord[], fps: number): RunSummary {
  let labelled = 0, right = 0, timely = 0, missed = 0, late = 0, skipped = 0, dropped = 0, sent = 0, bytes = 0, switches = 0, prev = -1;
  let decoded = 0, decodedRight = 0, allDecodedKnown = true;
  for (const f of frames) {
    if (f.missed) missed++;
    if (f.outcome === 'late') late++;
    if (f.correct !== null) {
      labelled++;
      if (f.correct) right++;
      if (f.correct && !f.missed) timely++;
    }
    if (f.mode < 0) {
      skipped++;
      continue;
    }
    if (prev >= 0 && f.mode !== prev) switches++;
    prev = f.mode;
    if (f.outcome === DROPPED_LATE) dropped++;
    else {
      sent++;
      bytes += f.bytes;
    }
    if (typeof f.correctIfDecoded === 'boolean') {
      decoded++;
      if (f.correctIfDecoded) decodedRight++;
    } else allDecodedKnown = false;
  }
  const n = Math.max(frames.length, 1);
  const minutes = frames.length / fps / 60;
  return {
    frames: frames.length,
    accuracy: labelled ? right / labelled : 0,
    ...(allDecodedKnown && decoded > 0 ? { accuracyInclLate: decodedRight / decoded } : {}),
    timelyAccuracy: labelled ? timely / labelled : 0,
    missRate: missed / n,
    lateRate: late / n,
    skipRate: skipped / n,
    dropRate: dropped / n,
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
