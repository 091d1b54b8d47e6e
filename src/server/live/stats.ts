/**
 * Per-device rolling window of answered frames for the live view (GET /): when, mode, bytes,
 * outcome, deadline held or missed, and an uplink estimate.
 *
 *   const live = new LiveStats();
 *   frames.onAnswer = (f) => live.record(f);
 *   const off = live.subscribe((batch) => ...);   // new points, batched by the feed
 *
 * The envelope does not carry the device's own uplink estimate (docs/ENVELOPE.md), so the server
 * estimates it per frame as envelope bits / (arrival - capture). That time also holds the device's
 * encode and any queue on the device or link, and it leans on the two clocks agreeing, so it is a
 * lower bound on the link's capacity; frames without a capture time (captureMs 0) give none.
 */

export interface AnsweredFrame {
  device: string;
  /** "members,bits" ("unknown" where the packet did not say) */
  mode: string;
  /** envelope bytes as received */
  bytes: number;
  /** ms since the epoch, server clock */
  receivedMs: number;
  answeredMs: number;
  /** device clock, ms since the epoch; 0: none */
  captureMs: number;
  /** ms since the epoch by which the answer was due; Infinity: no deadline */
  dueMs: number;
  outcome: string;
}

/** One point as the page gets it: [answeredMs, mode, bytes, outcome, uplink kbit/s or null, missed 0/1]. */
export type LivePoint = [number, string, number, string, number | null, 0 | 1];

export interface LiveBatch {
  [device: string]: LivePoint[];
}

export interface LiveOptions {
  /** how far back the window reaches (default 5 minutes) */
  windowMs?: number;
  /** most points kept per device (default 6,000) */
  maxPoints?: number;
}

export class LiveStats {
  readonly windowMs: number;
  private readonly maxPoints: number;
  private readonly devices = new Map<string, LivePoint[]>();
  private readonly subs = new Set<(b: LiveBatch) => void>();

  constructor(o: LiveOptions = {}) {
    this.windowMs = o.windowMs ?? 5 * 60_000;
    this.maxPoints = o.maxPoints ?? 6000;
  }

  record(f: AnsweredFrame): void {
    const transit = f.receivedMs - f.captureMs;
    const uplink = f.captureMs > 0 && transit > 0 ? round1((f.bytes * 8) / transit) : null; // bits/ms = kbit/s
    const missed: 0 | 1 = f.outcome !== 'ok' || f.answeredMs > f.dueMs ? 1 : 0;
    const p: LivePoint = [f.answeredMs, f.mode, f.bytes, f.outcome, uplink, missed];
    let pts = this.devices.get(f.device);
    if (!pts) this.devices.set(f.device, (pts = []));
    pts.push(p);
    this.trim(pts, f.answeredMs);
    for (const s of this.subs) s({ [f.device]: [p] });
  }

  /** Every device's points still inside the window. */
  snapshot(now = Date.now()): LiveBatch {
    const out: LiveBatch = {};
    for (const [d, pts] of this.devices) {
      this.trim(pts, now);
      if (pts.length) out[d] = pts.slice();
    }
    return out;
  }

  subscribe(fn: (b: LiveBatch) => void): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }

  private trim(pts: LivePoint[], now: number): void {
    let cut = 0;
    while (cut < pts.length && pts[cut][0] < now - this.windowMs) cut++;
    if (pts.length - cut > this.maxPoints) cut = pts.length - this.maxPoints;
    if (cut > 0) pts.splice(0, cut);
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
