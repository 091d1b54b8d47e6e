/**
 * The README's evaluation tables, printed as Markdown from a saved evaluation report, so that the
 * figures in the README come from bench/results/eval.json and nothing typed by hand.
 *
 *   npx tsx bench/eval-table.ts [bench/results/eval.json]
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ModeRow {
  members: number; bits: number; acc: number; meanBytes: number; p95Bytes: number; encMs: number;
  vsJpeg?: { stripped?: { bytes: number; ratio: number; kind: string } };
}
interface Report {
  images: number; packet?: string;
  modes: ModeRow[];
  jpeg?: { quality: number; acc: number; meanBytes: number; meanStrippedBytes: number }[];
  baselineClean?: { acc: number };
  pytorch?: { mode: string; engine: number; pytorch: number; deltaPoints: number }[];
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const file = process.argv[2] ?? join(ROOT, 'bench/results/eval.json');
const r = JSON.parse(readFileSync(file, 'utf8')) as Report;
const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
const torch = new Map((r.pytorch ?? []).map((p) => [p.mode, p]));

const out: string[] = [];
out.push('| members | bits | top-1 | PyTorch top-1 | mean B | p95 B | encoder ms | JPEG stripped B at same top-1 | JPEG / ours |');
out.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const m of r.modes) {
  const t = torch.get(`members=${m.members},bits=${m.bits}`);
  const s = m.vsJpeg?.stripped;
  // 'at-least': no JPEG quality reaches this accuracy, so JPEG needs more than its largest file;
  // 'at-most': even the lowest quality is as accurate.
  const rel = s?.kind === 'at-least' ? '> ' : s?.kind === 'at-most' ? '<= ' : '';
  const jb = s ? `${rel}${s.bytes.toFixed(0)}` : 'n/a';
  const ratio = s ? `${rel}${s.ratio.toFixed(2)}x` : 'n/a';
  out.push(`| ${m.members} | ${m.bits} | ${pct(m.acc)} | ${t ? pct(t.pytorch) : 'n/a'} | ${m.meanBytes.toFixed(1)} | ${m.p95Bytes} | ` +
    `${m.encMs.toFixed(2)} | ${jb} | ${ratio} |`);
}
if (r.jpeg?.length) {
  out.push('', '| quality | top-1 | file B | stripped B |', '| --- | --- | --- | --- |');
  for (const j of r.jpeg) out.push(`| ${j.quality} | ${pct(j.acc)} | ${j.meanBytes.toFixed(1)} | ${j.meanStrippedBytes.toFixed(1)} |`);
}
const deltas = (r.pytorch ?? []).map((p) => Math.abs(p.deltaPoints));
if (deltas.length) out.push('', `Largest engine vs PyTorch difference over the ${deltas.length} modes: ${Math.max(...deltas).toFixed(2)} points.`);
if (r.baselineClean) out.push(`Baseline classifier on the original files: ${pct(r.baselineClean.acc)}.`);
out.push(`(${r.images} images, ${r.packet ?? 'full'} packets, from ${file})`);
console.log(out.join('\n'));
