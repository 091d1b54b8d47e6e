// Every transport over loopback: 64 simulated devices x 1,000 frames each, zero lost, zero answered
// twice, every result equal to decoding the same packet in-process (the tiny split model, so the
// run measures the server's plumbing, not the decoder).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { reference, httpDevice, wsDevice, mqttDevice, checkAnswers, metric, range, type Reference } from './harness.js';

const DEVICES = 64;
// each transport its own device ids: one server answers all three
const FIRST = { ws: 0, mqtt: 100, http: 200 };
const FRAMES = Number(process.env.SERVE_TEST_FRAMES ?? 1000);

describe('serve: every transport, 64 devices x 1,000 frames', () => {
  let ref: Reference;
  let srv: RunningServer;
  beforeAll(async () => {
    ref = reference();
    srv = await startServer({ models: [ref.path], port: 0, mqttPort: 0, workers: 2, processMetrics: false });
  });
  afterAll(async () => {
    await srv?.close();
  });

  const run = async (transport: 'http' | 'ws' | 'mqtt'): Promise<void> => {
    const base = `http://127.0.0.1:${srv.http.port}`;
    const seqs = range(FRAMES);
    const t0 = Date.now();
    const devices = range(DEVICES, FIRST[transport]);
    const all = await Promise.all(
      devices.map((d) =>
        transport === 'http' ? httpDevice(base, ref, d, seqs, 1)
        : transport === 'ws' ? wsDevice(base.replace('http', 'ws'), ref, d, seqs, 8)
        : mqttDevice(`mqtt://127.0.0.1:${srv.mqtt!.port}`, ref, d, seqs, 8),
      ),
    );
    const problems = all.map((a, i) => checkAnswers(ref, devices[i], seqs, a)).filter((p) => p !== undefined);
    expect(problems.slice(0, 3)).toEqual([]);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(metric(text, 'slimsplit_frames_total', { transport, outcome: 'ok' })).toBe(DEVICES * FRAMES);
    expect(metric(text, 'slimsplit_frames_total', { transport })).toBe(DEVICES * FRAMES);
    console.log(`${transport}: ${DEVICES * FRAMES} frames in ${Date.now() - t0} ms`);
  };

  it('WebSocket', () => run('ws'));
  it('MQTT (embedded broker)', () => run('mqtt'));
  it('HTTP POST', () => run('http'), 300_000);
});
