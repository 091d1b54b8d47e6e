// The `slimsplit` CLI: the built bin (help, exit codes), every subcommand with a stand-in model whose
// answers are known (test/standin.ts), and (when the trained weights exist) the real model end to end.
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import type { ModelLoader } from '../../src/cli/common.js';
import { fakeModel, guess, redPng, writeMiniTar } from '../standin.js';
import { table } from '../../src/eval/report.js';
import { CLASSES } from '../../src/eval/cifar.js';
import { decodeImage } from '../../src/model/image.js';
import { jpegStrippedBytes } from '../../src/model/jpeg.js';
import { writeBlob } from '../../src/format/writer.js';
import { writePacket, readPacket } from '../../src/codec/packet.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TMP = mkdtempSync(join(tmpdir(), 'slimsplit-cli-'));
const SHARED_TAR = join(ROOT, '..', 'shared', 'datasets', 'cifar10-jpeg', 'test.tar.gz');
/** a node start under a loaded machine (and tsx compiling the source when dist is stale) is slow */
const SPAWN_MS = 300_000;

const fakeLoader: ModelLoader = async () => fakeModel();
/** Any existing file stands for the blob: the stand-in loader ignores its bytes. */
const FAKE_BLOB = join(TMP, 'fake.slim');
writeFileSync(FAKE_BLOB, 'not a blob');
const M = ['--model', FAKE_BLOB];

/** Runs the CLI in-process; `load` null means the real src/model/model.ts loader. */
function run(argv: string[], load: ModelLoader | null = fakeLoader): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  return main(argv, { out: (s) => void (out += s), err: (s) => void (err += s) }, load ?? undefined).then((code) => ({ code, out, err }));
}

// ------------------------------------------------------------------------------------------------

describe('the bin', () => {
  // The built file when it is newer than the source, else the source through tsx.
  const dist = join(ROOT, 'dist/src/cli/main.js');
  const fresh = existsSync(dist) && statSync(dist).mtimeMs >= statSync(join(ROOT, 'src/cli/main.ts')).mtimeMs;
  const cmd = fresh ? [process.execPath, dist] : [join(ROOT, 'node_modules/.bin/tsx'), join(ROOT, 'src/cli/main.ts')];
  const spawn = (args: string[], cwd = TMP) => spawnSync(cmd[0], [...cmd.slice(1), ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  beforeAll(() => {
    if (!fresh) console.log('test/cli/cli.test.ts: dist/src/cli/main.js is missing or older than src/cli/main.ts; spawning src/cli/main.ts through tsx (run `npm run build` to test the built bin)');
  });

  it('starts with a shebang and prints help for every subcommand with exit code 0', () => {
    expect(readFileSync(join(ROOT, 'src/cli/main.ts'), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    if (fresh) expect(readFileSync(dist, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    // `npx slimsplit` in a fresh clone runs the file itself (npm links no bin for the root package)
    if (fresh && process.platform !== 'win32') expect(statSync(dist).mode & 0o111, 'dist/src/cli/main.js must be executable').toBe(0o111);
    const r = spawn(['--help']);
    expect(r.status).toBe(0);
    for (const c of ['encode', 'decode', 'inspect', 'pack', 'eval', 'demo', 'bench']) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    const e = spawn(['encode', '--help']);
    expect(e.status).toBe(0);
    expect(e.stdout).toContain('--mode <mode>');
    expect(e.stdout).toContain("weights/see-cifar10.slim");
  }, SPAWN_MS);

  it('exits 2 on a usage error and 1 on a runtime error, saying what to do', () => {
    const u = spawn(['encode', 'x.jpg', '--mode', 'members=two', '-o', 'p.pkt']);
    expect(u.status).toBe(2);
    expect(u.stderr).toContain("members=two: members must be a positive integer, got 'two'");
    writeFileSync(join(TMP, 'p.pkt'), new Uint8Array(4));
    const n = spawn(['decode', 'p.pkt', '--model', 'nope.slim']);
    expect(n.status).toBe(1);
    expect(n.stderr).toContain('model file not found: nope.slim (run from the repo root or pass --model <file.slim>)');
  }, SPAWN_MS);

  it('resolves the samples and default model from the package root, not the cwd', () => {
    const r = spawn(['demo', '--help'], '/');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(join(ROOT, 'samples'));
  }, SPAWN_MS);
});

describe('exit codes in-process', () => {
  it('unknown command, no command, missing argument: 2; missing file: 1', async () => {
    expect((await run(['frobnicate'])).code).toBe(2);
    expect((await run([])).code).toBe(2);
    expect((await run(['decode'])).code).toBe(2);
    expect((await run(['--version'])).code).toBe(0);
    const m = await run(['decode', join(TMP, 'absent.pkt'), ...M]);
    expect([m.code, m.err]).toEqual([1, expect.stringContaining('packet file not found: ')]);
    const d = await run(['demo', '--model', join(TMP, 'absent.slim')]);
    expect([d.code, d.err]).toEqual([1, expect.stringContaining(`model file not found: ${join(TMP, 'absent.slim')}`)]);
  });
});

describe('tables', () => {
  it('aligns tables: text left, numbers right', () => {
    expect(table(['mode', 'B'], [['a', '5'], ['bcd', '123.5']])).toBe('mode      B\n----  -----\na         5\nbcd   123.5\n');
    expect(table(['x', 'n'], [['1', 'a'], ['22', '-']])).toBe(' x  n\n--  -\n 1  a\n22  -\n');
  });
});

describe('inspect and pack', () => {
  const blobPath = join(TMP, 'tiny.slim');
  const pktPath = join(TMP, 'p2.pkt');
  beforeAll(() => {
    writeFileSync(blobPath, writeBlob({
      name: 'tiny', json: JSON.stringify({ classes: ['a', 'b'] }), input: { shape: [3, 8, 8], mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
      axes: [{ name: 'members', values: [1, 2] }, { name: 'bits', values: [2, 4, 8] }],
      tensors: [{ name: 'w', dtype: 'f32', shape: [2, 3], data: new Float32Array(6) }, { name: 't', dtype: 'u16', shape: [5], data: new Uint16Array(5) }],
      graphs: [],
    }));
    writeFileSync(pktPath, writePacket({ modelId: 0x12345678, mode: [2, 4], shape: [32, 8, 8], quant: { kind: 'implied' } }, new Uint8Array(100)));
  });

  it('shows a blob: name, input, axes and mode count, classes, tensors', async () => {
    const r = await run(['inspect', blobPath]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("model 'tiny'");
    expect(r.out).toContain('input: [3, 8, 8], mean [0.5000, 0.5000, 0.5000], std [0.2500, 0.2500, 0.2500]');
    expect(r.out).toContain('modes: members [1, 2] x bits [2, 4, 8] = 6 modes');
    expect(r.out).toContain('classes: a, b');
    expect(r.out).toContain('tensors: 2, 34 bytes (f32 6 values, u16 5 values)');
    const j = JSON.parse((await run(['inspect', '--json', blobPath])).out);
    expect([j.kind, j.modes, j.tensors.count, j.axes.bits]).toEqual(['blob', 6, 2, [2, 4, 8]]);
  });

  it('shows a packet: sizes, mode, shape, and whether it is for a given model', async () => {
    const r = await run(['inspect', pktPath, '--model', blobPath]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('packet v1, 115 bytes (header 13 + payload 100 + checksum 2)');
    expect(r.out).toContain('mode: [2, 4] (members=2, bits=4)');
    expect(r.out).toContain('tensor: [32, 8, 8] = 2048 values, 0.391 bits each');
    expect(r.out).toMatch(/model id: 0x12345678 \(NOT .*tiny\.slim, which is 0x[0-9a-f]{8}\)/);
    const j = JSON.parse((await run(['inspect', '--json', pktPath])).out);
    expect([j.kind, j.headerBytes, j.payloadBytes, j.mode]).toEqual(['packet', 13, 100, [2, 4]]);
  });

  it('shows a JPEG segment table with the stripped size; refuses unknown and damaged files', async () => {
    const r = await run(['inspect', join(ROOT, 'samples/cat.jpg')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^SOF0 +\d+ +19$/m);
    const stripped = jpegStrippedBytes(readFileSync(join(ROOT, 'samples/cat.jpg')));
    expect(r.out).toContain(`header-stripped: ${stripped} bytes`);
    writeFileSync(join(TMP, 'junk.bin'), 'hello');
    const u = await run(['inspect', join(TMP, 'junk.bin')]);
    expect([u.code, u.err]).toEqual([1, expect.stringContaining('not a .slim blob, a packet, a JPEG or a PNG (starts with 68 65 6c 6c)')]);
    const cut = readFileSync(pktPath).subarray(0, 50);
    writeFileSync(join(TMP, 'cut.pkt'), cut);
    const c = await run(['inspect', join(TMP, 'cut.pkt')]);
    expect(c.code).toBe(1);
    expect(c.err).toContain('packet: payload length 100');
  });

  it('pack reports missing files and bad JSON with exit code 1, a missing -o with 2', async () => {
    expect((await run(['pack', 'a.json', 'b.bin'])).code).toBe(2);
    const m = await run(['pack', join(TMP, 'none.json'), join(TMP, 'none.bin'), '-o', join(TMP, 'o.slim')]);
    expect([m.code, m.err]).toEqual([1, expect.stringContaining('graph JSON not found')]);
    writeFileSync(join(TMP, 'bad.json'), '{ nope');
    const b = await run(['pack', join(TMP, 'bad.json'), join(TMP, 'none.bin'), '-o', join(TMP, 'o.slim')]);
    expect([b.code, b.err]).toEqual([1, expect.stringContaining('bad.json is not valid JSON')]);
    writeFileSync(join(TMP, 'g.json'), '{"name": 5}');
    writeFileSync(join(TMP, 't.bin'), new Uint8Array(8));
    const g = await run(['pack', join(TMP, 'g.json'), join(TMP, 't.bin'), '-o', join(TMP, 'o.slim')]);
    expect(g.code).toBe(1);
    expect(g.err).toMatch(/^slimsplit: pack: /);
  });
});

describe('encode, decode, demo, bench with a stand-in model', () => {
  it('encode writes a packet that decode reads back to the same class', async () => {
    const img = join(TMP, 'red200.png');
    writeFileSync(img, redPng(200, 3));
    const pkt = join(TMP, 'red200.pkt');
    const e = await run(['encode', img, '--mode', 'members=2,bits=2', '-o', pkt, ...M]);
    expect(e.code).toBe(0);
    expect(e.out).toMatch(/red200\.pkt: 20 bytes, mode members=2,bits=2, 32x32 image, encoder [\d.]+ ms/);
    expect(readFileSync(pkt).length).toBe(20);
    const d = await run(['decode', pkt, ...M]);
    expect(d.code).toBe(0);
    expect(d.out).toMatch(/^horse \(class 7\), mode members=2,bits=2, 20 bytes/); // floor(10 * 200 / 255) = 7
    const j = JSON.parse((await run(['decode', pkt, '--json', ...M])).out);
    expect([j.top1, j.label, j.bytes, j.top[0].label]).toEqual([7, 'horse', 20, 'horse']);
    expect(j.top[0].prob).toBeGreaterThan(0.9);
  });

  it('encode refuses a mode the model lacks (exit 2, listing the choices)', async () => {
    const r = await run(['encode', join(ROOT, 'samples/cat.jpg'), '--mode', 'members=3', '-o', join(TMP, 'x.pkt'), ...M]);
    expect([r.code, r.err]).toEqual([2, expect.stringContaining('members=3 is not a mode of this model (members takes 1, 2)')]);
    const w = await run(['encode', join(ROOT, 'samples/cat.jpg'), '--mode', 'width=8', '-o', join(TMP, 'x.pkt'), ...M]);
    expect([w.code, w.err]).toEqual([2, expect.stringContaining('this model has no width axis (its axes: members, bits)')]);
  });

  it('demo runs every sample through every mode and ends with the accuracy per mode', async () => {
    const r = await run(['demo', ...M]);
    expect(r.code).toBe(0);
    // the expected counts, computed here from the stand-in's rule
    const right2 = CLASSES.filter((c) => guess(decodeImage(readFileSync(join(ROOT, `samples/${c}.jpg`)))) === CLASSES.indexOf(c)).length;
    expect(r.out.match(/^\S+\.jpg \(true class: \w+\)$/gm)!.length).toBe(10);
    expect(r.out.match(/^ {2}members=\d,bits=\d +\d+ +[\d.]+ +\w+ +(ok|wrong)$/gm)!.length).toBe(40);
    expect(r.out.trimEnd().split('\n').at(-1)).toBe(
      `accuracy on the 10 samples per mode: members=1,bits=2 1/10; members=1,bits=8 1/10; members=2,bits=2 ${right2}/10; members=2,bits=8 ${right2}/10`,
    );
    const f = await run(['demo', '--modes', 'members=1,bits=8', ...M]);
    expect(f.out.trimEnd().split('\n').at(-1)).toBe('accuracy on the 10 samples per mode: members=1,bits=8 1/10');
  });

  it('bench prints a row per mode with the packet size', async () => {
    const r = await run(['bench', '--rounds', '1', '--modes', 'bits=8', ...M]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^members=1,bits=8 +24\.0 /m);
    expect(r.out).toMatch(/^members=2,bits=8 +32\.0 /m);
    expect(r.out).not.toMatch(/^members=\d,bits=2/m);
    expect((await run(['bench', '--rounds', '0'])).code).toBe(2);
  });
});


describe('eval from a tarball', () => {
  const tarPath = join(TMP, 'mini.tar.gz');
  beforeAll(() => writeMiniTar(tarPath));

  it('eval prints the three tables and writes JSON and SVG', async () => {
    const json = join(TMP, 'eval.json'), svg = join(TMP, 'rate.svg'), base = join(TMP, 'baseline.slim');
    writeFileSync(base, 'the stand-in loader ignores these bytes');
    const r = await run(['eval', '--data', tarPath, '--limit', '10', '--qualities', '20,80', '--json', json, '--svg', svg, '--baseline', base, ...M]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^fake: 10 images/);
    expect(r.out).toMatch(/^members=2,bits=8 +[\d.]+% +32\.0 +32 /m);
    expect(r.out).toMatch(/^quality +top-1 +file B +stripped B$/m);
    expect(r.out).toMatch(/^mode +top-1 +mean B +JPEG stripped B +ratio +JPEG file B +ratio$/m);
    const j = JSON.parse(readFileSync(json, 'utf8'));
    expect([j.images, j.modes.length, j.jpeg.length]).toEqual([10, 4, 2]);
    expect(readFileSync(svg, 'utf8').match(/<circle class="pt"/g)!.length).toBe(4 + 2 + 2);
    const nb = await run(['eval', '--data', tarPath, '--limit', '2', '--no-baseline', ...M]);
    expect(nb.code).toBe(0);
    expect(nb.out).not.toContain('JPEG baseline');
    const miss = await run(['eval', '--data', join(TMP, 'nope.tar.gz')]);
    expect([miss.code, miss.err]).toEqual([1, expect.stringContaining('data file not found')]);
    expect((await run(['eval'])).code).toBe(2);
  });
});

// ------------------------------------------------------------------------------------------------
// The shipped model (weights/see-cifar10.slim)
// ------------------------------------------------------------------------------------------------

const MODEL = join(ROOT, 'weights/see-cifar10.slim');

describe('with the trained model', () => {
  it('demo runs every mode on the samples and most predictions of the largest mode are right', async () => {
    const r = await run(['demo'], null);
    expect(r.code).toBe(0);
    const last = r.out.trimEnd().split('\n').at(-1)!;
    const counts = [...last.matchAll(/(\d+)\/10/g)].map((m) => Number(m[1]));
    expect(counts.length).toBeGreaterThanOrEqual(4);
    expect(counts.at(-1)).toBeGreaterThanOrEqual(7);
    // the simulated link: one row per frame, each packet within its budget unless flagged
    const frames = [...r.out.matchAll(/^\s+(\d+)\s+(\d+)\s+members=\d,bits=\d\s+(\d+)\s+(over budget)?/gm)];
    expect(frames.length).toBe(8);
    for (const f of frames) if (!f[4]) expect(Number(f[3]), `frame ${f[1]}`).toBeLessThanOrEqual(Number(f[2]) * 1.1);
    expect(frames.some((f) => f[4])).toBe(true); // the 60-byte frame: no mode is that small
  });

  it('encode then decode agrees with the in-memory round trip', async () => {
    const pkt = join(TMP, 'cat.pkt');
    const e = await run(['encode', join(ROOT, 'samples/cat.jpg'), '--mode', 'members=1', '-o', pkt], null);
    expect(e.code).toBe(0);
    const d = await run(['decode', pkt, '--json'], null);
    expect(d.code).toBe(0);
    const j = JSON.parse(d.out);
    expect(j.mode.members).toBe(1);
    expect(j.bytes).toBe(readFileSync(pkt).length);
    const i = await run(['inspect', pkt], null);
    expect(i.out).toContain('(matches');
  });

  it('encode --compact writes a 4-byte-overhead packet that decode and inspect read (inspect needs the model)', async () => {
    const full = join(TMP, 'cat-full.pkt'), small = join(TMP, 'cat-compact.pkt');
    expect((await run(['encode', join(ROOT, 'samples/cat.jpg'), '--mode', 'members=1,bits=1', '-o', full], null)).code).toBe(0);
    const e = await run(['encode', join(ROOT, 'samples/cat.jpg'), '--mode', 'members=1,bits=1', '--compact', '-o', small], null);
    expect(e.code).toBe(0);
    expect(e.out).toMatch(/cat-compact\.pkt: \d+ bytes \(compact packet\), mode members=1,bits=1/);
    expect(readFileSync(full).length - readFileSync(small).length).toBe(11);
    const a = JSON.parse((await run(['decode', full, '--json'], null)).out), b = JSON.parse((await run(['decode', small, '--json'], null)).out);
    expect(b.label).toBe(a.label);
    expect(b.logits).toEqual(a.logits);
    const i = await run(['inspect', small], null);
    expect(i.out).toMatch(/compact packet, \d+ bytes \(tag 1 \+ mode 1 \+ payload \d+ \+ checksum 2\)/);
    expect(i.out).toMatch(/checksum ok for .*see-cifar10\.slim/);
    expect(i.out).toContain('mode byte 0: members=1,bits=1');
    const bad = readFileSync(small);
    bad[3] ^= 1;
    writeFileSync(small, bad);
    const d = await run(['inspect', small], null);
    expect(d.code).toBe(1);
    expect(d.err).toMatch(/checksum mismatch/);
    const budget = await run(['encode', join(ROOT, 'samples/cat.jpg'), '--max-bytes', '100', '--max-members', '1', '--compact', '-o', small], null);
    expect(budget.out).toMatch(/mode members=1,bits=1 \(picked for <= 100 bytes/);
    expect(budget.err).toBe('');
  });

  it('encode --max-bytes picks the mode from the table, and wants exactly one of --mode and --max-bytes', async () => {
    const pkt = join(TMP, 'budget.pkt');
    const e = await run(['encode', join(ROOT, 'samples/cat.jpg'), '--max-bytes', '250', '--max-members', '1', '-o', pkt], null);
    expect(e.code).toBe(0);
    expect(e.out).toMatch(/mode members=1,bits=2 \(picked for <= 250 bytes: expected \d+, reference top-1 [\d.]+%\)/);
    expect(readPacket(readFileSync(pkt)).fields.mode).toEqual([1, 2]);
    const none = await run(['encode', join(ROOT, 'samples/cat.jpg'), '--max-bytes', '20', '-o', pkt], null);
    expect(none.code).toBe(0);
    expect(none.err).toMatch(/no mode is expected to fit 20 bytes; sending the smallest \(members=1,bits=1/);
    expect((await run(['encode', join(ROOT, 'samples/cat.jpg'), '-o', pkt], null)).code).toBe(2);
    expect((await run(['encode', join(ROOT, 'samples/cat.jpg'), '--mode', 'members=1', '--max-bytes', '99', '-o', pkt], null)).code).toBe(2);
  });

  it('inspect prints the mode table of a split model (expected bytes and reference top-1 per mode)', async () => {
    const r = await run(['inspect', MODEL], null);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/coder contexts \(left, up, previous channel\): bits=1: K=2 \(8 tables per channel\); bits=2: K=4 \(64 tables per channel\)/);
    // the 4x4 model names its neighbours per bit depth (diagonal ones at 1 and 2 bits)
    const d4 = await run(['inspect', join(ROOT, 'weights/see-cifar10-d4.slim')], null);
    expect(d4.out).toMatch(/coder contexts: bits=1: left, up, up-left, up-right, K=2 \(16 tables per channel\); bits=2: left, up, up-left, up-right, K=2 \(16 tables per channel\); bits=4: left, up, up-left, up-right, K=3 \(81 tables per channel\); bits=8: left, up, up-left, up-right, K=3 \(81 tables per channel\)/);
    // tables as wide as the learned levels plus escape and end: 2, 2, 3 and 4 symbols
    expect(d4.out).toMatch(/coder: 4 table tensors \(coder.bits1 1024x4, coder.bits2 1024x4, coder.bits4 5184x5, coder.bits8 5184x6\)/);
    expect(d4.out).toMatch(/^split: 16 channels of 4x4 per member$/m);
    const d4r = await run(['inspect', join(ROOT, 'weights/see-cifar10-d4r.slim')], null);
    expect(d4r.out).toMatch(/^split: 16 channels of 4x4 per member; members past 1 refine the first member's channels instead of sending their own$/m);
    const rows = [...r.out.matchAll(/^members=(\d),bits=(\d)\s+(\d+)\s+([\d.]+)%$/gm)];
    expect(rows.length).toBe(16);
    const j = JSON.parse((await run(['inspect', '--json', MODEL], null)).out);
    expect(j.modeTable.map((m: { expectedBytes: number }) => m.expectedBytes)).toEqual(rows.map((m) => Number(m[3])));
  });

  it.skipIf(!existsSync(SHARED_TAR))('eval on 20 test images: every mode beats chance, bytes grow with bits', async () => {
    const json = join(TMP, 'real.json');
    const baseline = existsSync(join(ROOT, 'weights/jpeg-baseline.slim')) ? ['--qualities', '50'] : ['--no-baseline'];
    const r = await run(['eval', '--data', SHARED_TAR, '--limit', '20', '--json', json, ...baseline], null);
    expect(r.code).toBe(0);
    const j = JSON.parse(readFileSync(json, 'utf8'));
    expect(j.images).toBe(20);
    for (const m of j.modes) expect(m.acc).toBeGreaterThan(0.2);
    const one = j.modes.filter((m: { members: number }) => m.members === 1).sort((a: { bits: number }, b: { bits: number }) => a.bits - b.bits);
    for (let k = 1; k < one.length; k++) expect(one[k].meanBytes).toBeGreaterThan(one[k - 1].meanBytes);
  });
});
