/**
 * ImageNet top-1 of an imported classifier, engine against the f64 reference of the same
 * dequantized network (src/import/reference.ts), image by image.
 *
 *   const r = await evalImagenet({ ir, slim, dir: '../shared/datasets/imagenet-samples', labelOffset: 1 });
 *   r.engineTop1; r.referenceTop1; r.disagreements;   // disagreements where the reference's margin is not tiny
 *
 * The class of `<synset>_<name>.JPEG` is its position in the sorted file list (the folder's
 * README); `labelOffset` maps it to the model's output index (1 for TFLite MobileNet's leading
 * "background" class). Each image keeps the central `crop` of each side (TF-slim's central_crop,
 * 0.875 for MobileNet) and is resized by the classifier's own path (src/image.ts toInput).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RawImage } from '../model/api.js';
import { decodeImage, toInput } from '../model/image.js';
import { Model } from '../model/model.js';
import type { IrGraph } from './graph.js';
import { referenceForward } from './reference.js';

export interface ImagenetOptions {
  ir: IrGraph;
  slim: Uint8Array;
  dir: string;
  /** model output index = file index + labelOffset */
  labelOffset?: number;
  /** central fraction of each side kept (1: the whole image) */
  crop?: number;
  limit?: number;
  /** a reference margin (top-1 minus top-2 logit) below this is 'tiny': the engine may then differ */
  tinyMargin?: number;
  build?: 'simd' | 'scalar';
  onImage?: (done: number, total: number, row: ImagenetRow) => void;
}

export interface ImagenetRow {
  file: string;
  label: number;
  engine: number;
  reference: number;
  margin: number;
  /** normalized RMS error of the engine's logits against the reference's */
  nerr: number;
}

export interface ImagenetResult {
  images: number;
  engineTop1: number;
  referenceTop1: number;
  /** images where engine and reference differ although the reference margin is not tiny */
  disagreements: ImagenetRow[];
  /** images where they differ with a tiny margin (allowed) */
  tinyDifferences: ImagenetRow[];
  maxNerr: number;
  rows: ImagenetRow[];
}

export function centralCrop(img: RawImage, fraction: number): RawImage {
  if (fraction >= 1) return img;
  const w = Math.max(1, Math.round(img.width * fraction)), h = Math.max(1, Math.round(img.height * fraction));
  const x0 = Math.floor((img.width - w) / 2), y0 = Math.floor((img.height - h) / 2);
  const c = img.channels;
  const data = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++) data.set(img.data.subarray(((y0 + y) * img.width + x0) * c, ((y0 + y) * img.width + x0 + w) * c), y * w * c);
  return { data, width: w, height: h, channels: c };
}

function top2(v: ArrayLike<number>): [number, number] {
  let a = 0, b = -1;
  for (let i = 1; i < v.length; i++) {
    if (v[i] > v[a]) {
      b = a;
      a = i;
    } else if (b < 0 || v[i] > v[b]) b = i;
  }
  return [a, b];
}

export function imagenetFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f)).sort();
}

export async function evalImagenet(o: ImagenetOptions): Promise<ImagenetResult> {
  const files = imagenetFiles(o.dir);
  if (files.length === 0) throw new Error(`slimsplit: eval-imagenet: no .JPEG files in ${o.dir}`);
  const model = new Model(o.slim, { build: o.build ?? 'auto' });
  const cls = model.classifier();
  const shape = model.info.inputShape;
  const x = new Float32Array(shape[0] * shape[1] * shape[2]);
  const n = Math.min(files.length, o.limit ?? files.length);
  // every prefix of the order spread over the classes (a stride coprime with the count), so a run
  // stopped early, or a --limit, still samples all of ImageNet's groups
  const stride = strideFor(files.length);
  const pick = Array.from({ length: n }, (_, i) => (i * stride) % files.length);
  const tiny = o.tinyMargin ?? 0.05;
  const rows: ImagenetRow[] = [];
  for (const idx of pick) {
    const file = files[idx];
    const img = centralCrop(decodeImage(new Uint8Array(readFileSync(join(o.dir, file)))), o.crop ?? 0.875);
    const eng = cls.classify(img).logits;
    toInput(img, shape, model.info.mean, model.info.std, x);
    const ref = referenceForward(o.ir, x);
    const [r1, r2] = top2(ref);
    let e2 = 0, n2 = 0;
    for (let i = 0; i < ref.length; i++) {
      e2 += (eng[i] - ref[i]) ** 2;
      n2 += ref[i] ** 2;
    }
    const row = { file, label: idx + (o.labelOffset ?? 0), engine: top2(eng)[0], reference: r1, margin: ref[r1] - ref[r2], nerr: Math.sqrt(e2 / n2) };
    rows.push(row);
    o.onImage?.(rows.length, n, row);
  }
  return summarize(rows, tiny);
}

function strideFor(n: number): number {
  const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
  let s = Math.round(n * 0.618) | 1;
  while (gcd(s, n) !== 1) s++;
  return s;
}

/** Top-1 of both, and where they differ, over the rows so far. */
export function summarize(rows: ImagenetRow[], tiny = 0.05): ImagenetResult {
  const differ = rows.filter((r) => r.engine !== r.reference);
  return {
    images: rows.length,
    engineTop1: rows.filter((r) => r.engine === r.label).length / rows.length,
    referenceTop1: rows.filter((r) => r.reference === r.label).length / rows.length,
    disagreements: differ.filter((r) => r.margin >= tiny),
    tinyDifferences: differ.filter((r) => r.margin < tiny),
    maxNerr: Math.max(...rows.map((r) => r.nerr)),
    rows,
  };
}
