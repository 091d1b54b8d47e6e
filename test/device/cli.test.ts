/** `slimsplit device` end to end: the CLI against `slimsplit serve` in process, its log and summary. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { startServer, type RunningServer } from '../../src/server/server.js';

let srv: RunningServer;
beforeAll(async () => {
  srv = await startServer({ models: ['weights/see-cifar10.slim'], port: 0, mqttPort: null, workers: 1, processMetrics: false });
}, 60_000);
afterAll(async () => {
  await srv?.close();
});

describe('slimsplit device', () => {
  it('streams a folder, writes one JSON line per frame and prints the summary', async () => {
    const log = join(mkdtempSync(join(tmpdir(), 'dev-')), 'run.jsonl');
    let out = '', err = '';
    const code = await main(['device', '--server', `http://127.0.0.1:${srv.http.port}`, '--frames', 'samples', '--fps', '10', '--deadline', '1000', '--controller', 'fixed:2,4', '--log', log, '--device', 'cli-test'], {
      out: (s) => (out += s),
      err: (s) => (err += s),
    });
    expect(err).toMatch(/frames 10\/10/);
    expect(code).toBe(0);
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.frame).sort((a, b) => Number(a) - Number(b))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const l of lines) {
      expect(l).toMatchObject({ members: 2, bits: 4, outcome: 'ok' });
      expect(typeof l.label).toBe('number');
      expect(l.correct).toBeTypeOf('boolean');
    }
    const correct = lines.filter((l) => l.correct).length;
    // every frame answered ok here, so the right classes received over all 10 frames
    expect(out).toContain(`accuracy ${(100 * correct / 10).toFixed(2)}% right class received`);
    expect(out).toMatch(/deadline misses \d+\.\d\d%/);
    expect(out).toMatch(/time per stage \(mean ms\): encode [\d.]+ {2}uplink [\d.]+/);
  });

  it('says why the server refused frames: the first reason per kind, with the count', async () => {
    // a server whose body limit is below every packet of mode (4, 8) here (~1.7 kB)
    const small = await startServer({ models: ['weights/see-cifar10.slim'], port: 0, mqttPort: null, workers: 1, processMetrics: false, maxBody: 512 });
    try {
      let out = '';
      const code = await main(['device', '--server', `http://127.0.0.1:${small.http.port}`, '--frames', 'samples', '--fps', '20', '--deadline', '1000', '--controller', 'fixed:4,8'], { out: (s) => (out += s), err: () => {} });
      expect(code).toBe(0);
      expect(out).toMatch(/^refused 10 of 10 frames \(first: too-large: frame of \d+ bytes exceeds the server's limit of 512 \(--max-body\)\)$/m);
      expect(out).toContain('deadline misses 100.00%');
    } finally {
      await small.close();
    }
  });

  it("passes --tuning to slim, and names a bad knob before loading anything", async () => {
    const log = join(mkdtempSync(join(tmpdir(), 'dev-')), 'run.jsonl');
    let err = '';
    const io = { out: () => {}, err: (s: string) => (err += s) };
    // a fit of 0 leaves no mode fitting: every frame in the smallest mode, each logged as such
    expect(await main(['device', '--server', `http://127.0.0.1:${srv.http.port}`, '--frames', 'samples', '--fps', '10', '--deadline', '1000', '--controller', 'slim', '--tuning', '{"fit":0,"stallFraction":null}', '--log', log], io)).toBe(0);
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(10);
    for (const l of lines) expect(l).toMatchObject({ members: 1, bits: 1 });
    // the summary says what slim was told of the link's packet: nothing here, 150 B with --link-packet,
    // and with --trace the emulated link's (1,500 B x the scale)
    let out = '';
    const says = { out: (s: string) => (out += s), err: () => {} };
    const base = ['device', '--server', `http://127.0.0.1:${srv.http.port}`, '--frames', 'samples', '--limit', '2', '--fps', '10', '--deadline', '1000'];
    expect(await main(base, says)).toBe(0);
    expect(out).toMatch(/controller slim, link packet not known,/);
    expect(await main([...base, '--link-packet', '150'], says)).toBe(0);
    expect(out).toMatch(/controller slim, link packet 150 B,/);
    const trace = join(mkdtempSync(join(tmpdir(), 'dev-')), 'fast.up');
    writeFileSync(trace, Array.from({ length: 1000 }, (_, t) => `${t}\n${t}\n`).join(''));
    expect(await main([...base, '--trace', trace, '--scale', '1/50'], says)).toBe(0);
    expect(out).toMatch(/controller slim, link packet 30 B,/);
    expect(await main(['device', '--server', `http://127.0.0.1:${srv.http.port}`, '--frames', 'no/such/dir', '--tuning', '{"guardslack":0}'], io)).toBe(1);
    expect(err).toMatch(/unknown tuning knob 'guardslack' \(knobs: fit, sustain, .*guardSlack/);
    expect(await main(['device', '--server', `http://127.0.0.1:${srv.http.port}`, '--frames', 'samples', '--controller', 'ema', '--tuning', '{}'], io)).toBe(1);
    expect(err).toMatch(/--tuning sets slim's knobs; the controller is 'ema'/);
  });

  it('names a bad controller and a missing frames folder', async () => {
    let err = '';
    const io = { out: () => {}, err: (s: string) => (err += s) };
    expect(await main(['device', '--server', `http://127.0.0.1:${srv.http.port}`, '--frames', 'samples', '--controller', 'mpc'], io)).toBe(1);
    expect(err).toMatch(/unknown controller 'mpc' \(fixed:1,1, .* ema, slim\)/);
    expect(await main(['device', '--server', `http://127.0.0.1:${srv.http.port}`, '--frames', 'no/such/dir'], io)).toBe(1);
    expect(err).toMatch(/--frames no\/such\/dir: no such file or folder/);
    expect(await main(['device', '--server', `http://127.0.0.1:${srv.http.port}`, '--frames', 'samples', '--link-packet', '0'], io)).toBe(2);
    expect(err).toMatch(/--link-packet must be a number >= 1/);
  });
});
