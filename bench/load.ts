/**
 * What loading a model costs, each figure from fresh Node processes in one run: readBlob, then an
 * encoder and a decoder Runner built from it, time and memory after a GC; "lazy" is how the library
 * loads (the expanded q8 data section written straight into WASM memory), "eager" also makes
 * `blob.data`, the JavaScript copy readBlob used to make on every load.
 *
 *   npx tsx bench/load.ts [weights/see-cifar10-d4.slim] [--runs 3]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);

if (process.argv[2] === '--child') {
  const [, , , file, how] = process.argv;
  const { readBlob } = await import('../src/format/reader.js');
  const { loadEngine } = await import('../src/engine/wasm.js');
  const { Runner } = await import('../src/engine/plan/runner.js');
  const bytes = new Uint8Array(readFileSync(file));
  const t0 = performance.now();
  const blob = readBlob(bytes);
  const t1 = performance.now();
  if (how === 'eager') void blob.data;
  const runners = ['encoder', 'decoder'].map((g) => new Runner(loadEngine(), blob, g));
  const t2 = performance.now();
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  process.stdout.write(JSON.stringify({ readBlobMs: t1 - t0, totalMs: t2 - t0, rssMB: m.rss / 1e6, arrayBuffersMB: m.arrayBuffers / 1e6, runners: runners.length }));
} else {
  const args = process.argv.slice(2);
  const at = args.indexOf('--runs');
  const runs = at >= 0 ? Number(args[at + 1]) : 3;
  const file = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--runs') ?? 'weights/see-cifar10-d4.slim';
  const median = (v: number[]): number => v.slice().sort((p, q) => p - q)[v.length >> 1];
  console.log(`${file}: median of ${runs} fresh processes each (node --expose-gc, tsx)`);
  console.log('| load | readBlob ms | readBlob + encoder + decoder ms | RSS MB | array buffers MB |\n| --- | --- | --- | --- | --- |');
  for (const how of ['lazy', 'eager']) {
    const rs: Array<Record<string, number>> = [];
    for (let k = 0; k < runs; k++) {
      rs.push(JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', self, '--child', file, how], { encoding: 'utf8' })));
    }
    const col = (k: string): string => median(rs.map((r) => r[k])).toFixed(1);
    console.log(`| ${how} | ${col('readBlobMs')} | ${col('totalMs')} | ${col('rssMB')} | ${col('arrayBuffersMB')} |`);
  }
}
