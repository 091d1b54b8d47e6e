// SIGTERM: the server stops taking frames, answers every frame in flight (decoded, or failed with
// drain-timeout when the drain runs out of time), and exits 0. A real model here (the 4x4 split,
// a few ms per decode) so that frames are still queued when the signal comes.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { loadModel } from '../../src/index.js';
import { writeEnvelope } from '../../src/server/envelope.js';
import { topKOf, type FrameResult } from '../../src/server/result.js';
import { startServe } from './procs.js';

const ROOT = join(import.meta.dirname, '..', '..');
const MODEL = join(ROOT, 'weights', 'see-cifar10-d4.slim');

async function packets(): Promise<{ packet: Uint8Array; topk: ReturnType<typeof topKOf> }[]> {
  const m = await loadModel(MODEL);
  const enc = m.encoder();
  const dec = m.decoder();
  const out = [];
  for (const f of ['cat', 'dog', 'ship', 'truck']) {
    enc.setMode({ members: 2, bits: 4 });
    const packet = enc.encode(new Uint8Array(readFileSync(join(ROOT, 'samples', `${f}.jpg`))));
    out.push({ packet, topk: topKOf(dec.decode(packet).logits, 3, m.info.classes) });
  }
  return out;
}

/** Sends n frames on each of `devices` sockets at once; sends SIGTERM after `after` answers. */
async function burstThenTerm(drainMs: number, devices: number, n: number, after: number) {
  const ref = await packets();
  const s = await startServe(['--model', MODEL, '--port', '0', '--no-mqtt', '--workers', '1', '--drain-timeout', String(drainMs)]);
  const got = new Map<string, FrameResult[]>();
  let answers = 0;
  let termed = false;
  const socks = await Promise.all(Array.from({ length: devices }, (_, d) => new Promise<WebSocket>((res) => {
    const ws = new WebSocket(`ws://127.0.0.1:${s.http}/v1/ws?device=t${d}`);
    ws.once('open', () => res(ws));
    ws.on('close', (c) => process.env.DEBUG_SHUTDOWN && console.log('close', d, c, answers, Date.now()));
    ws.on('message', (data) => {
      const r = JSON.parse(String(data)) as FrameResult;
      const k = `${r.device}/${r.seq}`;
      got.set(k, [...(got.get(k) ?? []), r]);
      if (++answers === after && !termed) {
        termed = true;
        s.proc.kill('SIGTERM');
        // a frame sent once the server is draining, on a connection still open: refused 'draining'
        const poll = setInterval(() => {
          if (!/SIGTERM: draining/.test(s.stderr())) return;
          clearInterval(poll);
          if (process.env.DEBUG_SHUTDOWN) console.log('sending late', answers, Date.now(), ws.readyState);
          ws.send(writeEnvelope({ seq: 10_000, captureMs: 0, deadlineMs: 0 }, ref[0].packet));
        }, 2);
      }
    });
  })));
  for (const [d, ws] of socks.entries()) for (let seq = 0; seq < n; seq++) ws.send(writeEnvelope({ seq, captureMs: 0, deadlineMs: 0 }, ref[seq % ref.length].packet));
  const code = await s.exited;
  return { code, got, ref, stderr: s.stderr() };
}

describe('serve: graceful shutdown', () => {
  it('answers every frame in flight at SIGTERM, refuses new ones, exits 0', async () => {
    const { code, got, ref, stderr } = await burstThenTerm(60_000, 4, 30, 10);
    expect(code, stderr).toBe(0);
    let ok = 0;
    for (let d = 0; d < 4; d++) {
      for (let seq = 0; seq < 30; seq++) {
        const r = got.get(`t${d}/${seq}`);
        expect(r, `t${d}/${seq}`).toHaveLength(1);
        expect(r![0].outcome).toBe('ok');
        expect(r![0].topk).toEqual(ref[seq % ref.length].topk);
        ok++;
      }
    }
    expect(ok).toBe(120);
    const late = [...got.values()].flat().filter((r) => r.seq === 10_000);
    expect(late).toHaveLength(1);
    expect(late[0]).toMatchObject({ outcome: 'refused', error: { code: 'draining' } });
    expect(stderr).toMatch(/SIGTERM: draining/);
  });

  it('past --drain-timeout answers the rest failed (drain-timeout) and still exits 0', async () => {
    const { code, got, stderr } = await burstThenTerm(1, 4, 60, 4);
    expect(code, stderr).toBe(0);
    const outcomes = new Map<string, number>();
    for (let d = 0; d < 4; d++) {
      for (let seq = 0; seq < 60; seq++) {
        const r = got.get(`t${d}/${seq}`);
        expect(r, `t${d}/${seq}`).toHaveLength(1);
        const k = r![0].outcome === 'failed' ? `failed:${r![0].error!.code}` : r![0].outcome;
        outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
      }
    }
    expect(outcomes.get('failed:drain-timeout') ?? 0).toBeGreaterThan(0);
    expect([...outcomes.keys()].every((k) => k === 'ok' || k === 'failed:drain-timeout')).toBe(true);
  });
});
