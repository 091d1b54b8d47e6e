// `slimsplit device-blob` and `slimsplit inspect --device` through the CLI entry point.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { makeDeviceBlob } from '../../src/device/blob.js';

const ROOT = join(import.meta.dirname, '../..');
const MODEL = join(ROOT, 'weights/see-cifar10.slim');

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

describe('device CLI', () => {
  it('device-blob writes the same bytes as makeDeviceBlob, with --bits and --members', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slimsplit-devcli-'));
    const r = await run(['device-blob', MODEL, '--bits', '1,8', '--members', '1', '-o', join(dir, 'm.sdev')]);
    expect(r.code).toBe(0);
    const want = makeDeviceBlob(new Uint8Array(readFileSync(MODEL)), { bits: [1, 8], members: [1] });
    expect(new Uint8Array(readFileSync(join(dir, 'm.sdev')))).toEqual(want);
    expect(r.out).toContain(`${want.length} bytes`);
    const i = await run(['inspect', join(dir, 'm.sdev')]);
    expect(i.code).toBe(0);
    expect(i.out).toMatch(/device blob of model 'see-cifar10'/);
    expect(i.out).toMatch(/coder tables kept: bits 1 .*bits 8/);
  });

  it('device-blob names a bit depth or members count the model lacks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slimsplit-devcli-'));
    const r = await run(['device-blob', MODEL, '--bits', '3', '-o', join(dir, 'x.sdev')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/--bits 3: model 'see-cifar10' has coder tables for bits 1, 2, 4, 8/);
    const m = await run(['device-blob', MODEL, '--members', '9', '-o', join(dir, 'x.sdev')]);
    expect(m.code).toBe(1);
    expect(m.err).toMatch(/--members 9/);
  });

  it('inspect --device prints memory per mode against the targets', async () => {
    const r = await run(['inspect', '--device', MODEL]);
    expect(r.code).toBe(0);
    const rows = r.out.split('\n').filter((l) => /^\d,\d /.test(l));
    expect(rows).toHaveLength(16);
    expect(rows.find((l) => l.startsWith('1,1 '))).toMatch(/256\.0 met$/);
    expect(rows.find((l) => l.startsWith('4,8 '))).toMatch(/512\.0 over by/);
  });
});
