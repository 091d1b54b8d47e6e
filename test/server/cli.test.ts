// `slimsplit serve` on the command line: its options, and usage and runtime errors that say what is wrong.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { tinySplitBlob } from './tiny-split.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

describe('slimsplit serve (CLI)', () => {
  it('lists its options', async () => {
    const r = await run(['serve', '--help']);
    expect(r.code).toBe(0);
    for (const o of ['--model', '--host', '--port', '--mqtt-port', '--no-mqtt', '--broker', '--group', '--workers', '--max-queue', '--max-inflight', '--max-body', '--max-connections', '--drain-timeout', '--top-k', '--worker-depth']) {
      expect(r.out).toContain(o);
    }
    expect(r.out.replace(/\s+/g, " ")).toMatch(/--host <addr> .*\(default: "127\.0\.0\.1"\)/);
  });
  it('refuses bad values as usage errors (exit 2) and a missing model as a runtime error (exit 1)', async () => {
    const w = await run(['serve', '--workers', '0']);
    expect(w.code).toBe(2);
    expect(w.err).toMatch(/--workers must be an integer >= 1/);
    const d = await run(['serve', '--worker-depth', '0']);
    expect(d.code).toBe(2);
    expect(d.err).toMatch(/--worker-depth must be an integer >= 1/);
    const m = await run(['serve', '--model', '/nonexistent/x.slim', '--port', '0', '--no-mqtt', '--workers', '1']);
    expect(m.code).toBe(1);
    expect(m.err).toMatch(/cannot read model file '\/nonexistent\/x\.slim'/);
  });
  it('refuses a split model with several outputs (detection heads), naming them', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'serve-cli-')), 'two-heads.slim');
    writeFileSync(file, tinySplitBlob(0, { outputs: [{ name: 'heatmap', shape: [3, 1, 1], offset: 0 }, { name: 'sizes', shape: [2, 1, 1], offset: 3 }] }));
    const r = await run(['serve', '--model', file, '--port', '0', '--no-mqtt', '--workers', '1']);
    expect(r.code).toBe(1);
    expect(r.err).toContain("has 2 outputs (heatmap, sizes); serve answers classifiers");
  });
});
