// `slimsplit classify`: a classifier blob and a split model end to end, against the API's own answers.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { loadModel } from '../../src/model/model.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SAMPLES = ['cat', 'ship', 'frog'].map((n) => join(ROOT, 'samples', `${n}.jpg`));

function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  return main(argv, { out: (s) => void (out += s), err: (s) => void (err += s) }).then((code) => ({ code, out, err }));
}

const softmax = (l: Float32Array): number[] => {
  const m = Math.max(...l), e = Array.from(l, (v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

describe('classify', () => {
  it('a split model: the class, probabilities and packet size of encode then decode at the mode given', async () => {
    const r = await run(['classify', ...SAMPLES, '--mode', 'members=2,bits=4', '--top', '3', '--json']);
    expect(r.code, r.err).toBe(0);
    const rows = JSON.parse(r.out) as { file: string; top1: number; label: string; top: { index: number; prob: number }[]; mode: string; bytes: number }[];
    const model = await loadModel(join(ROOT, 'weights/see-cifar10.slim'));
    const enc = model.encoder(), dec = model.decoder();
    enc.setMode({ members: 2, bits: 4 });
    expect(rows.map((x) => x.file)).toEqual(SAMPLES);
    for (const [i, f] of SAMPLES.entries()) {
      const pkt = enc.encode(readFileSync(f));
      const d = dec.decode(pkt);
      const p = softmax(d.logits);
      expect(rows[i]).toMatchObject({ top1: d.top1, label: d.label, mode: 'members=2,bits=4', bytes: pkt.length });
      expect(rows[i].top.length).toBe(3);
      expect(rows[i].top[0]).toMatchObject({ index: d.top1 });
      expect(rows[i].top[0].prob).toBeCloseTo(p[d.top1], 12);
      expect(rows[i].top[1].prob).toBeLessThanOrEqual(rows[i].top[0].prob);
    }
    model.close();
  });

  it('a classifier blob: the classifier graph, one line per image', async () => {
    const blob = join(ROOT, 'weights/jpeg-baseline.slim');
    const r = await run(['classify', '--model', blob, ...SAMPLES]);
    expect(r.code, r.err).toBe(0);
    const model = await loadModel(blob);
    const cls = model.classifier();
    const lines = r.out.trimEnd().split('\n');
    expect(lines.length).toBe(SAMPLES.length);
    for (const [i, f] of SAMPLES.entries()) {
      const c = cls.classify(readFileSync(f));
      const pct = (softmax(c.logits)[c.top1] * 100).toFixed(1);
      expect(lines[i]).toMatch(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: ${c.label} \\(class ${c.top1}\\) ${pct}%, [\\d.]+ ms$`));
    }
    model.close();
  });

  it('refuses a mode for a classifier (exit 2), a missing image and a file that is no image (exit 1)', async () => {
    const m = await run(['classify', '--model', join(ROOT, 'weights/jpeg-baseline.slim'), '--mode', 'members=1', SAMPLES[0]]);
    expect(m.code).toBe(2);
    expect(m.err).toContain('--mode applies to split models');
    const n = await run(['classify', join(ROOT, 'samples/none.jpg')]);
    expect(n.code).toBe(1);
    expect(n.err).toContain('image file not found');
    const t = await run(['classify', join(ROOT, 'README.md')]);
    expect(t.code).toBe(1);
    expect(t.err).toMatch(/not a JPEG or PNG/);
    const k = await run(['classify', '--top', '0', SAMPLES[0]]);
    expect(k.code).toBe(2);
  });
});
