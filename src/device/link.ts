/**
 * A trace-driven uplink: one FIFO queue drained by the trace's delivery opportunities, as mahimahi's
 * link queue does (each opportunity moves up to its bytes from the head of the queue, splitting a
 * message across opportunities and packing several small ones into one), plus a fixed one-way delay.
 *
 *   const link = new TraceLink(readTrace('ATT-LTE-driving.up'), { scale: 1 / 10, delayMs: 20 });
 *   const arrive = link.transmit(sentAtMs, bytes);   // virtual time: when the last byte arrives
 *
 *   const shaper = new RealTimeShaper(link);          // real time, in a send path
 *   await shaper.send(bytes);                         // resolves when those bytes would arrive
 *
 * The same object serves the simulator (virtual ms) and the real device or the proxy (ms since the
 * shaper started), so a simulated run and a real one see identical capacity. Scale multiplies every
 * opportunity's bytes: 1/50 turns a 1 Mbit/s LTE trace into a 20 kbit/s Bluetooth-class link with
 * the same shape over time.
 */
import type { Trace } from './trace.js';

export interface LinkOptions {
  /** multiplies the trace's capacity (default 1) */
  scale?: number;
  /** fixed one-way delay added to every message, ms (default 0) */
  delayMs?: number;
  /** where in the trace time 0 falls, ms (default 0) */
  offsetMs?: number;
}

export class TraceLink {
  readonly trace: Trace;
  readonly scale: number;
  readonly delayMs: number;
  readonly offsetMs: number;
  private readonly perOpp: number;
  /** next opportunity to use, counted over repetitions of the trace */
  private next = 0;
  /** bytes of opportunity `next` already used */
  private used = 0;
  private lastSent = -Infinity;
  /** when the queue empties, ms (link time) */
  private busyUntil = 0;

  constructor(trace: Trace, opts: LinkOptions = {}) {
    const scale = opts.scale ?? 1;
    const delayMs = opts.delayMs ?? 0;
    const offsetMs = opts.offsetMs ?? 0;
    if (!(scale > 0) || !Number.isFinite(scale)) throw new Error(`slimsplit: link: scale must be a finite number > 0, got ${scale}`);
    if (!(delayMs >= 0) || !Number.isFinite(delayMs)) throw new Error(`slimsplit: link: delayMs must be a finite number >= 0, got ${delayMs}`);
    if (!(offsetMs >= 0) || !Number.isFinite(offsetMs)) throw new Error(`slimsplit: link: offsetMs must be a finite number >= 0, got ${offsetMs}`);
    if (trace.opportunities.length === 0) throw new Error(`slimsplit: link: trace '${trace.name}' has no delivery opportunities`);
    this.trace = trace;
    this.scale = scale;
    this.delayMs = delayMs;
    this.offsetMs = offsetMs;
    this.perOpp = trace.bytesPerOpportunity * scale;
    this.next = this.firstAtOrAfter(offsetMs);
  }

  /** Time of opportunity k (k counts across repetitions of the trace), in link time. */
  private oppTime(k: number): number {
    const n = this.trace.opportunities.length;
    const rep = Math.floor(k / n);
    return rep * this.trace.periodMs + this.trace.opportunities[k - rep * n] - this.offsetMs;
  }

  /** Index of the first opportunity at or after trace time t (t includes the offset). */
  private firstAtOrAfter(t: number): number {
    const opp = this.trace.opportunities, n = opp.length, P = this.trace.periodMs;
    const rep = Math.floor(t / P);
    const r = t - rep * P;
    let lo = 0, hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (opp[mid] < r) lo = mid + 1;
      else hi = mid;
    }
    return rep * n + lo;
  }

  /**
   * Queues `bytes` at time `atMs` (nondecreasing across calls) and returns when the last byte
   * arrives at the far end: after the queue ahead of it drains, its own bytes cross, and the delay.
   */
  transmit(atMs: number, bytes: number): number {
    if (!(atMs >= this.lastSent)) throw new Error(`slimsplit: link: messages must be queued in time order (${atMs} ms after ${this.lastSent} ms)`);
    if (!(bytes > 0) || !Number.isFinite(bytes)) throw new Error(`slimsplit: link: a message must have bytes > 0, got ${bytes}`);
    this.lastSent = atMs;
    // An idle link wastes the opportunities that passed before this message came.
    if (this.oppTime(this.next) < atMs) {
      const k = this.firstAtOrAfter(atMs + this.offsetMs);
      if (k > this.next) {
        this.next = k;
        this.used = 0;
      }
    }
    let left = bytes;
    let t = this.oppTime(this.next);
    // Bytes are fluid: the opportunity that finishes this message keeps its remainder for the next.
    for (;;) {
      t = this.oppTime(this.next);
      const room = this.perOpp - this.used;
      if (left <= room + 1e-9) {
        this.used += left;
        if (this.used >= this.perOpp - 1e-9) {
          this.next++;
          this.used = 0;
        }
        break;
      }
      left -= room;
      this.next++;
      this.used = 0;
    }
    this.busyUntil = t;
    return t + this.delayMs;
  }

  /** An independent copy in the same state (what-if replays: the benchmark's clairvoyant bound). */
  clone(): TraceLink {
    const c = new TraceLink(this.trace, { scale: this.scale, delayMs: this.delayMs, offsetMs: this.offsetMs });
    c.next = this.next;
    c.used = this.used;
    c.lastSent = this.lastSent;
    c.busyUntil = this.busyUntil;
    return c;
  }

  /** Bytes one delivery opportunity carries (the trace's packet times the scale): the link's packet, for the controller. */
  get packetBytes(): number {
    return this.perOpp;
  }

  /** When the queue holding everything transmitted so far will have drained (before the delay). */
  get drainedAt(): number {
    return this.busyUntil;
  }

  /**
   * How far along the trace the queue's last byte is, in bytes of delivery opportunities. Of two
   * copies of a link, the one with less is ahead even when both drain at the same ms (a trace
   * delivers bursts of opportunities at one timestamp).
   */
  get position(): number {
    return this.next * this.perOpp + this.used;
  }

  /** Capacity in bytes per second over [fromMs, toMs) (for logs and tests). */
  capacityBps(fromMs: number, toMs: number): number {
    const a = this.firstAtOrAfter(fromMs + this.offsetMs), b = this.firstAtOrAfter(toMs + this.offsetMs);
    return ((b - a) * this.perOpp * 1000) / Math.max(toMs - fromMs, 1e-9);
  }
}

/** What the device's send queue did with a frame (`sendOrDrop`). */
export type Sent =
  | { dropped: false; /** link ms: when the frame entered the link */ enteredAt: number; /** when its last byte arrives at the far end */ arrival: number }
  | { dropped: true; /** link ms: when it reached the head of the queue, already certain to be late, and was dropped */ droppedAt: number };

/** How a dropped frame shows in the per-frame log (FrameRecord.outcome), beside `lost: <why>`. */
export const DROPPED_LATE = 'dropped: late at the device';

/**
 * The device's own send queue in front of the link: a frame ready at `readyAt` (encoded; nondecreasing
 * across calls) waits until the link has finished the frame before it (`link.drainedAt`, the delivery
 * opportunity that carried that frame's last byte) and only then enters the link. When it reaches
 * the head of the queue at a time t with t + the link's fixed one-way delay >= `dueMs` (capture +
 * deadline), no delivery can bring it in time: it is dropped there and never takes the link from the
 * frames behind it. Nothing is predicted: the check uses only the clock and the fixed delay. With
 * `dueMs` = Infinity nothing is dropped and the delivery times are exactly the plain FIFO's
 * (`link.transmit(readyAt, bytes)`): a frame that enters when the link drains continues from the
 * same opportunity the FIFO would have used.
 */
export function sendOrDrop(link: TraceLink, readyAt: number, bytes: number, dueMs: number): Sent {
  const head = Math.max(readyAt, link.drainedAt);
  if (head + link.delayMs >= dueMs) return { dropped: true, droppedAt: head };
  return { dropped: false, enteredAt: head, arrival: link.transmit(head, bytes) };
}

/**
 * The link in real time: `send(bytes)` resolves when the bytes would reach the far end, measured from
 * when the shaper was made. Calls must come in the order the bytes are to cross.
 */
export class RealTimeShaper {
  readonly link: TraceLink;
  /** the clock's reading when the shaper started: link time 0 */
  readonly startedAt: number;
  private readonly now: () => number;

  constructor(link: TraceLink, now: () => number = () => performance.now()) {
    this.link = link;
    this.now = now;
    this.startedAt = now();
  }

  /** ms since the shaper started: the link's clock. */
  elapsed(): number {
    return this.now() - this.startedAt;
  }

  /** Delivery time in link ms of `bytes` queued now (no waiting). */
  schedule(bytes: number): number {
    return this.link.transmit(this.elapsed(), bytes);
  }

  /** Waits until `bytes` queued now would have arrived. */
  async send(bytes: number): Promise<number> {
    const at = this.schedule(bytes);
    await sleepUntil(() => this.elapsed(), at);
    return at;
  }
}

/** Resolves once clock() >= at; setTimeout alone may wake a little early or late. */
export async function sleepUntil(clock: () => number, at: number): Promise<void> {
  for (;;) {
    const left = at - clock();
    if (left <= 0) return;
    await new Promise((r) => setTimeout(r, Math.max(0, Math.ceil(left))));
  }
}
