/**
 * Where slim's misses beyond the smallest fixed mode's come from, and what the targets trade
 * (docs/CONTROLLER.md, "The guard's slack"):
 *
 *   npx tsx bench/controller-losses.ts                    # every trace, the benchmark's settings
 *   npx tsx bench/controller-losses.ts --tuning '{"guardSlack":0}' --trace ../shared/traces/ATT-LTE-driving.up
 *   npx tsx bench/controller-losses.ts --rows bench/results/controller.json
 *
 * With the benchmark's options (controller-args.ts; the packet table cached by controller-cache.ts),
 * it replays slim and the smallest fixed mode per setting and prints, per scale, the excess frames
 * (missed by slim, not by the smallest mode) by the mode they were sent in, or, for those sent in
 * the smallest mode, the largest of the 5 frames before them; then how well one signal the device
 * has at send time (the largest late arrival among its last three results: arrival minus sent
 * minus D minus bytes / R, with the decision's R and D = the one-way delay) tells the excess frames
 * from the other frames sent above the smallest mode.
 *
 * With --rows <benchmark json> it reads a run's rows instead and prints the target counts per
 * trace, and for a controller that takes the smallest fixed mode's row wherever that mode misses
 * more than 1% and slim's elsewhere.
 */
import { readFileSync } from 'node:fs';
import { buildCache } from './controller-cache.js';
import { parseArgs, scaleName, linkPacketFor, ROOT } from './controller-args.js';
import { targetsReport, type BenchRow } from './controller-report.js';
import { readTrace } from '../src/device/trace.js';
import { TraceLink } from '../src/device/link.js';
import { makeController } from '../src/device/controller.js';
import { simulate, shuffledOrder, type SimDataset } from '../src/device/sim.js';

const THRESHOLDS_MS = [0, 5, 10, 20, 40, 80];

function fromRows(file: string): void {
  const rows = (JSON.parse(readFileSync(file, 'utf8')) as { rows: BenchRow[] }).rows;
  const last = (rs: BenchRow[]) => targetsReport(rs).split('\n').at(-1)!;
  for (const trace of [...new Set(rows.map((r) => r.trace))]) console.log(`${trace}: ${last(rows.filter((r) => r.trace === trace))}`);
  const key = (r: BenchRow) => `${r.trace} ${r.scale} ${r.fps} ${r.deadlineMs}`;
  const smallest = new Map<string, BenchRow>();
  for (const r of rows) {
    if (!r.controller.startsWith('fixed:')) continue;
    const s = smallest.get(key(r));
    if (!s || r.meanBytes < s.meanBytes) smallest.set(key(r), r);
  }
  const hybrid = rows.map((r) => {
    const s = smallest.get(key(r))!;
    return r.controller === 'slim' && s.missRate > 0.01 ? { ...s, controller: 'slim', excess: undefined } : r;
  });
  console.log(`the smallest mode wherever it misses > 1%, slim elsewhere: ${last(hybrid)}`);
}

async function fromReplay(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const cached = await buildCache(a, ROOT);
  const ds: SimDataset = { ...cached, modes: cached.modes.map((m) => ({ ...m, expectedBytes: m.expectedBytes + a.overhead })) };
  const order = shuffledOrder(ds.count, a.seed);
  const smallestIdx = ds.modes.reduce((b, m, i) => (m.expectedBytes < ds.modes[b].expectedBytes ? i : b), 0);
  const smallestName = `fixed:${ds.modes[smallestIdx].mode.members},${ds.modes[smallestIdx].mode.bits}`;
  const name = (members: number, bits: number) => `${members},${bits}`;
  const caught = THRESHOLDS_MS.map(() => 0), flagged = THRESHOLDS_MS.map(() => 0);
  let events = 0, above = 0;
  for (const scale of a.scales) {
    const byMode = new Map<string, number>();
    for (const path of a.traces) {
      const trace = readTrace(path);
      for (const fps of a.fps) for (const deadlineMs of a.deadlines) {
        const sim = { fps, deadlineMs, frames: a.frames ?? ds.count, order, overheadBytes: a.overhead, dropLate: a.send === 'drop-late' };
        const run = (n: string) => {
          const link = new TraceLink(trace, { scale, delayMs: a.delayMs });
          return simulate(ds, link, makeController(n, ds.modes, { deadlineMs, fps, linkPacketBytes: linkPacketFor(a, link) }, a.tuning), sim).frames;
        };
        const slim = run('slim'), small = run(smallestName);
        for (let k = 0; k < slim.length; k++) {
          const f = slim[k];
          const excess = f.missed && !small[k].missed;
          if (excess) {
            let label = `${name(f.members, f.bits)} sent in it`;
            if (f.mode === smallestIdx) {
              let big = -1;
              for (let j = Math.max(0, k - 5); j < k; j++) if (big < 0 || slim[j].bytes > slim[big].bytes) big = j;
              label = `queued behind ${big >= 0 ? name(slim[big].members, slim[big].bits) : '-'}`;
            }
            byMode.set(label, (byMode.get(label) ?? 0) + 1);
          }
          if (f.mode < 0 || f.mode === smallestIdx) continue;
          above++;
          if (excess) events++;
          let late = 0, seen = 0;
          for (let j = k - 1; j >= 0 && seen < 3; j--) {
            const g = slim[j];
            if (!(g.resultAt <= f.capturedAt) || !Number.isFinite(g.uplinkMs)) continue;
            seen++;
            late = Math.max(late, g.uplinkMs - a.delayMs - (g.bytes / g.uplinkBps) * 1000);
          }
          THRESHOLDS_MS.forEach((t, i) => {
            if (seen > 0 && late > t) {
              flagged[i]++;
              if (excess) caught[i]++;
            }
          });
        }
      }
    }
    console.log(`scale ${scaleName(scale)}: ${[...byMode].sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k}: ${v}`).join('; ') || 'no excess frames'}`);
  }
  console.log(`frames sent above the smallest mode ${above}, of them missed beyond the smallest mode ${events}`);
  THRESHOLDS_MS.forEach((t, i) =>
    console.log(`largest late arrival of the last three results > ${t} ms: before ${caught[i]} of the ${events} (${((100 * caught[i]) / Math.max(events, 1)).toFixed(0)}%), and before ${flagged[i]} of all ${above} (${((100 * flagged[i]) / Math.max(above, 1)).toFixed(1)}%)`),
  );
}

const at = process.argv.indexOf('--rows');
if (at >= 0) fromRows(process.argv[at + 1]);
else fromReplay().catch((e) => {
  console.error((e as Error).message);
  process.exit(1);
});
