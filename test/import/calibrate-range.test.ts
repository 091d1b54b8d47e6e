/**
 * `slimsplit import --split <t> --calibrate <dir>` where the model states no range for the split
 * tensor (an add with no bounded activation, as CenterNet's cut): the range is measured on the
 * calibration images. A TF.js graph model made here (conv, conv, add, conv) and three JPEGs,
 * against the f64 reference's split tensor on the same inputs; --split-range still wins; without
 * either the error names both.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { main } from '../../src/cli/main.js';
import { readTfjs, referenceForward } from '../../src/import/index.js';
import { readBlob } from '../../src/format/reader.js';
import { Runner } from '../../src/engine/plan/runner.js';
import { loadEngine } from '../../src/engine/wasm.js';
import { decodeImage, toInput } from '../../src/model/image.js';
import { randn, rng } from '../util.js';
import { loadModel } from '../../src/model/model.js';
import { b64, T, ints, graphModel, type Const, type GraphModel } from './tfjs-graph.js';

const H = 9, W = 11, C = 6;
const conv = (name: string, x: string, w: string) => ({ name, op: 'Conv2D', input: [x, w], attr: { ...T, strides: ints([1, 1, 1, 1]), padding: { s: b64('SAME') }, data_format: { s: b64('NHWC') }, dilations: ints([1, 1, 1, 1]) } });
const CONSTS: Record<string, Const> = {
  w1: { shape: [3, 3, 3, C], values: randn(3 * 3 * 3 * C, 5, 0.01) },
  w2: { shape: [1, 1, C, C], values: randn(C * C, 6, 0.5) },
  w3: { shape: [1, 1, C, 4], values: randn(C * 4, 7, 0.5) },
};

/** images -> c1 (3x3 conv) -> c2 (1x1) -> add = c1 + c2 (unbounded: the cut) -> out (1x1) */
function model(): GraphModel {
  return graphModel(H, W, CONSTS, [
    conv('c1', 'images', 'w1'),
    conv('c2', 'c1', 'w2'),
    { name: 'add', op: 'AddV2', input: ['c1', 'c2'], attr: T },
    conv('out', 'add', 'w3'),
  ]);
}

async function cli(...argv: string[]) {
  let out = '', err = '';
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe('import --calibrate measures the split range the model does not state (TF.js)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'calib-range-'));
  const imgs = join(dir, 'images');
  const file = join(dir, 'model.json');
  const { json, bin } = model();
  beforeAll(() => {
    writeFileSync(file, JSON.stringify(json));
    writeFileSync(join(dir, 'w.bin'), bin);
    mkdirSync(imgs);
    for (let k = 0; k < 3; k++) {
      const r = rng(30 + k);
      const data = Buffer.from(Array.from({ length: 14 * 12 * 4 }, (_, i) => (i % 4 === 3 ? 255 : Math.floor(r() * 256))));
      writeFileSync(join(imgs, `img${k}.jpg`), jpeg.encode({ data, width: 14, height: 12 }, 90).data);
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** the split tensor 'add' of each calibration image, by the f64 reference, from the same engine input */
  function referenceSplit(): Float64Array[] {
    const ir = readTfjs(json as never, [bin]);
    return [0, 1, 2].map((k) => {
      const x = new Float32Array(3 * H * W);
      toInput(decodeImage(new Uint8Array(readFileSync(join(imgs, `img${k}.jpg`)))), [3, H, W], ir.mean, ir.std, x);
      return referenceForward(ir, x, { upTo: 'add' });
    });
  }

  it('the range is the split tensor\'s extremes on the images, and their codes then stand for it within half a step', async () => {
    const slim = join(dir, 'cal.slim');
    const r = await cli('import', file, '-o', slim, '--split', 'add', '--calibrate', imgs, '--bits', '8');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/split range \[-?[\d.]+, [\d.]+\]: the split tensor's extremes on the 3 calibration images/);
    const blob = readBlob(new Uint8Array(readFileSync(slim)));
    const [lo, hi] = (JSON.parse(blob.json) as { split: { range: [number, number] } }).split.range;
    const ref = referenceSplit();
    const min = Math.min(...ref.map((t) => Math.min(...t))), max = Math.max(...ref.map((t) => Math.max(...t)));
    // an unbounded add: values well outside any activation's range
    expect(max - min).toBeGreaterThan(10);
    expect(Math.abs(lo - min)).toBeLessThan(1e-5 * (max - min));
    expect(Math.abs(hi - max)).toBeLessThan(1e-5 * (max - min));
    // no value of the calibration images is clamped: each code is its value, rounded
    const scale = Math.fround((hi - lo) / 255), zp = Math.round(-lo / scale);
    const enc = new Runner(loadEngine(), blob, 'encoder');
    for (let k = 0; k < 3; k++) {
      const x = new Float32Array(3 * H * W);
      toInput(decodeImage(new Uint8Array(readFileSync(join(imgs, `img${k}.jpg`)))), [3, H, W], blob.input.mean, blob.input.std, x);
      const codes = enc.run(x) as Uint8Array;
      let worst = 0;
      for (let i = 0; i < codes.length; i++) worst = Math.max(worst, Math.abs(scale * (codes[i] - zp) - ref[k][i]));
      expect(worst).toBeLessThan(0.5 * scale * 1.01);
    }
  });

  it('each mode gets the calibration images\' top-1 agreement with the unsplit model, as its reference figure', async () => {
    const slim = join(dir, 'agree.slim');
    const r = await cli('import', file, '-o', slim, '--split', 'add', '--calibrate', imgs, '--bits', '1,2,8');
    expect(r.code, r.err).toBe(0);
    const bytes = new Uint8Array(readFileSync(slim));
    const meta = JSON.parse(readBlob(bytes).json) as { referenceTop1: Record<string, number>; referenceTop1Kind: string };
    expect(meta.referenceTop1Kind).toBe('top-1 agreement with the unsplit model on 3 calibration images');
    // independently: the f64 reference of the whole network against packets through the model API
    const ir = readTfjs(json as never, [bin]);
    const model = await loadModel(bytes);
    const enc = model.encoder(), dec = model.decoder();
    const argmax = (y: ArrayLike<number>) => Array.prototype.indexOf.call(y, Math.max(...Array.from(y)));
    for (const b of [1, 2, 8]) {
      enc.setMode({ bits: b });
      let same = 0;
      for (let k = 0; k < 3; k++) {
        const img = new Uint8Array(readFileSync(join(imgs, `img${k}.jpg`)));
        const x = new Float32Array(3 * H * W);
        toInput(decodeImage(img), [3, H, W], ir.mean, ir.std, x);
        if (dec.decode(enc.encode(img)).top1 === argmax(referenceForward(ir, x))) same++;
      }
      expect(meta.referenceTop1[`1,${b}`], `bits ${b}`).toBe(same / 3);
    }
    expect(meta.referenceTop1['1,8']).toBe(1);
    // the mode table (inspect, pickMode, the rate controller) reads it
    expect(model.modeTable().map((m) => m.top1)).toEqual([1, 2, 8].map((b) => meta.referenceTop1[`1,${b}`]));
    model.close();
  });

  it('--split-range still decides when given; without it or --calibrate the error names both', async () => {
    const slim = join(dir, 'given.slim');
    const r = await cli('import', file, '-o', slim, '--split', 'add', '--calibrate', imgs, '--split-range', '-7,9');
    expect(r.code).toBe(0);
    expect(r.out).not.toContain('split range');
    expect((JSON.parse(readBlob(new Uint8Array(readFileSync(slim))).json) as { split: { range: number[] } }).split.range).toEqual([-7, 9]);
    const none = await cli('import', file, '-o', join(dir, 'none.slim'), '--split', 'add');
    expect(none.code).not.toBe(0);
    expect(none.err).toContain("split tensor 'add' has no stated value range");
    expect(none.err).toContain('give one with --split-range lo,hi, or --calibrate <dir> to measure it on images');
  });
});
