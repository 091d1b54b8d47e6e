/**
 * The full rate-accuracy evaluation on both cores: the split model's 16 modes in one process and the
 * JPEG baseline's qualities in another (`slimsplit eval` each), merged into one report, JSON and chart.
 *
 *   npm run eval:full            # all 10,000 test images; ~15 min on 2 idle cores
 *   npm run eval:full -- --limit 1000
 *
 * Writes bench/results/eval.json and docs/rate-accuracy.svg.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { matchOnCurve, type EvalResult } from '../src/eval.js';
import { evalReport, evalSeries, torchComparison } from '../src/cli.js';
import { rateAccuracySvg } from '../src/chart.js';
import { loadModel } from '../src/model.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DATA = join(ROOT, '..', 'shared', 'datasets', 'cifar10-jpeg', 'test.tar.gz');
const QUALITIES = '5,10,15,20,25,30,40,50,60,70,80,90,95';

function run(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, 'dist/src/cli.js'), 'eval', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`slimsplit eval ${args.join(' ')} exited ${code}`))));
  });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--limit');
  const limit = i >= 0 ? ['--limit', argv[i + 1]] : [];
  const data = argv.includes('--data') ? argv[argv.indexOf('--data') + 1] : DATA;
  const tmp = join(ROOT, 'bench/results');
  mkdirSync(tmp, { recursive: true });
  const a = join(tmp, 'eval-modes.part.json'), b = join(tmp, 'eval-jpeg.part.json');
  const t0 = Date.now();
  await Promise.all([
    run(['--data', data, ...limit, '--no-baseline', '--json', a]),
    run(['--data', data, ...limit, '--modes', 'members=1,bits=1', '--qualities', QUALITIES, '--json', b]),
  ]);
  const ra = JSON.parse(readFileSync(a, 'utf8')) as EvalResult;
  const rb = JSON.parse(readFileSync(b, 'utf8')) as EvalResult;
  const r: EvalResult = { ...ra, jpeg: rb.jpeg, baselineClean: rb.baselineClean, seconds: (Date.now() - t0) / 1000 };
  for (const m of r.modes) {
    const stripped = matchOnCurve(r.jpeg.map((j) => ({ bytes: j.meanStrippedBytes, acc: j.acc })), m.acc, m.meanBytes);
    const full = matchOnCurve(r.jpeg.map((j) => ({ bytes: j.meanBytes, acc: j.acc })), m.acc, m.meanBytes);
    if (stripped && full) m.vsJpeg = { stripped, full };
  }
  const model = await loadModel(join(ROOT, 'weights/see-cifar10.slim'));
  const torch = torchComparison(model, r);
  process.stdout.write(evalReport(r) + (torch ? torch.text : ''));
  writeFileSync(join(tmp, 'eval.json'), JSON.stringify(torch ? { ...r, pytorch: torch.rows } : r, null, 2) + '\n');
  writeFileSync(join(ROOT, 'docs/rate-accuracy.svg'), rateAccuracySvg(evalSeries(r), { title: `${r.model.name}: top-1 vs bytes per image (${r.images} test images, ${r.packet} packets)` }));
  console.log('wrote bench/results/eval.json and docs/rate-accuracy.svg');
}

await main();
