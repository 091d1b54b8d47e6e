/**
 * MobileNetV2 1.0 @224 end to end: the imported TFLite network (`slimsplit import`) in the engine,
 * SIMD and scalar builds, against tfjs-backend-wasm and onnxruntime-web running the same
 * dequantized network (same weights, padding and fused activations: bench/ir-peers.ts), one thread,
 * in the same run; onnxruntime-node (native MLAS) as the out-of-WASM reference.
 *
 *   npm run bench:mobilenet                       # 30 timed rounds, writes bench/results/mobilenet.json
 *   npm run bench:mobilenet -- --rounds 3         # a quick check that everything runs
 *   npm run bench:mobilenet -- --layers           # also the per-layer breakdown
 *
 * Every engine's output is first checked against the f64 reference of the network (normalized
 * error), so the timings are of the same work. Rounds are interleaved (each round runs every
 * engine once, in rotating order) so that load on a shared machine falls on all of them alike.
 */
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-web';
import { loadEngine, type Build } from '../src/engine/wasm.js';
import { Runner } from '../src/engine/plan/runner.js';
import { readBlob } from '../src/format/reader.js';
import { decodeImage, toInput } from '../src/model/image.js';
import { importModel, referenceForward, referenceActivations, nodeMacs, type IrGraph, type IrNode } from '../src/import/index.js';
import { initPeers, normErr } from './peers.js';
import { irToOnnx, irToTfjs, nchwToNhwc } from './ir-peers.js';
import { layerAlone } from './subgraph.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const ROUNDS = Number(arg('--rounds') ?? 30);
const LAYERS = process.argv.includes('--layers');
const MODEL = arg('--model') ?? join(ROOT, '../shared/models/mobilenet-v2/mobilenet_v2_1.0_224_quant.tflite');
const IMAGE = arg('--image') ?? join(ROOT, '../shared/datasets/imagenet-samples/n01440764_tench.JPEG');
const OUT = arg('--out') ?? join(ROOT, 'bench/results/mobilenet.json');
if (!existsSync(MODEL)) throw new Error(`bench: ${MODEL} not found (the ../shared models folder; or pass --model <file.tflite>)`);

type Engine = 'slimsplit-simd' | 'slimsplit-scalar' | 'tfjs-wasm' | 'onnxruntime-web' | 'onnxruntime-node';
interface Contender {
  engine: Engine;
  run(): Promise<void> | void;
  output(): Promise<Float32Array> | Float32Array;
}

/** The engines on one (sub)graph: blob runners for both builds, tfjs, ORT web and node sessions. */
async function build(ir: IrGraph, x: Float32Array, ortNode: typeof import('onnxruntime-node') | null): Promise<Contender[]> {
  const { lowerGraph } = await import('../src/import/graph.js');
  const { packGraph } = await import('../src/format/pack.js');
  const { json, bin } = lowerGraph(ir);
  const blob = readBlob(packGraph(json, bin));
  const out: Contender[] = [];
  for (const b of ['simd', 'scalar'] as Build[]) {
    const r = new Runner(loadEngine({ build: b }), blob, 'classifier');
    const inp = Float32Array.from(x);
    let y: Float32Array | null = null;
    out.push({
      engine: `slimsplit-${b}` as Engine,
      run() {
        y = r.run(inp) as Float32Array;
      },
      output: () => Float32Array.from(y!),
    });
  }
  // every engine takes its input from a JS array each run, as a caller does per frame: the blob
  // runners copy it into WASM memory, tfjs makes a tensor of it (already NHWC: its layout, not its
  // work), the ORT sessions copy their feed
  const tfx = irToTfjs(ir);
  const [C0, H0, W0] = ir.tensors.get(ir.input)!.shape;
  const nhwc = nchwToNhwc(x, C0, H0, W0);
  tfx.run(x);
  out.push({ engine: 'tfjs-wasm', run: () => tfx.runNhwc(nhwc), output: () => tfx.output() });
  const onnx = irToOnnx(ir);
  const shape = [1, ...ir.tensors.get(ir.input)!.shape];
  const web = await ort.InferenceSession.create(onnx.bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  const feedW = { x: new ort.Tensor('float32', x, shape) };
  let lastW: ort.Tensor | null = null;
  out.push({
    engine: 'onnxruntime-web',
    async run() {
      lastW = (await web.run(feedW))[onnx.output] as ort.Tensor;
    },
    output: () => Float32Array.from(lastW!.data as Float32Array),
  });
  if (ortNode) {
    const nat = await ortNode.InferenceSession.create(onnx.bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3 });
    const feedN = { x: new ortNode.Tensor('float32', x, shape) };
    let lastN: import('onnxruntime-node').Tensor | null = null;
    out.push({
      engine: 'onnxruntime-node',
      async run() {
        lastN = (await nat.run(feedN))[onnx.output];
      },
      output: () => Float32Array.from(lastN!.data as Float32Array),
    });
  }
  return out;
}

async function time(cs: Contender[], rounds: number): Promise<Map<Engine, number[]>> {
  const t = new Map<Engine, number[]>(cs.map((c) => [c.engine, []]));
  // warm-up: first calls run baseline-compiled code (docs: PERF-NOTES)
  for (let w = 0; w < 3; w++) for (const c of cs) await c.run();
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < cs.length; k++) {
      const c = cs[(k + r) % cs.length];
      const t0 = performance.now();
      await c.run();
      t.get(c.engine)!.push(performance.now() - t0);
    }
  }
  return t;
}

const median = (a: number[]): number => {
  const s = [...a].sort((p, q) => p - q);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};


async function main(): Promise<void> {
  await initPeers();
  ort.env.logLevel = 'error';
  let ortNode: typeof import('onnxruntime-node') | null = null;
  try {
    ortNode = await import('onnxruntime-node');
  } catch (e) {
    console.warn(`onnxruntime-node not available (${(e as Error).message.split('\n')[0]}); it is a devDependency: run npm ci`);
  }
  const { ir } = importModel(new Uint8Array(readFileSync(MODEL)));
  const [C, H, W] = ir.tensors.get(ir.input)!.shape;
  const x = new Float32Array(C * H * W);
  toInput(decodeImage(new Uint8Array(readFileSync(IMAGE))), [C, H, W], ir.mean, ir.std, x);
  const macs = ir.nodes.reduce((s, n) => s + nodeMacs(n, ir), 0);
  console.log(`MobileNetV2 1.0 @${H}x${W} from ${MODEL.replace(/^.*\//, '')}: ${(macs / 1e6).toFixed(1)} M multiply-adds; node ${process.version}; ${ROUNDS} rounds, one thread`);
  const cs = await build(ir, x, ortNode);
  const ref = referenceForward(ir, x);
  for (const c of cs) {
    await c.run();
    const e = normErr(await c.output(), ref);
    console.log(`  ${c.engine.padEnd(18)} output vs f64 reference: normalized error ${e.toExponential(2)}`);
    if (!(e < 1e-4)) throw new Error(`bench: ${c.engine} does not compute the same network (error ${e})`);
  }
  const t = await time(cs, ROUNDS);
  const rows = cs.map((c) => ({ engine: c.engine, medianMs: Number(median(t.get(c.engine)!).toFixed(3)) }));
  const wasmPeers = rows.filter((r) => r.engine === 'tfjs-wasm' || r.engine === 'onnxruntime-web');
  const best = Math.min(...wasmPeers.map((r) => r.medianMs));
  const native = rows.find((r) => r.engine === 'onnxruntime-node')?.medianMs;
  console.log('\n| engine | median ms | GFLOP/s | best WASM peer / this | native / this |\n| --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(`| ${r.engine} | ${r.medianMs.toFixed(2)} | ${((2 * macs) / r.medianMs / 1e6).toFixed(1)} | ${(best / r.medianMs).toFixed(2)}x | ${native ? (native / r.medianMs).toFixed(2) + 'x' : '-'} |`);
  }
  const result: Record<string, unknown> = { model: MODEL.replace(/^.*\//, ''), macs, rounds: ROUNDS, node: process.version, rows };
  if (LAYERS) {
    console.log('\nper layer (median ms of the layer run alone; last column: best WASM peer time / slimsplit-simd time):');
    console.log('| # | layer | shape | M MACs | ' + cs.map((c) => c.engine).join(' | ') + ' | simd / best WASM peer |');
    console.log('| --- | --- | --- | --- | ' + cs.map(() => '---').join(' | ') + ' | --- |');
    const layers: unknown[] = [];
    const acts = referenceActivations(ir, x);
    for (let i = 0; i < ir.nodes.length; i++) {
      const n = ir.nodes[i];
      if (n.op === 'alias') continue;
      const sub = layerAlone(ir, n);
      if (!sub) continue;
      const lx = Float32Array.from(acts.get(sub.input)!);
      const lc = await build(sub, lx, ortNode);
      const lt = await time(lc, ROUNDS);
      const med = lc.map((c) => median(lt.get(c.engine)!));
      const peer = Math.min(...lc.map((c, k) => (c.engine === 'tfjs-wasm' || c.engine === 'onnxruntime-web' ? med[k] : Infinity)));
      const m = nodeMacs(n, ir);
      const desc = n.op === 'conv2d' ? `${n.groups > 1 ? 'dw' : n.k === 1 ? 'pw' : 'conv'}${n.k}x${n.k}/${n.stride} ${n.cin}->${n.cout}` : n.op;
      const ys = ir.tensors.get(n.y)!.shape.join('x');
      console.log(`| ${i} | ${desc} | ${ys} | ${(m / 1e6).toFixed(2)} | ${med.map((v) => v.toFixed(3)).join(' | ')} | ${(peer / med[0]).toFixed(2)}x |`);
      layers.push({ index: i, layer: desc, out: ys, macs: m, ms: Object.fromEntries(lc.map((c, k) => [c.engine, Number(med[k].toFixed(4))])) });
    }
    result.layers = layers;
  }
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, JSON.stringify(result, null, 1) + '\n');
  console.log(`\nwrote ${OUT}`);
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
