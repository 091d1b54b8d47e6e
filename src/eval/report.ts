/**
 * The text and chart series of an evaluation (what `slimsplit eval` prints and bench/eval-full.ts
 * assembles), and the aligned text tables every command prints.
 */
import { type ChartSeries } from './chart.js';
import { type EvalResult, type JpegMatch } from './eval.js';
import { formatMode, refKey } from '../codec/modes.js';

export function num(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '-';
}

export function pct(v: number): string {
  return `${(v * 100).toFixed(2)}%`;
}

/** Aligned text table: a column whose cells are all numbers (or '-') is right-aligned, header included. */
export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = (s: string): boolean => /^[-+<>≤≥]?[\d.]/.test(s) || s === '-' || s === '';
  const right = head.map((_, i) => rows.length > 0 && rows.every((r) => numeric(r[i] ?? '')));
  const line = (r: string[]): string => r.map((c, i) => (right[i] ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ').trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n') + '\n';
}

export function matchText(m: JpegMatch | undefined): [string, string] {
  if (!m) return ['-', '-'];
  const sign = m.kind === 'at-most' ? '≤' : m.kind === 'at-least' ? '>' : '';
  return [`${sign}${m.bytes.toFixed(1)}`, `${sign}${m.ratio.toFixed(2)}x`];
}

/** The three tables `eval` prints. */
export function evalReport(r: EvalResult): string {
  let s = `${r.model.name}: ${r.images} images, ${r.seconds.toFixed(1)} s, ${r.packet ?? 'full'} packets (bytes include header and checksum)\n\n`;
  s += table(
    ['mode', 'top-1', 'mean B', 'p95 B', 'enc ms', 'dec ms'],
    r.modes.map((m) => [formatMode(m.mode), pct(m.acc), num(m.meanBytes, 1), String(m.p95Bytes), num(m.encMs, 2), num(m.decMs, 2)]),
  );
  if (r.jpeg.length) {
    s += `\nJPEG baseline${r.baselineClean ? ` (on the original files: top-1 ${pct(r.baselineClean.acc)}, ${r.baselineClean.meanBytes.toFixed(1)} B)` : ''}\n`;
    s += table(['quality', 'top-1', 'file B', 'stripped B'], r.jpeg.map((j) => [String(j.quality), pct(j.acc), num(j.meanBytes, 1), num(j.meanStrippedBytes, 1)]));
    s += '\nper mode vs JPEG at the same top-1 (log-bytes interpolation; ≤/> where the JPEG curve ends)\n';
    s += table(
      ['mode', 'top-1', 'mean B', 'JPEG stripped B', 'ratio', 'JPEG file B', 'ratio'],
      r.modes.map((m) => [formatMode(m.mode), pct(m.acc), num(m.meanBytes, 1), ...matchText(m.vsJpeg?.stripped), ...matchText(m.vsJpeg?.full)]),
    );
  }
  return s;
}

/** Chart series: one line per ensemble size (through its bit depths), then the JPEG curves. */
export function evalSeries(r: EvalResult): ChartSeries[] {
  const byMembers = new Map<number, ChartSeries>();
  for (const m of r.modes) {
    const key = m.mode.members ?? 1;
    if (!byMembers.has(key)) byMembers.set(key, { name: `slimsplit N=${key}`, points: [] });
    byMembers.get(key)!.points.push({ bytes: m.meanBytes, acc: m.acc, label: formatMode(m.mode) });
  }
  const out = [...byMembers.values()];
  if (r.jpeg.length) {
    out.push({ name: 'JPEG (header-stripped)', points: r.jpeg.map((j) => ({ bytes: j.meanStrippedBytes, acc: j.acc, label: `q${j.quality}` })) });
    out.push({ name: 'JPEG (file)', points: r.jpeg.map((j) => ({ bytes: j.meanBytes, acc: j.acc, label: `q${j.quality}` })) });
  }
  return out;
}

export function torchComparison(model: unknown, r: EvalResult): { text: string; rows: Array<{ mode: string; engine: number; pytorch: number; deltaPoints: number }> } | null {
  const t = (model as { meta?: { pytorchTop1?: Record<string, number> } }).meta?.pytorchTop1;
  if (!t) return null;
  const rows = r.modes.flatMap((m) => {
    const key = refKey(m.mode);
    return key in t ? [{ mode: formatMode(m.mode), engine: m.acc, pytorch: t[key], deltaPoints: 100 * (m.acc - t[key]) }] : [];
  });
  if (!rows.length) return null;
  const worst = Math.max(...rows.map((x) => Math.abs(x.deltaPoints)));
  let text = `\nengine vs PyTorch top-1 (PyTorch on all 10,000 test images as jpeg-js decodes them${r.images === 10000 ? '' : `; this run used ${r.images}, so the difference is not like for like`})\n`;
  text += table(['mode', 'engine', 'PyTorch', 'diff (points)'], rows.map((x) => [x.mode, pct(x.engine), pct(x.pytorch), x.deltaPoints.toFixed(2)]));
  text += `largest difference: ${worst.toFixed(2)} points\n`;
  return { text, rows };
}
