/**
 * Kernel benchmark: slimsplit (SIMD and scalar builds) against onnxruntime-web and
 * tfjs-backend-wasm on real layer shapes, one thread, batch 1, float32.
 *
 *   npm run bench:kernels              # every shape, writes bench/results/kernels.json
 *   npx tsx bench/kernels.bench.ts b e # a subset by letter (the JSON is not written)
 *   npx tsx bench/kernels.bench.ts instnorm se-see  # registry ops by op name or case id
 *   npx tsx bench/kernels.bench.ts --wall  # time by wall clock instead of CPU time
 *
 * Two parts. The peer shapes (a-i below) run the conv kernels against the peers. Then every op
 * of the registry (src/engine/ops/registry.ts OPS, so an op added there is timed here) runs its
 * OpSpec's bench cases: a one-layer graph, packed and compiled, timed as Runner.run (one
 * plan_run) on both builds; an op without cases is named as such.
 * Every engine gets the same seeded input, weights and bias and must match an f64 reference
 * (normalized error < 1e-4; for registry ops the OpSpec's ref) before it is timed. An engine
 * that does not is reported (MISMATCH), left out of that shape, and fails the run: exit code 1,
 * no JSON.
 * Timing: tinybench, medians after warm-up. The machine is shared, so each shape runs
 * ROUNDS short tinybench rounds that visit the engines in turn, and the reported median is
 * the median of the round medians: background load then hits every engine alike. The clock
 * is this process's CPU time (process.cpuUsage) unless --wall is given: on a machine with
 * more runnable jobs than cores a wall-clock sample includes whole time slices spent
 * descheduled (seen here: the same 2 ms call measuring 2..160 ms), CPU time does not. All
 * engines compute on this thread (ort-web with numThreads = 1, tfjs with 1 thread).
 * GFLOP/s = 2 x multiply-adds / median time; "vs best peer" = best peer's time / this time.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { loadEngine, Arena, type Build } from '../src/engine/wasm.js';
import { convGeometry, type Conv2dArgs, type Padding } from '../src/engine/ops/types.js';
import { dwconv } from '../src/engine/ops/dwconv.js';
import { pointwise } from '../src/engine/ops/matmul.js';
import { conv2d, conv2dScratchBytes } from '../src/engine/ops/conv2d.js';
import { OPS, OP_NAMES } from '../src/engine/ops/registry.js';
import { Act } from '../src/engine/ops/act.js';
import type { BenchCase } from '../src/engine/ops/spec.js';
import { packGraph } from '../src/format/pack.js';
import { readBlob } from '../src/format/reader.js';
import { Runner } from '../src/engine/plan/runner.js';
import { median } from '../src/util.js';
import { initPeers, ortConv, tfjsConv, convRef, normErr, seeded, macs, outSize, type ConvSpec, type Peer } from './peers.js';

/** peer shapes: the kernel a conv lowers to; registry cases: the op's registry name */
type Op = string;
type EngineName = 'slimsplit-simd' | 'slimsplit-scalar' | 'ort-web' | 'tfjs-wasm';
const PEERS: EngineName[] = ['ort-web', 'tfjs-wasm'];

interface Shape { id: string; op: Op; what: string; cin: number; cout: number; groups: number; H: number; k: number; stride: number; pad: Padding }

const SHAPES: Shape[] = [
  { id: 'a', op: 'conv2d', what: 'conv3x3 s2 p1 3->32 @224', cin: 3, cout: 32, groups: 1, H: 224, k: 3, stride: 2, pad: 'same' },
  { id: 'b', op: 'dwconv', what: 'dw3x3 s1 p1 32ch @112', cin: 32, cout: 32, groups: 32, H: 112, k: 3, stride: 1, pad: 'same' },
  { id: 'c', op: 'pointwise', what: 'pw 32->16 @112', cin: 32, cout: 16, groups: 1, H: 112, k: 1, stride: 1, pad: 'none' },
  { id: 'd', op: 'pointwise', what: 'pw 96->24 @56', cin: 96, cout: 24, groups: 1, H: 56, k: 1, stride: 1, pad: 'none' },
  { id: 'e', op: 'dwconv', what: 'dw3x3 s2 p1 144ch @56', cin: 144, cout: 144, groups: 144, H: 56, k: 3, stride: 2, pad: 'same' },
  { id: 'f', op: 'conv2d', what: 'conv3x3 s1 p1 64->64 @32', cin: 64, cout: 64, groups: 1, H: 32, k: 3, stride: 1, pad: 'same' },
  { id: 'g', op: 'conv2d', what: 'conv3x3 s1 p1 16->16 @32', cin: 16, cout: 16, groups: 1, H: 32, k: 3, stride: 1, pad: 'same' },
  { id: 'h', op: 'conv2d', what: 'SEE block 3x3 tf-same 4x(6->36) @96', cin: 24, cout: 144, groups: 4, H: 96, k: 3, stride: 1, pad: 'tf-same' },
  { id: 'i', op: 'conv2d', what: 'SEE stem 3x3 s2 none 3->24 @384', cin: 3, cout: 24, groups: 1, H: 384, k: 3, stride: 2, pad: 'none' },
];
const GEOMEAN_SET = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
const ROUNDS = 5;
const ROUND_MS = 100;
const TOLERANCE = 1e-4;

interface Row { op: Op; shape: string; engine: EngineName; medianMs: number; gflops: number; clock: 'cpu' | 'wall' }

function specOf(s: Shape, seed: number): ConvSpec {
  const g = convGeometry(s.H, s.H, s.k, s.stride, s.pad);
  const fanIn = (s.cin / s.groups) * s.k * s.k;
  return {
    cin: s.cin, cout: s.cout, groups: s.groups, H: s.H, W: s.H, k: s.k, stride: s.stride,
    padT: g.padT, padL: g.padL, padB: g.padB, padR: g.padR,
    x: seeded(s.cin * s.H * s.H, seed),
    w: seeded(s.cout * fanIn, seed + 1, 1 / Math.sqrt(fanIn)),
    bias: seeded(s.cout, seed + 2, 0.1),
  };
}

/** One slimsplit build running the shape's op on resident buffers. */
function ours(build: Build, s: Shape, spec: ConvSpec): Peer {
  const eng = loadEngine({ build });
  const a = new Arena(eng);
  const { OH, OW } = outSize(spec);
  const put = (v: Float32Array) => {
    const p = a.allocF32(v.length);
    eng.f32().set(v, p >> 2);
    return p;
  };
  const x = put(spec.x), w = put(spec.w), bias = put(spec.bias);
  const y = a.allocF32(s.cout * OH * OW);
  const args: Conv2dArgs = { x, w, y, bias, cin: s.cin, cout: s.cout, groups: s.groups, H: s.H, W: s.H, k: s.k, stride: s.stride, pad: s.pad };
  let run: () => void;
  if (s.op === 'dwconv') run = () => dwconv(eng, args);
  else if (s.op === 'pointwise') run = () => pointwise(eng, args);
  else {
    args.scratch = a.alloc(conv2dScratchBytes(args), 64);
    run = () => conv2d(eng, args);
  }
  return { run, output: async () => eng.f32().slice(y >> 2, (y >> 2) + s.cout * OH * OW) };
}

/** The layer's first buffer field of one of the roles, in field order. */
function bufferField(op: string, roles: string[]): { name: string; u8: boolean } | undefined {
  const f = OPS[op].fields.find((q) => q.kind === 'buffer' && roles.includes(q.role!));
  return f && { name: f.name, u8: f.dtype === 'u8' };
}

/** A registry op's bench case as a one-layer blob, its seeded input, and its f64 reference output. */
function caseSetup(op: string, c: BenchCase, seed: number): { blob: Uint8Array; input: Float32Array | Uint8Array; ref: Float64Array } {
  const inF = bufferField(op, ['in', 'inout']), outF = bufferField(op, ['out']) ?? bufferField(op, ['inout']);
  if (!inF || !outF) throw new Error(`bench: op '${op}' has no input or output buffer field`);
  const inName = c.layer[inF.name] as string, outName = c.layer[outF.name] as string;
  const count = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
  const tensorShapes = Object.entries(c.tensors ?? {});
  const tensors: Record<string, { shape: number[]; offset: number }> = {};
  let at = 0;
  for (const [name, shape] of tensorShapes) {
    tensors[name] = { shape, offset: at };
    at += Math.ceil((4 * count(shape)) / 16) * 16;
  }
  const bin = new Uint8Array(at);
  const values = new Map<string, Float32Array>();
  tensorShapes.forEach(([name, shape], i) => {
    const v = seeded(count(shape), seed + 10 + i, 1 / Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1)));
    values.set(name, v);
    bin.set(new Uint8Array(v.buffer), tensors[name].offset);
  });
  const inShape = c.buffers[inName];
  const input = inF.u8 ? Uint8Array.from(seeded(count(inShape), seed), (v) => Math.floor((v + 1) * 8)) : seeded(count(inShape), seed);
  const graph = {
    name: `bench-${c.id}`,
    input: { shape: inShape },
    tensors,
    graphs: { bench: { input: inName, output: outName, buffers: c.buffers, layers: [{ op, ...c.layer }] } },
  };
  const blob = packGraph(graph, bin);
  // the f64 reference: every buffer zero but the input, the layer through OPS[op].ref
  const bufs = new Map(Object.entries(c.buffers).map(([name, shape]) => [name, new Float64Array(count(shape))]));
  bufs.get(inName)!.set(input);
  const f = c.layer;
  let written = 0;
  OPS[op].ref({
    num: (k) => f[k] as number,
    opt: (k) => (f[k] === undefined || f[k] === null ? undefined : (f[k] as number)),
    str: (k) => f[k] as string,
    value: (k) => f[k] ?? null,
    act: f.act === undefined || f.act === null ? 0 : Act[f.act as keyof typeof Act],
    buf: (k) => bufs.get(f[k] as string)!,
    shape: (k) => c.buffers[f[k] as string],
    tensor: (k) => (f[k] === undefined || f[k] === null ? undefined : values.get(f[k] as string)),
    put: (k, y) => {
      bufs.get(f[k] as string)!.set(Array.from(y));
      if (f[k] === outName) written = y.length;
    },
  });
  return { blob, input, ref: bufs.get(outName)!.slice(0, written) };
}

/**
 * One slimsplit build running a registry op's case through its compiled plan. The first run (the
 * one checked) copies the input in; later ones run on the buffer as it is (an in-place op then
 * works on its own output), so that the timings are the op's, not a copy's.
 */
function oursPlan(build: Build, blob: Uint8Array, input: Float32Array | Uint8Array): Peer {
  const runner = new Runner(loadEngine({ build }), readBlob(blob), 'bench');
  let pending: Float32Array | Uint8Array | undefined = input;
  let out: Float32Array | Uint8Array = new Float32Array(0);
  return {
    run: () => {
      out = runner.run(pending);
      pending = undefined;
    },
    output: async () => Float32Array.from(out),
  };
}

/** Milliseconds of CPU time used by this process (all threads; the engines use one). */
function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

interface Ctx {
  now: () => number;
  wall: boolean;
  t0: number;
  rows: Row[];
  mismatches: string[];
}

/**
 * Checks every engine against the f64 reference (an engine that disagrees is reported, left out
 * of this shape, and fails the run at the end), then times the rest in ROUNDS interleaved rounds.
 */
async function measure(ctx: Ctx, op: Op, id: string, what: string, engines: Array<[EngineName, Peer]>, ref: ArrayLike<number>, flops: number): Promise<void> {
  for (let i = engines.length - 1; i >= 0; i--) {
    const [name, e] = engines[i];
    await e.run();
    const err = normErr(await e.output(), ref);
    if (!(err < TOLERANCE)) {
      const msg = `(${id}) ${what}: ${name} disagrees with the f64 reference (normalized error ${err.toExponential(2)} >= ${TOLERANCE})`;
      console.error(`MISMATCH ${msg}`);
      ctx.mismatches.push(msg);
      engines.splice(i, 1);
    }
  }
  const perRound = new Map<EngineName, number[]>(engines.map(([n]) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) {
    const bench = new Bench({ now: ctx.now, time: ROUND_MS, warmupTime: r === 0 ? 150 : 20, warmupIterations: r === 0 ? 10 : 2, iterations: 5 });
    for (const [name, e] of engines) bench.add(name, () => e.run());
    await bench.run();
    for (const t of bench.tasks) {
      const res = t.result;
      if (res.state !== 'completed') throw new Error(`bench: (${id}) ${t.name} did not complete: ${res.state}`);
      perRound.get(t.name as EngineName)!.push(res.latency.p50);
    }
  }
  for (const [name] of engines) {
    const ms = median(perRound.get(name)!);
    ctx.rows.push({ op, shape: id, engine: name, medianMs: ms, gflops: flops / ms / 1e6, clock: ctx.wall ? 'wall' : 'cpu' });
  }
  console.log(`(${id}) ${what}: measured (${((performance.now() - ctx.t0) / 1000).toFixed(0)} s)`);
}

async function main(): Promise<number> {
  const only = process.argv.slice(2).filter((x) => !x.startsWith('-'));
  const wall = process.argv.includes('--wall');
  const ctx: Ctx = { now: wall ? () => performance.now() : cpuNow, wall, t0: performance.now(), rows: [], mismatches: [] };
  const { rows, mismatches, t0 } = ctx;

  const peerShapes = SHAPES.filter((s) => !only.length || only.includes(s.id));
  if (peerShapes.length) await initPeers();
  for (const s of peerShapes) {
    const spec = specOf(s, 1000 + s.id.charCodeAt(0));
    const engines: Array<[EngineName, Peer]> = [
      ['slimsplit-simd', ours('simd', s, spec)],
      ['slimsplit-scalar', ours('scalar', s, spec)],
      ['ort-web', await ortConv(spec)], // session creation stays outside the timings
      ['tfjs-wasm', tfjsConv(spec)],
    ];
    await measure(ctx, s.op, s.id, s.what, engines, convRef(spec), 2 * macs(spec));
  }

  // every registry op, through its compiled one-layer plan (no peers: both builds)
  const noCase: string[] = [];
  for (const op of OP_NAMES) {
    const cases = (OPS[op].bench ?? []).filter((c) => !only.length || only.includes(op) || only.includes(c.id));
    if (!OPS[op].bench?.length) noCase.push(op);
    for (const c of cases) {
      const { blob, input, ref } = caseSetup(op, c, 2000 + c.id.length);
      const engines: Array<[EngineName, Peer]> = [
        ['slimsplit-simd', oursPlan('simd', blob, input)],
        ['slimsplit-scalar', oursPlan('scalar', blob, input)],
      ];
      await measure(ctx, op, c.id, `${op}: ${c.what}`, engines, ref, c.flops);
    }
  }
  if (noCase.length) console.log(`no bench case (add \`bench\` to the OpSpec): ${noCase.join(', ')}`);

  console.log(`\nclock: ${wall ? 'wall (performance.now)' : 'CPU time of this process'}; ${ROUNDS} rounds x ${ROUND_MS} ms per engine and shape`);
  const sw = Math.max(6, ...rows.map((r) => r.shape.length));
  console.log(`${'op'.padEnd(10)} ${'shape'.padEnd(sw)} ${'engine'.padEnd(17)} ${'median ms'.padStart(10)} ${'GFLOP/s'.padStart(8)} ${'vs best peer'.padStart(13)}`);
  const ratios: number[] = [];
  for (const id of [...new Set(rows.map((r) => r.shape))]) {
    const rs = rows.filter((r) => r.shape === id);
    const peers = rs.filter((r) => PEERS.includes(r.engine));
    const best = peers.length ? Math.min(...peers.map((r) => r.medianMs)) : NaN;
    for (const r of rs) {
      const ratio = best / r.medianMs;
      console.log(`${r.op.padEnd(10)} ${r.shape.padEnd(sw)} ${r.engine.padEnd(17)} ${r.medianMs.toFixed(3).padStart(10)} ${r.gflops.toFixed(1).padStart(8)} ${(peers.length ? ratio.toFixed(2) + 'x' : '-').padStart(13)}`);
      if (r.engine === 'slimsplit-simd' && GEOMEAN_SET.includes(id)) ratios.push(ratio);
    }
  }
  if (ratios.length) {
    const gm = Math.exp(ratios.reduce((acc, v) => acc + Math.log(v), 0) / ratios.length);
    const which = rows.filter((r) => r.engine === 'slimsplit-simd' && GEOMEAN_SET.includes(r.shape)).map((r) => r.shape).join('');
    console.log(`\ngeometric mean of slimsplit-simd speed / best peer over (${which}): ${gm.toFixed(2)}x` +
      (ratios.length < GEOMEAN_SET.length ? ` (partial: ${GEOMEAN_SET.length - ratios.length} of a..g missing)` : ''));
  }
  if (mismatches.length) {
    console.error(`\nFAILED: ${mismatches.length} engine output(s) disagree with the f64 reference; results not written:`);
    for (const m of mismatches) console.error(`  ${m}`);
    return 1;
  }
  if (!only.length) {
    const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'kernels.json');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(rows.map((r) => ({ ...r, medianMs: +r.medianMs.toFixed(4), gflops: +r.gflops.toFixed(2) })), null, 2) + '\n');
    console.log(`wrote ${out}`);
  }
  console.log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return 0;
}

// tfjs-backend-wasm's Emscripten glue rethrows unhandled rejections with its whole source
// attached, so errors are caught here and the process exits with a plain message.
try {
  process.exitCode = await main();
} catch (e) {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
}
