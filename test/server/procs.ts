/**
 * Child processes for the scale-out and shutdown tests: `slimsplit serve` (the built CLI) and
 * Debian's mosquitto on a free port with a temporary config.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { freePort } from './harness.js';

const ROOT = join(import.meta.dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

export interface Serve {
  proc: ChildProcess;
  http: number;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `slimsplit serve` and waits for the line that says where it listens. */
export function startServe(args: string[]): Promise<Serve> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.stderr!.on('data', (d) => (err += d));
    proc.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ proc, http: JSON.parse(line).listening.http.port, stderr: () => err, exited });
    });
    exited.then((code) => reject(new Error(`serve exited ${code} before listening: ${err}`)));
    setTimeout(() => reject(new Error(`serve did not start in 60 s: ${err}`)), 60_000);
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export function mosquittoPath(): string | undefined {
  for (const p of ['/usr/sbin/mosquitto', '/usr/bin/mosquitto']) if (spawnSync(p, ['-h']).status !== null) return p;
  return undefined;
}

/** Debian's mosquitto 2 on a free loopback port, anonymous, no persistence. */
export async function startMosquitto(dir: string): Promise<{ proc: ChildProcess; port: number; log: () => string }> {
  const bin = mosquittoPath();
  if (!bin) throw new Error('mosquitto is not installed: apt-get install -y mosquitto (.ci/run does)');
  const port = await freePort();
  const conf = join(dir, `mosquitto-${port}.conf`);
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n`);
  const proc = spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout!.on('data', (d) => (log += d));
  proc.stderr!.on('data', (d) => (log += d));
  for (let i = 0; i < 100 && !(await portOpen(port)); i++) await new Promise((r) => setTimeout(r, 50));
  return { proc, port, log: () => log };
}
