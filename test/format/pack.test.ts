// The packer (src/format/pack.ts, `slimsplit pack`): its JSON checks (one case per rule, asserting
// the message), the coder tables it builds from symbol and context counts, and the command.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBlob } from '../../src/format/reader.js';
import { writeBlob } from '../../src/format/writer.js';
import { BlobError } from '../../src/format/schema.js';
import { packGraph, graphSpec, PackError } from '../../src/format/pack.js';
import { main as cli } from '../../src/cli/main.js';
import { GraphError } from '../../src/engine/plan/graph.js';
import { CdfTables, quantizeCdf, encode, decode } from '../../src/codec/coder.js';
import { loadEngine, Arena } from '../../src/engine/wasm.js';
import { tinyGraph, tinyTensors, TINY_GRAPH, TINY_TENSORS } from '../fixtures/tiny.gen.js';

describe('slimsplit pack', () => {
  it('packs the fixture files with `slimsplit pack` and rejects bad usage', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slim-'));
    const out = join(dir, 'tiny.slim');
    const io = { out: () => {}, err: () => {} };
    expect(await cli(['pack', TINY_GRAPH, TINY_TENSORS, '-o', out], io)).toBe(0);
    expect(new Uint8Array(readFileSync(out))).toEqual(packGraph(tinyGraph(), tinyTensors()));
    expect(await cli(['pack', TINY_GRAPH, TINY_TENSORS], io)).toBe(2);
    expect(await cli(['pack', TINY_GRAPH], io)).toBe(2);
    expect(await cli(['pack', TINY_TENSORS, TINY_TENSORS, '-o', join(dir, 'x.slim')], io)).toBe(1);
    expect(existsSync(join(dir, 'x.slim'))).toBe(false);
  });
});

describe('packer JSON checks', () => {
  const g = (): Record<string, any> => tinyGraph() as Record<string, any>;
  const pack = (j: unknown, t = tinyTensors()): Uint8Array => packGraph(j, t);
  const layer0 = (f: (l: Record<string, unknown>) => void): unknown => {
    const j = g();
    f(j.graphs.encoder.layers[0]);
    return j;
  };
  const cases: Array<[string, () => unknown, unknown, RegExp]> = [
    ['not an object', () => pack(3), PackError, /graph: expected an object, got 3/],
    ['unknown op', () => pack(layer0((l) => (l.op = 'conv9d'))), PackError, /graphs.encoder.layers\[0\].op: unknown op 'conv9d'/],
    ['unknown field', () => pack(layer0((l) => (l.colour = 1))), PackError, /graphs.encoder.layers\[0\].colour: conv2d has no field 'colour'/],
    ['non-integer field', () => pack(layer0((l) => (l.k = 2.5))), PackError, /layers\[0\].k: expected an integer, got 2.5/],
    ['missing field', () => pack(layer0((l) => delete l.k)), GraphError, /graph 'encoder' layer 0 \(conv2d\): required field k is missing/],
    ['unknown tensor', () => pack(layer0((l) => (l.w = 'nope'))), GraphError, /layer 0 \(conv2d\): field w names no tensor: "nope"/],
    ['unknown padding', () => pack(layer0((l) => (l.pad = 'valid'))), GraphError, /field pad must be one of none, same, tf-same, got "valid"/],
    ['two axes for one field', () => pack(layer0((l) => (l.active = { coutActive: { members: [4, 8, 12], bits: [4, 8, 12] } }))), PackError, /active.coutActive: expected exactly one mode axis, got members, bits/],
    ['axis the model lacks', () => pack(layer0((l) => (l.active = { coutActive: { width: [4, 8, 12] } }))), PackError, /the model has no mode axis 'width'/],
    ['wrong number of active values', () => pack(layer0((l) => (l.active = { coutActive: { members: [4, 12] } }))), GraphError, /active coutActive has 2 values, axis members has 3/],
    ['mode-independent field made active', () => pack(layer0((l) => (l.active = { k: { members: [1, 3, 3] } }))), PackError, /conv2d field 'k' cannot depend on the mode/],
    ['unknown mode axis', () => { const j = g(); j.modes.depth = [1]; return pack(j); }, PackError, /modes.depth: unknown mode axis/],
    ['tensor past the end', () => { const j = g(); j.tensors['fc.b'].offset = 4096; return pack(j); }, PackError, /tensors.fc.b: \[4096, 4116\) runs past the end of tensors.bin/],
    ['unknown storage', () => { const j = g(); j.tensors['fc.w'].storage = 'q4'; return pack(j); }, PackError, /tensors.fc.w.storage: unknown storage "q4" \(only "q8"/],
    ['q8 of a non-finite weight', () => writeBlob({ ...graphSpec(g(), tinyTensors()), tensors: [{ name: 'a', dtype: 'f32', shape: [2], data: Float32Array.of(1, NaN), storage: 'q8' }], graphs: [] }), BlobError, /tensor 'a' value 1 is NaN; q8 needs finite values/],
    ['q8 of an integer tensor', () => writeBlob({ ...graphSpec(g(), tinyTensors()), tensors: [{ name: 'a', dtype: 'u8', shape: [2], data: Uint8Array.of(1, 2), storage: 'q8' }], graphs: [] }), BlobError, /tensor 'a' has dtype u8; q8 storage is for f32 tensors/],
    ['q8 stored form of the wrong size', () => writeBlob({ ...graphSpec(g(), tinyTensors()), tensors: [{ name: 'a', dtype: 'f32', shape: [2, 2], data: new Float32Array(4), storage: 'q8', stored: new Uint8Array(11) }], graphs: [] }), BlobError, /tensor 'a' q8 stored form is 11 bytes, \[2, 2\] stores 12/],
    ['tensor misaligned', () => { const j = g(); j.tensors['fc.b'].offset = 8; return pack(j); }, PackError, /tensors.fc.b.offset: 8 is not 16-byte aligned/],
    ['non-finite weight', () => { const t = tinyTensors(); new DataView(t.buffer).setFloat32(0, NaN, true); return pack(g(), t); }, PackError, /tensors.stem.w: value 0 is NaN; weights must be finite/],
    ['u8 and f32 use of one buffer', () => { const j = g(); j.graphs.decoder.layers[1].x = 'q'; return pack(j); }, PackError, /graphs.decoder.layers\[1\].x: buffer 'q' is used as f32 here but as u8/],
    ['graph input', () => { const j = g(); j.graphs.decoder.input = 'nope'; return pack(j); }, GraphError, /graph 'decoder': input 'nope' is not one of its buffers/],
    ['output never written', () => { const j = g(); j.graphs.decoder.buffers.extra = [5]; j.graphs.decoder.output = 'extra'; return pack(j); }, GraphError, /graph 'decoder': output 'extra' is never written/],
    ['arena-sized buffer limit', () => { const j = g(); j.graphs.decoder.buffers.g = [1 << 15, 1 << 15]; return pack(j); }, GraphError, /buffer 'g': shape \[32768, 32768\] exceeds 268435456 elements/],
    ['bad graph name', () => { const j = g(); j.graphs['en coder'] = j.graphs.encoder; return pack(j); }, BlobError, /graph name "en coder" must be 1..23 characters/],
    ['fixed value disagreeing with active', () => pack(layer0((l) => (l.coutActive = 8))), PackError, /active.coutActive: field coutActive is fixed at 8 but its active entry gives 12 in the largest mode/],
    ['too many modes', () => { const j = g(); j.modes = { members: Array.from({ length: 256 }, (_, i) => i + 1), width: [1, 2], bits: [2, 4, 8] }; return pack(j); }, BlobError, /mode axes give 1536 modes, more than 1024/],
    ['too much work', () => {
      const j = g();
      j.modes = { members: Array.from({ length: 256 }, (_, i) => i + 1), width: [1, 2, 3, 4] };
      j.graphs = { decoder: { input: 'o', output: 'o', buffers: { o: [5] }, layers: Array.from({ length: 65 }, () => ({ op: 'act', x: 'o', n: 5, act: 'relu' })) } };
      return pack(j);
    }, GraphError, /graph 'decoder' has 65 layers in 1024 modes, more than 65536 layer-modes/],
    ['symbol counts wider than the bit depth', () => { const j = g(); j.meta.split = { H: 5, W: 5 }; j.meta.symbolCounts = { 2: [[1, 2, 3, 4, 5]], 4: [], 8: [] }; return pack(j); }, PackError, /meta.symbolCounts.2\[0\]: expected 1..4 counts \(symbols 0..T-1 of 2 bits\), got \[1,2,3,4,5\]/],
    ['symbol counts of two widths', () => { const j = g(); j.meta.split = { H: 5, W: 5 }; j.meta.symbolCounts = { 2: [[1, 2, 3], [1, 2]], 4: [], 8: [] }; return pack(j); }, PackError, /meta.symbolCounts.2\[1\]: has 2 counts, expected 3 as channel 0/],
    ['no symbol counts for a channel', () => { const j = g(); j.meta.split = { H: 5, W: 5 }; j.meta.symbolCounts = { 2: [[]], 4: [], 8: [] }; return pack(j); }, PackError, /meta.symbolCounts.2\[0\]: expected 1..4 counts/],
    ['symbol counts without a split', () => { const j = g(); j.meta.symbolCounts = {}; return pack(j); }, PackError, /meta.split: expected an object/],
  ];
  it.each(cases)('%s', (_name, make, cls, msg) => {
    let err: unknown;
    try {
      make();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(cls as new () => Error);
    expect((err as Error).message).toMatch(msg);
  });
});

// CPU cost is about 10 s for the whole fuzz; the timeout covers a machine shared with training jobs.
describe('packer extras', () => {
  it('meta.contextCounts become K^3 tables per channel, a rare context leaning on the channel counts', () => {
    const j = tinyGraph() as Record<string, any>;
    const counts: Record<string, number[][]> = {};
    for (const b of [2, 4, 8]) counts[b] = Array.from({ length: 4 }, (_, c) => Array.from({ length: 2 ** b }, (_, k) => 1 + ((k * 7 + c) % 11)));
    // bits 2, K = 2: 8 contexts of 4 symbols per channel; context 5 of channel 1 never seen
    const ctx = Array.from({ length: 4 }, (_, c) => Array.from({ length: 8 }, (_, k) => (c === 1 && k === 5 ? [0, 0, 0, 0] : [10 + k, c, 3, 1])));
    j.meta = { ...j.meta, split: { H: 5, W: 5 }, symbolCounts: counts, contextCounts: { 2: { K: 2, shift: 1, counts: ctx } } };
    const b = readBlob(packGraph(j, tinyTensors()));
    const cj = JSON.parse(b.coder!.json);
    expect(cj.contexts).toEqual({ 2: { K: 2, shift: 1 } });
    expect(JSON.parse(b.json).contextCounts).toBeUndefined();
    const t = b.tensors.find((q) => q.name === 'coder.bits2')!;
    expect(t.shape).toEqual([32, 6]);
    const tab = b.tensor('coder.bits2') as Uint32Array;
    const m = counts[2][1], mt = m.reduce((x, y) => x + y, 0);
    expect(Array.from(tab.subarray((1 * 8 + 5) * 6, (1 * 8 + 6) * 6))).toEqual(Array.from(quantizeCdf([...m.map((x) => x / mt), 0])));
    expect(Array.from(tab.subarray((2 * 8 + 3) * 6, (2 * 8 + 4) * 6))).toEqual(Array.from(quantizeCdf([13 + m2(2, 0), 2 + m2(2, 1), 3 + m2(2, 2), 1 + m2(2, 3), 0])));
    function m2(c: number, s: number): number {
      const q = counts[2][c];
      return q[s] / q.reduce((x, y) => x + y, 0);
    }
    const bad = tinyGraph() as Record<string, any>;
    bad.meta = { ...bad.meta, split: { H: 5, W: 5 }, symbolCounts: counts, contextCounts: { 2: { K: 2, shift: 1, counts: ctx.slice(0, 3) } } };
    expect(() => packGraph(bad, tinyTensors())).toThrow(/meta.contextCounts.2.counts: expected \[4\]\[8\]\[4\] counts/);
    bad.meta.contextCounts = { 3: { K: 2, shift: 0, counts: ctx } };
    expect(() => packGraph(bad, tinyTensors())).toThrow(/3 is not a value of the bits axis/);
  });

  it('meta.contextCounts with the diagonal neighbours become K^4 tables per channel and name them', () => {
    const j = tinyGraph() as Record<string, any>;
    const counts: Record<string, number[][]> = {};
    for (const b of [2, 4, 8]) counts[b] = Array.from({ length: 4 }, (_, c) => Array.from({ length: 2 ** b }, (_, k) => 1 + ((k * 5 + c) % 7)));
    const ctx = Array.from({ length: 4 }, (_, c) => Array.from({ length: 16 }, (_, k) => [5 + k, c, 2, 1]));
    j.meta = { ...j.meta, split: { H: 5, W: 5 }, symbolCounts: counts, contextCounts: { 2: { K: 2, shift: 0, neighbours: 'left,up,up-left,up-right', counts: ctx } } };
    const b = readBlob(packGraph(j, tinyTensors()));
    expect(JSON.parse(b.coder!.json).contexts).toEqual({ 2: { K: 2, shift: 0, neighbours: 'left,up,up-left,up-right' } });
    expect(b.tensors.find((q) => q.name === 'coder.bits2')!.shape).toEqual([64, 6]);
    const m = counts[2][3], mt = m.reduce((x, y) => x + y, 0);
    const tab = b.tensor('coder.bits2') as Uint32Array;
    expect(Array.from(tab.subarray((3 * 16 + 15) * 6, (3 * 16 + 16) * 6))).toEqual(Array.from(quantizeCdf([20 + m[0] / mt, 3 + m[1] / mt, 2 + m[2] / mt, 1 + m[3] / mt, 0])));
    const bad = tinyGraph() as Record<string, any>;
    bad.meta = { ...bad.meta, split: { H: 5, W: 5 }, symbolCounts: counts, contextCounts: { 2: { K: 2, shift: 0, neighbours: 'left,up,up-left,up-right', counts: ctx.map((r) => r.slice(0, 8)) } } };
    expect(() => packGraph(bad, tinyTensors())).toThrow(/meta.contextCounts.2.counts\[0\]: expected 16 contexts/);
    bad.meta.contextCounts = { 2: { K: 2, shift: 0, neighbours: 'up,down', counts: ctx } };
    expect(() => packGraph(bad, tinyTensors())).toThrow(/meta.contextCounts.2.neighbours: must be one of "left,up,prev", "left,up,up-left,up-right", got "up,down"/);
  });

  it('meta.modeCounts give each members count its own cost under the shared tables, per channel and per context', () => {
    const j = tinyGraph() as Record<string, any>;
    const counts: Record<string, number[][]> = {};
    for (const b of [2, 4, 8]) counts[b] = Array.from({ length: 4 }, (_, c) => Array.from({ length: 2 ** b }, (_, k) => 1 + ((k * 5 + c) % 7)));
    const ctx = Array.from({ length: 4 }, (_, c) => Array.from({ length: 16 }, (_, k) => [5 + k, c, 2, 1]));
    // members 1 sends channels 0-1 (different symbols from the pooled ones), members 2 all four
    const m1 = { 2: [0, 1].map((c) => Array.from({ length: 16 }, (_, k) => [k % 3, 1, 0, c])), 4: [[9, ...new Array(15).fill(1)], [1, 1, 8, ...new Array(13).fill(1)]] };
    j.meta = { ...j.meta, split: { H: 5, W: 5 }, symbolCounts: counts, contextCounts: { 2: { K: 2, shift: 0, neighbours: 'left,up,up-left,up-right', counts: ctx } }, modeCounts: { 1: m1 } };
    const b = readBlob(packGraph(j, tinyTensors()));
    const cj = JSON.parse(b.coder!.json);
    expect(JSON.parse(b.json).modeCounts).toBeUndefined();
    expect(Object.keys(cj.bitsPerImageByMembers)).toEqual(['2', '4']);
    const t2 = b.tensor('coder.bits2') as Uint32Array, t4 = b.tensor('coder.bits4') as Uint32Array;
    const bitsOf = (q: number[], cdf: Uint32Array) => q.reduce((acc, x, k) => acc - x * Math.log2((cdf[k + 1] - cdf[k]) / 65536), 0);
    for (const c of [0, 1]) {
      // the costs of these symbols under channel c's context tables, over this members count's own images
      const rows = m1[2][c], n = rows.flat().reduce((x, y) => x + y, 0) / 25;
      const want = rows.reduce((acc, q, k) => acc + bitsOf(q, t2.subarray((c * 16 + k) * 6, (c * 16 + k + 1) * 6)), 0) / n;
      expect(cj.bitsPerImageByMembers[2][1][c]).toBeCloseTo(want, 2);
      const q4 = m1[4][c];
      expect(cj.bitsPerImageByMembers[4][1][c]).toBeCloseTo(bitsOf(q4, t4.subarray(c * 18, (c + 1) * 18)) / (q4.reduce((x, y) => x + y, 0) / 25), 2);
    }
    expect(cj.bitsPerImageByMembers[2][1]).toHaveLength(2);
    expect(cj.bitsPerImageByMembers[2][1][0]).not.toBeCloseTo(cj.bitsPerImage[2][0], 1);
    const bad = (modeCounts: unknown) => packGraph({ ...j, meta: { ...j.meta, modeCounts } }, tinyTensors());
    expect(() => bad({ 1: { 4: [[1, 2, 3]] } })).toThrow(/meta.modeCounts.1.4\[0\]: has 3 counts, expected 16/);
    expect(() => bad({ 1: { 2: [[[1, 1, 1, 1]]] } })).toThrow(/meta.modeCounts.1.2\[0\]: expected 16 contexts/);
    expect(() => bad({ 1: { 4: new Array(5).fill(new Array(16).fill(1)) } })).toThrow(/meta.modeCounts.1.4: expected counts for 1..4 channels/);
    expect(() => bad({ 7: m1 })).toThrow(/meta.modeCounts.7: 7 is not a value of the members axis/);
  });

  it('counts narrower than 2^bits give narrower tables; the values past them go through the escape', () => {
    // A learned 8-bit step that sends 4 levels: 6-word tables instead of 258, so K^4 contexts fit a blob
    const j = tinyGraph() as Record<string, any>;
    const counts: Record<string, number[][]> = { 2: [], 4: [], 8: [] };
    for (const b of [2, 4]) counts[b] = Array.from({ length: 4 }, (_, c) => Array.from({ length: 2 ** b }, (_, k) => 1 + ((k + c) % 5)));
    counts[8] = Array.from({ length: 4 }, (_, c) => [40, 30 + c, 20, 10]);
    const ctx = Array.from({ length: 4 }, (_, c) => Array.from({ length: 81 }, (_, k) => [k % 7, (k + c) % 5, 3, k === 80 ? 50 : 1]));
    j.meta = { ...j.meta, split: { H: 5, W: 5 }, symbolCounts: counts, contextCounts: { 8: { K: 3, shift: 0, neighbours: 'left,up,up-left,up-right', counts: ctx } } };
    const b = readBlob(packGraph(j, tinyTensors()));
    expect(b.tensors.find((q) => q.name === 'coder.bits8')!.shape).toEqual([4 * 81, 6]);
    const tab = b.tensor('coder.bits8') as Uint32Array;
    const m = counts[8][2], mt = m.reduce((x, y) => x + y, 0);
    expect(Array.from(tab.subarray((2 * 81 + 80) * 6, (2 * 81 + 81) * 6))).toEqual(Array.from(quantizeCdf([80 % 7 + m[0] / mt, (80 + 2) % 5 + m[1] / mt, 3 + m[2] / mt, 50 + m[3] / mt, 0])));
    const eng = loadEngine({ build: 'scalar' });
    const specs = Array.from({ length: 4 * 81 }, (_, r) => ({ cdf: tab.subarray(r * 6, (r + 1) * 6), offset: 0 }));
    const tables = new CdfTables(eng, new Arena(eng), specs, { lookup: false });
    const sym = Uint8Array.from({ length: 100 }, (_, i) => (i % 13 === 0 ? 200 + (i % 50) : (i * 7) % 4));  // 8 values past T = 4
    const layout = { tableIndex: [0, 81, 162, 243], context: { W: 5, K: 3, shift: 0, neighbours: 'left,up,up-left,up-right' as const } };
    const bytes = encode(eng, tables, sym, layout);
    expect(Array.from(decode(eng, tables, bytes, { ...layout, count: 100, type: 'u8' }))).toEqual(Array.from(sym));
    // an escape costs its bypass nibbles: the same symbols clamped to the table cost less
    const inRange = encode(eng, tables, sym.map((v) => Math.min(v, 3)), layout);
    expect(bytes.length).toBeGreaterThan(inRange.length + 8);
  });

  it('a fixed value equal to the largest mode\'s active value is accepted (the active entry decides)', () => {
    const j = tinyGraph() as Record<string, any>;
    j.graphs.encoder.layers[0].coutActive = 12;
    expect(packGraph(j, tinyTensors())).toEqual(packGraph(tinyGraph(), tinyTensors()));
  });

  it('meta.symbolCounts become rans-channel CDF tables the coder accepts, and leave the model json', () => {
    const j = tinyGraph() as Record<string, any>;
    const counts: Record<string, number[][]> = {};
    for (const b of [2, 4, 8]) counts[b] = Array.from({ length: 4 }, (_, c) => Array.from({ length: 2 ** b }, (_, k) => (c === 3 ? 0 : (k * 7 + c) % 11)));
    j.meta = { ...j.meta, split: { H: 5, W: 5 }, symbolCounts: counts };
    const b = readBlob(packGraph(j, tinyTensors()));
    const cj = JSON.parse(b.coder!.json);
    expect({ ...cj, bitsPerImage: undefined }).toEqual({ kind: 'rans-channel', axis: 'bits', channels: 4, groupSize: 25, W: 5, tables: { 2: 'coder.bits2', 4: 'coder.bits4', 8: 'coder.bits8' } });
    // per channel: training-set bits per image under the table = sum of counts x -log2(freq) / images
    const c0 = counts[2][0], images = c0.reduce((x, y) => x + y, 0) / 25, t2 = b.tensor('coder.bits2') as Uint32Array;
    const want = c0.reduce((acc, x, k) => acc - x * Math.log2((t2[k + 1] - t2[k]) / 65536), 0) / images;
    expect(cj.bitsPerImage[2][0]).toBeCloseTo(want, 2);
    // each channel over its own images: a refining model counts a channel once per mode sending it
    const c1 = counts[2][1], images1 = c1.reduce((x, y) => x + y, 0) / 25;
    expect(images1).not.toBe(images);
    expect(cj.bitsPerImage[2][1]).toBeCloseTo(c1.reduce((acc, x, k) => acc - x * Math.log2((t2[6 + k + 1] - t2[6 + k]) / 65536), 0) / images1, 2);
    expect(cj.bitsPerImage[2][3]).toBe(0);
    expect(JSON.parse(b.json).symbolCounts).toBeUndefined();
    expect(JSON.parse(b.json).split).toEqual({ H: 5, W: 5 });
    const t = b.tensors.find((q) => q.name === 'coder.bits4')!;
    expect([t.dtype, t.shape]).toEqual(['u32', [4, 18]]);
    const cdf = b.tensor('coder.bits4') as Uint32Array;
    expect(Array.from(cdf.subarray(0, 18))).toEqual(Array.from(quantizeCdf([...counts[4][0], 0])));
    // a channel never seen gets a flat table, not an error
    expect(Array.from(cdf.subarray(3 * 18, 4 * 18))).toEqual(Array.from(quantizeCdf([...new Array(16).fill(1), 0])));
    const eng = loadEngine({ build: 'scalar' });
    const specs = [2, 4, 8].flatMap((bits) => {
      const tab = b.tensor(`coder.bits${bits}`) as Uint32Array, L = 2 ** bits + 2;
      return [0, 1, 2, 3].map((c) => ({ cdf: tab.subarray(c * L, (c + 1) * L), offset: 0 }));
    });
    expect(() => new CdfTables(eng, new Arena(eng), specs, { lookup: false })).not.toThrow();
  });
});

