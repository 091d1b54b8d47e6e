/**
 * The interleaved A/B timing of bench/mobilenet-ab.ts and bench/see-ab.ts: `rounds` rounds, each
 * running A then B (or B then A, alternating) `reps` times, timed by this process's CPU time so
 * other jobs' slices stay out. Returns each side's minimum ms per run and the median per-round B/A.
 */
export interface AbTimes {
  a: number;
  b: number;
  ratio: number;
}

/** `before`, when given, runs untimed before each timed block (e.g. evicting the caches). */
export function abTime(runA: () => void, runB: () => void, rounds: number, reps: number, before?: () => void): AbTimes {
  const runs = [runA, runB];
  const t: number[][] = [[], []];
  for (let k = 0; k < rounds; k++) {
    for (let j = 0; j < 2; j++) {
      const q = (k + j) % 2;
      before?.();
      const t0 = process.cpuUsage();
      for (let e = 0; e < reps; e++) runs[q]();
      const d = process.cpuUsage(t0);
      t[q].push((d.user + d.system) / 1000 / reps);
    }
  }
  const ratios = t[1].map((v, i) => v / t[0][i]).sort((p, q) => p - q);
  return { a: Math.min(...t[0]), b: Math.min(...t[1]), ratio: ratios[ratios.length >> 1] };
}
