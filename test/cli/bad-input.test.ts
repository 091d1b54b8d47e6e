// Bad input through the command line: a reader that closes the pipe early, the README's quick start
// on a checkout, arguments that are out of range or not numbers, packets for modes the model lacks,
// and sample folders holding files that are not images. Each ends with a named error and exit code
// (or, for a closed pipe, quietly), never a stack trace.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { loadModel, readPacket, writePacket } from '../../src/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const TMP = mkdtempSync(join(tmpdir(), 'slimsplit-cli-bad-'));
const DIST = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const SRC = join(ROOT, 'src', 'cli', 'main.ts');
// The built bin when it is newer than the source, else the source through tsx (as test/cli.test.ts).
const fresh = existsSync(DIST) && statSync(DIST).mtimeMs >= statSync(SRC).mtimeMs;
const BIN = fresh ? `'${process.execPath}' '${DIST}'` : `'${join(ROOT, 'node_modules/.bin/tsx')}' '${SRC}'`;

function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  return main(argv, { out: (s) => void (out += s), err: (s) => void (err += s) }).then((code) => ({ code, out, err }));
}

/** Runs `cmd` under bash; returns the first pipeline member's exit status, stdout and its stderr file. */
function pipeline(cmd: string, env: NodeJS.ProcessEnv = process.env): { status: number; out: string; err: string } {
  const errFile = join(TMP, `err-${Math.random().toString(36).slice(2)}.txt`);
  const r = spawnSync('bash', ['-c', `${cmd.replace('%ERR%', errFile)}; echo "status=\${PIPESTATUS[0]}"`], { cwd: ROOT, encoding: 'utf8', env, timeout: 240_000 });
  const m = /status=(\d+)\s*$/.exec(r.stdout);
  if (!m) throw new Error(`test: no status from ${cmd}: ${r.stdout} ${r.stderr}`);
  return { status: Number(m[1]), out: r.stdout.slice(0, m.index), err: existsSync(errFile) ? readFileSync(errFile, 'utf8') : '' };
}

describe('a reader that closes the pipe early', () => {
  it.each([
    ['demo | head -1', `${BIN} demo 2>%ERR% | head -1`],
    ['bench | head -1', `${BIN} bench --rounds 2 2>%ERR% | head -1`],
    ['demo 2>&1 | head -2', `${BIN} demo 2>&1 | head -2`],
    ['inspect | head -1', `${BIN} inspect weights/see-cifar10.slim 2>%ERR% | head -1`],
  ])('%s exits 0 without a stack trace', (_name, cmd) => {
    const r = pipeline(cmd);
    expect(r.err).toBe('');
    expect(r.out).not.toMatch(/Error|EPIPE|at .*\.js/);
    expect(r.out.trim().length).toBeGreaterThan(0);
    expect(r.status).toBe(0);
  });
});

describe("the README's quick start on a checkout", () => {
  it('runs the built CLI without reinstalling or rebuilding the checkout, and the demo talks first', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const setup = /## Install and quick start\n[\s\S]*?```sh\n([^\n]*)\n/.exec(readme);
    expect(setup, 'README: an "## Install and quick start" section with a sh block').not.toBeNull();
    const m = /^npm install && (.+?)\s+#/.exec(setup![1]);
    expect(m, `README quick start is 'npm install && <command>  # ...', got: ${setup![1]}`).not.toBeNull();
    const cmd = m![1];
    // What the command must not do: install the checkout into a cache and run its `prepare` (the
    // whole build) again. An empty npm cache with no network lets such an install fail, and the
    // build outputs must keep their times.
    const stamp = (f: string) => statSync(join(ROOT, f)).mtimeMs;
    const before = ['build/simd.wasm', 'build/scalar.wasm', 'dist/src/cli/main.js'].map(stamp);
    const env = { ...process.env, npm_config_cache: mkdtempSync(join(tmpdir(), 'slimsplit-npm-cache-')), npm_config_offline: 'true', npm_config_yes: 'true' };
    const r = pipeline(`${cmd} 2>%ERR%`, env);
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    const lines = r.out.split('\n').filter((l) => l && !l.startsWith('>'));
    expect(lines[0]).toMatch(/^slimsplit demo: loading model .*see-cifar10\.slim and the samples in .*samples/);
    expect(r.out).toMatch(/accuracy on the 10 samples per mode: members=1,bits=1 \d+\/10/);
    expect(['build/simd.wasm', 'build/scalar.wasm', 'dist/src/cli/main.js'].map(stamp)).toEqual(before);
  });
});

describe('arguments out of range or not numbers', () => {
  it('--rounds is capped: a huge count is a usage error naming the cap', async () => {
    for (const v of ['100000000000000000000', '1001', '1e20']) {
      const r = await run(['bench', '--rounds', v]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/--rounds must be an integer from 1 to 1000/);
    }
  });

  it.each([
    ['members=-1', /members=-1: members must be a positive integer, got '-1'/],
    ['members=1.5', /members=1.5: members must be a positive integer, got '1.5'/],
    ['bits=x', /bits=x: bits must be a positive integer, got 'x'/],
    ['members=', /members=: members must be a positive integer, got ''/],
    ['depth=2', /'depth=2' is not axis=value with axis members, width or bits/],
  ])('--modes %s says what is wrong with it', async (term, msg) => {
    const r = await run(['demo', '--modes', term]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(msg);
    const e = await run(['encode', join(ROOT, 'samples/cat.jpg'), '--mode', term, '-o', join(TMP, 'x.pkt')]);
    expect(e.code).toBe(2);
    expect(e.err).toMatch(msg);
  });
});

describe('packets and samples that do not fit the model', () => {
  it('inspect of a full packet for a mode the model lacks says the mode is missing; decode refuses it', async () => {
    const model = await loadModel(join(ROOT, 'weights', 'see-cifar10.slim'));
    const p = readPacket(model.encoder().encode(join(ROOT, 'samples', 'dog.jpg')));
    const file = join(TMP, 'mode9.pkt');
    writeFileSync(file, writePacket({ ...p.fields, mode: [9, 4] }, p.payload));
    const r = await run(['inspect', file]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/mode: \[9, 4\] \(members=9, bits=4\): NOT a mode of .*see-cifar10\.slim \(members takes 1, 2, 3, 4; bits takes 1, 2, 4, 8\)/);
    expect(r.out).not.toMatch(/checksum ok$/m);
    const j = JSON.parse((await run(['inspect', '--json', file])).out);
    expect(j.model.modeKnown).toBe(false);
    const d = await run(['decode', file]);
    expect(d.code).toBe(1);
    expect(d.err).toMatch(/packet mode members=9, bits=4 is not a mode of model 'see-cifar10'/);
    // a packet of a real mode says so
    const good = join(TMP, 'good.pkt');
    writeFileSync(good, writePacket(p.fields, p.payload));
    const g = await run(['inspect', good]);
    expect(g.out).toMatch(/mode: \[4, 8\] \(members=4, bits=8\), a mode of .*see-cifar10\.slim/);
  });

  it('demo --samples with a file that is not an image names the file', async () => {
    const dir = join(TMP, 'samples-bad');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(ROOT, 'samples', 'cat.jpg'), join(dir, 'cat.jpg'));
    writeFileSync(join(dir, 'dog.jpg'), 'this is text, not a JPEG');
    const r = await run(['demo', '--samples', dir]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`sample image ${join(dir, 'dog.jpg').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: .*not a JPEG or PNG file`));
  });
});
