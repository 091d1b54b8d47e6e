// Past one process: two `slimsplit serve` on one Debian mosquitto with a shared subscription. Every
// frame is decoded exactly once across the two; when one is killed mid-run the other goes on and
// every frame is answered or reported failed to its device (none vanish).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { reference, mqttDevice, checkAnswers, metric, range, getText, frameOf, type Reference } from './harness.js';
import { startServe, startMosquitto, type Serve } from './procs.js';

describe('serve --broker: two servers on one mosquitto', () => {
  let ref: Reference;
  let broker: { proc: ChildProcess; port: number; log: () => string };
  let a: Serve;
  let b: Serve;
  beforeAll(async () => {
    ref = reference();
    broker = await startMosquitto(ref.dir);
    const args = ['--broker', `mqtt://127.0.0.1:${broker.port}`, '--group', 'g1', '--port', '0', '--model', ref.path, '--workers', '1'];
    [a, b] = await Promise.all([startServe(args), startServe(args)]);
  }, 90_000);
  afterAll(async () => {
    for (const s of [a, b]) s?.proc.kill('SIGKILL');
    broker?.proc.kill('SIGTERM');
  });

  it('splits the frames, each decoded exactly once; a killed server leaves its share to the other', async () => {
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const devices = range(16, 800);
    const first = range(250);
    const all = await Promise.all(devices.map((d) => mqttDevice(url, ref, d, first, 8)));
    for (const [i, got] of all.entries()) expect(checkAnswers(ref, devices[i], first, got)).toBeUndefined();
    const ok = async (s: Serve) => metric((await getText(`http://127.0.0.1:${s.http}/metrics`)).text, 'slimsplit_frames_total', { outcome: 'ok' });
    const [okA, okB] = [await ok(a), await ok(b)];
    expect(okA + okB).toBe(devices.length * first.length);
    expect(okA).toBeGreaterThan(0);
    expect(okB).toBeGreaterThan(0);

    // second run: kill server a once a third of it is answered; devices resend a frame unanswered
    // for 3 s (same seq) and report it failed if the resend goes unanswered too
    const second = range(250, 250);
    let answered = 0;
    const total = devices.length * second.length;
    const runs = devices.map((d) => mqttDevice(url, ref, d, second, 8, { resendAfterMs: 3000 }));
    const killer = setInterval(async () => {
      answered = (await ok(b).catch(() => 0)) - okB + (await ok(a).catch(() => 0)) - okA;
      if (answered > total / 3 && a.proc.exitCode === null) {
        a.proc.kill('SIGKILL');
        clearInterval(killer);
      }
    }, 50);
    const got = await Promise.all(runs);
    clearInterval(killer);
    expect(a.proc.signalCode).toBe('SIGKILL');
    let failed = 0;
    for (const [i, ans] of got.entries()) {
      for (const seq of second) {
        const r = ans.get(seq)?.[0];
        expect(r, `d${devices[i]} seq ${seq} vanished`).toBeDefined();
        if (r!.outcome === 'ok') expect({ class: r!.class, topk: r!.topk, mode: r!.mode }).toEqual({ class: frameOf(ref, devices[i], seq).expected.class, topk: frameOf(ref, devices[i], seq).expected.topk, mode: frameOf(ref, devices[i], seq).expected.mode });
        else {
          expect(r!.error!.code).toBe('client-timeout');
          failed++;
        }
      }
    }
    // the survivor took the rest: all but the reported failures were decoded
    expect(failed).toBeLessThan(total / 100);
    expect(await ok(b)).toBeGreaterThan(okB + total / 3);
  });
});
