/**
 * Bounds for the controller benchmark: what no causal controller can beat, and what one that knows
 * the future trace reaches.
 *
 * Miss floor: without skipping frames, no controller misses fewer frames than the smallest fixed
 * mode (up to the modes' few-hundredths-of-a-ms differences in server time): the link is a FIFO whose
 * delivery time of a frame's last byte never decreases when any frame before it, or the frame itself,
 * carries more bytes, and the smallest mode sends the fewest bytes in every frame.
 *
 * Clairvoyant greedy (`oracleRun`): frame by frame, the most accurate mode such that, on copies of
 * the link and server, this frame followed by `horizonMs` of frames in the smallest mode makes none
 * of them miss that would not have with this frame in the smallest mode too, and leaves the link and
 * the server done no later (its extra bytes have drained within the horizon). It knows the trace ahead, so it never
 * adds a miss to the smallest mode's (within the horizon) and shows how much accuracy the link
 * leaves at that miss rate: the gap between it and a causal controller is the price of not knowing
 * when the next outage starts.
 */
import { sendOrDrop, DROPPED_LATE, type TraceLink } from '../src/device/link.js';
import { summarize, serveFrame, type FrameRecord, type SimDataset, type RunSummary } from '../src/device/sim.js';

export interface OracleOptions {
  fps: number;
  deadlineMs: number;
  frames: number;
  order: ArrayLike<number>;
  overheadBytes: number;
  /** how far ahead (ms of frames) a choice must not add a miss; default deadline + 1 s */
  horizonMs?: number;
  /** the device's send path, as the controllers have it (sim.ts SimOptions.dropLate; default true) */
  dropLate?: boolean;
}

interface State {
  link: TraceLink;
  encFree: number;
  srvFree: number;
}

export function oracleRun(ds: SimDataset, link: TraceLink, o: OracleOptions): { frames: FrameRecord[]; summary: RunSummary } {
  const M = ds.modes.length;
  const interval = 1000 / o.fps;
  const horizon = Math.ceil((o.horizonMs ?? o.deadlineMs + 1000) / interval);
  const enc = ds.modes.map((m) => m.encodeMs);
  const dec = ds.modes.map((m) => m.decodeMs ?? 0);
  const idx = ds.modes.map((_, i) => i);
  const smallest = idx.reduce((a, b) => (ds.modes[b].expectedBytes < ds.modes[a].expectedBytes ? b : a));
  // The most accurate first; a mode beaten on accuracy at no more bytes never helps.
  const order = idx
    .filter((i) => !idx.some((j) => ds.modes[j].top1 > ds.modes[i].top1 && ds.modes[j].expectedBytes <= ds.modes[i].expectedBytes))
    .sort((a, b) => ds.modes[b].top1 - ds.modes[a].top1);
  const imageOf = (k: number) => o.order[k % o.order.length];
  /** Sends frame k in mode m from state s (mutating it); returns the record's timing. */
  const step = (s: State, k: number, m: number) => {
    const cap = k * interval;
    const image = imageOf(k);
    const bytes = ds.bytes[image * M + m] + o.overheadBytes;
    const sentAt = (s.encFree = Math.max(cap, s.encFree) + enc[m]);
    const due = cap + o.deadlineMs;
    const sent = sendOrDrop(s.link, sentAt, bytes, o.dropLate === false ? Infinity : due);
    if (sent.dropped) return { image, bytes, sentAt, arrived: NaN, sv: undefined, resultAt: sent.droppedAt, missed: true };
    const sv = serveFrame(sent.arrival, due, s.srvFree, dec[m]);
    s.srvFree = sv.srvFree;
    return { image, bytes, sentAt, arrived: sent.arrival, sv, resultAt: sv.resultAt, missed: sv.late || sv.resultAt - cap > o.deadlineMs };
  };
  /**
   * Misses of frames k.. (k in mode m, the rest of the horizon in the smallest mode), how far along
   * the trace the link is once it has them all, and when the worker is free. Not the last arrival
   * time: after an outage a trace delivers a burst of opportunities at one ms, and extra bytes that
   * take more of them arrive no later while leaving the link behind for what follows.
   */
  type Ahead = { missed: boolean[]; linkEnd: number; srvEnd: number };
  const ahead = (s: State, k: number, m: number): Ahead => {
    const c: State = { link: s.link.clone(), encFree: s.encFree, srvFree: s.srvFree };
    const missed = [step(c, k, m).missed];
    for (let j = k + 1; j < Math.min(o.frames, k + 1 + horizon); j++) missed.push(step(c, j, smallest).missed);
    return { missed, linkEnd: c.link.position, srvEnd: c.srvFree };
  };
  // A mode is safe when no frame in the horizon misses that would not have, and its extra bytes have
  // drained by the horizon's end (else they would push misses past it).
  const safe = (s: State, k: number, m: number, floor: Ahead): boolean => {
    const a = ahead(s, k, m);
    return a.linkEnd <= floor.linkEnd + 1e-9 && a.srvEnd <= floor.srvEnd + 1e-9 && a.missed.every((x, j) => !x || floor.missed[j]);
  };
  const st: State = { link, encFree: 0, srvFree: 0 };
  const frames: FrameRecord[] = [];
  for (let k = 0; k < o.frames; k++) {
    const floor = ahead(st, k, smallest);
    const m = order.find((i) => i === smallest || safe(st, k, i, floor)) ?? smallest;
    const cap = k * interval;
    const r = step(st, k, m);
    const right = ds.correct[r.image * M + m] === 1;
    frames.push({
      frame: k, image: r.image, mode: m, members: ds.modes[m].mode.members, bits: ds.modes[m].mode.bits, bytes: r.bytes,
      capturedAt: cap, sentAt: r.sentAt, resultAt: r.resultAt, encodeMs: enc[m], uplinkMs: r.arrived - r.sentAt,
      serverQueueMs: r.sv?.queueMs ?? NaN, serverDecodeMs: r.sv?.decodeMs ?? NaN, e2eMs: r.resultAt - cap, missed: r.missed,
      correct: right && r.sv?.late === false, correctIfDecoded: right, outcome: !r.sv ? DROPPED_LATE : r.sv.late ? 'late' : 'ok', predictedMs: NaN, uplinkBps: NaN, smallestMisses: false,
    });
  }
  return { frames, summary: summarize(frames, o.fps) };
}

/** Where a controller's misses beyond the smallest fixed mode's come from, frame by frame. */
export interface ExcessMisses {
  /** frames the controller missed and the smallest fixed mode did not */
  excess: number;
  /** ... of which skipped */
  skipped: number;
  /** ... dropped by the device's send queue as certainly late (counted in own or queued too) */
  dropped: number;
  /** ... sent in a mode above the smallest (its own bytes were exposed) */
  own: number;
  /** ... sent in the smallest mode (late behind earlier, larger frames) */
  queued: number;
  /** ... the controller had predicted on time */
  predictedOk: number;
  /** ... during whose deadline window the link delivered nothing for at least half the deadline */
  stalled: number;
  /**
   * frames the smallest fixed mode missed and the controller did not (by skipping, server-time
   * differences, or, with the device's send queue dropping late frames, a frame of the smallest
   * mode's run that a drop in the controller's run let through in time)
   */
  fewer: number;
}

export function excessMisses(ctl: readonly FrameRecord[], smallest: readonly FrameRecord[], smallestMode: number, deadlineMs: number, link: TraceLink): ExcessMisses {
  const e: ExcessMisses = { excess: 0, skipped: 0, dropped: 0, own: 0, queued: 0, predictedOk: 0, stalled: 0, fewer: 0 };
  for (let k = 0; k < ctl.length; k++) {
    const a = ctl[k], b = smallest[k];
    if (!a.missed && b.missed) e.fewer++;
    if (!a.missed || b.missed) continue;
    e.excess++;
    if (a.outcome === DROPPED_LATE) e.dropped++;
    if (a.mode < 0) e.skipped++;
    else if (a.mode !== smallestMode) e.own++;
    else e.queued++;
    if (a.predictedMs <= deadlineMs) e.predictedOk++;
    if (longestGap(link, a.capturedAt, a.capturedAt + deadlineMs) >= deadlineMs / 2) e.stalled++;
  }
  return e;
}

/** Longest time in [from, to) without a delivery opportunity, ms (link time, trace repeats). */
export function longestGap(link: TraceLink, from: number, to: number): number {
  const opp = link.trace.opportunities, P = link.trace.periodMs, n = opp.length;
  const at = (k: number) => Math.floor(k / n) * P + opp[((k % n) + n) % n];
  // first opportunity at or after `from`
  const rep = Math.floor(from / P);
  let lo = 0, hi = n;
  const r = from - rep * P;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (opp[mid] < r) lo = mid + 1;
    else hi = mid;
  }
  let k = rep * n + lo, prev = from, gap = 0;
  for (; at(k) < to; k++) {
    gap = Math.max(gap, at(k) - prev);
    prev = at(k);
  }
  return Math.max(gap, to - prev);
}
