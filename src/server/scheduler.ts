/**
 * Per-device queues served round-robin, a bound on the frames waiting, frames in flight per device,
 * and the (device, seq) pairs already taken (duplicates are answered once).
 *
 *   const s = new Scheduler({ maxQueue: 1024, maxInflight: 64 });
 *   const why = s.admit(device, seq);        // undefined, or the refusal / duplicate to answer
 *   s.push(job);                             // after admit said yes
 *   const next = s.next();                   // the next device's oldest frame, round-robin
 *   s.done(device, seq, keep);               // answered: frees the in-flight slot (keep: remember seq)
 */

/** how many recent seqs per device are remembered for duplicate detection */
export const SEQ_WINDOW = 4096;

export interface QueuedFrame {
  device: string;
  seq: number;
}

class DeviceState<J> {
  readonly queue: J[] = [];
  head = 0;
  inflight = 0;
  /** in the round-robin ring */
  ringed = false;
  readonly seen = new Set<number>();
  private readonly order: number[] = [];
  private at = 0;

  remember(seq: number): void {
    if (this.seen.has(seq)) return;
    if (this.order.length < SEQ_WINDOW) this.order.push(seq);
    else {
      this.seen.delete(this.order[this.at]);
      this.order[this.at] = seq;
      this.at = (this.at + 1) % SEQ_WINDOW;
    }
    this.seen.add(seq);
  }
  forget(seq: number): void {
    // leaves its slot in `order`; evicting a seq no longer present is harmless
    this.seen.delete(seq);
  }
  get pending(): number {
    return this.queue.length - this.head;
  }
  shift(): J | undefined {
    if (this.head >= this.queue.length) return undefined;
    const j = this.queue[this.head];
    this.queue[this.head++] = undefined as J;
    if (this.head > 64 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return j;
  }
}

export type Admission = { outcome: 'duplicate'; code: 'duplicate'; message: string } | { outcome: 'refused'; code: 'queue-full' | 'in-flight'; message: string };

export class Scheduler<J extends QueuedFrame> {
  private readonly devices = new Map<string, DeviceState<J>>();
  private ring: DeviceState<J>[] = [];
  private ringHead = 0;
  /** frames waiting (not yet with a worker) */
  depth = 0;
  /** frames admitted and not yet answered */
  inflight = 0;

  constructor(readonly limits: { maxQueue: number; maxInflight: number; maxDevices?: number }) {}

  private state(device: string): DeviceState<J> {
    let d = this.devices.get(device);
    if (!d) {
      if (this.devices.size >= (this.limits.maxDevices ?? 100_000)) this.evictIdle();
      d = new DeviceState<J>();
      this.devices.set(device, d);
    }
    return d;
  }

  /** Forgets devices with nothing in flight (their seq windows go: a very old seq could pass again). */
  private evictIdle(): void {
    for (const [k, d] of this.devices) if (d.inflight === 0) this.devices.delete(k);
  }

  /** Checks a frame against the duplicate window and the limits; on success takes its slot. */
  admit(device: string, seq: number): Admission | undefined {
    const d = this.state(device);
    if (d.seen.has(seq)) return { outcome: 'duplicate', code: 'duplicate', message: `frame seq ${seq} of device '${device}' was received already; it is answered once` };
    if (d.inflight >= this.limits.maxInflight) return { outcome: 'refused', code: 'in-flight', message: `device '${device}' has ${d.inflight} frames in flight, the limit (--max-inflight); wait for answers before sending more` };
    if (this.depth >= this.limits.maxQueue) return { outcome: 'refused', code: 'queue-full', message: `the server's queue holds ${this.depth} frames, its limit (--max-queue); send again later` };
    d.remember(seq);
    d.inflight++;
    this.inflight++;
    return undefined;
  }

  /** Marks an admitted frame answered without queueing it (late on arrival). */
  done(device: string, seq: number, keepSeq: boolean): void {
    const d = this.devices.get(device);
    if (!d) return;
    d.inflight--;
    this.inflight--;
    if (!keepSeq) d.forget(seq);
  }

  push(job: J): void {
    const d = this.state(job.device);
    d.queue.push(job);
    this.depth++;
    if (!d.ringed) {
      d.ringed = true;
      this.ring.push(d);
    }
  }

  /** The oldest frame of the next device in turn. */
  next(): J | undefined {
    while (this.ringHead < this.ring.length) {
      const d = this.ring[this.ringHead++];
      const j = d.shift();
      if (d.pending > 0) this.ring.push(d);
      else d.ringed = false;
      if (this.ringHead > 1024 && this.ringHead * 2 > this.ring.length) {
        this.ring = this.ring.slice(this.ringHead);
        this.ringHead = 0;
      }
      if (j !== undefined) {
        this.depth--;
        return j;
      }
    }
    return undefined;
  }

  /** Takes every waiting frame out (shutdown). */
  drainAll(): J[] {
    const out: J[] = [];
    for (let j = this.next(); j !== undefined; j = this.next()) out.push(j);
    return out;
  }
}
