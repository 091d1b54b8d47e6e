/**
 * The simulator's server: `slimsplit serve`'s late rule (src/server/frames.ts) and the accuracy that
 * follows from it (a frame answered late gets no class and counts as not right).
 */
import { describe, expect, it } from 'vitest';
import { synthDataset, SYNTH_MODES } from './synth.js';
import { constantTrace, stepTrace } from '../../src/device/trace.js';
import { TraceLink } from '../../src/device/link.js';
import { makeController } from '../../src/device/controller.js';
import { simulate, serveFrame, summarize, type FrameRecord, type SimDataset } from '../../src/device/sim.js';

/** Every image right in every mode, so any frame counted wrong is one that got no class. */
function allRight(count: number): SimDataset {
  const ds = synthDataset(count);
  return { ...ds, correct: new Uint8Array(ds.correct.length).fill(1) };
}

describe('serveFrame: the server deadline rule', () => {
  it('refuses a frame that arrives past its due time at once, leaving the worker as it was', () => {
    expect(serveFrame(130, 120, 50, 7)).toEqual({ late: true, resultAt: 130, queueMs: 0, decodeMs: 0, srvFree: 50 });
    // even while the worker is busy: the arrival check does not wait for it
    expect(serveFrame(130, 120, 200, 7)).toEqual({ late: true, resultAt: 130, queueMs: 0, decodeMs: 0, srvFree: 200 });
  });

  it('refuses a frame whose due time passes while it waits for the worker, when the worker frees up', () => {
    expect(serveFrame(100, 120, 125, 7)).toEqual({ late: true, resultAt: 125, queueMs: 25, decodeMs: 0, srvFree: 125 });
  });

  it('decodes a frame that reaches the worker by its due time, even when the decode ends after it', () => {
    expect(serveFrame(100, 120, 118, 7)).toEqual({ late: false, resultAt: 125, queueMs: 18, decodeMs: 7, srvFree: 125 });
    // exactly at the due time is still in time (the server refuses only when now > due)
    expect(serveFrame(120, 120, 0, 7)).toEqual({ late: false, resultAt: 127, queueMs: 0, decodeMs: 7, srvFree: 127 });
  });
});

describe('simulate with the server late rule', () => {
  it('gives no class to a frame that reaches the server after its deadline, and counts it as not right', () => {
    // the largest mode (~1.7 kB) at 30 fps over 0.2 Mbit/s (25 kB/s, ~830 B per frame): the queue
    // grows, and frames soon arrive past their 150-ms deadline
    const ds = allRight(300);
    const top = `fixed:${SYNTH_MODES[4].mode.members},${SYNTH_MODES[4].mode.bits}`;
    const r = simulate(ds, new TraceLink(constantTrace(0.2), { delayMs: 10 }), makeController(top, SYNTH_MODES, { deadlineMs: 150, fps: 30 }), { fps: 30, deadlineMs: 150, frames: 300 });
    const late = r.frames.filter((f) => f.outcome === 'late'), ok = r.frames.filter((f) => f.outcome === 'ok');
    expect(late.length).toBeGreaterThan(100);
    expect(ok.length).toBeGreaterThan(0);
    for (const f of late) {
      // arrived past capture + deadline: refused at arrival, not decoded
      expect(f.sentAt + f.uplinkMs).toBeGreaterThan(f.capturedAt + 150);
      expect(f.resultAt).toBe(f.sentAt + f.uplinkMs);
      expect(f.serverDecodeMs).toBe(0);
      expect(f.missed).toBe(true);
      expect(f.correct).toBe(false);
      expect(f.correctIfDecoded).toBe(true);
    }
    for (const f of ok) expect(f.correct).toBe(true);
    // accuracy: right classes received over all frames; the previous column counted late frames' decodes
    expect(r.summary.accuracy).toBeCloseTo(ok.length / 300, 12);
    expect(r.summary.lateRate).toBeCloseTo(late.length / 300, 12);
    expect(r.summary.accuracyInclLate).toBe(1);
  });

  it('leaves the worker free for the next frame when a queued frame is refused late', () => {
    // a fast link, a 150-ms decode at 10 fps with a 120-ms deadline: frames 0-2 are decoded back to
    // back; frame 3 waits until frame 2's decode ends, past its due time, and is refused then;
    // frame 4 starts on the worker right away
    const ds = allRight(20);
    const r = simulate(ds, new TraceLink(stepTrace(Array(5).fill(100)), { delayMs: 10 }), makeController('fixed:1,1', SYNTH_MODES, { deadlineMs: 120, fps: 10 }), {
      fps: 10, deadlineMs: 120, frames: 6, decodeMs: SYNTH_MODES.map(() => 150),
    });
    const f = r.frames;
    expect(f.map((x) => x.outcome)).toEqual(['ok', 'ok', 'ok', 'late', 'ok', 'ok']);
    expect(f[3].resultAt).toBeCloseTo(f[2].resultAt, 9);
    expect(f[3].correct).toBe(false);
    const arrived4 = f[4].sentAt + f[4].uplinkMs;
    expect(f[4].serverQueueMs).toBeCloseTo(f[2].resultAt - arrived4, 9);
    expect(f[4].resultAt).toBeCloseTo(f[2].resultAt + 150, 9);
    // frame 1 reached the worker in time and is answered after its deadline: a class, but a miss
    expect(f[1].missed).toBe(true);
    expect(f[1].correct).toBe(true);
    expect(r.summary.accuracy).toBeCloseTo(5 / 6, 12);
    expect(r.summary.timelyAccuracy).toBeLessThan(r.summary.accuracy);
  });
});

describe('summarize (simulator records and device logs alike)', () => {
  const rec = (o: Partial<FrameRecord>): FrameRecord => ({
    frame: 0, image: 0, mode: 0, members: 1, bits: 1, bytes: 100, capturedAt: 0, sentAt: 1, resultAt: 50, encodeMs: 1, uplinkMs: 40,
    serverQueueMs: 0, serverDecodeMs: 5, e2eMs: 50, missed: false, correct: true, predictedMs: 50, uplinkBps: 1e5, smallestMisses: false, outcome: 'ok', ...o,
  });

  it('counts late, skipped and lost labelled frames as not right, and leaves unlabelled ones out', () => {
    const s = summarize([
      rec({}),
      rec({ correct: false }),
      rec({ outcome: 'late', correct: false, missed: true }),
      rec({ mode: -1, outcome: undefined, correct: false, missed: true }),
      rec({ outcome: 'lost: timeout', correct: false, missed: true }),
      rec({ correct: null }),
    ], 10);
    expect(s.accuracy).toBeCloseTo(1 / 5, 12);
    expect(s.lateRate).toBeCloseTo(1 / 6, 12);
    expect(s.missRate).toBeCloseTo(3 / 6, 12);
    // a device log has no decode of frames the server refused: no figure for the previous definition
    expect(s.accuracyInclLate).toBeUndefined();
  });
});
