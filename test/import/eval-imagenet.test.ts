/**
 * `slimsplit eval-imagenet` on an ONNX classifier: --mean/--std reach the network that is scored
 * (ONNX files state no normalization), checked on the committed tiny ONNX fixture and three small
 * JPEGs made here, against the f64 reference fed an input normalized by hand (the
 * per-image reference margin in the JSON).
 */
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { main } from '../../src/cli/main.js';
import { readOnnx, referenceForward } from '../../src/import/index.js';
import { decodeImage } from '../../src/model/image.js';
import { rng } from '../util.js';

const TINY = join(import.meta.dirname, '../fixtures/onnx/tiny.onnx');

async function cli(...argv: string[]) {
  let out = '', err = '';
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

/** tiny.onnx takes 32x32: JPEGs of that size go in unresized (--crop 1), so the input is known exactly. */
function jpegs(dir: string): string[] {
  const names = ['n01440764_a.JPEG', 'n01443537_b.JPEG', 'n01484850_c.JPEG'];
  names.forEach((name, k) => {
    const r = rng(11 + k);
    const data = Buffer.alloc(32 * 32 * 4);
    for (let i = 0; i < 32 * 32; i++) {
      const x = i % 32, y = Math.floor(i / 32);
      data[4 * i] = (x * 8 + k * 60) & 255;
      data[4 * i + 1] = (y * 7 + Math.floor(r() * 40)) & 255;
      data[4 * i + 2] = ((x ^ y) * 5) & 255;
      data[4 * i + 3] = 255;
    }
    writeFileSync(join(dir, name), jpeg.encode({ data, width: 32, height: 32 }, 95).data);
  });
  return names;
}

/** top-1 minus top-2 logit: what eval-imagenet reports per image as the reference's margin */
function margin(v: ArrayLike<number>): number {
  const s = Array.from(v).sort((a, b) => b - a);
  return s[0] - s[1];
}

describe('slimsplit eval-imagenet --mean/--std (ONNX)', () => {
  it('the given normalization is the one scored: in the JSON, and the reference margins follow it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eval-imagenet-'));
    try {
      const files = jpegs(dir);
      const ir = readOnnx(new Uint8Array(readFileSync(TINY)));
      const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
      // the reference logits of each image, normalized here by hand (NCHW, (p/255 - mean) / std)
      const logits = (m: number[], s: number[]) =>
        files.map((f) => {
          const img = decodeImage(new Uint8Array(readFileSync(join(dir, f))));
          const x = new Float32Array(3 * 32 * 32);
          for (let c = 0; c < 3; c++) for (let i = 0; i < 32 * 32; i++) x[c * 1024 + i] = (img.data[i * img.channels + c] / 255 - m[c]) / s[c];
          return referenceForward(ir, x);
        });
      const withNorm = logits(mean, std), without = logits([0, 0, 0], [1, 1, 1]);
      // the random-weight fixture answers class 4 either way; its margins tell the normalizations apart
      for (let i = 0; i < files.length; i++) expect(Math.abs(margin(withNorm[i]) - margin(without[i]))).toBeGreaterThan(0.005);

      const run = async (json: string, ...extra: string[]) => {
        const r = await cli('eval-imagenet', TINY, '--data', dir, '--label-offset', '0', '--crop', '1', '--json', json, ...extra);
        expect(r.err).not.toContain('error');
        expect(r.code).toBe(0);
        return { ...r, json: JSON.parse(readFileSync(json, 'utf8')) as { mean: number[]; std: number[]; rows: Array<{ file: string; margin: number; engine: number; reference: number }> } };
      };
      const a = await run(join(dir, 'a.json'), '--mean', mean.join(','), '--std', std.join(','));
      expect(a.json.mean.map((v) => Number(v.toFixed(6)))).toEqual(mean);
      expect(a.json.std.map((v) => Number(v.toFixed(6)))).toEqual(std);
      expect(a.err).toContain('input normalization: mean 0.4850,0.4560,0.4060, std 0.2290,0.2240,0.2250');
      expect(a.json.rows.length).toBe(3);
      for (const row of a.json.rows) expect(row.margin).toBeCloseTo(margin(withNorm[files.indexOf(row.file)]), 5);
      const b = await run(join(dir, 'b.json'));
      expect(b.json.mean).toEqual([0, 0, 0]);
      for (const row of b.json.rows) expect(row.margin).toBeCloseTo(margin(without[files.indexOf(row.file)]), 5);
      // one value is every channel's
      const c = await run(join(dir, 'c.json'), '--mean', '0.5', '--std', '0.25');
      expect(c.json.mean).toEqual([0.5, 0.5, 0.5]);
      expect(c.json.std).toEqual([0.25, 0.25, 0.25]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a normalization that does not fit, as import does', async () => {
    const count = await cli('eval-imagenet', TINY, '--data', tmpdir(), '--mean', '0.5,0.5');
    expect(count.code).not.toBe(0);
    expect(count.err).toContain('--mean gives 2 values; the model input has 3 channels (give 1 or 3)');
    const zero = await cli('eval-imagenet', TINY, '--data', tmpdir(), '--std', '0.2,0,0.2');
    expect(zero.code).not.toBe(0);
    expect(zero.err).toContain('--std 0.2,0,0.2: values must be finite and positive');
    const text = await cli('eval-imagenet', TINY, '--data', tmpdir(), '--mean', 'red');
    expect(text.code).not.toBe(0);
    expect(text.err).toContain("'red' is not a comma-separated list of numbers");
  });
});
