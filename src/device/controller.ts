/**
 * Per-frame rate controllers: which mode the device encodes the next frame in, from what it has
 * measured of its link, its encoder and the server. The simulator (sim.ts) and the real device
 * (client.ts) drive them the same way:
 *
 *   const ctl = makeController('slim', modes, { deadlineMs: 150, fps: 30 });
 *   const d = ctl.decide(nowMs);            // d.mode: index into modes (-1, skip, only where a tuning asks)
 *   ... encode in modes[d.mode] ...
 *   ctl.onSent({ frame, mode, bytes, capturedAt, sentAt, encodeMs });
 *   ... when the server's result comes back ...
 *   ctl.onResult({ frame, resultAt, serverQueueMs, serverDecodeMs });
 *   ... or, when the device's send queue dropped it as certainly late (link.ts sendOrDrop) ...
 *   ctl.onDropped({ frame, at });
 *
 * Controllers (all selectable by name):
 *   - `fixed:<members>,<bits>` (e.g. fixed:2,4): always that mode.
 *   - `ema`: the SEE paper's rule: uplink bandwidth as an exponential moving average (alpha 0.4) of
 *     each frame's bytes / uplink time, the most accurate mode whose encode + transmit + server time
 *     at the mode table's expected bytes fits 0.8 x the deadline.
 *   - `slim` (ours, SlimController below).
 * Times are ms on the device's clock; sizes are bytes on the wire.
 */
import type { Mode } from '../model/api.js';

/** One mode the controller may choose, with what the device knows of it before running. */
export interface ModeSpec {
  mode: Required<Pick<Mode, 'members' | 'bits'>>;
  /** the mode table's expected bytes on the wire per frame */
  expectedBytes: number;
  /** reference top-1 (0..1): the controller's notion of "more accurate" */
  top1: number;
  /** encoder time on this device, ms (measured at start) */
  encodeMs: number;
  /** server decode time, ms (a prior; the server's reports replace it) */
  decodeMs?: number;
}

export interface ControllerOptions {
  deadlineMs: number;
  fps: number;
  /** modes with more members are never chosen */
  maxMembers?: number;
  /**
   * bytes the uplink delivers at a time: its packet (an IP link's MTU, 1,500; an emulated trace's
   * 1,500 x its scale; a Bluetooth-class link's PDU). Known, it tells slim which modes cross in as
   * many packets as the smallest mode (free()); unknown, only the smallest mode does.
   */
  linkPacketBytes?: number;
}

export interface Decision {
  /** index into the mode list, or -1: do not send this frame (it would miss anyway) */
  mode: number;
  /** predicted end-to-end ms of the chosen mode (NaN when the controller does not predict) */
  predictedMs: number;
  /** uplink estimate the decision used, bytes per second (NaN when none yet) */
  uplinkBps: number;
  /** even the smallest allowed mode is predicted to miss the deadline */
  smallestMisses: boolean;
}

export interface SentFrame {
  frame: number;
  mode: number;
  bytes: number;
  /** when the frame was captured (its deadline counts from here) */
  capturedAt: number;
  /** when its last byte was handed to the transport (after encoding) */
  sentAt: number;
  encodeMs: number;
}

export interface FrameFeedback {
  frame: number;
  /** when the result reached the device */
  resultAt: number;
  /** server-reported: waiting before decode, decode itself */
  serverQueueMs: number;
  serverDecodeMs: number;
}

/** A frame the device's send queue dropped (it reached the head certain to be late; it never crossed the link). */
export interface DroppedFrame {
  frame: number;
  /** when it was dropped */
  at: number;
}

export interface Controller {
  readonly name: string;
  decide(now: number): Decision;
  onSent(f: SentFrame): void;
  onResult(r: FrameFeedback): void;
  /** no result will come for this frame: it missed, and its bytes never took the link */
  onDropped(d: DroppedFrame): void;
}

export class ControllerError extends Error {
  constructor(message: string) {
    super(`slimsplit: controller: ${message}`);
    this.name = 'ControllerError';
  }
}

function checkOptions(modes: readonly ModeSpec[], o: ControllerOptions): void {
  if (modes.length === 0) throw new ControllerError('no modes to choose from');
  if (!(o.deadlineMs > 0)) throw new ControllerError(`deadline must be > 0 ms, got ${o.deadlineMs}`);
  if (!(o.fps > 0)) throw new ControllerError(`fps must be > 0, got ${o.fps}`);
  if (o.maxMembers !== undefined && !(Number.isInteger(o.maxMembers) && o.maxMembers >= 1)) throw new ControllerError(`maxMembers must be an integer >= 1, got ${o.maxMembers}`);
  if (o.linkPacketBytes !== undefined && !(o.linkPacketBytes > 0 && Number.isFinite(o.linkPacketBytes))) throw new ControllerError(`linkPacketBytes must be a number of bytes > 0, got ${o.linkPacketBytes}`);
  if (o.maxMembers !== undefined && !modes.some((m) => m.mode.members <= o.maxMembers!)) throw new ControllerError(`no mode has at most ${o.maxMembers} members`);
  for (const m of modes) {
    if (!(m.expectedBytes > 0) || !(m.top1 >= 0 && m.top1 <= 1) || !(m.encodeMs >= 0)) throw new ControllerError(`mode ${m.mode.members},${m.mode.bits}: needs expectedBytes > 0, top1 in 0..1 and encodeMs >= 0`);
  }
}

/** Always the same mode. */
export class FixedController implements Controller {
  readonly name: string;
  constructor(private readonly index: number, modes: readonly ModeSpec[]) {
    if (!(index >= 0 && index < modes.length)) throw new ControllerError(`fixed mode index ${index} out of range`);
    const m = modes[index].mode;
    this.name = `fixed:${m.members},${m.bits}`;
  }
  decide(): Decision {
    return { mode: this.index, predictedMs: NaN, uplinkBps: NaN, smallestMisses: false };
  }
  onSent(): void {}
  onResult(): void {}
  onDropped(): void {}
}

/**
 * The SEE paper's rule: bandwidth = EMA (alpha) of bytes / uplink time per frame, uplink time being
 * what the device sees of it (result time - send time - the server's times); the most accurate mode
 * whose encode + expected bytes / bandwidth + server decode fits `fraction` x the deadline; the
 * smallest mode until the first measurement and when none fits.
 */
export class EmaController implements Controller {
  readonly name = 'ema';
  private bw = NaN;
  private decodeMs = 0;
  private readonly sent = new Map<number, SentFrame>();
  private readonly order: number[];
  private readonly smallest: number;

  constructor(private readonly modes: readonly ModeSpec[], private readonly o: ControllerOptions, private readonly alpha = 0.4, private readonly fraction = 0.8) {
    checkOptions(modes, o);
    this.order = allowed(modes, o.maxMembers).sort((a, b) => modes[b].top1 - modes[a].top1 || modes[a].expectedBytes - modes[b].expectedBytes);
    this.smallest = smallestOf(modes, this.order);
  }

  decide(): Decision {
    if (!(this.bw > 0)) return { mode: this.smallest, predictedMs: NaN, uplinkBps: NaN, smallestMisses: false };
    const budget = this.fraction * this.o.deadlineMs;
    const pred = (i: number) => this.modes[i].encodeMs + (this.modes[i].expectedBytes / this.bw) * 1000 + this.decodeMs;
    for (const i of this.order) if (pred(i) <= budget) return { mode: i, predictedMs: pred(i), uplinkBps: this.bw, smallestMisses: false };
    return { mode: this.smallest, predictedMs: pred(this.smallest), uplinkBps: this.bw, smallestMisses: true };
  }

  onSent(f: SentFrame): void {
    this.sent.set(f.frame, f);
  }

  onResult(r: FrameFeedback): void {
    const f = this.sent.get(r.frame);
    if (!f) return;
    this.sent.delete(r.frame);
    const uplinkMs = Math.max(r.resultAt - f.sentAt - r.serverQueueMs - r.serverDecodeMs, 0.5);
    const sample = (f.bytes / uplinkMs) * 1000;
    this.bw = this.bw > 0 ? this.alpha * sample + (1 - this.alpha) * this.bw : sample;
    this.decodeMs = r.serverDecodeMs;
  }

  onDropped(d: DroppedFrame): void {
    this.sent.delete(d.frame);
  }
}

/** Tuning of SlimController (defaults chosen on `npm run bench:controller`; docs/CONTROLLER.md). */
export interface SlimTuning {
  /** fraction of the deadline the prediction may use (the rest is margin) */
  fit: number;
  /** fraction of the estimated uplink rate a mode's high-percentile size may take per frame interval */
  sustain: number;
  /** a higher mode must fit this much tighter (fraction of the deadline), for `upHoldMs` in a row, before switching up */
  upFit: number;
  upHoldMs: number;
  /** percentile of sizes that stands for a mode's packet */
  sizePercentile: number;
  /** recent throughput samples in the harmonic mean */
  window: number;
  /** divide the rate by 1 + the largest relative uplink-time error of the last 5 frames (RobustMPC) */
  errorDiscount: boolean;
  /** percentile of recent (actual - predicted) uplink ms added to every prediction: the link's and the host's jitter */
  jitterPercentile: number;
  /** percentile of recent server times (queue + decode) a prediction counts on */
  serverPercentile: number;
  /** going up, a mode may be at most this many times the current mode's size (probing the link step by step) */
  upStep: number;
  /** skip a frame when even the smallest mode is predicted to miss and at least this many frames are in flight (0: never skip) */
  skipInFlight: number;
  /** until the link first shows its limit (a step down), climb without waiting upHoldMs */
  fastStart: boolean;
  /** a frame in flight past its predicted arrival by more than this fraction of the deadline means the link has stalled: the smallest mode until it arrives (Infinity: off) */
  stallFraction: number;
  /** percentile of the window's per-frame rate samples the prediction may not exceed (the harmonic mean is capped by it; 1: off) */
  ratePercentile: number;
  /** miss budget: when more than this fraction of the frames in the last missWindowMs missed, margins tighten by guardFit */
  missBudget: number;
  missWindowMs: number;
  /** multiplies fit and upFit while the recent miss rate is over budget (1: off) */
  guardFit: number;
  /**
   * while over the miss budget (and guardFit < 1): the cheapest fitting mode whose reference top-1 is
   * within this much (0..1) of the most accurate fitting mode's (0: off)
   */
  guardSlack: number;
  /**
   * a frame that found the link idle may lower the rate estimate when it took at least this many ms
   * to cross (shorter crossings are the opportunity grid and host timing more than the rate); below
   * it, or when not finite (Infinity, null from JSON: off), such a sample may only raise the estimate
   */
  idleLowerMs: number;
  /**
   * while over the miss budget: only modes whose frames captured in `freeSpanMs` cross in as many
   * of the link's packets as the smallest mode's would (free()), the cheapest within guardSlack of
   * the most accurate of them; guardFit then only flags the smallest mode as missing (false: the
   * fitting modes, with guardFit's margin)
   */
  guardFree: boolean;
  freeSpanMs: number;
}

export const SLIM_DEFAULTS: SlimTuning = {
  fit: 0.8, sustain: 0.5, upFit: 0.65, upHoldMs: 500, sizePercentile: 0.95, window: 8, upStep: 2.5, errorDiscount: false, jitterPercentile: 0.9, serverPercentile: 0.9, skipInFlight: 0,
  fastStart: true, stallFraction: 0.1, ratePercentile: 0.25, missBudget: 0.01, missWindowMs: 600_000, guardFit: 0.8, guardSlack: 0.006, idleLowerMs: 20,
  guardFree: true, freeSpanMs: 150,
};

/** Knobs whose JSON null means Infinity (the rule off). */
const OFF_WHEN_NULL: ReadonlySet<keyof SlimTuning> = new Set(['stallFraction', 'idleLowerMs']);

/**
 * Reads slim's knobs from JSON text (`--tuning '{"guardSlack":0}'`): an object whose keys are
 * SlimTuning's and whose values have the default's type, numbers finite and >= 0 (null: off, for
 * the knobs that Infinity turns off). Anything else is refused with what is wrong.
 */
export function parseSlimTuning(text: string): Partial<SlimTuning> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ControllerError(`tuning is not JSON (${(e as Error).message}): ${text}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ControllerError(`tuning must be a JSON object of slim's knobs, got ${text}`);
  const out: Record<string, number | boolean> = {};
  for (const [k, x] of Object.entries(v)) {
    if (!Object.hasOwn(SLIM_DEFAULTS, k)) throw new ControllerError(`unknown tuning knob '${k}' (knobs: ${Object.keys(SLIM_DEFAULTS).join(', ')})`);
    const key = k as keyof SlimTuning;
    const want = typeof SLIM_DEFAULTS[key];
    if (x === null && OFF_WHEN_NULL.has(key)) out[k] = Infinity;
    else if (want === 'boolean' && typeof x === 'boolean') out[k] = x;
    else if (want === 'number' && typeof x === 'number' && Number.isFinite(x) && x >= 0) out[k] = x;
    else throw new ControllerError(`tuning knob '${k}' must be ${want === 'boolean' ? 'true or false' : `a number >= 0${OFF_WHEN_NULL.has(key) ? ' or null (off)' : ''}`}, got ${JSON.stringify(x)}`);
  }
  return out as Partial<SlimTuning>;
}

interface Outstanding extends SentFrame {
  /** predicted arrival at the server (device clock, with the return path in the base delay) */
  predictedArrival: number;
}

/**
 * Ours. It models the uplink as a queue drained at a rate R after a base delay D:
 *   - sizes: per mode, the `sizePercentile` of what this mode sent recently; until a mode has its own
 *     samples, its expected bytes times that percentile of (sent / expected) over all recent frames;
 *   - encoder and server times: per mode, moving averages of measurements (encoder seeded by the
 *     start-up measurement);
 *   - R: each result gives a serialization time (arrival minus the later of its own send + D and the
 *     previous frame's arrival), R = bytes-weighted harmonic mean of the last `window`, capped by
 *     the `ratePercentile` of their per-frame rates (a link that has just dropped is planned at its
 *     low rate); with `errorDiscount`, divided by 1 + the largest relative error of its recent
 *     uplink-time predictions (as RobustMPC does); a frame outstanding past its predicted arrival
 *     caps R at once, so a capacity drop shows before its results do;
 *   - D: the least one-way time seen recently (as BBR's min RTT).
 * Per frame it predicts queue-drain + own serialization + D + server + encode for each mode and takes
 * the most accurate that fits `fit` x deadline and whose size the rate sustains at this fps; going up
 * needs a tighter fit held for `upHoldMs` (hysteresis; not before the link has first shown its limit,
 * `fastStart`); going down is immediate. A frame overdue past its predicted arrival by
 * `stallFraction` x deadline means a stalled link: the smallest mode until it arrives. While more
 * than `missBudget` of the last `missWindowMs` of frames missed (the guard), only free modes are
 * sent, those that take as many of the link's packets as the smallest mode (free()), the cheapest
 * within `guardSlack` top-1 of the best of them; with `guardFree` off, the margins tighten by
 * `guardFit` and the choice falls to the cheapest mode within `guardSlack` of the best that fits.
 * When even the smallest mode misses it says so and sends the frame in that mode (skipping only
 * with `skipInFlight` > 0).
 */
export class SlimController implements Controller {
  readonly name = 'slim';
  private readonly t: SlimTuning;
  private readonly order: number[];
  private readonly smallest: number;
  private readonly interval: number;
  private readonly sizes: number[][];
  private readonly ratios: number[] = [];
  private readonly encMs: number[];
  private readonly decMs: number[];
  private serverQueueMs = 0;
  private readonly out: Outstanding[] = [];
  private readonly samples: { bytes: number; ms: number }[] = [];
  /** the samples of frames that waited behind the one before: the link's own rate, not a wait for its next packet */
  private readonly queuedSamples: { bytes: number; ms: number }[] = [];
  private readonly errors: number[] = [];
  private readonly delays: number[] = [];
  private lastArrival = -Infinity;
  private rate = NaN;
  /** the harmonic mean before the error discount */
  private rawRate = NaN;
  private current = -1;
  private upSince = NaN;
  private readonly residuals: number[] = [];
  private readonly serverTimes: number[] = [];
  private upTarget = -1;
  private readonly memo = { jitter: NaN, server: NaN };
  /** the link has shown its limit (a step down happened) */
  private limited = false;
  /** outcomes of recent results: capture time and whether the deadline held, oldest first from `outHead` */
  private readonly outcomes: { at: number; missed: boolean }[] = [];
  private outHead = 0;
  /** missed outcomes from outHead on */
  private outMissed = 0;

  constructor(private readonly modes: readonly ModeSpec[], private readonly o: ControllerOptions, tuning: Partial<SlimTuning> = {}) {
    checkOptions(modes, o);
    this.t = { ...SLIM_DEFAULTS, ...tuning };
    this.interval = 1000 / o.fps;
    // Modes another mode beats on accuracy at no more bytes and no more encoder time never win.
    const ok = allowed(modes, o.maxMembers);
    const useful = ok.filter((i) => !ok.some((j) => j !== i && modes[j].top1 > modes[i].top1 && modes[j].expectedBytes <= modes[i].expectedBytes && modes[j].encodeMs <= modes[i].encodeMs * 1.5));
    this.order = useful.sort((a, b) => modes[b].top1 - modes[a].top1 || modes[a].expectedBytes - modes[b].expectedBytes);
    this.smallest = smallestOf(modes, ok);
    if (!this.order.includes(this.smallest)) this.order.push(this.smallest);
    this.sizes = modes.map(() => []);
    this.encMs = modes.map((m) => m.encodeMs);
    this.decMs = modes.map((m) => m.decodeMs ?? 0);
    this.current = this.smallest;
  }

  /** Base one-way delay estimate, ms (the return path included). */
  private baseDelay(): number {
    return this.delays.length ? Math.max(0, Math.min(...this.delays)) : 0;
  }

  /** Predicted bytes of a frame in mode i. */
  sizeOf(i: number): number {
    const own = this.sizes[i];
    if (own.length >= 8) return percentile(own, this.t.sizePercentile);
    const r = this.ratios.length >= 4 ? percentile(this.ratios, this.t.sizePercentile) : 1.25;
    return Math.max(this.modes[i].expectedBytes * r, own.length ? Math.max(...own) : 0);
  }

  /** Uplink rate estimate, bytes per ms, capped by what outstanding frames show by `now`. */
  private rateAt(now: number): number {
    let r = this.rate;
    const D = this.baseDelay();
    // A frame whose result is late says its bytes (and all before it) have not all crossed by
    // now - D - its server time: that caps the rate before any result shows the drop.
    let bytes = 0;
    const start = this.out.length ? Math.max(this.out[0].sentAt, this.lastArrival - D) : 0;
    for (const f of this.out) {
      bytes += f.bytes;
      const server = this.serverMs(f.mode);
      if (now > f.predictedArrival + server + this.jitter()) {
        const cap = bytes / Math.max(now - server - D - start, 1e-3);
        if (!(r <= cap)) r = cap;
      }
    }
    return r;
  }

  /** Bytes still queued on the link at `now` under rate r (fluid model from the last arrival). */
  private backlog(now: number, r: number): number {
    const D = this.baseDelay();
    let q = 0, t = this.lastArrival - D;
    for (const f of this.out) {
      const at = Math.max(f.sentAt, t);
      q = Math.max(0, q - r * (at - t)) + f.bytes;
      t = at;
    }
    return Math.max(0, q - r * Math.max(0, now - t));
  }

  predict(i: number, now: number, r: number, q: number): number {
    return this.encMs[i] + (q + this.sizeOf(i)) / r + this.baseDelay() + this.jitter() + this.serverMs(i);
  }

  /** Margin for what the queue model does not explain: a high percentile of recent late arrivals, ms. */
  private jitter(): number {
    // percentiles change only with results: kept until the next one (a long queue asks per frame in flight)
    if (Number.isNaN(this.memo.jitter)) this.memo.jitter = this.residuals.length >= 8 ? Math.max(0, percentile(this.residuals, this.t.jitterPercentile)) : 0;
    return this.memo.jitter;
  }

  /** Server time to count on for mode i: a high percentile of recent queue + decode, ms. */
  private serverMs(i: number): number {
    if (this.serverTimes.length < 4) return this.serverQueueMs + this.decMs[i];
    if (Number.isNaN(this.memo.server)) this.memo.server = percentile(this.serverTimes, this.t.serverPercentile);
    return this.memo.server;
  }

  /** Fraction of the frames captured in the last missWindowMs that missed (in-flight ones already past their deadline count). */
  recentMissRate(now: number): number {
    const from = now - this.t.missWindowMs;
    const o = this.outcomes;
    while (this.outHead < o.length && o[this.outHead].at < from) if (o[this.outHead++].missed) this.outMissed--;
    // a 120-s window at 30 fps holds thousands: compact now and then rather than shift per frame
    if (this.outHead > 1024 && this.outHead * 2 > o.length) {
      o.splice(0, this.outHead);
      this.outHead = 0;
    }
    let n = o.length - this.outHead, m = this.outMissed;
    for (const f of this.out) {
      n++;
      if (now - f.capturedAt > this.o.deadlineMs) m++;
    }
    return n ? m / n : 0;
  }

  private recordOutcome(at: number, missed: boolean): void {
    this.outcomes.push({ at, missed });
    if (missed) this.outMissed++;
  }

  /** A frame in flight is overdue past its predicted arrival by more than stallFraction x deadline. */
  private stalled(now: number): boolean {
    if (!Number.isFinite(this.t.stallFraction)) return false;
    const late = this.t.stallFraction * this.o.deadlineMs;
    return this.out.some((f) => now > f.predictedArrival + this.serverMs(f.mode) + late);
  }

  decide(now: number): Decision {
    const r = this.rateAt(now);
    if (!(r > 0)) return { mode: this.smallest, predictedMs: NaN, uplinkBps: NaN, smallestMisses: false };
    const q = this.backlog(now, r);
    const guard = this.t.guardFit < 1 && this.recentMissRate(now) > this.t.missBudget ? this.t.guardFit : 1;
    const budget = this.t.fit * guard * this.o.deadlineMs;
    const perFrame = r * this.interval * this.t.sustain;
    const fits = (i: number, slack: number) => this.predict(i, now, r, q) <= budget * slack && this.sizeOf(i) <= perFrame * slack;
    if (guard < 1 && this.t.guardFree) return this.decideFree(now, r, q);
    let pick = this.stalled(now) ? -1 : (this.order.find((i) => fits(i, 1)) ?? -1);
    if (pick >= 0 && guard < 1 && this.t.guardSlack > 0) {
      // On a link that has just shown misses even small frames suffer (outages), each byte above
      // the smallest mode is exposed to the next one, and a slimmable model's top modes add little
      // top-1 for their bytes: take the cheapest that is nearly as accurate.
      const floor = this.modes[pick].top1 - this.t.guardSlack;
      for (const i of this.order) if (this.modes[i].top1 >= floor && this.sizeOf(i) < this.sizeOf(pick) && fits(i, 1)) pick = i;
    }
    const rank = (i: number) => this.order.indexOf(i);
    if (pick >= 0 && rank(pick) < rank(this.current) && fits(this.current, 1)) {
      // Going up: only to a mode that fits with the tighter margin, and only once such a mode
      // has fitted for upHoldMs without a break; until then stay. Before the link has shown its
      // limit (fastStart) a fitting step is taken at once.
      // The nearest larger mode is always a step, however far: a table whose modes lie far apart
      // (an imported model's bit depths: 1.2, 18, 36, 55 kB) has none within upStep.
      const cur = this.sizeOf(this.current);
      let next = Infinity;
      for (const i of this.order) if (this.sizeOf(i) > cur) next = Math.min(next, this.sizeOf(i));
      const cap = Math.max(cur * this.t.upStep, Number.isFinite(next) ? next : cur);
      const top = this.modes[pick].top1;
      const up = this.order.find((i) => this.modes[i].top1 <= top && this.sizeOf(i) <= cap && fits(i, this.t.upFit / this.t.fit)) ?? this.current;
      if (rank(up) < rank(this.current)) {
        if (!(this.upSince <= now)) this.upSince = now;
      } else this.upSince = NaN;
      const hold = this.t.fastStart && !this.limited ? 0 : this.t.upHoldMs;
      pick = now - this.upSince >= hold ? up : this.current;
    } else this.upSince = NaN;
    if (pick !== this.current) this.upSince = NaN;
    if (pick < 0 || rank(pick) > rank(this.current)) this.limited = true;
    const uplinkBps = r * 1000;
    if (pick < 0) {
      const p = this.predict(this.smallest, now, r, q);
      const smallestMisses = p > this.o.deadlineMs;
      this.current = this.smallest;
      if (smallestMisses && this.t.skipInFlight > 0 && this.out.length >= this.t.skipInFlight) return { mode: -1, predictedMs: p, uplinkBps, smallestMisses };
      return { mode: this.smallest, predictedMs: p, uplinkBps, smallestMisses };
    }
    this.current = pick;
    return { mode: pick, predictedMs: this.predict(pick, now, r, q), uplinkBps, smallestMisses: false };
  }

  /**
   * Mode i's frames captured in freeSpanMs (at least one) cross in as many of the link's packets as
   * the smallest mode's would: the frames an outage's onset catches before the stall rule sees it
   * share the recovery's first packets, so these modes risk no more than the smallest. Without the
   * link's packet size, only the smallest mode is free.
   */
  free(i: number): boolean {
    return this.freeModes().includes(i);
  }

  /**
   * The free modes, in `order` (the smallest always among them: the constructor puts it there). A mode must also be within
   * `sustain` of what the link carries per frame interval at the rate its queued frames crossed at
   * (known from 4 of them): a packet size over the link's would otherwise make modes free that
   * saturate it.
   */
  private freeModes(): number[] {
    const U = this.o.linkPacketBytes;
    if (!U) return [this.smallest];
    let cap = Infinity;
    if (this.queuedSamples.length >= 4) {
      let b = 0, t = 0;
      for (const s of this.queuedSamples) {
        b += s.bytes;
        t += s.ms;
      }
      cap = (b / t) * this.interval * this.t.sustain;
    }
    const n = Math.max(1, Math.ceil(this.t.freeSpanMs / this.interval - 1e-9));
    const packets = Math.ceil((n * this.sizeOf(this.smallest)) / U);
    return this.order.filter((i) => i === this.smallest || (this.sizeOf(i) <= cap && Math.ceil((n * this.sizeOf(i)) / U) <= packets));
  }

  /**
   * Guarded, with guardFree: the cheapest free mode within guardSlack of the most accurate free one;
   * the smallest on a stall. A free mode costs the link what the smallest does, so no fit or
   * hysteresis applies: the queue model's rate, made from sub-packet frames' waits, is no guide to
   * them (free() checks them only against the rate queued frames showed).
   */
  private decideFree(now: number, r: number, q: number): Decision {
    const uplinkBps = r * 1000;
    const p = this.predict(this.smallest, now, r, q);
    this.limited = true;
    this.upSince = NaN;
    let pick = this.smallest;
    if (!this.stalled(now)) {
      const free = this.freeModes();
      pick = free[0];
      const floor = this.modes[pick].top1 - this.t.guardSlack;
      for (const i of free) if (this.modes[i].top1 >= floor && this.sizeOf(i) < this.sizeOf(pick)) pick = i;
    }
    this.current = pick;
    return { mode: pick, predictedMs: p, uplinkBps, smallestMisses: p > this.o.deadlineMs };
  }

  onSent(f: SentFrame): void {
    const exp = this.modes[f.mode].expectedBytes;
    push(this.sizes[f.mode], f.bytes, 64);
    push(this.ratios, f.bytes / exp, 64);
    this.encMs[f.mode] = 0.8 * this.encMs[f.mode] + 0.2 * f.encodeMs;
    const r = this.rateAt(f.sentAt);
    const q = r > 0 ? this.backlog(f.sentAt, r) : 0;
    const predictedArrival = r > 0 ? f.sentAt + (q + f.bytes) / r + this.baseDelay() : f.sentAt + this.o.deadlineMs;
    this.out.push({ ...f, predictedArrival });
  }

  onResult(res: FrameFeedback): void {
    const k = this.out.findIndex((f) => f.frame === res.frame);
    if (k < 0) return;
    // Results come back in order over one FIFO link; anything before this one was lost.
    const f = this.out[k];
    this.out.splice(0, k + 1);
    this.decMs[f.mode] = this.decMs[f.mode] ? 0.7 * this.decMs[f.mode] + 0.3 * res.serverDecodeMs : res.serverDecodeMs;
    this.serverQueueMs = 0.7 * this.serverQueueMs + 0.3 * res.serverQueueMs;
    push(this.serverTimes, res.serverQueueMs + res.serverDecodeMs, 32);
    this.recordOutcome(f.capturedAt, res.resultAt - f.capturedAt > this.o.deadlineMs);
    const arrival = res.resultAt - res.serverQueueMs - res.serverDecodeMs;
    // D: the least one-way time seen lately (as BBR's min RTT); it holds the smallest frame's own
    // crossing too, which only moves that bit of time from serialization to delay.
    push(this.delays, arrival - f.sentAt, 64);
    const D = this.baseDelay();
    const queued = this.lastArrival > f.sentAt + D;
    const serial = arrival - Math.max(f.sentAt + D, this.lastArrival);
    if (this.rate > 0) {
      const predicted = f.predictedArrival - f.sentAt, actual = arrival - f.sentAt;
      push(this.errors, Math.abs(predicted - actual) / Math.max(actual, 1), 5);
      push(this.residuals, actual - predicted, 64);
    }
    // A frame that found the link idle shows only a lower bound on its rate (the link could have
    // carried more): such samples may raise the estimate, not lower it (BBR's app-limited rule)...
    // unless the frame took idleLowerMs or more to cross: then the link's rate, not the ms grid of
    // its opportunities or the host's timers, set that time. On a slow link that frames never queue
    // on (Jellyfish at 1/50) the estimate could otherwise only rise, to many times the link's rate, and the
    // jitter term carried the whole crossing time, inflating after each slow second.
    let ms = Math.max(serial, 0.25);
    const measured = Number.isFinite(this.t.idleLowerMs) && ms >= this.t.idleLowerMs;
    if (!queued && this.rate > 0 && f.bytes / ms < this.rate && !measured) ms = f.bytes / this.rate;
    push(this.samples, { bytes: f.bytes, ms }, this.t.window);
    if (queued) push(this.queuedSamples, { bytes: f.bytes, ms }, this.t.window);
    let b = 0, t = 0;
    for (const s of this.samples) {
      b += s.bytes;
      t += s.ms;
    }
    this.rawRate = b / t;
    if (this.t.ratePercentile < 1) this.rawRate = Math.min(this.rawRate, percentile(this.samples.map((x) => x.bytes / x.ms), this.t.ratePercentile));
    const err = this.errors.length ? Math.max(...this.errors) : 0;
    this.rate = this.t.errorDiscount ? this.rawRate / (1 + Math.min(err, 1)) : this.rawRate;
    this.lastArrival = Math.max(this.lastArrival, arrival);
    this.memo.jitter = this.memo.server = NaN;
  }

  /**
   * A dropped frame's bytes never took the link: it leaves the queue model (it would otherwise look
   * overdue and hold the stall rule on) and counts as a miss for the miss budget. It says nothing
   * about the rate: the frames ahead of it report their own arrivals.
   */
  onDropped(d: DroppedFrame): void {
    const k = this.out.findIndex((f) => f.frame === d.frame);
    if (k < 0) return;
    const f = this.out[k];
    this.out.splice(k, 1);
    this.recordOutcome(f.capturedAt, true);
  }
}

/** Makes a controller by name: fixed:<members>,<bits>, ema, slim. */
export function makeController(name: string, modes: readonly ModeSpec[], o: ControllerOptions, tuning: Partial<SlimTuning> = {}): Controller {
  checkOptions(modes, o);
  const m = /^fixed:(\d+),(\d+)$/.exec(name);
  if (m) {
    const k = modes.findIndex((s) => s.mode.members === Number(m[1]) && s.mode.bits === Number(m[2]));
    if (k < 0) throw new ControllerError(`no mode members=${m[1]}, bits=${m[2]} (modes: ${modes.map((s) => `${s.mode.members},${s.mode.bits}`).join(' ')})`);
    return new FixedController(k, modes);
  }
  if (name === 'ema') return new EmaController(modes, o);
  if (name === 'slim') return new SlimController(modes, o, tuning);
  throw new ControllerError(`unknown controller '${name}' (${controllerNames(modes).join(', ')})`);
}

/** Every controller name makeController accepts for these modes. */
export function controllerNames(modes: readonly ModeSpec[]): string[] {
  return [...modes.map((s) => `fixed:${s.mode.members},${s.mode.bits}`), 'ema', 'slim'];
}

function allowed(modes: readonly ModeSpec[], maxMembers?: number): number[] {
  return modes.map((_, i) => i).filter((i) => modes[i].mode.members <= (maxMembers ?? Infinity));
}

function smallestOf(modes: readonly ModeSpec[], idx: readonly number[]): number {
  return idx.reduce((a, b) => (modes[b].expectedBytes < modes[a].expectedBytes || (modes[b].expectedBytes === modes[a].expectedBytes && modes[b].encodeMs < modes[a].encodeMs) ? b : a));
}

function push<T>(arr: T[], v: T, cap: number): void {
  arr.push(v);
  if (arr.length > cap) arr.shift();
}

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}
