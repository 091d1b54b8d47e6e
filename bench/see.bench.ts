/**
 * The SEE encoder (weights/see-384-random.slim) at 3x384x384, one thread, N = 1..4 members:
 * slimsplit (SIMD and scalar builds), onnxruntime-web (the same model exported from PyTorch,
 * test/fixtures/see/*.onnx) and PyTorch CPU (bench/see_torch.py), all in one run; then the
 * cost of switching modes, of loading, and the process's peak memory.
 *
 *   npm run bench:see                      # writes bench/results/see.json and see-switch.json
 *   npm run bench:see -- --iters 9 --rounds 3   # timed runs per engine and mode, spread over rounds
 *   npm run bench:see -- --skip-peers      # slimsplit only
 *
 * Every engine's output is checked against the float64 PyTorch golden output
 * (test/fixtures/see/out-n<N>.f32) and its normalized error printed: a fast wrong answer
 * does not count. Loading time and peak RSS come from fresh `node` processes running a bundle
 * of this file (esbuild), so they include module compilation and exclude tsx's own footprint.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadEngine, type Build } from '../src/engine/wasm.js';
import { readBlob } from '../src/format/reader.js';
import { packGraph } from '../src/format/pack.js';
import { Runner } from '../src/engine/plan/runner.js';
import { randn, nerr } from '../test/util.js';
import { median } from '../src/util.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const COMMITTED_BLOB = join(ROOT, 'weights/see-384-random.slim');
/** The blob under test: the committed one, or a fresh pack when it is stale (see resolveBlob); children get it by --blob. */
let blobPath = COMMITTED_BLOB;
const FIXTURES = join(ROOT, 'test/fixtures/see');
const RESULTS = join(ROOT, 'bench/results');
const MEMBERS = [1, 2, 3, 4];
const PYTHON = '/usr/bin/python3';

interface Meta {
  input: { n: number; seed: number; scale: number; shape: number[] };
  modes: Array<{ members: number; file: string; l2: number }>;
}
const meta: Meta = JSON.parse(readFileSync(join(FIXTURES, 'meta.json'), 'utf8'));

function goldenInput(): Float32Array {
  return randn(meta.input.n, meta.input.seed, meta.input.scale);
}

function golden(n: number): Float32Array {
  const b = readFileSync(join(FIXTURES, `out-n${n}.f32`));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

/** Multiply-adds of one member, from the architecture (papers.md: about 75.7 M). */
function macsPerMember(): number {
  const stem = 191 * 191 * 6 * 3 * 9;
  // [cin, cout, expand, output side]
  const blocks: Array<[number, number, number, number]> = [[6, 4, 1, 191], [4, 4, 1, 191], [4, 6, 6, 96], [6, 6, 6, 96], [6, 6, 6, 96]];
  let m = stem;
  for (const [cin, cout, e, s] of blocks) {
    const mid = cin * e;
    m += s * s * (mid * cin * 9 + mid * cout) + 2 * mid; // expand conv, projection, SE (two tiny 1x1s)
  }
  return m;
}

// ------------------------------------------------------------------------------------------
// slimsplit: the blob through the plan runner
// ------------------------------------------------------------------------------------------

interface SeeEncoder {
  setMembers(n: number): void;
  /** the runner's own input buffer, to fill without a copy */
  inputView(): Float32Array;
  /**
   * runs one inference (on x, or on what inputView() holds: refill it before every run, the
   * arena reuses its bytes) and returns a view of the 6x96x96 output, valid until the next run
   */
  run(x?: Float32Array): Float32Array;
}

/** The blob's encoder on one build: blob read, WASM compiled (first time per process), arena planned. */
async function openSlimsplit(build: Build): Promise<SeeEncoder> {
  const r = new Runner(loadEngine({ build }), readBlob(new Uint8Array(readFileSync(blobPath))), 'encoder');
  return { setMembers: (n) => r.setMode({ members: n }), inputView: () => r.inputView() as Float32Array, run: (x) => r.run(x) as Float32Array };
}

// ------------------------------------------------------------------------------------------
// Timing
// ------------------------------------------------------------------------------------------

interface Row {
  engine: string;
  members: number;
  medianMs: number;
  /** normalized L2 error against the float64 golden output */
  nerr: number;
  iters: number;
}

/**
 * One engine under test. The timing loop runs in rounds (every engine, every N, a few runs
 * each, then the next round), so a burst of background load lands on all engines alike.
 */
interface Contender {
  name: string;
  /** timed runs of mode n (after `warmup` untimed ones); returns ms per run */
  measure(n: number, warmup: number, runs: number): Promise<number[]>;
  /** the output of the last run of mode n */
  nerr(n: number): number;
}

async function slimsplitContender(build: Build, x: Float32Array): Promise<Contender> {
  const enc = await openSlimsplit(build);
  const errs = new Map<number, number>();
  return {
    name: `slimsplit-${build}`,
    async measure(n, warmup, runs) {
      enc.setMembers(n);
      let y = enc.run(x);
      for (let i = 1; i < warmup; i++) y = enc.run(x);
      const t: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        y = enc.run(x);
        t.push(performance.now() - t0);
      }
      errs.set(n, nerr(y, golden(n)));
      return t;
    },
    nerr: (n) => errs.get(n)!,
  };
}

async function ortContender(x: Float32Array): Promise<Contender> {
  // Imported here so the bundled child processes never load onnxruntime-web.
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  const feeds = { x: new ort.Tensor('float32', x, [1, 3, 384, 384]) };
  const sessions = new Map<number, Awaited<ReturnType<typeof ort.InferenceSession.create>>>();
  for (const n of MEMBERS) {
    const file = join(FIXTURES, `see-384-random.n${n}.onnx`);
    sessions.set(n, await ort.InferenceSession.create(readFileSync(file), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }));
  }
  const errs = new Map<number, number>();
  return {
    name: 'onnxruntime-web',
    async measure(n, warmup, runs) {
      const s = sessions.get(n)!;
      let out = await s.run(feeds);
      for (let i = 1; i < warmup; i++) out = await s.run(feeds);
      const t: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        out = await s.run(feeds);
        t.push(performance.now() - t0);
      }
      errs.set(n, nerr(out.z.data as Float32Array, golden(n)));
      return t;
    },
    nerr: (n) => errs.get(n)!,
  };
}

/**
 * PyTorch runs in its own process (bench/see_torch.py); each round is one invocation that times
 * every N, so `measure` serves that round's samples, fetched when N = 1 is asked for.
 */
function torchContender(): Contender | string {
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return `${PYTHON} with torch not found (${probe.error?.message ?? probe.stderr.trim().split('\n').pop()})`;
  let round = new Map<number, { samplesMs: number[]; nerr: number }>();
  const errs = new Map<number, number>();
  return {
    name: 'pytorch-cpu',
    async measure(n, warmup, runs) {
      if (n === MEMBERS[0]) {
        const r = spawnSync(PYTHON, [join(ROOT, 'bench/see_torch.py'), '--iters', String(runs), '--warmup', String(warmup)], { encoding: 'utf8', cwd: ROOT });
        if (r.status !== 0) throw new Error(`bench/see_torch.py failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { threads: number; results: Array<{ members: number; samplesMs: number[]; nerr: number }> };
        if (j.threads !== 1) throw new Error(`bench/see_torch.py ran with ${j.threads} threads, expected 1`);
        round = new Map(j.results.map((e) => [e.members, e]));
      }
      const e = round.get(n);
      if (!e) throw new Error(`bench/see_torch.py returned no result for N=${n}`);
      errs.set(n, e.nerr);
      return e.samplesMs;
    },
    nerr: (n) => errs.get(n)!,
  };
}

async function timeAll(contenders: Contender[], rounds: number, runsPerRound: number): Promise<Row[]> {
  const samples = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++) {
    for (const c of contenders) {
      for (const n of MEMBERS) {
        const t = await c.measure(n, 2, runsPerRound);
        const key = `${c.name}/${n}`;
        samples.set(key, [...(samples.get(key) ?? []), ...t]);
      }
    }
    process.stdout.write(`round ${r + 1}/${rounds} done\n`);
  }
  const rows: Row[] = [];
  for (const c of contenders) {
    for (const n of MEMBERS) {
      const t = samples.get(`${c.name}/${n}`)!;
      rows.push({ engine: c.name, members: n, medianMs: median(t), nerr: c.nerr(n), iters: t.length });
    }
  }
  return rows;
}

// ------------------------------------------------------------------------------------------
// Mode switching, loading, memory
// ------------------------------------------------------------------------------------------

interface SwitchReport {
  build: Build;
  /** the blob measured (relative to the repository) */
  blob: string;
  setModeUs: { medianPerCallUs: number; medianBatchedUs: number; calls: number };
  /** steadyMs: the run right after the first one; benchMedianMs: the timing loop's median for that mode */
  firstAfterSwitch: Array<{ from: number; to: number; firstMs: number; steadyMs: number; ratio: number; benchMedianMs: number }>;
  coldStart: { runs: number; loadMs: number; firstInferenceMs: number; loadPlusFirstMs: number; secondInferenceMs: number; members: number };
  /** VmHWM of a fresh `node` process (see peakRssKB) */
  peakRssMB: { slimsplitN4: number; nodeBaseline: number; onnxruntimeWebN4?: number };
}

async function measureSwitch(build: Build, x: Float32Array, steady: Map<number, number>): Promise<Omit<SwitchReport, 'blob' | 'coldStart' | 'peakRssMB'>> {
  const enc = await openSlimsplit(build);
  for (const n of MEMBERS) {
    enc.setMembers(n);
    enc.run(x);
  }
  // setMode alone: one call timed with hrtime (includes ~50 ns of timer overhead), and batches
  // of 1000 calls cycling through the modes (the timer amortized away).
  const modes = [1, 2, 3, 4];
  const per: number[] = [];
  for (let i = 0; i < 20000; i++) {
    const t0 = process.hrtime.bigint();
    enc.setMembers(modes[i & 3]);
    per.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  const batched: number[] = [];
  for (let b = 0; b < 200; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 1000; i++) enc.setMembers(modes[i & 3]);
    batched.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  // First inference right after a switch against the next one in the same mode (its steady
  // state, measured at the same moment: background load moves both alike); median of 5 each.
  const first: SwitchReport['firstAfterSwitch'] = [];
  const pairs: Array<[number, number]> = [[4, 1], [1, 4], [2, 3], [3, 2], [1, 2], [4, 3]];
  for (const [from, to] of pairs) {
    const f: number[] = [], st: number[] = [];
    for (let rep = 0; rep < 5; rep++) {
      enc.setMembers(from);
      enc.run(x);
      enc.setMembers(to);
      let t0 = performance.now();
      enc.run(x);
      f.push(performance.now() - t0);
      t0 = performance.now();
      enc.run(x);
      st.push(performance.now() - t0);
    }
    const firstMs = median(f), steadyMs = median(st);
    first.push({ from, to, firstMs, steadyMs, ratio: firstMs / steadyMs, benchMedianMs: steady.get(to)! });
  }
  return { build, setModeUs: { medianPerCallUs: median(per), medianBatchedUs: median(batched), calls: per.length + 200 * 1000 }, firstAfterSwitch: first };
}

/** Bundles this file for plain `node` (no tsx in the measured process). */
async function bundleChild(): Promise<string> {
  const { build } = await import('esbuild');
  const out = join(ROOT, '.tmp/see-bench-child.mjs');
  mkdirSync(dirname(out), { recursive: true });
  await build({
    entryPoints: [fileURLToPath(import.meta.url)], bundle: true, platform: 'node', format: 'esm', target: 'node20',
    outfile: out, external: ['onnxruntime-web', 'esbuild'], logLevel: 'error',
  });
  return out;
}

function runChild(bundle: string, args: string[]): Record<string, number> {
  const r = spawnSync(process.execPath, [bundle, ...args, '--blob', blobPath], { encoding: 'utf8', cwd: ROOT });
  if (r.status !== 0) {
    const lines = r.stderr.trim().split('\n');
    const msg = lines.find((l) => /^\w*Error: /.test(l)) ?? lines.slice(-3).join(' | ');
    throw new Error(`bench child ${args.join(' ')} failed (exit ${r.status}): ${msg}`);
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/**
 * test/util.ts randn(n, seed, scale) written straight into `dst`: the same values, without the
 * allocations (a child measuring peak memory should not count its test input's garbage).
 */
function fillRandn(dst: Float32Array, seed: number, scale: number): void {
  let s = seed >>> 0;
  for (let i = 0; i < dst.length; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    dst[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
}

/**
 * In a fresh process: load the blob (read, validate, compile WASM, plan the arena), encode once
 * at N = 4 (the input written into the runner's own buffer, outside the timings), report times
 * and peak memory, then check the output against the golden one.
 */
async function childLoad(build: Build): Promise<void> {
  const t0 = performance.now();
  const enc = await openSlimsplit(build);
  enc.setMembers(4);
  const t1 = performance.now();
  fillRandn(enc.inputView(), meta.input.seed, meta.input.scale);
  const t2 = performance.now();
  enc.run();
  const t3 = performance.now();
  // The arena reuses the input buffer's bytes once the stem has read it: fill it again.
  fillRandn(enc.inputView(), meta.input.seed, meta.input.scale);
  const t4 = performance.now();
  const y = enc.run();
  const t5 = performance.now();
  const rss = peakRssKB();
  const e = nerr(y, golden(4));
  if (!(e < 1e-4)) throw new Error(`slimsplit ${build} N=4 output is wrong in the child process (nerr ${e})`);
  console.log(JSON.stringify({ loadMs: t1 - t0, firstInferenceMs: t3 - t2, loadPlusFirstMs: t1 - t0 + (t3 - t2), secondInferenceMs: t5 - t4, ...rss }));
}

/**
 * Peak resident memory of this process in KB. On Linux, getrusage's maxRSS survives exec: a
 * child forked from a big parent (tsx here) reports the parent's size. VmHWM belongs to the
 * process's own address space, so it is the honest number; elsewhere fall back to maxRSS.
 */
function peakRssKB(): { peakKB: number; maxRssKB: number } {
  const maxRssKB = process.resourceUsage().maxRSS;
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return { peakKB: Number(m[1]), maxRssKB };
  } catch {
    /* not Linux */
  }
  return { peakKB: maxRssKB, maxRssKB };
}

async function childOrt(): Promise<void> {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  const s = await ort.InferenceSession.create(readFileSync(join(FIXTURES, 'see-384-random.n4.onnx')), { executionProviders: ['wasm'] });
  await s.run({ x: new ort.Tensor('float32', goldenInput(), [1, 3, 384, 384]) });
  console.log(JSON.stringify(peakRssKB()));
}

/**
 * A plan compiled for other kernels (scratch sizes changed since the blob was packed) does not
 * load, by design. The benchmark measures the engine as it is: it then packs the exported graph
 * afresh into .tmp/ and says so; the test (test/engine/see.test.ts) is what flags the stale blob.
 */
function resolveBlob(): void {
  if (!existsSync(COMMITTED_BLOB)) throw new Error(`${COMMITTED_BLOB} is missing: run /usr/bin/python3 train/see.py`);
  try {
    readBlob(new Uint8Array(readFileSync(COMMITTED_BLOB)));
    return;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== 'plan' && code !== 'version') throw e;
    const fresh = packGraph(JSON.parse(readFileSync(join(FIXTURES, 'see-384-random.graph.json'), 'utf8')), new Uint8Array(readFileSync(join(FIXTURES, 'see-384-random.tensors.bin'))));
    blobPath = join(ROOT, '.tmp/see-bench-fresh.slim');
    mkdirSync(dirname(blobPath), { recursive: true });
    writeFileSync(blobPath, fresh);
    console.log(`note: ${COMMITTED_BLOB} was packed for other kernels (${(e as Error).message.slice(0, 120)}...); benchmarking a fresh pack of test/fixtures/see/see-384-random.graph.json`);
  }
}

// ------------------------------------------------------------------------------------------

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

async function main(): Promise<void> {
  const iters = arg('--iters', 21);
  const rounds = arg('--rounds', 3);
  const skipPeers = process.argv.includes('--skip-peers');
  resolveBlob();
  const x = goldenInput();
  const macs = macsPerMember();
  console.log(`SEE encoder 3x384x384, ${(macs / 1e6).toFixed(1)} M multiply-adds per member, ${iters} timed runs in ${rounds} rounds, 1 thread`);

  const contenders: Contender[] = [await slimsplitContender('simd', x), await slimsplitContender('scalar', x)];
  if (!skipPeers) {
    contenders.push(await ortContender(x));
    const torch = torchContender();
    if (typeof torch === 'string') console.log(`pytorch-cpu skipped: ${torch}`);
    else contenders.push(torch);
  }
  const rows = await timeAll(contenders, rounds, Math.max(1, Math.round(iters / rounds)));

  const engines = [...new Set(rows.map((r) => r.engine))];
  const get = (e: string, n: number) => rows.find((r) => r.engine === e && r.members === n);
  console.log(`\n${'engine'.padEnd(18)} ${MEMBERS.map((n) => `N=${n} ms (GMAC/s)`.padStart(20)).join('')}   max nerr`);
  for (const e of engines) {
    const cells = MEMBERS.map((n) => {
      const r = get(e, n);
      return (r ? `${r.medianMs.toFixed(2)} (${((macs * n) / r.medianMs / 1e6).toFixed(1)})` : '-').padStart(20);
    });
    const worst = Math.max(...rows.filter((r) => r.engine === e).map((r) => r.nerr));
    console.log(`${e.padEnd(18)} ${cells.join('')}   ${worst.toExponential(1)}`);
  }
  for (const peer of ['onnxruntime-web', 'pytorch-cpu']) {
    if (!engines.includes(peer)) continue;
    const ratios = MEMBERS.map((n) => get(peer, n)!.medianMs / get('slimsplit-simd', n)!.medianMs);
    console.log(`slimsplit-simd speedup over ${peer}: ${ratios.map((r, i) => `N=${i + 1} ${r.toFixed(2)}x`).join(', ')}`);
  }
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'see.json'), JSON.stringify(rows, null, 1) + '\n');

  // Switching, loading and memory (SIMD build: the one a device with SIMD loads).
  const steady = new Map(MEMBERS.map((n) => [n, get('slimsplit-simd', n)!.medianMs]));
  const sw = await measureSwitch('simd', x, steady);
  const bundle = await bundleChild();
  const colds = [0, 1, 2].map(() => runChild(bundle, ['--child', 'load', 'simd']));
  const pick = (k: string) => median(colds.map((c) => c[k]));
  const baseline = runChild(bundle, ['--child', 'baseline']);
  const report: SwitchReport = {
    ...sw,
    blob: relative(ROOT, blobPath),
    coldStart: { runs: colds.length, members: 4, loadMs: pick('loadMs'), firstInferenceMs: pick('firstInferenceMs'), loadPlusFirstMs: pick('loadPlusFirstMs'), secondInferenceMs: pick('secondInferenceMs') },
    peakRssMB: { slimsplitN4: Math.max(...colds.map((c) => c.peakKB)) / 1024, nodeBaseline: baseline.peakKB / 1024 },
  };
  if (!skipPeers) report.peakRssMB.onnxruntimeWebN4 = runChild(bundle, ['--child', 'ort']).peakKB / 1024;
  writeFileSync(join(RESULTS, 'see-switch.json'), JSON.stringify(report, null, 1) + '\n');

  console.log(`\nsetMode: median ${report.setModeUs.medianPerCallUs.toFixed(3)} us per timed call, ${report.setModeUs.medianBatchedUs.toFixed(3)} us per call in batches of 1000`);
  for (const f of report.firstAfterSwitch) console.log(`first inference after ${f.from}->${f.to}: ${f.firstMs.toFixed(2)} ms vs steady ${f.steadyMs.toFixed(2)} ms (${f.ratio.toFixed(2)}x)`);
  const c = report.coldStart;
  console.log(`fresh process, N=4: load ${c.loadMs.toFixed(1)} ms + first inference ${c.firstInferenceMs.toFixed(1)} ms = ${c.loadPlusFirstMs.toFixed(1)} ms; second inference ${c.secondInferenceMs.toFixed(1)} ms (median of ${c.runs})`);
  const m = report.peakRssMB;
  console.log(`peak RSS: slimsplit N=4 ${m.slimsplitN4.toFixed(1)} MB (node running this bundle idle: ${m.nodeBaseline.toFixed(1)} MB)${m.onnxruntimeWebN4 ? `, onnxruntime-web N=4 ${m.onnxruntimeWebN4.toFixed(1)} MB` : ''}`);
  console.log(`wrote ${join(RESULTS, 'see.json')} and see-switch.json`);
}

const ci = process.argv.indexOf('--child');
const bi = process.argv.indexOf('--blob');
if (bi >= 0) blobPath = process.argv[bi + 1];
if (ci >= 0) {
  const kind = process.argv[ci + 1];
  if (kind === 'load') await childLoad(process.argv[ci + 2] as Build);
  else if (kind === 'ort') await childOrt();
  else if (kind === 'baseline') console.log(JSON.stringify(peakRssKB()));
  else throw new Error(`see.bench: unknown child '${kind}' (expected load, ort or baseline)`);
} else {
  await main();
}
