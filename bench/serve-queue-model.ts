/**
 * What p99 queueing delay the serve scheduler can reach at all, apart from any machine: a
 * discrete-event model of the main thread's queue and the decoder pool. Workers decode in a fixed
 * time D (plus optional jitter); the main thread hands a frame to the least loaded worker holding
 * fewer than `depth` frames, the hand-over takes `handoff` ms and a worker's answer `reply` ms to
 * reach the main thread, which only then frees the slot. Queue delay is measured as the server
 * reports it: from receipt on the main thread to the worker starting the decode.
 *
 * Arrivals: 'poisson' (independent devices), or 'ticks' as bench/serve.bench.ts's open loop sends
 * them (every `tick` ms, what the schedule owes, so a burst per tick), optionally with the tick
 * delayed by up to `jitter` ms (a busy load generator).
 *
 *   npx tsx bench/serve-queue-model.ts                 # the table for the shipped models' decode times
 */
import { rng } from '../test/device/synth.js';

interface Params {
  workers: number;
  load: number;
  decodeMs: number;
  /** uniform +-fraction of decodeMs */
  decodeJitter: number;
  depth: number;
  handoffMs: number;
  replyMs: number;
  arrivals: 'poisson' | 'ticks';
  tickMs: number;
  tickJitterMs: number;
  frames: number;
  seed: number;
}


function arrivalTimes(p: Params, rand: () => number): number[] {
  const rate = (p.load * p.workers) / p.decodeMs; // frames per ms
  const out: number[] = [];
  if (p.arrivals === 'poisson') {
    let t = 0;
    for (let i = 0; i < p.frames; i++) out.push((t += -Math.log(1 - rand()) / rate));
    return out;
  }
  let sent = 0;
  for (let k = 1; sent < p.frames; k++) {
    const at = k * p.tickMs + rand() * p.tickJitterMs;
    const owed = Math.floor(k * p.tickMs * rate) - sent;
    for (let i = 0; i < owed && sent < p.frames; i++, sent++) out.push(at);
  }
  return out.sort((a, b) => a - b);
}

/** p50 and p99 queue delay in decode times */
export function simulate(p: Params): { p50: number; p99: number } {
  const rand = rng(p.seed);
  const arrive = arrivalTimes(p, rand);
  // per worker: the time its local queue runs dry, and how many frames it holds as the main thread sees it
  const freeAt = new Array(p.workers).fill(0);
  const held: number[][] = Array.from({ length: p.workers }, () => []); // times the main thread learns each held frame is done
  const waits: number[] = [];
  const queue: number[] = []; // arrival times waiting on the main thread
  let qi = 0;
  let ai = 0;
  let now = 0;
  const heldCount = (w: number, t: number): number => {
    const h = held[w];
    while (h.length && h[0] <= t) h.shift();
    return h.length;
  };
  while (waits.length < arrive.length) {
    // next event: an arrival, or a worker's answer reaching the main thread
    let nextDone = Infinity;
    for (let w = 0; w < p.workers; w++) if (heldCount(w, now) > 0 && held[w][0] < nextDone) nextDone = held[w][0];
    const nextArrive = ai < arrive.length ? arrive[ai] : Infinity;
    now = Math.max(now, Math.min(nextDone, nextArrive));
    while (ai < arrive.length && arrive[ai] <= now) queue.push(arrive[ai++]);
    // hand over while a worker has room
    for (;;) {
      if (qi >= queue.length) break;
      let best = -1;
      let bestN = Infinity;
      for (let w = 0; w < p.workers; w++) {
        const n = heldCount(w, now);
        if (n < p.depth && n < bestN) {
          best = w;
          bestN = n;
        }
      }
      if (best < 0) break;
      const t0 = queue[qi++];
      const reach = now + p.handoffMs;
      const start = Math.max(reach, freeAt[best]);
      const d = p.decodeMs * (1 + (2 * rand() - 1) * p.decodeJitter);
      freeAt[best] = start + d;
      held[best].push(start + d + p.replyMs);
      held[best].sort((a, b) => a - b);
      waits.push(start - t0);
    }
    if (qi > 4096) {
      queue.splice(0, qi);
      qi = 0;
    }
  }
  waits.sort((a, b) => a - b);
  return { p50: waits[Math.floor(0.5 * waits.length)] / p.decodeMs, p99: waits[Math.floor(0.99 * waits.length)] / p.decodeMs };
}

function main(): void {
  const base: Params = { workers: 2, load: 0.7, decodeMs: 1.2, decodeJitter: 0.1, depth: 2, handoffMs: 0.05, replyMs: 0.05, arrivals: 'ticks', tickMs: 2, tickJitterMs: 0, frames: 200_000, seed: 7 };
  console.log('p99 queue delay in decode times, 2 workers, 70% load, decode +-10%, hand-over and answer 0.05 ms each');
  console.log('| decode ms | arrivals | depth 1 | depth 2 | depth 3 |\n| --- | --- | --- | --- | --- |');
  for (const decodeMs of [1.2, 1.7, 3.7, 5.1]) {
    for (const [name, a] of [
      ['bench ticks (2 ms)', { arrivals: 'ticks', tickJitterMs: 0 }],
      ['bench ticks, up to 2 ms late', { arrivals: 'ticks', tickJitterMs: 2 }],
      ['poisson', { arrivals: 'poisson' }],
    ] as [string, Partial<Params>][]) {
      const cells = [1, 2, 3].map((depth) => simulate({ ...base, ...a, decodeMs, depth }).p99.toFixed(2));
      console.log(`| ${decodeMs} | ${name} | ${cells.join(' | ')} |`);
    }
  }
}

main();
