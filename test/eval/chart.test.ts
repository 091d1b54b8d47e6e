// Rate-accuracy SVG: balanced, escaped markup; one marker per point at its log-scale position;
// ticks, legend and refusals.
import { describe, it, expect } from 'vitest';
import { rateAccuracySvg, logScale, logTicks, niceStep, MARGIN } from '../../src/eval/chart.js';

/** Checks that every element closes in order; returns the names of the elements opened. */
function checkBalanced(xml: string): string[] {
  const stack: string[] = [];
  const seen: string[] = [];
  const re = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    // text between tags may not hold a raw '<' or an unescaped '&'
    const text = xml.slice(last, m.index);
    expect(text).not.toMatch(/<|&(?!amp;|lt;|gt;|quot;|apos;)/);
    last = re.lastIndex;
    const [, close, name, , self] = m;
    if (close) expect(stack.pop()).toBe(name);
    else {
      if (!self) stack.push(name);
      seen.push(name);
    }
  }
  expect(xml.slice(last).trim()).toBe('');
  expect(stack).toEqual([]);
  return seen;
}

const series = [
  { name: 'slimsplit', points: [{ bytes: 100, acc: 0.8, label: 'N1 b2' }, { bytes: 10, acc: 0.5 }, { bytes: 1000, acc: 0.9 }] },
  { name: 'JPEG <stripped> & co', points: [{ bytes: 300, acc: 0.6 }, { bytes: 700, acc: 0.85 }], line: false },
];

describe('rateAccuracySvg', () => {
  it('is balanced markup with one marker per point and a legend entry per series', () => {
    const svg = rateAccuracySvg(series, { title: 'CIFAR-10 "test"' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    const tags = checkBalanced(svg);
    expect(tags.filter((t) => t === 'svg').length).toBe(1);
    expect(svg.match(/<circle class="pt"/g)!.length).toBe(5);
    expect(svg).toContain('JPEG &lt;stripped&gt; &amp; co');
    expect(svg).toContain('CIFAR-10 &quot;test&quot;');
    // the line series gets one polyline, the scatter series none
    expect(svg.match(/<polyline/g)!.length).toBe(1);
    expect(svg.match(/<g class="series"/g)!.length).toBe(2);
    expect(svg).toContain('<title>slimsplit N1 b2: 100 B, 80%</title>');
  });

  it("legend 'right' puts the legend beside the plot and widens the chart, the plot unchanged", () => {
    const inside = rateAccuracySvg(series, { width: 720, xDomain: [10, 1000], yDomain: [50, 100] });
    const right = rateAccuracySvg(series, { width: 720, xDomain: [10, 1000], yDomain: [50, 100], legend: 'right' });
    checkBalanced(right);
    expect(right).toMatch(/^<svg [^>]*width="922"/);
    const pts = (svg: string) => [...svg.matchAll(/<circle class="pt" cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => m[0]);
    expect(pts(right)).toEqual(pts(inside));
    const box = (svg: string) => Number(/<g class="legend">\s*<rect x="([\d.]+)"/.exec(svg)![1]);
    expect(box(right)).toBeGreaterThan(720 - MARGIN.right);
    expect(box(inside)).toBeLessThan(720 - MARGIN.right);
    expect(() => rateAccuracySvg(series, { legend: 'top' as never })).toThrow(/legend must be 'inside' or 'right', got 'top'/);
  });

  it('places points on a log x scale and a linear percent y scale', () => {
    const svg = rateAccuracySvg(series, { width: 720, height: 440, xDomain: [10, 1000], yDomain: [50, 100] });
    const x0 = MARGIN.left, x1 = 720 - MARGIN.right, y0 = MARGIN.top, y1 = 440 - MARGIN.bottom;
    const pts = [...svg.matchAll(/<circle class="pt" cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    // slimsplit sorted by bytes: 10, 100, 1000 at the left edge, the middle, the right edge
    expect(pts[0][0]).toBeCloseTo(x0, 2);
    expect(pts[1][0]).toBeCloseTo((x0 + x1) / 2, 2);
    expect(pts[2][0]).toBeCloseTo(x1, 2);
    expect(pts[0][1]).toBeCloseTo(y1, 2); // 50% at the bottom
    expect(pts[1][1]).toBeCloseTo(y1 - 0.6 * (y1 - y0), 2); // 80% is 3/5 of the way up
    // 300 bytes: log10(300) - 1 = 1.477 of 2 decades
    expect(pts[3][0]).toBeCloseTo(x0 + (Math.log10(30) / 2) * (x1 - x0), 1);
    // 1-2-5 ticks over 2 decades, each at its log position
    const ticks = [...svg.matchAll(/<text class="tick" x="([\d.]+)" y="[\d.]+" text-anchor="middle"[^>]*data-value="([\d.]+)">([^<]*)</g)];
    expect(ticks.map((m) => m[3])).toEqual(['10', '20', '50', '100', '200', '500', '1000']);
    for (const m of ticks) expect(Number(m[1])).toBeCloseTo(x0 + ((Math.log10(Number(m[2])) - 1) / 2) * (x1 - x0), 1);
  });

  it('widens the default x domain to 1-2-5 steps around the data', () => {
    const svg = rateAccuracySvg([{ name: 'a', points: [{ bytes: 37, acc: 0.4 }, { bytes: 180, acc: 0.7 }] }]);
    const ticks = [...svg.matchAll(/data-value="([\d.]+)">([^<]*)<\/text>/g)].map((m) => m[2]);
    expect(ticks.slice(0, 4)).toEqual(['20', '50', '100', '200']);
  });

  it('draws axes for no data, refuses points a log axis cannot place', () => {
    checkBalanced(rateAccuracySvg([]));
    expect(() => rateAccuracySvg([{ name: 'z', points: [{ bytes: 0, acc: 0.5 }] }])).toThrow(/series 'z' has bytes = 0; a log axis needs finite values > 0/);
    expect(() => rateAccuracySvg([{ name: 'p', points: [{ bytes: 5, acc: 91 }] }])).toThrow(/acc = 91; give accuracy as a fraction in 0..1/);
  });
});

describe('scales and ticks', () => {
  it('logScale maps decades to equal steps', () => {
    const s = logScale([1, 10000], [0, 400]);
    expect([1, 10, 100, 1000, 10000].map(s)).toEqual([0, 100, 200, 300, 400]);
    expect(s(Math.sqrt(10))).toBeCloseTo(50, 10);
  });

  it('logTicks adds 2 and 5 only under 3 decades; niceStep rounds to 1-2-5', () => {
    expect(logTicks(10, 10000)).toEqual([10, 100, 1000, 10000]);
    expect(logTicks(20, 5000)).toEqual([20, 50, 100, 200, 500, 1000, 2000, 5000]);
    expect(logTicks(15, 600)).toEqual([20, 50, 100, 200, 500]);
    expect([niceStep(50, 6), niceStep(7, 6), niceStep(0.3, 6), niceStep(100, 5)]).toEqual([10, 2, 0.05, 20]);
  });
});
