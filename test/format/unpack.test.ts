// The unpacker (src/format/unpack.ts, `slimsplit unpack`): every shipped blob, unpacked and packed
// again, is the shipped file byte for byte (issue 16); a stored form the packer never writes is
// refused by name.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBlob } from '../../src/format/reader.js';
import { writeBlob } from '../../src/format/writer.js';
import { packGraph } from '../../src/format/pack.js';
import { unpackBlob, coderToJson, coderFromJson } from '../../src/format/unpack.js';
import { main as cli } from '../../src/cli/main.js';
import { tinyGraph, tinyTensors } from '../fixtures/tiny.gen.js';

const ROOT = join(import.meta.dirname, '../..');
const WEIGHTS = join(ROOT, 'weights');
const BLOBS = readdirSync(WEIGHTS).filter((f) => f.endsWith('.slim')).sort();
const read = (p: string) => new Uint8Array(readFileSync(p));

/** unpack -> the files' forms (JSON text, coder file text) -> pack */
function roundTrip(bytes: Uint8Array): Uint8Array {
  const u = unpackBlob(bytes);
  const graph = JSON.parse(JSON.stringify(u.graph));
  const coder = u.coder ? coderFromJson(coderToJson(u.coder)) : null;
  return packGraph(graph, u.tensors.slice(), coder ? { coder } : {});
}

describe('slimsplit unpack', () => {
  it('finds the shipped blobs', () => {
    expect(BLOBS).toEqual(expect.arrayContaining(['jpeg-baseline.slim', 'see-384-random.slim', 'see-cifar10.slim', 'see-cifar10-d4.slim', 'see-cifar10-d4r.slim', 'see-cifar10-d8.slim']));
  });

  for (const f of BLOBS) {
    it(`weights/${f}: unpack -> pack gives the shipped bytes`, () => {
      const shipped = read(join(WEIGHTS, f));
      const again = roundTrip(shipped);
      expect(again.length).toBe(shipped.length);
      expect(Buffer.compare(Buffer.from(again), Buffer.from(shipped))).toBe(0);
    });
  }

  it('gives back the kept export of see-384-random: tensors.bin byte for byte', () => {
    const u = unpackBlob(read(join(WEIGHTS, 'see-384-random.slim')));
    expect(Buffer.compare(Buffer.from(u.tensors), readFileSync(join(ROOT, 'test/fixtures/see/see-384-random.tensors.bin')))).toBe(0);
  });

  it('q8 tensors come back as float32 that quantize to the stored scales and codes', () => {
    const b = readBlob(read(join(WEIGHTS, 'see-cifar10.slim')));
    const q8 = b.tensors.filter((t) => t.storage === 'q8');
    expect(q8.length).toBeGreaterThan(0);
    const u = unpackBlob(read(join(WEIGHTS, 'see-cifar10.slim')));
    const tj = u.graph.tensors as Record<string, { offset: number; storage?: string }>;
    for (const t of q8) {
      expect(tj[t.name].storage).toBe('q8');
      const v = new Float32Array(u.tensors.buffer, u.tensors.byteOffset + tj[t.name].offset, t.byteLength / 4);
      // the loader's expansion, code * scale, up to the +-127 codes' f32(127 * scale)
      const x = b.tensor(t.name) as Float32Array;
      let off = 0;
      for (let i = 0; i < v.length; i++) if (!(Math.abs(v[i] - x[i]) <= Math.abs(x[i]) * 2 ** -20)) off++;
      expect(off, t.name).toBe(0);
    }
  });

  it('round-trips the tiny fixture graph and a q8 tensor whose 127-fold scale is not its maximum', () => {
    expect(roundTrip(packGraph(tinyGraph(), tinyTensors()))).toEqual(packGraph(tinyGraph(), tinyTensors()));
    const g = tinyGraph() as { tensors: Record<string, { shape: number[]; offset: number; storage?: string }> };
    const [name, t] = Object.entries(g.tensors).find(([, x]) => x.shape.length > 1)!;
    g.tensors[name] = { ...t, storage: 'q8' };
    const bin = tinyTensors().slice();
    const n = t.shape.reduce((a, b) => a * b, 1);
    const f = new Float32Array(bin.buffer, bin.byteOffset + t.offset, n);
    for (let i = 0; i < n; i++) f[i] = Math.fround(Math.sin(i * 7.3) * 0.3171 + (i % 5) * 1e-3);
    const blob = packGraph(g, bin);
    expect(Buffer.compare(Buffer.from(roundTrip(blob)), Buffer.from(blob))).toBe(0);
  });

  it('refuses a q8 scale no f32 maximum quantizes to, naming the tensor and row', () => {
    // scales like 0x3c010c40: fround(m / 127) skips them for every f32 m
    const stored = new Uint8Array(4 + 3);
    const dv = new DataView(stored.buffer);
    dv.setUint32(0, 0x3c010c40, true);
    const s = dv.getFloat32(0, true);
    expect(Math.fround(Math.fround(127 * s) / 127)).not.toBe(s);
    stored.set([127, 0x100 - 3, 0x100 - 127], 4);
    const blob = writeBlob({ name: 'm', input: { shape: [1], mean: [], std: [] }, axes: [], graphs: [], tensors: [{ name: 'w', dtype: 'f32', shape: [1, 3], data: new Float32Array(3), storage: 'q8', stored }] });
    expect(() => unpackBlob(blob)).toThrow(/cannot unpack: q8 tensor 'w' row 0: no f32 maximum quantizes to scale/);
  });

  it('refuses a q8 row the packer never writes (largest code not 127), naming the tensor', () => {
    const stored = new Uint8Array(4 + 2);
    new DataView(stored.buffer).setFloat32(0, 0.5, true);
    stored.set([1, 2], 4);
    const blob = writeBlob({ name: 'm', input: { shape: [1], mean: [], std: [] }, axes: [], graphs: [], tensors: [{ name: 'w', dtype: 'f32', shape: [1, 2], data: new Float32Array(2), storage: 'q8', stored }] });
    expect(() => unpackBlob(blob)).toThrow(/cannot unpack: q8 tensor 'w'/);
  });

  it('`slimsplit unpack` writes files that `slimsplit pack --coder` packs into the same bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slim-unpack-'));
    const lines: string[] = [];
    const io = { out: (s: string) => void lines.push(s), err: (s: string) => void lines.push(s) };
    const src = join(WEIGHTS, 'see-cifar10-d4r.slim');
    expect(await cli(['unpack', src, '-o', dir], io)).toBe(0);
    for (const ext of ['graph.json', 'tensors.bin', 'coder.json']) expect(existsSync(join(dir, `see-cifar10-d4r.${ext}`))).toBe(true);
    const out = join(dir, 'again.slim');
    const p = (e: string) => join(dir, `see-cifar10-d4r.${e}`);
    expect(await cli(['pack', p('graph.json'), p('tensors.bin'), '--coder', p('coder.json'), '-o', out], io)).toBe(0);
    expect(Buffer.compare(readFileSync(out), readFileSync(src))).toBe(0);
    // without the coder tables the packer has no counts to build them from: a different blob
    expect(await cli(['pack', p('graph.json'), p('tensors.bin'), '-o', join(dir, 'nocoder.slim')], io)).toBe(0);
    expect(readBlob(read(join(dir, 'nocoder.slim'))).coder).toBeNull();
    expect(await cli(['unpack', join(dir, 'missing.slim'), '-o', dir], io)).toBe(1);
    expect(await cli(['unpack', p('graph.json'), '-o', dir], io)).toBe(1);
    expect(await cli(['unpack', src], io)).toBe(2);
  });
});
