/**
 * Streams frames to `slimsplit serve` at a frame rate, a controller choosing each frame's mode:
 * what `slimsplit device` runs. Records one FrameRecord per frame (the simulator's shape, sim.ts),
 * so a real run and a simulated one compare field by field.
 *
 *   const session = await connect(url, { model, transport: 'ws', shaper });
 *   const specs = await measureModes(model);                  // encoder ms per mode on this device
 *   const run = await streamFrames(session, frames, { fps: 30, deadlineMs: 150, controller: 'slim', modes: specs });
 *   run.summary; run.frames;
 */
import type { Model } from '../model/model.js';
import type { RawImage } from '../model/api.js';
import { referenceScores } from '../codec/modes.js';
import { makeController, type Decision, type ModeSpec, type SlimTuning } from './controller.js';
import { summarize, type FrameRecord, type RunSummary } from './sim.js';
import type { DeviceSession } from './client.js';
import { DROPPED_LATE } from './link.js';

export interface Frame {
  image: RawImage;
  /** class index when known */
  label?: number;
  /** image number in the source (for logs) */
  index: number;
}

/** Bytes the envelope adds to a compact packet here: magic, version, flags, seq, capture ms, deadline, model id, CRC. */
export const ENVELOPE_OVERHEAD = 20;

/**
 * Each mode of the model, with its expected bytes on the wire (mode table + envelope), reference
 * top-1, and encoder time measured here (median of `rounds` encodes of `sample`). A model that ships
 * no reference top-1 gets referenceScores' rank by expected bytes in its place, as pickMode ranks:
 * without it every mode would tie at 0 and the controller would never leave the smallest.
 */
export function measureModes(model: Model, sample: RawImage, rounds = 5): ModeSpec[] {
  const table = model.modeTable({ packet: 'compact' });
  const enc = model.encoder({ packet: 'compact' });
  const scores = referenceScores(table);
  return table.map((t, i) => {
    enc.setMode(t.mode);
    enc.encode(sample);
    const ms: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const a = performance.now();
      enc.encode(sample);
      ms.push(performance.now() - a);
    }
    ms.sort((x, y) => x - y);
    return {
      mode: { members: t.mode.members ?? 1, bits: t.mode.bits ?? 8 },
      expectedBytes: t.expectedBytes + ENVELOPE_OVERHEAD,
      top1: scores[i],
      encodeMs: ms[ms.length >> 1],
    };
  });
}

export interface StreamOptions {
  fps: number;
  deadlineMs: number;
  controller: string;
  modes: ModeSpec[];
  maxMembers?: number;
  /** the uplink's packet, bytes (ControllerOptions.linkPacketBytes); default: the emulated link's, when the session has one */
  linkPacketBytes?: number;
  tuning?: Partial<SlimTuning>;
  /** called after every frame's record is complete (the JSONL log, the progress line) */
  onFrame?: (r: FrameRecord, d: Decision) => void;
  /** stop early */
  signal?: AbortSignal;
}

/** Sends every frame at its capture time; resolves when the last result is in. */
export async function streamFrames(session: DeviceSession, frames: readonly Frame[], o: StreamOptions): Promise<{ frames: FrameRecord[]; summary: RunSummary; seconds: number }> {
  const ctl = makeController(o.controller, o.modes, { deadlineMs: o.deadlineMs, fps: o.fps, maxMembers: o.maxMembers, linkPacketBytes: o.linkPacketBytes ?? session.shaper?.link.packetBytes }, o.tuning);
  const interval = 1000 / o.fps;
  // With an emulated link, the stream's clock is the link's, so frame k's capture falls at link time k x interval (as in the simulator).
  const t0 = session.shaper?.startedAt ?? performance.now();
  const now = () => performance.now() - t0;
  const records: FrameRecord[] = [];
  const pending: Promise<void>[] = [];
  for (let k = 0; k < frames.length; k++) {
    if (o.signal?.aborted) break;
    const cap = k * interval;
    // Wait for this frame's capture time (results arrive meanwhile and reach the controller).
    while (now() < cap) await new Promise((r) => setTimeout(r, Math.max(0, Math.min(cap - now(), 50))));
    const f = frames[k];
    const decidedAt = now();
    const d = ctl.decide(decidedAt);
    const rec: FrameRecord = {
      frame: k, image: f.index, mode: d.mode, members: 0, bits: 0, bytes: 0, capturedAt: cap, sentAt: NaN, resultAt: NaN,
      encodeMs: 0, uplinkMs: NaN, serverQueueMs: NaN, serverDecodeMs: NaN, e2eMs: NaN, missed: true, correct: null,
      predictedMs: d.predictedMs, uplinkBps: d.uplinkBps, smallestMisses: d.smallestMisses, decidedAt,
    };
    // A labelled frame counts as not right until the right class comes back (skipped, late, lost).
    if (f.label !== undefined) rec.correct = false;
    records.push(rec);
    if (d.mode < 0) {
      o.onFrame?.(rec, d);
      continue;
    }
    const spec = o.modes[d.mode];
    rec.members = spec.mode.members;
    rec.bits = spec.mode.bits;
    const p = session
      .send(f.image, { mode: spec.mode, deadlineMs: o.deadlineMs, capturedAt: t0 + cap })
      .then(
        (r) => {
          rec.bytes = r.bytes;
          rec.encodeMs = r.timings.encodeMs;
          rec.sentAt = r.sentAt - t0;
          rec.resultAt = r.resultAt - t0;
          if (r.linkAt !== undefined) rec.linkAt = r.linkAt - t0;
          if (r.dropped) {
            // the send queue dropped it, certain to be late: a miss, no class, and the controller is told
            rec.outcome = DROPPED_LATE;
            rec.e2eMs = r.timings.e2eMs;
            ctl.onDropped({ frame: k, at: rec.resultAt });
            return;
          }
          rec.uplinkMs = r.timings.uplinkMs;
          rec.serverQueueMs = r.timings.serverQueueMs;
          rec.serverDecodeMs = r.timings.serverDecodeMs;
          rec.e2eMs = r.timings.e2eMs;
          rec.missed = !r.deadlineHeld;
          if (f.label !== undefined) rec.correct = r.result.outcome === 'ok' && r.result.class === f.label;
          rec.outcome = r.result.outcome;
          if (r.result.error && r.result.outcome !== 'late') rec.error = r.result.error;
          ctl.onResult({ frame: k, resultAt: rec.resultAt, serverQueueMs: rec.serverQueueMs, serverDecodeMs: rec.serverDecodeMs });
        },
        (e: Error) => {
          rec.outcome = `lost: ${e.message}`;
        },
      )
      .then(() => o.onFrame?.(rec, d));
    // The controller learns what was sent as soon as it is encoded (send() encodes synchronously
    // before its first await), so sizes and encoder times are known for the next decision.
    pending.push(p);
    // sentAt as the session stamped it (the record's too), so a replay of this run feeds the controller the same number
    ctl.onSent({ frame: k, mode: d.mode, bytes: session.lastBytes, capturedAt: cap, sentAt: session.lastSentAt - t0, encodeMs: session.lastEncodeMs });
  }
  await Promise.all(pending);
  return { frames: records, summary: summarize(records, o.fps), seconds: now() / 1000 };
}
