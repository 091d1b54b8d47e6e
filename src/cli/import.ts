/**
 * `slimsplit import` and `slimsplit eval-imagenet`: bring a TFLite, TF.js or ONNX model in, and check
 * an imported ImageNet classifier against the f64 reference of the same network.
 *
 *   slimsplit import mobilenet_v2_1.0_224_quant.tflite -o mobilenet.slim --labels imagenet_labels.txt
 *   slimsplit import resnet18.onnx -o resnet18.slim --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225
 *   slimsplit import mobilenet_v2_1.0_224_quant.tflite -o mnv2-split.slim --split MobilenetV2/expanded_conv_2/add
 *   slimsplit eval-imagenet mobilenet_v2_1.0_224_quant.tflite --data ../shared/datasets/imagenet-samples
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { decodeImage } from '../model/image.js';
import { InvalidArgumentError, type Command } from 'commander';
import { importModel, readIr, graphMacs, detectFormat, tfjsShardPaths, type ImportOptions } from '../import/index.js';
import { evalImagenet, summarize, type ImagenetRow } from '../import/imagenet.js';
import { readBlob } from '../format/reader.js';
import { graphStats } from '../engine/stats.js';

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

function readFile(path: string, what: string): Uint8Array {
  if (!existsSync(path)) throw new Error(`slimsplit: ${what} not found: ${path}`);
  if (!statSync(path).isFile()) throw new Error(`slimsplit: ${what} is not a file: ${path}`);
  return new Uint8Array(readFileSync(path));
}

function parseSize(v: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(v);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new InvalidArgumentError(`'${v}' is not a size HxW (e.g. 320x320)`);
  return [Number(m[1]), Number(m[2])];
}
function parseRange(v: string): [number, number] {
  const p = v.split(',').map(Number);
  if (p.length !== 2 || !p.every(Number.isFinite) || !(p[1] > p[0])) throw new InvalidArgumentError(`'${v}' is not a range lo,hi with lo < hi`);
  return [p[0], p[1]];
}
function parseFloats(v: string): number[] {
  const p = v.split(',').map(Number);
  if (!p.length || !p.every(Number.isFinite)) throw new InvalidArgumentError(`'${v}' is not a comma-separated list of numbers`);
  return p;
}
function parseBits(v: string): number[] {
  const b = v.split(',').map(Number);
  if (!b.every((x) => Number.isInteger(x) && x >= 1 && x <= 8) || b.some((x, i) => i > 0 && x <= b[i - 1])) throw new InvalidArgumentError(`'${v}' is not an increasing list of bit depths 1..8`);
  return b;
}

/** One value when every channel has it, else one per channel. */
function perChannel(v: number[]): string {
  return v.every((x) => x === v[0]) ? (v[0]?.toFixed(4) ?? '-') : v.map((x) => x.toFixed(4)).join(',');
}

/** The label file: one class per line, in the model's output order. */
export function readLabels(path: string): string[] {
  return new TextDecoder().decode(readFile(path, 'labels file')).replace(/\r/g, '').replace(/\n+$/, '').split('\n');
}

interface ImportCli {
  out?: string;
  split?: string;
  inputSize?: [number, number];
  labels?: string;
  bits?: number[];
  splitRange?: [number, number];
  name?: string;
  listTensors?: boolean;
  output?: string;
  calibrate?: string;
  calibrateImages: number;
  mean?: number[];
  std?: number[];
}

/** The model file, and for a TF.js model.json its weight shards beside it. */
function readModelFiles(file: string): { bytes: Uint8Array; weights?: Uint8Array[] } {
  const bytes = readFile(file, 'model file');
  const weights = detectFormat(bytes) === 'tfjs' ? tfjsShardPaths(bytes).map((p) => readFile(join(dirname(file), p), 'TF.js weight shard')) : undefined;
  return { bytes, weights };
}

function cmdImport(io: Io, file: string, o: ImportCli): void {
  const { bytes, weights } = readModelFiles(file);
  const output = o.output?.includes(',') ? o.output.split(',').map((t) => t.trim()) : o.output;
  const opts: ImportOptions = { weights, output, split: o.split, inputSize: o.inputSize, bits: o.bits, splitRange: o.splitRange, mean: o.mean, std: o.std, name: o.name ?? file.replace(/^.*\//, '').replace(/\.[^.]*$/, '').slice(0, 255) };
  if (o.labels) opts.labels = readLabels(o.labels);
  if (o.calibrate) {
    if (!o.split) throw new Error('slimsplit: import: --calibrate needs --split (it builds the split\'s coder tables)');
    const files = readdirSync(o.calibrate).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
    if (!files.length) throw new Error(`slimsplit: import: no JPEG or PNG files in ${o.calibrate}`);
    // spread over the folder (class-sorted folders give every class a chance)
    const n = Math.min(o.calibrateImages, files.length);
    opts.calibrate = Array.from({ length: n }, (_, i) => decodeImage(readFile(join(o.calibrate!, files[Math.floor((i * files.length) / n)]), 'image')));
  }
  if (o.listTensors) {
    const ir = readIr(bytes, opts);
    for (const n of ir.nodes) io.out(`${n.name.padEnd(24)} ${n.y} [${ir.tensors.get(n.y)!.shape.join(', ')}]\n`);
    return;
  }
  if (!o.out) throw new Error('slimsplit: import: -o <out.slim> is required (or --list-tensors)');
  const { ir, slim, splitRange } = importModel(bytes, opts);
  writeFileSync(o.out, slim);
  const b = readBlob(slim);
  io.out(`${o.out}: ${slim.length} bytes, model '${b.name}' from ${ir.format} (${Object.entries(ir.sourceOps).map(([k, v]) => `${k} x${v}`).join(', ')})\n`);
  io.out(`input [${b.input.shape.join(', ')}], mean ${perChannel(b.input.mean)}, std ${perChannel(b.input.std)}${ir.outputActivation ? `; the final ${ir.outputActivation} is left to the caller (outputs are logits)` : ''}\n`);
  for (const g of b.graphs) {
    const s = graphStats(g, b.tensors);
    io.out(`  ${g.name}: ${g.layers.length} layers, ${s.weights.toLocaleString('en-US')} weights, ${(s.macs / 1e6).toFixed(1)} M multiply-adds\n`);
  }
  if (splitRange) io.out(`split range [${splitRange.map((v) => v.toPrecision(6)).join(', ')}]: the split tensor's extremes on the ${opts.calibrate!.length} calibration images (the model states none; values beyond are clamped)\n`);
  for (const part of ir.outputs ?? []) io.out(`  output ${part.name} [${part.shape.join(', ')}] at element ${part.offset} (meta.outputs)\n`);
  io.out(`whole network: ${(graphMacs(ir) / 1e6).toFixed(1)} M multiply-adds\n`);
}

interface EvalCli {
  data: string;
  limit?: number;
  labelOffset: number;
  crop: number;
  json?: string;
  build?: 'simd' | 'scalar';
  mean?: number[];
  std?: number[];
}

async function cmdEvalImagenet(io: Io, file: string, o: EvalCli): Promise<void> {
  const { bytes, weights } = readModelFiles(file);
  const { ir, slim } = importModel(bytes, { weights, mean: o.mean, std: o.std });
  // the normalization the engine and the reference were fed, in the results (a wrong one costs top-1 silently)
  const { mean, std } = readBlob(slim).input;
  io.err(`input normalization: mean ${mean.map((v) => v.toFixed(4)).join(',')}, std ${std.map((v) => v.toFixed(4)).join(',')}\n`);
  const t0 = performance.now();
  const rows: ImagenetRow[] = [];
  const r = await evalImagenet({
    ir, slim, dir: o.data, limit: o.limit, labelOffset: o.labelOffset, crop: o.crop, build: o.build,
    onImage: (done, total, row) => {
      rows.push(row);
      // the summary so far, so that a run stopped early still leaves its numbers
      if (o.json && (done % 25 === 0 || done === total)) writeFileSync(o.json, JSON.stringify({ model: file, crop: o.crop, mean, std, partial: done < total, ...summarize(rows) }, null, 1));
      if (done % 50 === 0 || done === total) {
        const s = summarize(rows);
        io.err(`${done}/${total} images: engine top-1 ${(100 * s.engineTop1).toFixed(1)}%, reference ${(100 * s.referenceTop1).toFixed(1)}%, ${s.disagreements.length} disagreements (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
      }
    },
  });
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  io.out(`${r.images} images: engine top-1 ${pct(r.engineTop1)}, f64 reference top-1 ${pct(r.referenceTop1)}\n`);
  io.out(`engine and reference disagree on ${r.disagreements.length} images with a reference top-2 margin >= 0.05 (must be 0), ${r.tinyDifferences.length} with a smaller one; largest normalized logit error ${r.maxNerr.toExponential(2)}\n`);
  for (const d of r.disagreements) io.out(`  DISAGREE ${d.file}: engine ${d.engine}, reference ${d.reference}, margin ${d.margin.toFixed(4)}\n`);
  if (o.json) writeFileSync(o.json, JSON.stringify({ model: file, crop: o.crop, mean, std, ...r }, null, 1));
  if (r.disagreements.length) throw new Error(`slimsplit: eval-imagenet: ${r.disagreements.length} disagreements with the reference`);
}

/**
 * --mean/--std, for every command that imports a model: the values are checked against the
 * model's channel count where the model is read (readIr), so the errors are the same everywhere.
 */
function normalizationOptions(cmd: Command): Command {
  return cmd
    .option('--mean <list>', "input normalization, engine input = (pixel/255 - mean) / std: one value or one per channel (ONNX files state none; torchvision's ImageNet models: 0.485,0.456,0.406)", parseFloats)
    .option('--std <list>', "with --mean: the divisor, one value or one per channel (torchvision's: 0.229,0.224,0.225)", parseFloats);
}

export function registerImport(program: Command, io: Io): void {
  const imp = program
    .command('import')
    .description('turn a TFLite, TF.js graph or ONNX model into a .slim blob: one graph, or an encoder and a decoder split at one tensor')
    .argument('<model>', '.tflite file, TF.js graph model.json (its weight shards beside it), or .onnx file')
    .option('-o, --out <out.slim>', 'where to write the blob')
    .option('--output <tensor[,tensor...]>', 'TF.js: import only what these tensors depend on (a backbone prefix; several: detection heads, laid end to end in the output, listed in the blob\'s meta.outputs)')
    .option('--split <tensor>', 'split after this tensor (its name, or the first part of a fused TFLite name): encoder and decoder graphs')
    .option('--input-size <HxW>', "input size other than the model's own (fully convolutional models)", parseSize)
    .option('--labels <file>', "class names, one per line (the model's output order)")
    .option('--bits <list>', 'with --split: bit depths the split tensor is sent at (default 2,4,6,8)', parseBits)
    .option('--split-range <lo,hi>', 'with --split: value range of the split tensor, when the model states none (default with --calibrate: measured on the calibration images)', parseRange)
    .option('--calibrate <dir>', "with --split: build the coder tables from the split codes of images in this folder (default: flat tables, bits per value); where the model states no range for the split tensor and --split-range is absent, the range is the tensor's extremes on these images")
    .option('--calibrate-images <n>', 'with --calibrate: how many images, spread over the folder', (v: string) => {
      if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError('--calibrate-images must be a positive integer');
      return Number(v);
    }, 32);
  normalizationOptions(imp)
    .option('--name <name>', 'model name stored in the blob (default: the file name)')
    .option('--list-tensors', "print every layer's output tensor (split candidates) and write nothing")
    .addHelpText('after', '\nExamples:\n  slimsplit import mobilenet_v2_1.0_224_quant.tflite -o mobilenet.slim --labels imagenet_labels.txt\n  slimsplit import mobilenet_v2_1.0_224_quant.tflite -o mnv2-split.slim --split MobilenetV2/expanded_conv_2/add\n  slimsplit import resnet18.onnx -o resnet18.slim --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225\n  slimsplit import centernet.json -o centernet.slim --output tower_0/keypoints,tower_0/wh')
    .action((file, o) => cmdImport(io, file, o));

  const ev = program
    .command('eval-imagenet')
    .description('top-1 of an imported ImageNet classifier over a folder of <synset>_<name>.JPEG (class = sorted position), engine vs its f64 reference')
    .argument('<model>', '.tflite file, TF.js graph model.json or .onnx file (ONNX: give --mean/--std and --label-offset 0)')
    .requiredOption('--data <dir>', 'folder of ImageNet JPEGs, one per class in synset order (../shared/datasets/imagenet-samples)')
    .option('--limit <n>', 'at most n images, spread over the classes', (v: string) => {
      if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError('--limit must be a positive integer');
      return Number(v);
    })
    .option('--label-offset <k>', 'model output index of class 0 (1 for a leading background class, as in TFLite MobileNet; 0 for torchvision models)', (v: string) => {
      if (!/^\d+$/.test(v)) throw new InvalidArgumentError('--label-offset must be a non-negative integer');
      return Number(v);
    }, 1)
    .option('--crop <fraction>', 'central fraction of each side kept before resizing', (v: string) => {
      const f = Number(v);
      if (!(f > 0 && f <= 1)) throw new InvalidArgumentError('--crop must be in (0, 1]');
      return f;
    }, 0.875)
    .option('--build <build>', 'kernel build (simd or scalar; default: the best the runtime has)')
    .option('--json <file>', "write every image's result as JSON");
  normalizationOptions(ev).action((file, o) => cmdEvalImagenet(io, file, o));
}
