/**
 * The device's send queue (link.ts sendOrDrop): a frame enters the link only when the link has
 * finished the frame before it, and one that reaches the head of the queue certain to be late
 * (now + the one-way delay >= capture + deadline) is dropped there and counted as a miss.
 */
import { describe, expect, it } from 'vitest';
import { TraceLink, sendOrDrop, DROPPED_LATE } from '../../src/device/link.js';
import type { Trace } from '../../src/device/trace.js';
import { makeController, SlimController } from '../../src/device/controller.js';
import { simulate, type SimDataset } from '../../src/device/sim.js';
import { SYNTH_MODES, synthDataset } from './synth.js';

/** One 100-byte opportunity per ms, except an outage from 100 to 600 ms; repeats every second. */
function outageTrace(): Trace {
  const opp: number[] = [];
  for (let t = 0; t < 1000; t++) if (t < 100 || t >= 600) opp.push(t);
  return { name: 'outage', format: 'mahimahi', opportunities: Float64Array.from(opp), bytesPerOpportunity: 100, periodMs: 1000 };
}

describe('sendOrDrop: the device send queue in front of the link', () => {
  it('drops a frame that reaches the head past its deadline, sends one that can still make it, and the frames behind arrive earlier', () => {
    const link = new TraceLink(outageTrace(), { delayMs: 20 });
    // A (1,000 B) is on the link when the outage starts: 500 B cross at 95-99 ms, the rest at 600-604.
    const a = sendOrDrop(link, 95, 1000, 95 + 300);
    expect(a).toEqual({ dropped: false, enteredAt: 95, arrival: 624 });
    // B (2,000 B, captured at 200 ms) waits behind A; A is done at 604, and 604 + 20 >= 500: dropped there.
    const b = sendOrDrop(link, 200, 2000, 200 + 300);
    expect(b).toEqual({ dropped: true, droppedAt: 604 });
    // C (100 B, captured at 450 ms) reaches the head at 604 too and can still make 750: it takes the
    // next opportunity, 605, and arrives at 625.
    const c = sendOrDrop(link, 450, 100, 450 + 300);
    expect(c).toEqual({ dropped: false, enteredAt: 604, arrival: 625 });

    // The plain FIFO: B takes 20 opportunities (605-624) before C, which arrives 20 ms later.
    const fifo = new TraceLink(outageTrace(), { delayMs: 20 });
    expect(fifo.transmit(95, 1000)).toBe(624);
    expect(fifo.transmit(200, 2000)).toBe(644);
    expect(fifo.transmit(450, 100)).toBe(645);
  });

  it('drops exactly when now + the delay reaches the due time (the result can only come later), not a hair before', () => {
    const mk = () => {
      const l = new TraceLink(outageTrace(), { delayMs: 20 });
      l.transmit(95, 1000); // the link is busy until 604
      return l;
    };
    expect(sendOrDrop(mk(), 100, 100, 624)).toEqual({ dropped: true, droppedAt: 604 });
    expect(sendOrDrop(mk(), 100, 100, 624.001)).toEqual({ dropped: false, enteredAt: 604, arrival: 625 });
    // on an idle link the head is the frame's own ready time
    expect(sendOrDrop(new TraceLink(outageTrace(), { delayMs: 20 }), 50, 100, 70)).toEqual({ dropped: true, droppedAt: 50 });
  });

  it('with no due time is the plain FIFO, delivery for delivery', () => {
    const q = new TraceLink(outageTrace(), { delayMs: 20 }), fifo = new TraceLink(outageTrace(), { delayMs: 20 });
    let t = 0;
    for (let k = 0; k < 200; k++) {
      t += 7 + (k % 5) * 3;
      const bytes = 50 + ((k * 37) % 900);
      const s = sendOrDrop(q, t, bytes, Infinity);
      expect(s.dropped).toBe(false);
      if (!s.dropped) expect(s.arrival).toBe(fifo.transmit(t, bytes));
    }
  });
});

describe('simulate with the device send queue', () => {
  /** Every image right in every mode: a frame counted wrong is one that got no class. */
  function allRight(count: number): SimDataset {
    const ds = synthDataset(count);
    return { ...ds, correct: new Uint8Array(ds.correct.length).fill(1) };
  }
  const top = `fixed:${SYNTH_MODES[4].mode.members},${SYNTH_MODES[4].mode.bits}`;
  const run = (dropLate: boolean, name = top, frames = 60) =>
    simulate(allRight(200), new TraceLink(outageTrace(), { delayMs: 20 }), makeController(name, SYNTH_MODES, { deadlineMs: 200, fps: 30 }), { fps: 30, deadlineMs: 200, frames, dropLate });

  it('drops the frames that reach the head certain to be late, counts them as misses, never adds one, and brings the rest in sooner', () => {
    const drop = run(true), fifo = run(false);
    const dropped = drop.frames.filter((f) => f.outcome === DROPPED_LATE);
    expect(dropped.length).toBeGreaterThan(5);
    for (const f of dropped) {
      expect(f.missed).toBe(true);
      expect(f.correct).toBe(false);
      expect(Number.isNaN(f.uplinkMs)).toBe(true);
      // dropped when it reached the head: capture + deadline - delay had passed
      expect(f.linkAt! + 20).toBeGreaterThanOrEqual(f.capturedAt + 200);
      // the same frame missed in the plain FIFO too: a certain miss
      expect(fifo.frames[f.frame].missed).toBe(true);
    }
    // no frame the FIFO got in time is missed with the queue
    for (let k = 0; k < drop.frames.length; k++) if (!fifo.frames[k].missed) expect(drop.frames[k].missed).toBe(false);
    // frames behind the dropped ones: some get in time that did not before, and none arrives later
    const saved = drop.frames.filter((f, k) => !f.missed && fifo.frames[k].missed);
    expect(saved.length).toBeGreaterThan(0);
    for (let k = 0; k < drop.frames.length; k++) {
      const f = drop.frames[k], g = fifo.frames[k];
      if (f.outcome !== DROPPED_LATE) expect(f.sentAt + f.uplinkMs).toBeLessThanOrEqual(g.sentAt + g.uplinkMs + 1e-9);
    }
    expect(drop.summary.missRate).toBeLessThan(fifo.summary.missRate);
    expect(drop.summary.accuracy).toBeGreaterThan(fifo.summary.accuracy);
    expect(drop.summary.dropRate).toBeCloseTo(dropped.length / 60, 12);
    // mean bytes count what went on the link: every frame of one mode here, so about the same
    expect(fifo.summary.dropRate).toBe(0);
  });

  it('slim returns to the top mode after an outage whose queued frames were dropped', () => {
    // one 500-ms outage at 1 s in 8 s of 100 B/ms: frames queue behind it and are dropped
    const opp: number[] = [];
    for (let t = 0; t < 8000; t++) if (t < 1000 || t >= 1500) opp.push(t);
    const trace: Trace = { name: 'one-outage', format: 'mahimahi', opportunities: Float64Array.from(opp), bytesPerOpportunity: 100, periodMs: 8000 };
    const at = (tuning = {}) => simulate(allRight(300), new TraceLink(trace, { delayMs: 20 }), makeController('slim', SYNTH_MODES, { deadlineMs: 200, fps: 30 }, tuning), { fps: 30, deadlineMs: 200, frames: 240 });
    const r = at(), loose = at({ guardFit: 1 });
    expect(r.frames.filter((f) => f.outcome === DROPPED_LATE).length).toBeGreaterThan(3);
    const before = r.frames.filter((f) => f.capturedAt < 1000), after = r.frames.filter((f) => f.capturedAt >= 5000);
    // the top mode before the outage; after it, the outage's misses (over 1% of the frames so far)
    // hold the miss budget's guard on, and with it the smallest mode (the only one known to cost the
    // link no more than itself: the link's packet size is not given), with no misses
    expect(before.at(-1)!.mode).toBe(4);
    expect(after.every((f) => f.mode === 0 && !f.missed)).toBe(true);
    // without the guard, the top mode again (the climb probes a step at a time on the cautious rate
    // estimate: it is there 6 s in)
    expect(loose.frames.filter((f) => f.capturedAt >= 7000).every((f) => f.mode === 4 && !f.missed)).toBe(true);
  });
});

describe('the controllers hear of drops', () => {
  it("slim counts a dropped frame as a miss in its miss budget, though a later frame's result clears it from the frames in flight", () => {
    const ctl = new SlimController(SYNTH_MODES, { deadlineMs: 200, fps: 10 });
    for (let k = 0; k < 10; k++) ctl.onSent({ frame: k, mode: 0, bytes: 80, capturedAt: k * 100, sentAt: k * 100 + 1, encodeMs: 0.2 });
    for (let k = 0; k < 5; k++) ctl.onResult({ frame: k, resultAt: k * 100 + 50, serverQueueMs: 0, serverDecodeMs: 1 });
    // frames 5-7 reach the head of the send queue past their deadlines; frame 8 gets through
    for (const k of [5, 6, 7]) ctl.onDropped({ frame: k, at: 900 });
    ctl.onResult({ frame: 8, resultAt: 950, serverQueueMs: 0, serverDecodeMs: 1 });
    // 9 frames judged (0-8), 3 of them missed; frame 9 is in flight and not yet past its deadline
    expect(ctl.recentMissRate(960)).toBeCloseTo(3 / 10, 12);
  });
});
