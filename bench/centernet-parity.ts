/**
 * `npm run eval:centernet`: the imported CenterNet (../shared/models/centernet, heads
 * tower_0/keypoints + tower_0/wh) in the engine against tfjs-backend-wasm executing the same
 * model.json, over the coco-val128 images (all 128 by default): heatmap relative error, size-head
 * error, top-100 peak agreement, and the engine's heads decoded by decodeCenterNet against the
 * graph's own tower_0/detections. Accuracy, not speed: the timings printed are only progress.
 *
 *   npm run eval:centernet                                   # all 128 images, SIMD build
 *   npm run eval:centernet -- --images 3 --build scalar      # a quick look
 *   npm run eval:centernet -- --json bench/results/centernet-parity.json
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { importModel } from '../src/import/index.js';
import { splitOutputs } from '../src/import/graph.js';
import { readBlob } from '../src/format/reader.js';
import { Runner } from '../src/engine/plan/runner.js';
import { loadEngine, type Build } from '../src/engine/wasm.js';
import { decodeImage, toInput } from '../src/model/image.js';
import { tfjsCenterNet, compareCenterNet, HEADS, type CenterNetParity } from './centernet-peer.js';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string', default: join(import.meta.dirname, '../../shared/models/centernet/centernet.json') },
    data: { type: 'string', default: join(import.meta.dirname, '../../shared/datasets/coco-val128/images') },
    images: { type: 'string' },
    build: { type: 'string', default: 'simd' },
    json: { type: 'string' },
  },
});
const build = a.build as Build;
if (build !== 'simd' && build !== 'scalar') throw new Error(`--build must be simd or scalar, got '${a.build}'`);
for (const p of [a.model!, a.data!]) if (!existsSync(p)) throw new Error(`eval:centernet: ${p} is missing (the ../shared folder beside the repository)`);
const files = readdirSync(a.data!).filter((f) => /\.jpe?g$/i.test(f)).sort();
const limit = a.images === undefined ? files.length : Number(a.images);
if (!(Number.isInteger(limit) && limit >= 1)) throw new Error(`--images must be a positive integer, got '${a.images}'`);

const json = JSON.parse(readFileSync(a.model!, 'utf8'));
const dir = a.model!.replace(/[^/]*$/, '');
const shards = (json.weightsManifest as Array<{ paths: string[] }>).flatMap((g) => g.paths).map((p) => new Uint8Array(readFileSync(join(dir, p))));
const { ir, slim } = importModel(new TextEncoder().encode(JSON.stringify(json)), { weights: shards, output: HEADS });
const run = new Runner(loadEngine({ build }), readBlob(slim), 'classifier');
const peer = await tfjsCenterNet(json, shards);

const rows: Array<{ file: string } & CenterNetParity> = [];
const x = new Float32Array(3 * 512 * 512);
const t0 = performance.now();
for (const f of files.slice(0, limit)) {
  toInput(decodeImage(new Uint8Array(readFileSync(join(a.data!, f)))), [3, 512, 512], [0, 0, 0], [1 / 255, 1 / 255, 1 / 255], x);
  const h = splitOutputs(ir.outputs!, run.run(x) as Float32Array);
  const m = compareCenterNet(h['tower_0/keypoints'], h['tower_0/wh'], peer.run(x));
  rows.push({ file: f, ...m });
  process.stderr.write(`${rows.length}/${limit} ${f}: heat rel ${m.heatRel.toExponential(2)} (all values ${m.heatRelAll.toExponential(2)}), wh rel ${m.whRel.toExponential(2)}, peaks ${m.peaksCommon}/100 (${m.peaksReordered} reordered), boxes off ${m.boxMismatch}, max box diff ${m.boxMaxDiff.toFixed(4)} px (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
}
const max = (k: keyof CenterNetParity): number => Math.max(...rows.map((r) => r[k]));
const summary = {
  model: a.model, build, images: rows.length,
  maxHeatRel: max('heatRel'), maxHeatRelAll: max('heatRelAll'), maxHeatAbs: max('heatAbs'), maxWhRel: max('whRel'),
  peaksAgree: rows.reduce((s, r) => s + r.peaksCommon, 0) / (100 * rows.length),
  imagesWithReorderedPeaks: rows.filter((r) => r.peaksReordered > 0).length, maxReorderGap: max('reorderGap'),
  imagesWithBoxMismatch: rows.filter((r) => r.boxMismatch > 0).length, maxBoxDiffPx: max('boxMaxDiff'),
};
process.stdout.write(`${summary.images} images (${build}): heatmap max relative error ${summary.maxHeatRel.toExponential(2)} (values >= 1e-3; ${summary.maxHeatRelAll.toExponential(2)} over all values > 1e-12; max abs ${summary.maxHeatAbs.toExponential(2)}), size head ${summary.maxWhRel.toExponential(2)}; top-100 peaks agree ${(100 * summary.peaksAgree).toFixed(2)}%, ${summary.imagesWithReorderedPeaks} images with reordered peaks (largest score gap ${summary.maxReorderGap.toExponential(2)}); decoded boxes vs tower_0/detections: ${summary.imagesWithBoxMismatch} images with a mismatch, largest coordinate difference ${summary.maxBoxDiffPx.toFixed(4)} px\n`);
if (a.json) writeFileSync(a.json, JSON.stringify({ ...summary, rows }, null, 1) + '\n');
