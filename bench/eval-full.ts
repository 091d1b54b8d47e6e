/**
 * The full rate-accuracy evaluation on both cores: a split model's 16 modes in one process and the
 * JPEG baseline's qualities in another (`slimsplit eval` each), merged into one report, JSON and chart.
 *
 *   npm run eval:full                       # the 16x16 model, all 10,000 test images; ~40 min on 2 cores (estimated)
 *   npm run eval:full -- --limit 1000
 *   npm run eval:full -- --model weights/see-cifar10-d8.slim --jpeg-from bench/results/eval.json
 *   npx tsx bench/eval-full.ts --chart-only  # redraw the chart from the saved reports
 *   npx tsx bench/eval-full.ts --jpeg-only   # rerun the JPEG baseline only (29 min), rematch every report
 *   npx tsx bench/eval-full.ts --jpeg-only --qualities 33,34   # add/replace these qualities' rows
 *   npx tsx bench/eval-full.ts --jpeg-only --jpeg-rows r.json   # the rows of a `slimsplit eval --json r.json` run
 *
 * The baseline runs at slimsplit eval's default qualities (src/eval/eval.ts DEFAULT_QUALITIES).
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
import { DEFAULT_QUALITIES, matchOnCurve, type EvalResult, type QualityResult } from '../src/eval/eval.js';
import { evalReport, evalSeries, torchComparison } from '../src/eval/report.js';
import type { ChartSeries } from '../src/eval/chart.js';
import { rateAccuracySvg } from '../src/eval/chart.js';
import { loadModel } from '../src/model/model.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DATA = join(ROOT, '..', 'shared', 'datasets', 'cifar10-jpeg', 'test.tar.gz');

function run(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), 'eval', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`slimsplit eval ${args.join(' ')} exited ${code}`))));
  });
}

// Each shipped model's report, in the order the combined chart lists them.
// One hue per model, darker with more members, so that 16 model series stay readable (the chart's
// default palette has 10 colours).
const REPORTS = [
  { file: 'eval.json', label: '16x16', shades: ['#9ecae1', '#6baed6', '#3182bd', '#08519c'] },
  { file: 'eval-see-cifar10-d8.json', label: '8x8', shades: ['#a1d99b', '#74c476', '#31a354', '#006d2c'] },
  { file: 'eval-see-cifar10-d4.json', label: '4x4', shades: ['#fdae6b', '#fd8d3c', '#e6550d', '#a63603'] },
  { file: 'eval-see-cifar10-d4r.json', label: '4x4 refining', shades: ['#bcbddc', '#9e9ac8', '#756bb1', '#54278f'] },
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

/** JPEG rows of several runs, one per quality (a later list's row replaces an earlier one's). */
function mergeJpeg(...lists: QualityResult[][]): QualityResult[] {
  const byQ = new Map<number, QualityResult>();
  for (const l of lists) for (const j of l) byQ.set(j.quality, j);
  return [...byQ.values()].sort((a, b) => a.quality - b.quality);
}

/** Every mode's bytes-at-equal-accuracy against the report's JPEG rows. */
function rematch(r: EvalResult): void {
  for (const m of r.modes) {
    const stripped = matchOnCurve(r.jpeg.map((j) => ({ bytes: j.meanStrippedBytes, acc: j.acc })), m.acc, m.meanBytes);
    const full = matchOnCurve(r.jpeg.map((j) => ({ bytes: j.meanBytes, acc: j.acc })), m.acc, m.meanBytes);
    if (stripped && full) m.vsJpeg = { stripped, full };
    else delete m.vsJpeg;
  }
}

/** Puts one baseline into every saved report on the same number of images, rematched. */
function spreadJpeg(jpeg: QualityResult[], baselineClean: EvalResult['baselineClean'], images: number): void {
  for (const { file } of REPORTS) {
    const path = join(ROOT, 'bench/results', file);
    if (!existsSync(path)) continue;
    const r = JSON.parse(readFileSync(path, 'utf8')) as EvalResult;
    if (r.images !== images) {
      console.warn(`${file}: ${r.images} images, the baseline ${images}; left as it was`);
      continue;
    }
    r.jpeg = jpeg;
    r.baselineClean = baselineClean;
    rematch(r);
    writeFileSync(path, JSON.stringify(r, null, 2) + '\n');
    console.log(`rematched ${file}`);
  }
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
  const qualities = opt('--qualities') ? opt('--qualities')!.split(',').map(Number) : DEFAULT_QUALITIES;
  // Every third quality goes to the process that also runs the modes, which then take about as long.
  const qA = qualities.filter((_, i) => i % 3 === 2).join(','), qB = qualities.filter((_, i) => i % 3 !== 2).join(',');
  const tmp = join(ROOT, 'bench/results');
  mkdirSync(tmp, { recursive: true });
  const a = join(tmp, 'eval-modes.part.json'), b = join(tmp, 'eval-jpeg.part.json');
  const t0 = Date.now();
  const common = ['--data', data, ...limit, '--model', modelPath];
  const read = (f: string): EvalResult => JSON.parse(readFileSync(f, 'utf8')) as EvalResult;

  if (argv.includes('--jpeg-only')) {
    // Only the baseline, over both cores; rows of qualities not rerun are kept from eval.json.
    // --jpeg-rows <report.json>: rows of a `slimsplit eval --json` run made separately, instead of a run here
    const given = opt('--jpeg-rows');
    const halves = [qualities.filter((_, i) => i % 2 === 0), qualities.filter((_, i) => i % 2 === 1)].filter((h) => h.length);
    if (!given) await Promise.all(halves.map((q, i) => run([...common, '--modes', 'members=1,bits=1', '--qualities', q.join(','), '--json', i ? b : a])));
    const parts = given ? [read(given)] : halves.map((_, i) => read(i ? b : a));
    if (!parts[0].jpeg.length) throw new Error(`${given}: no JPEG baseline rows`);
    const saved = join(tmp, 'eval.json');
    const prevMain = existsSync(saved) ? read(saved) : undefined;
    const old = prevMain?.images === parts[0].images ? prevMain.jpeg : [];
    spreadJpeg(mergeJpeg(old, ...parts.map((p) => p.jpeg)), parts[0].baselineClean, parts[0].images);
    writeChart();
    console.log(`baseline at ${given ? parts[0].jpeg.length : qualities.length} qualities in ${((Date.now() - t0) / 60000).toFixed(1)} min; wrote docs/rate-accuracy.svg`);
    return;
  }

  const jpegFrom = opt('--jpeg-from');
  const prev = jpegFrom ? read(jpegFrom) : undefined;
  if (prev && opt('--limit') && Number(opt('--limit')) !== prev.images) throw new Error(`--jpeg-from ${jpegFrom}: ${prev.images} images, --limit ${opt('--limit')}`);
  const model = await loadModel(modelPath);
  const name = model.info.name;
  const outFile = join(tmp, name === 'see-cifar10' ? 'eval.json' : `eval-${name}.json`);
  // With --jpeg-from the two processes split the modes; otherwise one runs the modes and a third of the
  // JPEG qualities, the other the rest of the qualities.
  const [argsA, argsB] = jpegFrom
    ? [['--no-baseline', '--modes', 'members=1 members=2'], ['--no-baseline', '--modes', 'members=3 members=4']]
    : [['--qualities', qA], ['--modes', 'members=1,bits=1', '--qualities', qB]];
  await Promise.all([run([...common, ...argsA, '--json', a]), run([...common, ...argsB, '--json', b])]);
  const ra = read(a), rb = read(b);
  const seconds = (Date.now() - t0) / 1000;
  let r: EvalResult;
  if (prev) {
    if (prev.images !== ra.images) throw new Error(`--jpeg-from ${jpegFrom}: ${prev.images} images, this run ${ra.images}`);
    r = { ...ra, modes: [...ra.modes, ...rb.modes], jpeg: prev.jpeg, baselineClean: prev.baselineClean, seconds };
  } else {
    r = { ...ra, jpeg: mergeJpeg(ra.jpeg, rb.jpeg), baselineClean: rb.baselineClean, seconds };
  }
  rematch(r);
  const torch = torchComparison(model, r);
  process.stdout.write(evalReport(r) + (torch ? torch.text : ''));
  writeFileSync(outFile, JSON.stringify(torch ? { ...r, pytorch: torch.rows } : r, null, 2) + '\n');
  writeChart();
  console.log(`wrote ${outFile} and docs/rate-accuracy.svg`);
}

await main();
