/** `slimsplit device` end to end: the CLI against `slimsplit serve` in process, its log and summary. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
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

  it('names a bad controller and a missing frames folder', async () => {
    let err = '';
    const io = { out: () => {}, err: (s: string) => (err += s) };
    expect(await main(['device', '--server', `http://127.0.0.1:${srv.http.port}`, '--frames', 'samples', '--controller', 'mpc'], io)).toBe(1);
    expect(err).toMatch(/unknown controller 'mpc' \(fixed:1,1, .* ema, slim\)/);
    expect(await main(['device', '--server', `http://127.0.0.1:${srv.http.port}`, '--frames', 'no/such/dir'], io)).toBe(1);
    expect(err).toMatch(/--frames no\/such\/dir: no such file or folder/);
  });
});
