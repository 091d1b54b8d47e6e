/**
 * The controller benchmark's rows, its check against the issue's targets, and its chart (accuracy
 * against deadline-miss rate, one panel per trace, one marker per setting and controller).
 */
import { linearScale } from '../src/eval/chart.js';
import type { ExcessMisses } from './controller-oracle.js';

export interface BenchRow {
  controller: string;
  trace: string;
  scale: string;
  fps: number;
  deadlineMs: number;
  /** the right class received, over all frames (late and skipped ones count as not right) */
  accuracy: number;
  missRate: number;
  meanBytes: number;
  switchesPerMin: number;
  /** the previous definition: top-1 over the frames sent, late ones counted as decoded */
  accuracyInclLate: number;
  timelyAccuracy: number;
  /** refused by the server as late: no class */
  lateRate: number;
  skipRate: number;
  /** dropped by the device's send queue as certainly late (never sent) */
  dropRate: number;
  /** slim's rows: its misses beyond the smallest fixed mode's, by cause */
  excess?: ExcessMisses;
}

const settingKey = (r: BenchRow) => `${r.trace} scale ${r.scale} ${r.fps} fps ${r.deadlineMs} ms`;
const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

/** Per setting: do slim's numbers meet the targets of issue 19? One line per setting, then totals. */
export function targetsReport(rows: readonly BenchRow[]): string {
  const groups = new Map<string, BenchRow[]>();
  for (const r of rows) {
    const k = settingKey(r);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(r);
  }
  const out: string[] = [];
  let missOk = 0, accOk = 0, emaWins = 0, emaTimely = 0, n = 0, excess = 0, fewer = 0;
  for (const [k, g] of groups) {
    const slim = g.find((r) => r.controller === 'slim'), ema = g.find((r) => r.controller === 'ema'), oracle = g.find((r) => r.controller === 'oracle');
    const fixed = g.filter((r) => r.controller.startsWith('fixed:'));
    if (!slim || fixed.length === 0) continue;
    n++;
    // The smallest fixed mode: the fewest bytes.
    const smallest = fixed.reduce((a, b) => (b.meanBytes < a.meanBytes ? b : a));
    const mOk = slim.missRate <= 0.01 || slim.missRate <= smallest.missRate;
    const okFixed = fixed.filter((r) => r.missRate <= 0.01);
    const bestFixed = okFixed.reduce<BenchRow | undefined>((a, b) => (!a || b.accuracy > a.accuracy ? b : a), undefined);
    const aOk = !bestFixed || slim.accuracy >= bestFixed.accuracy;
    const eWin = !!ema && slim.accuracy > ema.accuracy && slim.missRate <= ema.missRate;
    if (mOk) missOk++;
    if (aOk) accOk++;
    if (eWin) emaWins++;
    if (ema && slim.timelyAccuracy > ema.timelyAccuracy) emaTimely++;
    excess += slim.excess?.excess ?? 0;
    fewer += slim.excess?.fewer ?? 0;
    out.push(
      `${mOk && aOk ? 'ok  ' : 'MISS'} ${k}: slim acc ${pct(slim.accuracy)} miss ${pct(slim.missRate)} ${slim.meanBytes.toFixed(0)} B ${slim.switchesPerMin.toFixed(1)} sw/min` +
        ` | best fixed at <=1% miss: ${bestFixed ? `${bestFixed.controller} ${pct(bestFixed.accuracy)}` : 'none'}` +
        ` | smallest fixed miss ${pct(smallest.missRate)}` +
        (ema ? ` | ema acc ${pct(ema.accuracy)} miss ${pct(ema.missRate)}${eWin ? ' (slim wins)' : ''}` : '') +
        (oracle ? ` | oracle acc ${pct(oracle.accuracy)} miss ${pct(oracle.missRate)}` : '') +
        (slim.excess && slim.excess.excess ? ` | excess ${slim.excess.excess}: own ${slim.excess.own} queued ${slim.excess.queued} skipped ${slim.excess.skipped} (pred ok ${slim.excess.predictedOk}, stalled ${slim.excess.stalled}, dropped ${slim.excess.dropped})` : '') +
        (slim.excess && slim.excess.fewer ? ` | fewer misses than the smallest mode: ${slim.excess.fewer}` : ''),
    );
  }
  out.push(`settings: ${n}; slim's miss target met in ${missOk}, accuracy target met in ${accOk}, better than ema (higher accuracy, miss <= ema's) in ${emaWins}, more frames right on time than ema in ${emaTimely}; frames slim missed beyond the smallest fixed mode ${excess} (and the smallest missed where slim did not: ${fewer})`);
  return out.join('\n');
}

const COLORS: Record<string, string> = { slim: '#d62728', ema: '#1f77b4', fixed: '#aaaaaa', oracle: '#2ca02c' };

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** x on log10(miss% + 0.1): 0 misses sit at the left edge, 0.1-100% spread evenly. */
function missX(missRate: number): number {
  return Math.log10(missRate * 100 + 0.1);
}

/**
 * y from accuracy: log of the frames not right (100 - accuracy %), inverted, so the 85-91% where
 * modes differ spread out while runs that lose most frames to lateness (down to 0%) stay on the chart.
 */
function accY(accuracy: number): number {
  return -Math.log10(Math.max(100 - accuracy * 100, 1));
}

/**
 * One panel per trace: accuracy (y, the right class received over all frames; log of the frames not
 * right) against deadline-miss rate (x, log of % + 0.1), grey for every fixed mode, blue for ema, red
 * for slim; each marker's tooltip names its setting.
 */
export function controllerChartSvg(rows: readonly BenchRow[]): string {
  const traces = [...new Set(rows.map((r) => r.trace))];
  const cols = Math.min(2, traces.length), panelW = 520, panelH = 360;
  const rowsN = Math.ceil(traces.length / cols);
  const W = cols * panelW, H = rowsN * panelH + 40;
  const yMax = Math.min(99, Math.ceil(Math.max(...rows.map((r) => r.accuracy * 100), 91)) + 2);
  const yTicks = [0, 50, 70, 80, 85, 88, 90, 92, 95, 97, 99].filter((t) => t <= yMax);
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  o.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  o.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">Rate controllers: accuracy vs deadline misses (every scale, fps, deadline)</text>`);
  o.push(`<g font-size="11"><circle cx="20" cy="32" r="4" fill="${COLORS.slim}"/><text x="28" y="36">slim</text><circle cx="70" cy="32" r="4" fill="${COLORS.ema}"/><text x="78" y="36">ema (SEE)</text><circle cx="150" cy="32" r="3" fill="${COLORS.fixed}"/><text x="158" y="36">fixed modes</text>${rows.some((r) => r.controller === 'oracle') ? `<circle cx="240" cy="32" r="4" fill="${COLORS.oracle}"/><text x="248" y="36">clairvoyant bound</text>` : ''}</g>`);
  traces.forEach((trace, ti) => {
    const ox = (ti % cols) * panelW, oy = 40 + Math.floor(ti / cols) * panelH;
    const p = { x0: ox + 56, x1: ox + panelW - 16, y0: oy + 28, y1: oy + panelH - 40 };
    const sx = linearScale([missX(0), missX(1)], [p.x0, p.x1]);
    const sy = linearScale([accY(0), accY(yMax / 100)], [p.y1, p.y0]);
    o.push(`<g class="panel" data-trace="${escapeXml(trace)}">`);
    o.push(`<text x="${(p.x0 + p.x1) / 2}" y="${oy + 18}" text-anchor="middle" font-weight="bold">${escapeXml(trace)}</text>`);
    o.push(`<rect x="${p.x0}" y="${p.y0}" width="${p.x1 - p.x0}" height="${p.y1 - p.y0}" fill="none" stroke="#333"/>`);
    for (const t of [0, 0.001, 0.01, 0.1, 1]) {
      const x = sx(missX(t)).toFixed(1);
      o.push(`<line x1="${x}" y1="${p.y0}" x2="${x}" y2="${p.y1}" stroke="#ddd"/><text x="${x}" y="${p.y1 + 14}" text-anchor="middle">${t * 100}%</text>`);
    }
    const x1 = sx(missX(0.01)).toFixed(1);
    o.push(`<line x1="${x1}" y1="${p.y0}" x2="${x1}" y2="${p.y1}" stroke="#d62728" stroke-dasharray="3,3"/>`);
    for (const t of yTicks) {
      const y = sy(accY(t / 100)).toFixed(1);
      o.push(`<line x1="${p.x0}" y1="${y}" x2="${p.x1}" y2="${y}" stroke="#eee"/><text x="${p.x0 - 4}" y="${y}" dy="4" text-anchor="end">${t}</text>`);
    }
    o.push(`<text x="${(p.x0 + p.x1) / 2}" y="${p.y1 + 30}" text-anchor="middle">deadline-miss rate (log of % + 0.1)</text>`);
    o.push(`<text x="${ox + 14}" y="${(p.y0 + p.y1) / 2}" text-anchor="middle" transform="rotate(-90 ${ox + 14} ${(p.y0 + p.y1) / 2})">right class received, % of all frames (log of 100 - %)</text>`);
    // fixed first so that ema and slim draw on top
    const mine = rows.filter((r) => r.trace === trace).sort((a, b) => rank(a) - rank(b));
    for (const r of mine) {
      const kind = r.controller.startsWith('fixed:') ? 'fixed' : r.controller;
      const tip = `${r.controller} scale ${r.scale} ${r.fps} fps ${r.deadlineMs} ms: ${(r.accuracy * 100).toFixed(2)}% (${(r.accuracyInclLate * 100).toFixed(2)}% counting late frames' decodes), miss ${(r.missRate * 100).toFixed(2)}%, ${r.meanBytes.toFixed(0)} B`;
      o.push(`<circle class="pt ${kind}" cx="${sx(missX(r.missRate)).toFixed(1)}" cy="${sy(accY(r.accuracy)).toFixed(1)}" r="${kind === 'fixed' ? 2.5 : 4}" fill="${COLORS[kind] ?? '#000'}" fill-opacity="0.8"><title>${escapeXml(tip)}</title></circle>`);
    }
    o.push('</g>');
  });
  o.push('</svg>');
  return o.join('\n') + '\n';
}

function rank(r: BenchRow): number {
  return r.controller === 'slim' ? 3 : r.controller === 'oracle' ? 2 : r.controller === 'ema' ? 1 : 0;
}
