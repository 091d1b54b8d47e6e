/**
 * Device -> shaped link -> server over loopback, on every transport: the real 16x16 model, the
 * package's sample images, `slimsplit serve` in process, a trace-driven uplink in the send path.
 * The device's per-frame records are checked against the server's own counters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, type Model } from '../../src/model/model.js';
import { decodeImage } from '../../src/model/image.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { connect, type Transport } from '../../src/device/client.js';
import { RealTimeShaper, TraceLink, sendOrDrop, DROPPED_LATE } from '../../src/device/link.js';
import { stepTrace } from '../../src/device/trace.js';
import { measureModes, streamFrames, type Frame } from '../../src/device/run.js';
import type { RawImage } from '../../src/model/api.js';
import type { FrameRecord } from '../../src/device/sim.js';

const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
let model: Model;
let srv: RunningServer;
let frames: Frame[];

beforeAll(async () => {
  model = await loadModel('weights/see-cifar10.slim');
  srv = await startServer({ models: ['weights/see-cifar10.slim'], port: 0, mqttPort: 0, workers: 1, processMetrics: false });
  const files = readdirSync('samples').filter((f) => f.endsWith('.jpg')).sort();
  const imgs = files.map((f) => ({ image: decodeImage(readFileSync(join('samples', f))) as RawImage, label: CLASSES.indexOf(f.replace('.jpg', '')) }));
  // 80 frames: the ten samples eight times
  frames = Array.from({ length: 80 }, (_, k) => ({ ...imgs[k % imgs.length], index: k % imgs.length }));
}, 60_000);

afterAll(async () => {
  await srv?.close();
});

async function serverCounts(): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const v of (await srv.metrics.frames.get()).values) {
    const k = `${v.labels.transport}|${v.labels.mode}|${v.labels.outcome}`;
    m.set(k, (m.get(k) ?? 0) + v.value);
  }
  return m;
}

async function serverBytes(transport: string): Promise<number> {
  const v = (await srv.metrics.frameBytes.get()).values.find((x) => x.metricName === 'slimsplit_frame_bytes_sum' && x.labels.transport === transport);
  return v?.value ?? 0;
}

describe.each<Transport>(['http', 'ws', 'mqtt'])('device over %s through a shaped link', (transport) => {
  let records: FrameRecord[];
  let before: Map<string, number>;
  let bytesBefore: number;

  beforeAll(async () => {
    // 2 Mbit/s for 3 s, then 0.05 (6 kB/s: a 1.7-kB frame takes ~280 ms), 10 ms one-way delay
    const url = transport === 'mqtt' ? `mqtt://127.0.0.1:${srv.mqtt!.port}` : `http://127.0.0.1:${srv.http.port}`;
    const session = await connect(url, { model, transport, device: `e2e-${transport}` });
    const modes = measureModes(model, frames[0].image, 2);
    // Warm the server's worker (its first decodes compile), then start the link's clock with the stream.
    for (let i = 0; i < 3; i++) await session.send(frames[i].image, { mode: modes[modes.length - 1].mode });
    before = await serverCounts();
    bytesBefore = await serverBytes(transport);
    session.shaper = new RealTimeShaper(new TraceLink(stepTrace([2, 2, 2, 0.05, 0.05, 0.05]), { delayMs: 10 }));
    const run = await streamFrames(session, frames, { fps: 20, deadlineMs: 250, controller: 'slim', modes });
    records = run.frames;
    await session.close();
  }, 60_000);

  it('answers every frame sent, correctly where the engine in process says so', () => {
    const enc = model.encoder({ packet: 'compact' }), dec = model.decoder();
    const sent = records.filter((r) => r.mode >= 0);
    expect(sent.length).toBeGreaterThan(50);
    for (const r of sent) {
      expect([ 'ok', 'late', DROPPED_LATE ]).toContain(r.outcome);
      // dropped by the device's send queue, certain to be late: a miss, no class
      if (r.outcome === DROPPED_LATE) {
        expect(r.missed).toBe(true);
        expect(r.correct).toBe(false);
        continue;
      }
      // a frame the server refused as late got no class: not right, whatever its decode would say
      if (r.outcome !== 'ok') {
        expect(r.correct).toBe(false);
        continue;
      }
      enc.setMode({ members: r.members, bits: r.bits });
      const want = dec.decode(enc.encode(frames[r.frame].image)).top1 === frames[r.frame].label;
      expect(r.correct).toBe(want);
      expect(r.e2eMs).toBeGreaterThan(10); // the link's one-way delay at least
      expect(r.e2eMs).toBeCloseTo(r.encodeMs + r.uplinkMs + r.serverQueueMs + r.serverDecodeMs + (r.sentAt - r.capturedAt - r.encodeMs), 6);
    }
  });

  it("matches the server's own counts per mode and outcome, and its byte count", async () => {
    const after = await serverCounts();
    const mine = new Map<string, number>();
    for (const r of records) {
      // frames the device's send queue dropped never reached the server
      if (r.mode < 0 || r.outcome === DROPPED_LATE) continue;
      const k = `${transport}|${r.members},${r.bits}|${r.outcome}`;
      mine.set(k, (mine.get(k) ?? 0) + 1);
    }
    const theirs = new Map<string, number>();
    for (const [k, v] of after) if (k.startsWith(`${transport}|`) && v - (before.get(k) ?? 0) > 0) theirs.set(k, v - (before.get(k) ?? 0));
    expect(theirs).toEqual(mine);
    const bytes = records.reduce((s, r) => s + (r.mode >= 0 && r.outcome !== DROPPED_LATE ? r.bytes : 0), 0);
    expect((await serverBytes(transport)) - bytesBefore).toBe(bytes);
  });

  it('sends only what the slow link carries in time, and the deadline outcomes follow the timings', () => {
    // (whether it goes up within the 3 fast seconds depends on this host's load: the controller's
    // climb is tested in virtual time, test/device/controller.test.ts)
    // after 3.25 s the link carries 6.25 B/ms: a frame over 1,560 B could not make 250 ms
    for (const r of records.slice(65)) if (r.mode >= 0) expect(r.bytes).toBeLessThan(1560);
    for (const r of records) if (r.mode >= 0 && r.outcome === 'ok') expect(r.missed).toBe(r.e2eMs > 250);
  });
});

describe("the device's send queue on the real path", () => {
  it('drops the frames that reach the head of the queue certain to be late, the same ones and at the same link times as the rule in virtual time; the server never sees them', async () => {
    // the top mode (~1.7 kB) at 20 fps: 2 Mbit/s for 1 s, then 0.05 Mbit/s (6.25 B/ms, ~270 ms a
    // frame): the queue grows by ~220 ms a frame, so frames soon reach its head past their deadline
    const deadlineMs = 250, trace = stepTrace([2, 0.05, 0.05, 0.05]);
    const session = await connect(`http://127.0.0.1:${srv.http.port}`, { model, transport: 'http', device: 'e2e-sendq' });
    const modes = measureModes(model, frames[0].image, 2);
    const top = modes.length - 1;
    for (let i = 0; i < 3; i++) await session.send(frames[i].image, { mode: modes[top].mode });
    const before = await serverCounts();
    session.shaper = new RealTimeShaper(new TraceLink(trace, { delayMs: 10 }));
    const run = await streamFrames(session, frames.slice(0, 40), { fps: 20, deadlineMs, controller: `fixed:${modes[top].mode.members},${modes[top].mode.bits}`, modes });
    await session.close();
    const recs = run.frames;
    const dropped = recs.filter((r) => r.outcome === DROPPED_LATE);
    expect(dropped.length).toBeGreaterThan(5);
    // the same rule replayed in virtual time on the real frames' send times and sizes
    const link = new TraceLink(trace, { delayMs: 10 });
    for (const r of recs) {
      const s = sendOrDrop(link, r.sentAt, r.bytes, r.capturedAt + deadlineMs);
      expect(s.dropped).toBe(r.outcome === DROPPED_LATE);
      expect(r.linkAt).toBeCloseTo(s.dropped ? s.droppedAt : s.arrival, 6);
      if (s.dropped) {
        expect(s.droppedAt + 10).toBeGreaterThanOrEqual(r.capturedAt + deadlineMs - 1e-6);
        expect(r.missed).toBe(true);
        expect(r.correct).toBe(false);
        // the device heard of it when the queue dropped it, not before
        expect(r.resultAt).toBeGreaterThanOrEqual(r.linkAt! - 1e-6);
      }
    }
    expect(run.summary.dropRate).toBeCloseTo(dropped.length / recs.length, 12);
    // the server counted only the frames that went on the link
    const after = await serverCounts();
    let served = 0;
    for (const [k, v] of after) if (k.startsWith('http|')) served += v - (before.get(k) ?? 0);
    expect(served).toBe(recs.length - dropped.length);
  }, 60_000);
});

