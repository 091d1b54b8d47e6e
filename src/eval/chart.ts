/**
 * Rate-accuracy chart as one self-contained SVG (no scripts, fonts or external references).
 *
 *   import { rateAccuracySvg } from './chart.js';
 *   const svg = rateAccuracySvg([
 *     { name: 'slimsplit', points: [{ bytes: 41, acc: 0.83, label: 'N1 b2' }, { bytes: 160, acc: 0.91 }] },
 *     { name: 'JPEG (stripped)', points: [{ bytes: 120, acc: 0.62 }, { bytes: 610, acc: 0.9 }] },
 *   ], { title: 'CIFAR-10 test' });
 *   writeFileSync('rate.svg', svg);
 *
 * x is bytes per image on a log scale (decade ticks, plus 2 and 5 under three decades), y is
 * top-1 accuracy in percent (`acc` is given as a fraction 0..1). Each series is drawn as markers
 * joined in order of bytes; every marker carries a <title> tooltip with its numbers.
 */

export interface ChartPoint {
  bytes: number;
  /** top-1 accuracy as a fraction, 0..1 */
  acc: number;
  /** tooltip text, e.g. the mode or quality */
  label?: string;
}

export interface ChartSeries {
  name: string;
  points: ChartPoint[];
  /** join the points with a line (default true) */
  line?: boolean;
  /** CSS colour (default: from a 10-colour palette by series index) */
  color?: string;
}

export interface ChartOptions {
  title?: string;
  width?: number;
  height?: number;
  xLabel?: string;
  yLabel?: string;
  /** [min, max] bytes; default: the data's range widened to whole 1-2-5 steps */
  xDomain?: [number, number];
  /** [min, max] accuracy in percent; default: the data's range padded to tick steps */
  yDomain?: [number, number];
  /** 'inside' (default): the legend sits in the plot's bottom-right corner; 'right': beside the plot,
   * in a column added to the width, for charts with many series whose points reach that corner */
  legend?: 'inside' | 'right';
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
export const MARGIN = { left: 64, right: 16, top: 36, bottom: 52 };
const LEGEND_ROW = 18;
const LEGEND_W = 190;

/** Maps [d0, d1] to [r0, r1] on log10 of the value. */
export function logScale(domain: readonly [number, number], range: readonly [number, number]): (v: number) => number {
  const l0 = Math.log10(domain[0]), l1 = Math.log10(domain[1]);
  const k = (range[1] - range[0]) / (l1 - l0 || 1);
  return (v) => range[0] + (Math.log10(v) - l0) * k;
}

export function linearScale(domain: readonly [number, number], range: readonly [number, number]): (v: number) => number {
  const k = (range[1] - range[0]) / (domain[1] - domain[0] || 1);
  return (v) => range[0] + (v - domain[0]) * k;
}

/** Tick values for a log axis: decades, plus 2 and 5 times them when the span is under 3 decades. */
export function logTicks(min: number, max: number): number[] {
  const mult = Math.log10(max / min) < 3 - 1e-9 ? [1, 2, 5] : [1];
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of mult) {
      const v = m * 10 ** e;
      if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) out.push(Number(v.toPrecision(12)));
    }
  }
  return out;
}

/** "Nice" linear step (1, 2 or 5 times a power of ten) giving about `count` intervals. */
export function niceStep(span: number, count: number): number {
  const raw = span / Math.max(count, 1);
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const fmt = (v: number, digits = 2): string => Number(v.toFixed(digits)).toString();

function formatBytes(v: number): string {
  if (v >= 1e6) return `${fmt(v / 1e6, 1)}M`;
  if (v >= 1e4) return `${fmt(v / 1e3, 1)}k`;
  return fmt(v, 1);
}

/** Nearest 1-2-5 value at or below (dir -1) / at or above (dir +1) v. */
function snap125(v: number, dir: -1 | 1): number {
  const e = Math.floor(Math.log10(v));
  const cands = [1, 2, 5, 10].map((m) => m * 10 ** e);
  if (dir < 0) return cands.filter((c) => c <= v * (1 + 1e-9)).at(-1)!;
  return cands.find((c) => c >= v * (1 - 1e-9))!;
}

/** Renders the chart; throws on a point that a log scale or a percent axis cannot place. */
export function rateAccuracySvg(series: readonly ChartSeries[], opts: ChartOptions = {}): string {
  const outside = opts.legend === 'right';
  if (opts.legend !== undefined && opts.legend !== 'inside' && !outside) throw new Error(`chart: legend must be 'inside' or 'right', got '${String(opts.legend)}'`);
  const plotWidth = opts.width ?? 720;
  const width = plotWidth + (outside ? LEGEND_W + 12 : 0);
  const height = opts.height ?? 440;
  const title = opts.title ?? 'Rate vs accuracy';
  const xLabel = opts.xLabel ?? 'bytes per image (log scale)';
  const yLabel = opts.yLabel ?? 'top-1 accuracy (%)';
  for (const s of series) {
    for (const p of s.points) {
      if (!(p.bytes > 0) || !Number.isFinite(p.bytes)) throw new Error(`chart: series '${s.name}' has bytes = ${p.bytes}; a log axis needs finite values > 0`);
      if (!(p.acc >= 0 && p.acc <= 1)) throw new Error(`chart: series '${s.name}' has acc = ${p.acc}; give accuracy as a fraction in 0..1`);
    }
  }
  const all = series.flatMap((s) => s.points);
  const bMin = all.length ? Math.min(...all.map((p) => p.bytes)) : 10;
  const bMax = all.length ? Math.max(...all.map((p) => p.bytes)) : 1000;
  const xDomain: [number, number] = opts.xDomain ?? [snap125(bMin, -1), snap125(bMax, 1)];
  if (xDomain[1] <= xDomain[0]) xDomain[1] = xDomain[0] * 10;
  let yDomain: [number, number];
  if (opts.yDomain) yDomain = opts.yDomain;
  else {
    const aMin = all.length ? Math.min(...all.map((p) => p.acc * 100)) : 0;
    const aMax = all.length ? Math.max(...all.map((p) => p.acc * 100)) : 100;
    const step = niceStep(Math.max(aMax - aMin, 5), 6);
    yDomain = [Math.max(0, Math.floor(aMin / step) * step), Math.min(100, Math.ceil(aMax / step) * step)];
    if (yDomain[1] - yDomain[0] < step) yDomain[1] = yDomain[0] + step;
  }

  const legendH = series.length * LEGEND_ROW;
  const plot = { x0: MARGIN.left, x1: plotWidth - MARGIN.right, y0: MARGIN.top, y1: height - MARGIN.bottom };
  const sx = logScale(xDomain, [plot.x0, plot.x1]);
  const sy = linearScale(yDomain, [plot.y1, plot.y0]);
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  o.push(`<title>${escapeXml(title)}</title>`);
  o.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`);
  o.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>`);

  // grid and ticks
  o.push('<g class="x-axis" stroke="#ddd">');
  for (const t of logTicks(xDomain[0], xDomain[1])) {
    const x = fmt(sx(t));
    o.push(`<line x1="${x}" y1="${plot.y0}" x2="${x}" y2="${plot.y1}"/>`);
    o.push(`<text class="tick" x="${x}" y="${plot.y1 + 16}" text-anchor="middle" stroke="none" fill="#333" data-value="${t}">${formatBytes(t)}</text>`);
  }
  o.push('</g>');
  o.push('<g class="y-axis" stroke="#ddd">');
  const ystep = niceStep(yDomain[1] - yDomain[0], 6);
  for (let t = Math.ceil(yDomain[0] / ystep - 1e-9) * ystep; t <= yDomain[1] + 1e-9; t += ystep) {
    const y = fmt(sy(t));
    o.push(`<line x1="${plot.x0}" y1="${y}" x2="${plot.x1}" y2="${y}"/>`);
    o.push(`<text class="tick" x="${plot.x0 - 6}" y="${y}" dy="4" text-anchor="end" stroke="none" fill="#333" data-value="${fmt(t, 6)}">${fmt(t, 1)}</text>`);
  }
  o.push('</g>');
  o.push(`<rect x="${plot.x0}" y="${plot.y0}" width="${plot.x1 - plot.x0}" height="${plot.y1 - plot.y0}" fill="none" stroke="#333"/>`);
  o.push(`<text x="${(plot.x0 + plot.x1) / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  o.push(`<text x="16" y="${(plot.y0 + plot.y1) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(plot.y0 + plot.y1) / 2})">${escapeXml(yLabel)}</text>`);

  // data, clipped to the plot so a fixed domain can cut points off cleanly
  o.push(`<clipPath id="plot"><rect x="${plot.x0}" y="${plot.y0}" width="${plot.x1 - plot.x0}" height="${plot.y1 - plot.y0}"/></clipPath>`);
  series.forEach((s, i) => {
    const color = escapeXml(s.color ?? PALETTE[i % PALETTE.length]);
    const pts = [...s.points].sort((a, b) => a.bytes - b.bytes);
    o.push(`<g class="series" data-name="${escapeXml(s.name)}" clip-path="url(#plot)">`);
    if ((s.line ?? true) && pts.length > 1) {
      const d = pts.map((p) => `${fmt(sx(p.bytes))},${fmt(sy(p.acc * 100))}`).join(' ');
      o.push(`<polyline points="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    }
    for (const p of pts) {
      const tip = `${s.name}${p.label ? ` ${p.label}` : ''}: ${fmt(p.bytes, 1)} B, ${fmt(p.acc * 100, 2)}%`;
      o.push(`<circle class="pt" cx="${fmt(sx(p.bytes))}" cy="${fmt(sy(p.acc * 100))}" r="3.5" fill="${color}"><title>${escapeXml(tip)}</title></circle>`);
    }
    o.push('</g>');
  });

  // legend, bottom right inside the plot (accuracy rises with bytes, so that corner is emptiest)
  const lx = outside ? plot.x1 + 18 : plot.x1 - LEGEND_W, ly = outside ? plot.y0 + 4 : plot.y1 - legendH - 8;
  o.push(`<g class="legend">`);
  if (series.length) o.push(`<rect x="${lx - 6}" y="${ly - 4}" width="${LEGEND_W}" height="${legendH + 4}" fill="#fff" fill-opacity="0.85" stroke="#bbb"/>`);
  series.forEach((s, i) => {
    const color = escapeXml(s.color ?? PALETTE[i % PALETTE.length]);
    const y = ly + i * LEGEND_ROW + 9;
    o.push(`<line x1="${lx}" y1="${y}" x2="${lx + 18}" y2="${y}" stroke="${color}" stroke-width="2"/><circle cx="${lx + 9}" cy="${y}" r="3.5" fill="${color}"/>`);
    o.push(`<text x="${lx + 26}" y="${y + 4}">${escapeXml(s.name)}</text>`);
  });
  o.push('</g>');
  o.push('</svg>');
  return o.join('\n') + '\n';
}
