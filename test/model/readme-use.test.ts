// The README's API snippet, as written, from a fresh project that installed slimsplit: the repo is
// packed (`npm pack`, the files a registry install gets) and the tarball installed into a temp
// project, where the snippet runs under plain node. It needs the registry (or a warm npm cache) for
// the dependencies, so it runs where SLIMSPLIT_PACKAGE_TEST=1 (set by .ci/run) or CI is set.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const enabled = process.env.SLIMSPLIT_PACKAGE_TEST === '1' || !!process.env.CI;
if (!enabled) console.log('test/model/readme-use.test.ts: skipped (set SLIMSPLIT_PACKAGE_TEST=1; .ci/run does)');

function sh(cmd: string, args: string[], cwd: string, timeout = 300_000): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${cwd}: exit ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe.runIf(enabled)('the README API snippet in a project that ran npm install slimsplit', { timeout: 600_000 }, () => {
  it('runs as written: loads a shipped model by name, encodes, decodes, picks a mode', () => {
    expect(existsSync(join(ROOT, 'dist/src/index.js')) && existsSync(join(ROOT, 'build/simd.wasm')), 'npm run build first').toBe(true);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const use = /## API\n+```js\n([\s\S]*?)\n```/.exec(readme);
    expect(use, 'README: an "## API" section starting with a js block').not.toBeNull();
    const snippet = use![1];
    expect(snippet).toMatch(/from 'slimsplit'/);

    const dir = mkdtempSync(join(tmpdir(), 'slimsplit-pack-'));
    // the build is already there (npm test builds first): skip `prepare` rather than build again
    const tarball = sh('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], ROOT).trim().split('\n').at(-1)!;
    const project = join(dir, 'project');
    sh('mkdir', ['-p', project], dir);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'fresh-project', private: true, type: 'module' }));
    sh('npm', ['install', join(dir, tarball), '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], project);
    writeFileSync(join(project, 'use.mjs'), snippet);
    const r = spawnSync(process.execPath, ['use.mjs'], { cwd: project, encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // the snippet prints the decoded label of the shipped cat, then the mode pickMode chose
    expect(r.stdout).toMatch(/^\d+ bytes, members=2, bits=4 -> cat\n/);
    expect(r.stdout).toMatch(/\nfor 100 bytes per frame: members=\d, bits=\d \(expected \d+ B\)\n/);
  });
});
