// The evaluation (src/eval/eval.ts) with a stand-in model whose answers are known: sums, percentiles,
// the JPEG curve and matching on it; and the CIFAR-10 tarball reader (src/eval/cifar.ts).
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import tar from 'tar-stream';
import { runEval, matchOnCurve, percentile } from '../../src/eval/eval.js';
import { readCifarTar, classQuotas, CLASSES, DatasetError, type CifarItem } from '../../src/eval/cifar.js';
import { evalSeries } from '../../src/eval/report.js';
import { decodeImage } from '../../src/model/image.js';
import { jpegEncode, jpegStrippedBytes } from '../../src/model/jpeg.js';
import { fakeModel, guess, ITEMS, writeMiniTar } from '../standin.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TMP = mkdtempSync(join(tmpdir(), 'slimsplit-eval-'));
const SHARED_TAR = join(ROOT, '..', 'shared', 'datasets', 'cifar10-jpeg', 'test.tar.gz');

describe('runEval', () => {
  it('sums accuracy, bytes and percentiles per mode, and the JPEG curve per quality', async () => {
    const model = fakeModel();
    let calls = 0;
    const r = await runEval({ model, baseline: model, data: ITEMS, qualities: [10, 50, 90], onProgress: () => void calls++ });
    expect(calls).toBe(20);
    expect(r.images).toBe(20);
    expect(r.modes.map((m) => [m.members, m.bits, m.acc, m.meanBytes, m.p95Bytes])).toEqual([
      // packets: payload members * bits + 16 (14-byte header, 2-byte checksum)
      [1, 2, 0.15, 18, 18], // class 0 only: the two darkest images and the last (its guess 9 + 1 wraps to 0)
      [1, 8, 0.15, 24, 24],
      [2, 2, 0.75, 20, 20], // 15 of 20 labelled as guessed
      [2, 8, 0.75, 32, 32],
    ]);
    for (const m of r.modes) expect(m.encMs).toBeGreaterThan(0);
    expect(r.baselineClean!.acc).toBe(0.75);
    expect(r.baselineClean!.meanBytes).toBe(ITEMS.reduce((a, it) => a + it.bytes.length, 0) / 20);
    // JPEG: recompute each quality's numbers on our own
    for (const j of r.jpeg) {
      let bytes = 0, stripped = 0, right = 0;
      for (const it of ITEMS) {
        const f = jpegEncode(decodeImage(it.bytes), j.quality);
        bytes += f.length;
        stripped += jpegStrippedBytes(f);
        const back = jpeg.decode(f, { useTArray: true, formatAsRGBA: false });
        if (guess({ data: back.data, width: 32, height: 32, channels: 3 }) === it.label) right++;
      }
      expect([j.meanBytes, j.meanStrippedBytes, j.acc]).toEqual([bytes / 20, stripped / 20, right / 20]);
    }
    expect(r.jpeg.map((j) => j.quality)).toEqual([10, 50, 90]);
    for (const m of r.modes) expect(m.vsJpeg!.stripped).toEqual(matchOnCurve(r.jpeg.map((j) => ({ bytes: j.meanStrippedBytes, acc: j.acc })), m.acc, m.meanBytes));
    // the chart series: one per members value, then the two JPEG curves
    expect(evalSeries(r).map((s) => [s.name, s.points.length])).toEqual([['slimsplit N=1', 2], ['slimsplit N=2', 2], ['JPEG (header-stripped)', 3], ['JPEG (file)', 3]]);
  });

  it('honours modes and limit, and refuses empty data', async () => {
    const model = fakeModel();
    const r = await runEval({ model, data: ITEMS, limit: 4, modes: [{ members: 2, bits: 8 }] });
    expect(r.images).toBe(4);
    expect(r.modes.length).toBe(1);
    expect(r.jpeg).toEqual([]);
    expect(r.baselineClean).toBeNull();
    await expect(runEval({ model, data: [] })).rejects.toThrow(/the data held no images/);
    await expect(runEval({ model, data: ITEMS, qualities: [0] })).rejects.toThrow(/quality must be an integer 1..100, got 0/);
  });

  it('matchOnCurve interpolates on log bytes and flags both ends', () => {
    const curve = [{ bytes: 400, acc: 0.8 }, { bytes: 100, acc: 0.6 }, { bytes: 1600, acc: 0.9 }];
    // 0.7 is halfway between 100 and 400 in accuracy: geometric mean 200
    const m = matchOnCurve(curve, 0.7, 50)!;
    expect(m.kind).toBe('interpolated');
    expect(m.bytes).toBeCloseTo(200, 9);
    expect(m.ratio).toBeCloseTo(4, 9);
    expect(matchOnCurve(curve, 0.85, 100)!.bytes).toBeCloseTo(800, 9);
    expect(matchOnCurve(curve, 0.5, 10)).toEqual({ bytes: 100, ratio: 10, kind: 'at-most' });
    expect(matchOnCurve(curve, 0.95, 10)).toEqual({ bytes: 1600, ratio: 160, kind: 'at-least' });
    expect(matchOnCurve([], 0.5, 10)).toBeNull();
    // a point less accurate than a cheaper one is not on the envelope: 0.85 is read between 400 and
    // 1600 B (800), not from the dip at 500 B (0.75 -> 0.9: 1086 B)
    const dip = [...curve, { bytes: 500, acc: 0.75 }];
    expect(matchOnCurve(dip, 0.85, 100)!.bytes).toBeCloseTo(800, 9);
    expect(matchOnCurve(dip, 0.7, 50)!.bytes).toBeCloseTo(200, 9);
    // beyond the envelope's end, the bound is the largest file tried, even one below the envelope
    expect(matchOnCurve([...curve, { bytes: 3200, acc: 0.88 }], 0.95, 10)).toEqual({ bytes: 3200, ratio: 320, kind: 'at-least' });
  });

  it('percentile uses the nearest rank', () => {
    const v = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(v, 95), percentile(v, 50), percentile(v, 100), percentile(v, 0)]).toEqual([95, 50, 100, 1]);
    expect(percentile([7], 95)).toBe(7);
  });
});

describe('readCifarTar', () => {
  const tarPath = join(TMP, 'mini.tar.gz');
  beforeAll(() => writeMiniTar(tarPath));

  it('yields labelled images from class folders, balanced under a limit', async () => {
    const all: CifarItem[] = [];
    for await (const it of readCifarTar(tarPath)) all.push(it);
    expect(all.length).toBe(20);
    expect(all.map((i) => i.label)).toEqual(CLASSES.flatMap((_, c) => [c, c]));
    expect(all[5].name).toBe('test/bird/0001.png');
    expect(decodeImage(all[5].bytes).width).toBe(32);
    const some: number[] = [];
    for await (const it of readCifarTar(tarPath, { limit: 13 })) some.push(it.label);
    expect(some).toEqual([0, 0, 1, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(classQuotas(13)).toEqual([2, 2, 2, 1, 1, 1, 1, 1, 1, 1]);
  });

  it('refuses missing files and members outside class folders', async () => {
    await expect(readCifarTar(join(TMP, 'none.tar.gz')).next()).rejects.toThrow(/data file not found: .*none\.tar\.gz \(pass the CIFAR-10 JPEG tarball/);
    const pack = tar.pack();
    pack.entry({ name: 'test/zebra/0.jpg' }, 'x');
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const ch of pack) chunks.push(ch as Buffer);
    const bad = join(TMP, 'bad.tar');
    writeFileSync(bad, Buffer.concat(chunks));
    await expect(readCifarTar(bad).next()).rejects.toThrow(DatasetError);
    await expect(readCifarTar(bad).next()).rejects.toThrow(/member test\/zebra\/0\.jpg is not in a class folder/);
  });

  it.skipIf(!existsSync(SHARED_TAR))('reads the shared CIFAR-10 test tarball (first images of each class)', async () => {
    const labels: number[] = [];
    for await (const it of readCifarTar(SHARED_TAR, { limit: 20 })) {
      const img = decodeImage(it.bytes);
      expect([img.width, img.height]).toEqual([32, 32]);
      expect(it.name).toBe(`test/${CLASSES[it.label]}/${String(labels.filter((l) => l === it.label).length).padStart(4, '0')}.jpg`);
      labels.push(it.label);
    }
    expect(labels).toEqual(CLASSES.flatMap((_, c) => [c, c]));
  });
});
