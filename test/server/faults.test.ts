// What goes wrong on the wire and in the pool: a decoder worker killed mid-run, >= 10,000 malformed
// envelopes and packets, a client that does not read its results, and each limit refused with its
// status. The server keeps answering good frames correctly through all of it.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { WebSocket } from 'ws';
import mqtt from 'mqtt';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { writeEnvelope, readEnvelope, EnvelopeError } from '../../src/server/envelope.js';
import { PacketError, CoderError } from '../../src/index.js';
import { writePacket, readPacket } from '../../src/codec/packet.js';
import { crc16 } from '../../src/format/checksum.js';
import type { FrameResult } from '../../src/server/result.js';
import { reference, wsDevice, mqttDevice, httpDevice, checkAnswers, metric, range, envelopeOf, postFrame, getText, type Reference } from './harness.js';

let ref: Reference;
let srv: RunningServer;
let base: string;
const MAX_BODY = 4096;

beforeAll(async () => {
  ref = reference();
  srv = await startServer({ models: [ref.path], port: 0, mqttPort: 0, workers: 2, maxBody: MAX_BODY, maxInflight: 32, processMetrics: false });
  base = `http://127.0.0.1:${srv.http.port}`;
});
afterAll(async () => {
  await srv?.close();
});

const metricsText = async (): Promise<string> => (await getText(`${base}/metrics`)).text;

describe('serve: a decoder worker dies mid-run', () => {
  it('is replaced; its frames are answered worker-died (never lost) and a resend decodes', async () => {
    const devices = range(8, 300);
    const seqs = range(400);
    let killed = false;
    let seen = 0;
    const runs = devices.map((d) =>
      wsDevice(`ws://127.0.0.1:${srv.http.port}`, ref, d, seqs, 8, (seq) => {
        if (++seen === 800 && !killed) {
          killed = true;
          void srv.pool.terminateWorker(0);
        }
        return envelopeOf(ref, d, seq);
      }),
    );
    const all = await Promise.all(runs);
    expect(killed).toBe(true);
    let died = 0;
    for (const [i, a] of all.entries()) {
      const d = devices[i];
      const failed = seqs.filter((s) => a.get(s)?.[0]?.outcome === 'failed');
      for (const s of failed) expect(a.get(s)![0].error!.code).toBe('worker-died');
      died += failed.length;
      // resend what died: decoded now (the seq was forgotten, so it is not a duplicate)
      const again = await wsDevice(`ws://127.0.0.1:${srv.http.port}`, ref, d, failed, 8);
      for (const s of failed) a.set(s, again.get(s)!);
      expect(checkAnswers(ref, d, seqs, a)).toBeUndefined();
    }
    // depth 2 per worker: the dead one held at most 2 frames
    expect(died).toBeLessThanOrEqual(2);
    const text = await metricsText();
    expect(metric(text, 'slimsplit_worker_restarts_total')).toBe(1);
    expect(metric(text, 'slimsplit_frames_total', { outcome: 'failed' })).toBe(died);
    await srv.pool.ready();
    expect(srv.pool.online).toBe(2);
    const r = JSON.parse((await getText(`${base}/readyz`)).text);
    expect(r).toMatchObject({ ready: true, workers: { online: 2, size: 2 } });
    // the state gauges are read when /metrics is scraped: the replacement is online, nothing is left
    const now = await metricsText();
    expect(metric(now, 'slimsplit_workers')).toBe(2);
    expect(metric(now, 'slimsplit_frames_in_flight')).toBe(0);
    expect(metric(now, 'slimsplit_queue_depth')).toBe(0);
    expect(metric(now, 'slimsplit_workers_busy')).toBe(0);
  });
});

/** What the server must say about a frame: decode it here the way the server would. */
type Verdict = { outcome: 'ok' | 'malformed' | 'refused'; code?: string };
const verdicts = new WeakMap<Uint8Array, Verdict>();
let refDecoder: ReturnType<Reference['model']['decoder']> | undefined;
function oracle(bytes: Uint8Array): Verdict {
  let v = verdicts.get(bytes);
  if (!v) verdicts.set(bytes, (v = judge(bytes)));
  return v;
}
function judge(bytes: Uint8Array): Verdict {
  if (bytes.length > MAX_BODY) return { outcome: 'refused', code: 'too-large' };
  let env;
  try {
    env = readEnvelope(bytes);
  } catch (e) {
    if (e instanceof EnvelopeError) return { outcome: 'malformed', code: `envelope:${e.code}` };
    throw e;
  }
  const p = env.packet;
  try {
    if (p[0] === 0xd3) {
      const id = readPacket(p).fields.modelId;
      if (id !== ref.model.modelId) return { outcome: 'malformed', code: 'unknown-model' };
    }
    (refDecoder ??= ref.model.decoder()).decode(p);
    return { outcome: 'ok' };
  } catch (e) {
    if (e instanceof PacketError) return { outcome: 'malformed', code: `packet:${e.code}` };
    if (e instanceof CoderError) return { outcome: 'malformed', code: 'coder' };
    if (/has no mode/.test((e as Error).message)) return { outcome: 'malformed', code: 'mode' };
    throw e;
  }
}

/** A PRNG so that the malformed set is the same on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    s = (s ^ (s >>> 13)) >>> 0;
    return s / 2 ** 32;
  };
}

function malformedSet(n: number): Uint8Array[] {
  const rand = rng(18);
  const out: Uint8Array[] = [];
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const otherEnc = ref.other.encoder();
  const img = { data: new Uint8Array(270).fill(100), width: 10, height: 9, channels: 3 as const };
  const foreign = otherEnc.encode(img);
  for (let i = 0; out.length < n; i++) {
    const seq = 100_000 + i;
    const good = pick(ref.packets).packet;
    const env = writeEnvelope({ seq, captureMs: 0, deadlineMs: 0 }, good);
    const kind = i % 7;
    let b: Uint8Array;
    if (kind === 0) b = env.subarray(0, Math.floor(rand() * env.length)); // truncated envelope or packet
    else if (kind === 1) {
      b = env.slice(); // one flipped byte anywhere
      b[Math.floor(rand() * b.length)] ^= 1 + Math.floor(rand() * 255);
    } else if (kind === 2) b = writeEnvelope({ seq, captureMs: 0, deadlineMs: 0 }, new Uint8Array(MAX_BODY + 1 + Math.floor(rand() * 100)).fill(0xd3)); // oversized
    else if (kind === 3) b = writeEnvelope({ seq, captureMs: 0, deadlineMs: 0 }, foreign); // another model's packet
    else if (kind === 4) {
      // wrong mode: a full packet whose mode bytes name a mode the model lacks, CRC recomputed
      const p = readPacket(pick(ref.packets.filter((q) => !q.compact)).packet);
      const mode = pick([[5, 4], [1, 3], [0, 8], [2, 16]]);
      b = writeEnvelope({ seq, captureMs: 0, deadlineMs: 0 }, writePacket({ ...p.fields, mode }, p.payload));
    } else if (kind === 5) {
      // a compact packet with a mode byte past the model's modes, CRC recomputed
      const c = pick(ref.packets.filter((q) => q.compact)).packet.slice();
      c[1] = 9 + Math.floor(rand() * 200);
      const id = ref.model.modelId;
      const crc = crc16(c, 0, c.length - 2, crc16(Uint8Array.of(id & 255, (id >>> 8) & 255, (id >>> 16) & 255, id >>> 24)));
      c[c.length - 2] = crc & 255;
      c[c.length - 1] = crc >>> 8;
      b = writeEnvelope({ seq, captureMs: 0, deadlineMs: 0 }, c);
    } else b = Uint8Array.from({ length: 1 + Math.floor(rand() * 60) }, () => Math.floor(rand() * 256)); // noise
    const o = oracle(b);
    if (o.outcome === 'ok') continue; // a flip the CRCs cannot see (2^-16): not a malformed frame
    out.push(b);
  }
  return out;
}

describe('serve: malformed frames over the wire', () => {
  it('refuses each of 10,500 with a clear error, counts them in /metrics, and still answers good frames', async () => {
    const bad = malformedSet(10_500);
    const before = await metricsText();
    // most over one WebSocket (fast), a share over HTTP and MQTT
    const results: FrameResult[] = new Array(bad.length);
    const ws = new WebSocket(`ws://127.0.0.1:${srv.http.port}/v1/ws?device=fuzz`);
    await new Promise((r) => ws.once('open', r));
    const wsIdx = range(bad.length).filter((i) => i % 10 < 8);
    const httpIdx = range(bad.length).filter((i) => i % 10 === 8);
    const mqttIdx = range(bad.length).filter((i) => i % 10 === 9);
    // one frame at a time: an answer names no frame whose envelope is broken, so order tells them apart
    const pending: ((r: FrameResult) => void)[] = [];
    ws.on('message', (d) => pending.shift()!(JSON.parse(String(d))));
    for (const i of wsIdx) {
      results[i] = await new Promise<FrameResult>((r) => {
        pending.push(r);
        ws.send(bad[i]);
      });
    }
    ws.close();
    for (let j = 0; j < httpIdx.length; j += 32) {
      await Promise.all(httpIdx.slice(j, j + 32).map(async (i) => {
        const r = await postFrame(base, '/v1/frames?device=fuzz-http', bad[i]);
        results[i] = r.result;
        expect(r.status).toBe(r.result.outcome === 'refused' ? 413 : r.result.error?.code === 'unknown-model' ? 404 : 400);
      }));
    }
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${srv.mqtt!.port}`, { clientId: 'fuzz-mqtt' });
    await c.subscribeAsync('slimsplit/v1/results/fuzz-mqtt', { qos: 1 });
    const waiting: ((r: FrameResult) => void)[] = [];
    c.on('message', (_t, payload) => waiting.shift()!(JSON.parse(String(payload))));
    for (const i of mqttIdx) {
      results[i] = await new Promise<FrameResult>((r) => {
        waiting.push(r);
        c.publish('slimsplit/v1/frames/fuzz-mqtt', Buffer.from(bad[i]), { qos: 0 });
      });
    }
    await c.endAsync();
    const codes = new Map<string, number>();
    for (const [i, r] of results.entries()) {
      const o = oracle(bad[i]);
      expect(r.outcome, `frame ${i}`).toBe(o.outcome);
      expect(r.error!.code, `frame ${i}: ${r.error!.message}`).toBe(o.code);
      expect(r.error!.message.length).toBeGreaterThan(10);
      codes.set(o.code!, (codes.get(o.code!) ?? 0) + 1);
    }
    // every kind of damage was exercised
    // (a packet mode the model lacks is a packet:bad-field from the decoder, full or compact)
    for (const code of ['envelope:truncated', 'envelope:checksum', 'packet:checksum', 'packet:truncated', 'unknown-model', 'packet:bad-field', 'too-large']) {
      expect(codes.get(code) ?? 0, `${code} in ${JSON.stringify([...codes])}`).toBeGreaterThan(20);
    }
    const after = await metricsText();
    const delta = (outcome: string) => metric(after, 'slimsplit_frames_total', { outcome }) - metric(before, 'slimsplit_frames_total', { outcome });
    expect(delta('malformed') + delta('refused')).toBe(bad.length);
    expect(delta('refused')).toBe(codes.get('too-large'));
    // good frames, every transport, right answers
    const seqs = range(50);
    expect(checkAnswers(ref, 400, seqs, await wsDevice(`ws://127.0.0.1:${srv.http.port}`, ref, 400, seqs))).toBeUndefined();
    expect(checkAnswers(ref, 401, seqs, await httpDevice(base, ref, 401, seqs))).toBeUndefined();
    expect(checkAnswers(ref, 402, seqs, await mqttDevice(`mqtt://127.0.0.1:${srv.mqtt!.port}`, ref, 402, seqs))).toBeUndefined();
  });
});

describe('serve: a slow client', () => {
  it('that never reads its results does not hold up other devices (WebSocket and MQTT)', async () => {
    // the slow ones: they send and stop reading their sockets
    const slowWs = new WebSocket(`ws://127.0.0.1:${srv.http.port}/v1/ws?device=slow-ws`);
    await new Promise((r) => slowWs.once('open', r));
    (slowWs as unknown as { _socket: { pause(): void } })._socket.pause();
    const slowMq = await mqtt.connectAsync(`mqtt://127.0.0.1:${srv.mqtt!.port}`, { clientId: 'slow-mqtt' });
    await slowMq.subscribeAsync('slimsplit/v1/results/slow-mqtt', { qos: 1 });
    (slowMq.stream as unknown as { pause(): void }).pause();
    let stop = false;
    let sent = 0;
    const flood = async () => {
      for (let s = 0; !stop; s++) {
        slowWs.send(envelopeOf(ref, 500, s));
        slowMq.publish('slimsplit/v1/frames/slow-mqtt', Buffer.from(envelopeOf(ref, 501, s)), { qos: 0 });
        sent++;
        if (s % 20 === 0) await new Promise((r) => setTimeout(r, 1));
      }
    };
    const flooding = flood();
    const seqs = range(200);
    const devices = range(8, 600);
    const all = await Promise.all(devices.map((d) => (d % 2 ? wsDevice(`ws://127.0.0.1:${srv.http.port}`, ref, d, seqs) : mqttDevice(`mqtt://127.0.0.1:${srv.mqtt!.port}`, ref, d, seqs))));
    stop = true;
    await flooding;
    expect(sent).toBeGreaterThan(500);
    for (const [i, a] of all.entries()) expect(checkAnswers(ref, devices[i], seqs, a)).toBeUndefined();
    slowWs.terminate();
    slowMq.end(true);
  });
});

describe('serve: limits', () => {
  it('refuses over --max-body (413), --max-inflight (429) and bad routes with clear statuses', async () => {
    const big = writeEnvelope({ seq: 1, captureMs: 0, deadlineMs: 0 }, new Uint8Array(MAX_BODY + 10).fill(0xd3));
    const r = await postFrame(base, '/v1/frames?device=lim', big);
    expect(r.status).toBe(413);
    expect(r.result).toMatchObject({ outcome: 'refused', error: { code: 'too-large' } });
    expect(r.result.error!.message).toMatch(/exceeds the server's limit of 4096 \(--max-body\)/);
    // 32 in flight per device: a burst of 200 on one socket gets some refused 'in-flight', the rest ok
    const ws = new WebSocket(`ws://127.0.0.1:${srv.http.port}/v1/ws?device=burst`);
    await new Promise((res) => ws.once('open', res));
    const got: FrameResult[] = [];
    await new Promise<void>((resolve) => {
      ws.on('message', (d) => {
        got.push(JSON.parse(String(d)));
        if (got.length === 200) resolve();
      });
      for (let s = 0; s < 200; s++) ws.send(envelopeOf(ref, 700, s));
    });
    ws.close();
    const refused = got.filter((g) => g.outcome === 'refused');
    expect(refused.length).toBeGreaterThan(0);
    for (const g of refused) expect(g.error).toMatchObject({ code: 'in-flight' });
    expect(got.filter((g) => g.outcome === 'ok').length + refused.length).toBe(200);
    // a duplicate is answered once, the second copy says so
    const env = envelopeOf(ref, 701, 5);
    const a = await postFrame(base, '/v1/frames?device=d701', env);
    const b = await postFrame(base, '/v1/frames?device=d701', env);
    expect([a.status, b.status]).toEqual([200, 409]);
    expect(b.result).toMatchObject({ outcome: 'duplicate', seq: 5, device: 'd701' });
    // a past deadline: late, not decoded
    const late = writeEnvelope({ seq: 1, captureMs: Date.now() - 1000, deadlineMs: 10 }, ref.packets[0].packet);
    const l = await postFrame(base, '/v1/frames?device=d702', late);
    expect(l.status).toBe(504);
    expect(l.result).toMatchObject({ outcome: 'late', error: { code: 'deadline' } });
    expect(l.result.decodeMs).toBeUndefined();
    // no device anywhere
    const n = await postFrame(base, '/v1/frames', envelopeOf(ref, 703, 1));
    expect(n.result).toMatchObject({ outcome: 'malformed', error: { code: 'no-device' } });
    expect((await getText(`${base}/nope`)).status).toBe(404);
    expect((await getText(`${base}/v1/frames`)).status).toBe(405);
  });

  it('refuses connections over --max-connections with 503 (HTTP) and CONNACK 3 (MQTT)', async () => {
    const s2 = await startServer({ models: [ref.path], port: 0, mqttPort: 0, workers: 1, maxConnections: 2, processMetrics: false });
    try {
      const open = await Promise.all([0, 1].map(() => new Promise<WebSocket>((res) => {
        const w = new WebSocket(`ws://127.0.0.1:${s2.http.port}/v1/ws?device=x`);
        w.once('open', () => res(w));
      })));
      const r = await getText(`http://127.0.0.1:${s2.http.port}/healthz`);
      expect(r.status).toBe(503);
      expect(JSON.parse(r.text)).toMatchObject({ outcome: 'refused', error: { code: 'connections' } });
      for (const w of open) w.close();
      const m = await Promise.all([0, 1].map((i) => mqtt.connectAsync(`mqtt://127.0.0.1:${s2.mqtt!.port}`, { clientId: `c${i}` })));
      const err = await mqtt.connectAsync(`mqtt://127.0.0.1:${s2.mqtt!.port}`, { clientId: 'c3', reconnectPeriod: 0 }).then(() => null, (e: Error & { code?: number }) => e);
      expect(err?.code).toBe(3);
      for (const c of m) await c.endAsync();
    } finally {
      await s2.close();
    }
  });

  it('serves devices round-robin: a device with a deep queue does not delay the others', async () => {
    const { Scheduler } = await import('../../src/server/scheduler.js');
    const s = new Scheduler<{ device: string; seq: number }>({ maxQueue: 1000, maxInflight: 1000 });
    for (let i = 0; i < 100; i++) if (!s.admit('greedy', i)) s.push({ device: 'greedy', seq: i });
    for (const d of ['a', 'b']) for (let i = 0; i < 2; i++) if (!s.admit(d, i)) s.push({ device: d, seq: i });
    const order = range(6).map(() => s.next()!.device);
    expect(order).toEqual(['greedy', 'a', 'b', 'greedy', 'a', 'b']);
    expect(s.admit('a', 0)).toMatchObject({ outcome: 'duplicate' });
    const q = new Scheduler<{ device: string; seq: number }>({ maxQueue: 2, maxInflight: 10 });
    for (let i = 0; i < 2; i++) if (!q.admit('x', i)) q.push({ device: 'x', seq: i });
    expect(q.admit('y', 0)).toMatchObject({ outcome: 'refused', code: 'queue-full' });
  });
});
