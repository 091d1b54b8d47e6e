/**
 * The full rate-accuracy evaluation on both cores: a split model's 16 modes in one process and the
 * JPEG baseline's qualities in another (`slimsplit eval` each), merged into one report, JSON and chart.
 *
 *   npm run eval:full                       # the 16x16 model, all 10,000 test images; ~22 min on 2 cores
 *   npm run eval:full -- --limit 1000
 *   npm run eval:full -- --model weights/see-cifar10-d8.slim --jpeg-from bench/results/eval.json
 *   npx tsx bench/eval-full.ts --chart-only  # redraw the chart from the saved reports
 *
 * --jpeg-from takes the JPEG baseline's rows from an earlier report on the same images (the baseline
 * is deterministic: same files, same jpeg-js encoder, same classifier blob) and splits the modes over
 * the two processes instead.
 *
 * Writes bench/results/eval.json (the default model) or eval-<model name>.json, and
 * docs/rate-accuracy.svg with every model's report found there, on the same axes.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { matchOnCurve, type EvalResult } from '../src/eval.js';
import { evalReport, evalSeries, torchComparison } from '../src/cli.js';
import type { ChartSeries } from '../src/chart.js';
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

// Each shipped model's report, in the order the combined chart lists them.
// One hue per model, darker with more members, so that 12 model series stay readable (the chart's
// default palette has 10 colours).
const REPORTS = [
  { file: 'eval.json', label: '16x16', shades: ['#9ecae1', '#6baed6', '#3182bd', '#08519c'] },
  { file: 'eval-see-cifar10-d8.json', label: '8x8', shades: ['#a1d99b', '#74c476', '#31a354', '#006d2c'] },
  { file: 'eval-see-cifar10-d4.json', label: '4x4', shades: ['#fdae6b', '#fd8d3c', '#e6550d', '#a63603'] },
];
const JPEG_COLORS = ['#000000', '#999999'];

/** One chart for every report present: each model's modes by members, then JPEG once. */
function writeChart(): void {
  const series: ChartSeries[] = [];
  let jpeg: ChartSeries[] = [];
  const names: string[] = [];
  let images = 0;
  for (const { file, label, shades } of REPORTS) {
    const path = join(ROOT, 'bench/results', file);
    if (!existsSync(path)) continue;
    const r = JSON.parse(readFileSync(path, 'utf8')) as EvalResult;
    const s = evalSeries(r);
    series.push(...s.filter((x) => !x.name.startsWith('JPEG')).map((x, i) => ({ ...x, name: x.name.replace('slimsplit', `${label} split`), color: shades[i % shades.length] })));
    if (!jpeg.length) jpeg = s.filter((x) => x.name.startsWith('JPEG')).map((x, i) => ({ ...x, color: JPEG_COLORS[i % JPEG_COLORS.length] }));
    names.push(r.model.name);
    images = r.images;
  }
  writeFileSync(join(ROOT, 'docs/rate-accuracy.svg'),
    rateAccuracySvg([...series, ...jpeg], { title: `CIFAR-10: top-1 vs bytes per image (${images} test images, compact packets)`, legend: 'right' }));
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--chart-only')) {
    writeChart();
    console.log('wrote docs/rate-accuracy.svg');
    return;
  }
  const opt = (k: string): string | undefined => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : undefined);
  const limit = opt('--limit') ? ['--limit', opt('--limit')!] : [];
  const data = opt('--data') ?? DATA;
  const modelPath = opt('--model') ?? join(ROOT, 'weights/see-cifar10.slim');
  const jpegFrom = opt('--jpeg-from');
  const prev = jpegFrom ? (JSON.parse(readFileSync(jpegFrom, 'utf8')) as EvalResult) : undefined;
  if (prev && opt('--limit') && Number(opt('--limit')) !== prev.images) throw new Error(`--jpeg-from ${jpegFrom}: ${prev.images} images, --limit ${opt('--limit')}`);
  const model = await loadModel(modelPath);
  const tmp = join(ROOT, 'bench/results');
  mkdirSync(tmp, { recursive: true });
  const name = model.info.name;
  const outFile = join(tmp, name === 'see-cifar10' ? 'eval.json' : `eval-${name}.json`);
  const a = join(tmp, 'eval-modes.part.json'), b = join(tmp, 'eval-jpeg.part.json');
  const t0 = Date.now();
  const common = ['--data', data, ...limit, '--model', modelPath];
  // With --jpeg-from the two processes split the modes; otherwise one runs the modes, one the JPEG qualities.
  const [argsA, argsB] = jpegFrom
    ? [['--no-baseline', '--modes', 'members=1 members=2'], ['--no-baseline', '--modes', 'members=3 members=4']]
    : [['--no-baseline'], ['--modes', 'members=1,bits=1', '--qualities', QUALITIES]];
  await Promise.all([run([...common, ...argsA, '--json', a]), run([...common, ...argsB, '--json', b])]);
  const ra = JSON.parse(readFileSync(a, 'utf8')) as EvalResult;
  const rb = JSON.parse(readFileSync(b, 'utf8')) as EvalResult;
  const seconds = (Date.now() - t0) / 1000;
  let r: EvalResult;
  if (prev) {
    if (prev.images !== ra.images) throw new Error(`--jpeg-from ${jpegFrom}: ${prev.images} images, this run ${ra.images}`);
    r = { ...ra, modes: [...ra.modes, ...rb.modes], jpeg: prev.jpeg, baselineClean: prev.baselineClean, seconds };
  } else {
    r = { ...ra, jpeg: rb.jpeg, baselineClean: rb.baselineClean, seconds };
  }
  for (const m of r.modes) {
    const stripped = matchOnCurve(r.jpeg.map((j) => ({ bytes: j.meanStrippedBytes, acc: j.acc })), m.acc, m.meanBytes);
    const full = matchOnCurve(r.jpeg.map((j) => ({ bytes: j.meanBytes, acc: j.acc })), m.acc, m.meanBytes);
    if (stripped && full) m.vsJpeg = { stripped, full };
  }
  const torch = torchComparison(model, r);
  process.stdout.write(evalReport(r) + (torch ? torch.text : ''));
  writeFileSync(outFile, JSON.stringify(torch ? { ...r, pytorch: torch.rows } : r, null, 2) + '\n');
  writeChart();
  console.log(`wrote ${outFile} and docs/rate-accuracy.svg`);
}

await main();
