/**
 * Rate-accuracy evaluation: every test image through every mode of the split model (device encoder
 * -> real packet -> server decoder), and through JPEG at a range of qualities for the baseline.
 *
 *   import { runEval } from './eval.js';
 *   const r = await runEval({
 *     model: await loadModel('weights/see-cifar10.slim'),
 *     baseline: await loadModel('weights/jpeg-baseline.slim'),
 *     data: '../shared/datasets/cifar10-jpeg/test.tar.gz',
 *     limit: 1000,
 *     onProgress: (done, total) => bar.update(done),
 *   });
 *   r.modes[0];  // { members: 1, bits: 1, acc: 0.71, meanBytes: 38.2, p95Bytes: 45, encMs: 1.9, vsJpeg: {...} }
 *   r.jpeg.find((j) => j.quality === 50);   // { quality: 50, acc: 0.88, meanBytes: 1001.3, meanStrippedBytes: 634.1 }
 *
 * Images stream one at a time: each is decoded once and its pixels reused by all modes and
 * qualities. Per mode only the packet sizes are kept (for the 95th percentile); everything else is
 * running sums. Accuracies are fractions 0..1; bytes are whole packets (header and checksum
 * included) and, for JPEG, whole files and header-stripped streams (src/model/jpeg.ts).
 */
import type { Classifier, DeviceEncoder, EncoderOptions, PacketFormat, ImageInput, Mode, ModelInfo, RawImage, ServerDecoder } from '../model/api.js';
import { decodeImage } from '../model/image.js';
import { jpegEncode, jpegStrippedBytes } from '../model/jpeg.js';
import { readCifarTar, countCifarTar, type CifarItem } from './cifar.js';
import { formatMode } from '../codec/modes.js';

/** What the evaluation needs of a split model (src/model/model.ts's Model has it). */
export interface SplitModel {
  info: ModelInfo;
  modes(): Mode[];
  encoder(opts?: EncoderOptions): DeviceEncoder;
  decoder(): ServerDecoder;
}

/** What it needs of the baseline: a plain classifier. */
export interface ClassifierModel {
  classifier(): Classifier;
}

/**
 * Every quality from 10 to 40, where the split models' modes fall (82-88% top-1), and a coarser spread
 * outside. Read between qualities 5 apart, a mode's bytes-at-equal-accuracy ratio moved by up to 4%
 * either way (the curve is neither straight in log bytes there nor monotone from one quality to the next).
 */
export const DEFAULT_QUALITIES = [5, ...Array.from({ length: 31 }, (_, i) => 10 + i), 45, 50, 60, 70, 80, 90, 95];

export interface EvalOptions {
  model: SplitModel;
  baseline?: ClassifierModel;
  /** a CIFAR-10 JPEG tarball path, or labelled images */
  data: string | AsyncIterable<CifarItem> | Iterable<CifarItem>;
  /** at most this many images (balanced over classes when data is a tarball) */
  limit?: number;
  /** default: every mode of the model */
  modes?: Mode[];
  /** packets to measure: 'compact' (default: 4 bytes around the payload) or 'full' (self-describing) */
  packet?: PacketFormat;
  /** JPEG qualities for the baseline (default DEFAULT_QUALITIES: 5, 10..40, 45, 50, 60, ..., 95) */
  qualities?: number[];
  /** called after each image; total is known when data is a tarball */
  onProgress?: (done: number, total: number | undefined) => void;
}

/** Bytes JPEG needs for a given accuracy, read off its rate-accuracy curve. */
export interface JpegMatch {
  /** JPEG bytes per image at the same accuracy */
  bytes: number;
  /** bytes / the mode's mean packet bytes */
  ratio: number;
  /**
   * 'interpolated': between two qualities (linear in accuracy vs log bytes);
   * 'at-most': even the lowest quality is as accurate, so JPEG needs no more than `bytes`;
   * 'at-least': no quality reaches the accuracy, so JPEG needs more than `bytes` (the largest tried)
   */
  kind: 'interpolated' | 'at-most' | 'at-least';
}

export interface ModeResult {
  mode: Mode;
  members: number;
  bits: number;
  images: number;
  acc: number;
  meanBytes: number;
  p95Bytes: number;
  minBytes: number;
  maxBytes: number;
  /** mean wall time of encoder.encode per image (network + quantization + rANS + header), ms */
  encMs: number;
  /** mean wall time of decoder.decode per packet, ms */
  decMs: number;
  /** against the JPEG curve; absent without a baseline */
  vsJpeg?: { stripped: JpegMatch; full: JpegMatch };
}

export interface QualityResult {
  quality: number;
  acc: number;
  meanBytes: number;
  meanStrippedBytes: number;
}

export interface EvalResult {
  model: { name: string; blobBytes: number; inputShape: [number, number, number] };
  images: number;
  /** the packet format whose bytes `modes` report */
  packet: PacketFormat;
  modes: ModeResult[];
  /** the baseline per JPEG quality (empty without a baseline) */
  jpeg: QualityResult[];
  /** the baseline on the original files' pixels (null without a baseline) */
  baselineClean: { acc: number; meanBytes: number } | null;
  seconds: number;
}

/** Growable Float64 sample list: one allocation per doubling, not per image. */
class Samples {
  private buf = new Float64Array(1024);
  n = 0;
  push(v: number): void {
    if (this.n === this.buf.length) {
      const b = new Float64Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
    }
    this.buf[this.n++] = v;
  }
  sorted(): Float64Array {
    return this.buf.slice(0, this.n).sort();
  }
}

/** Nearest-rank percentile (p in 0..100) of sorted values. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[k];
}

/**
 * Reads the bytes at which a rate-accuracy curve first reaches `acc`, going up in bytes;
 * between two points accuracy is taken as linear in log(bytes). Only points more accurate than
 * every cheaper one count (the curve's upper envelope): a quality whose top-1 dips below a cheaper
 * one's, as measured accuracies do from one quality to the next, would otherwise start a segment
 * and read more bytes than the cheaper point needs.
 */
export function matchOnCurve(curve: ReadonlyArray<{ bytes: number; acc: number }>, acc: number, ownBytes: number): JpegMatch | null {
  const all = curve.filter((q) => q.bytes > 0 && Number.isFinite(q.acc)).sort((a, b) => a.bytes - b.bytes);
  const pts: Array<{ bytes: number; acc: number }> = [];
  for (const p of all) if (pts.length === 0 || p.acc > pts[pts.length - 1].acc) pts.push(p);
  if (pts.length === 0 || !(ownBytes > 0)) return null;
  const make = (bytes: number, kind: JpegMatch['kind']): JpegMatch => ({ bytes, ratio: bytes / ownBytes, kind });
  if (pts[0].acc >= acc) return make(pts[0].bytes, 'at-most');
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1], b = pts[i];
    if (b.acc >= acc) {
      const t = (acc - a.acc) / (b.acc - a.acc);
      return make(Math.exp(Math.log(a.bytes) + t * (Math.log(b.bytes) - Math.log(a.bytes))), 'interpolated');
    }
  }
  // none reaches it: not even the largest file tried, on the envelope or not
  return make(all[all.length - 1].bytes, 'at-least');
}

async function* limited(data: AsyncIterable<CifarItem> | Iterable<CifarItem>, limit: number | undefined): AsyncGenerator<CifarItem> {
  let n = 0;
  for await (const it of data) {
    if (limit !== undefined && n >= limit) return;
    n++;
    yield it;
  }
}

export async function runEval(opts: EvalOptions): Promise<EvalResult> {
  const t0 = performance.now();
  const { model, baseline } = opts;
  const qualities = opts.qualities ?? DEFAULT_QUALITIES;
  for (const q of qualities) if (!Number.isInteger(q) || q < 1 || q > 100) throw new Error(`eval: JPEG quality must be an integer 1..100, got ${q}`);
  const modes = opts.modes ?? model.modes();
  if (modes.length === 0 && !baseline) throw new Error('eval: nothing to evaluate (no modes and no baseline)');

  let total: number | undefined;
  let source: AsyncIterable<CifarItem> | Iterable<CifarItem>;
  if (typeof opts.data === 'string') {
    source = readCifarTar(opts.data, { limit: opts.limit });
    total = opts.limit ?? (opts.onProgress ? await countCifarTar(opts.data) : undefined);
  } else {
    source = limited(opts.data, opts.limit);
    total = opts.limit;
  }

  const packet = opts.packet ?? 'compact';
  const enc = model.encoder({ packet });
  const dec = model.decoder();
  const cls = baseline?.classifier();
  const classes = model.info.classes;

  // Each mode as the encoder resolves it (missing axes filled in), checked once against the decoder.
  const resolved: Mode[] = modes.map((m) => {
    enc.setMode(m);
    return { ...enc.mode };
  });
  const per = resolved.map(() => ({ correct: 0, bytes: 0, encMs: 0, decMs: 0, sizes: new Samples(), min: Infinity, max: 0 }));
  const jp = qualities.map(() => ({ correct: 0, bytes: 0, stripped: 0 }));
  const clean = { correct: 0, bytes: 0 };
  let images = 0;

  for await (const item of source) {
    if (!Number.isInteger(item.label) || item.label < 0 || (classes.length > 0 && item.label >= classes.length)) {
      throw new Error(`eval: ${item.name} has label ${item.label}, outside the model's ${classes.length} classes`);
    }
    const raw: RawImage = decodeImage(item.bytes);
    for (let m = 0; m < resolved.length; m++) {
      enc.setMode(resolved[m]);
      const ta = performance.now();
      const packet = enc.encode(raw);
      const tb = performance.now();
      const out = dec.decode(packet);
      const tc = performance.now();
      if (images === 0 && formatMode({ ...resolved[m], ...out.mode }) !== formatMode(resolved[m])) {
        throw new Error(`eval: the encoder wrote mode ${formatMode(resolved[m])} but the decoder read ${formatMode(out.mode)}`);
      }
      const s = per[m];
      s.encMs += tb - ta;
      s.decMs += tc - tb;
      s.bytes += packet.length;
      s.sizes.push(packet.length);
      if (packet.length < s.min) s.min = packet.length;
      if (packet.length > s.max) s.max = packet.length;
      if (out.top1 === item.label) s.correct++;
    }
    if (cls) {
      clean.bytes += item.bytes.length;
      if (cls.classify(raw).top1 === item.label) clean.correct++;
      for (let q = 0; q < qualities.length; q++) {
        const file = jpegEncode(raw, qualities[q]);
        jp[q].bytes += file.length;
        jp[q].stripped += jpegStrippedBytes(file);
        if (cls.classify(decodeImage(file) as ImageInput).top1 === item.label) jp[q].correct++;
      }
    }
    images++;
    opts.onProgress?.(images, total);
  }
  if (images === 0) throw new Error('eval: the data held no images');

  const jpeg: QualityResult[] = cls
    ? qualities.map((quality, q) => ({ quality, acc: jp[q].correct / images, meanBytes: jp[q].bytes / images, meanStrippedBytes: jp[q].stripped / images }))
    : [];
  const modeResults: ModeResult[] = resolved.map((mode, m) => {
    const s = per[m];
    const sorted = s.sizes.sorted();
    const r: ModeResult = {
      mode,
      members: mode.members ?? 1,
      bits: mode.bits ?? 0,
      images,
      acc: s.correct / images,
      meanBytes: s.bytes / images,
      p95Bytes: percentile(sorted, 95),
      minBytes: s.min,
      maxBytes: s.max,
      encMs: s.encMs / images,
      decMs: s.decMs / images,
    };
    if (jpeg.length) {
      const stripped = matchOnCurve(jpeg.map((j) => ({ bytes: j.meanStrippedBytes, acc: j.acc })), r.acc, r.meanBytes);
      const full = matchOnCurve(jpeg.map((j) => ({ bytes: j.meanBytes, acc: j.acc })), r.acc, r.meanBytes);
      if (stripped && full) r.vsJpeg = { stripped, full };
    }
    return r;
  });
  return {
    model: { name: model.info.name, blobBytes: model.info.blobBytes, inputShape: model.info.inputShape },
    images,
    packet,
    modes: modeResults,
    jpeg,
    baselineClean: cls ? { acc: clean.correct / images, meanBytes: clean.bytes / images } : null,
    seconds: (performance.now() - t0) / 1000,
  };
}
