// conv2d's `dilation` field in a blob: an optional field added after blobs were first written
// (FieldSpec.trailing). A dilated model packs, reads back with its dilations, runs like the f64
// reference on both builds (its plan records carry word 24, the dilation) and round-trips through
// unpack byte for byte; an undilated layer keeps the 16 field words and the 24-word plan record
// that every blob before dilation had, so those blobs still load (test/format/unpack.test.ts
// repacks every shipped blob byte for byte).
import { describe, it, expect } from 'vitest';
import { readBlob, blobFields } from '../../src/format/reader.js';
import { packGraph } from '../../src/format/pack.js';
import { unpackBlob } from '../../src/format/unpack.js';
import { Runner } from '../../src/engine/plan/runner.js';
import { OPCODES, PH, RECORD_HEADER_WORDS } from '../../src/engine/plan/words.js';
import { conv2dRef, type Conv2dShape } from '../../src/engine/ops/conv2d.js';
import { engines, randn, nerr } from '../util.js';

interface Conv { x: string; y: string; w: string; b: string; shape: Conv2dShape; act: string }

// 3 x 14 x 17 -> atrous 3x3 d2 (same) -> depthwise 3x3 d3 stride 2 (tf-same) -> 5x5 d2 (same) -> 3x3 undilated
const convs: Conv[] = [
  { x: 'x', y: 'a', w: 'c0.w', b: 'c0.b', act: 'relu', shape: { cin: 3, cout: 8, H: 14, W: 17, k: 3, stride: 1, pad: 'same', dilation: 2, act: 1 } },
  { x: 'a', y: 'b', w: 'c1.w', b: 'c1.b', act: 'relu6', shape: { cin: 8, cout: 8, groups: 8, H: 14, W: 17, k: 3, stride: 2, pad: 'tf-same', dilation: 3, act: 2 } },
  { x: 'b', y: 'c', w: 'c2.w', b: 'c2.b', act: 'none', shape: { cin: 8, cout: 6, H: 7, W: 9, k: 5, stride: 1, pad: 'same', dilation: 2 } },
  { x: 'c', y: 'y', w: 'c3.w', b: 'c3.b', act: 'relu', shape: { cin: 6, cout: 4, H: 7, W: 9, k: 3, stride: 1, pad: 'same', act: 1 } },
];
const OUT: Record<string, number[]> = { x: [3, 14, 17], a: [8, 14, 17], b: [8, 7, 9], c: [6, 7, 9], y: [4, 7, 9] };

function model(explicitOne = false): [Record<string, unknown>, Uint8Array, Map<string, Float32Array>] {
  const meta: Record<string, { shape: number[]; offset: number }> = {};
  const values = new Map<string, Float32Array>();
  let at = 0;
  const put = (name: string, shape: number[], v: Float32Array): void => {
    meta[name] = { shape, offset: at };
    values.set(name, v);
    at += Math.ceil((v.length * 4) / 16) * 16;
  };
  convs.forEach((c, i) => {
    const s = c.shape, cinG = s.cin / (s.groups ?? 1);
    put(c.w, [s.cout, cinG, s.k, s.k], randn(s.cout * cinG * s.k * s.k, 50 + i, 0.4));
    put(c.b, [s.cout], randn(s.cout, 60 + i, 0.2));
  });
  const bin = new Uint8Array(at);
  for (const [n, v] of values) bin.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), meta[n].offset);
  const layers = convs.map((c) => {
    const s = c.shape;
    const L: Record<string, unknown> = {
      op: 'conv2d', x: c.x, y: c.y, w: c.w, bias: c.b, cin: s.cin, cout: s.cout, groups: s.groups ?? 1, k: s.k, stride: s.stride, pad: s.pad, act: c.act,
    };
    if (s.dilation !== undefined) L.dilation = s.dilation;
    else if (explicitOne) L.dilation = 1;
    return L;
  });
  const json = {
    name: 'dilated', input: { shape: OUT.x }, modes: {}, tensors: meta,
    graphs: { classifier: { input: 'x', output: 'y', buffers: OUT, layers } },
  };
  return [json, bin, values];
}

function reference(x: Float32Array, t: Map<string, Float32Array>): Float64Array {
  let v: ArrayLike<number> = x;
  for (const c of convs) v = conv2dRef(v, t.get(c.w)!, c.shape, t.get(c.b));
  return v as Float64Array;
}

/** The plan's records, in order: opcode and params. */
function records(plan: Uint32Array): Array<{ op: number; words: Uint32Array }> {
  const out: Array<{ op: number; words: Uint32Array }> = [];
  let r = plan[PH.rec];
  for (let n = 0; n < plan[PH.nrec]; n++) {
    out.push({ op: plan[r], words: plan.subarray(r + RECORD_HEADER_WORDS, r + RECORD_HEADER_WORDS + plan[r + 1]) });
    r += RECORD_HEADER_WORDS + plan[r + 1];
  }
  return out;
}

const fieldWords = (bytes: Uint8Array, layer: number): number =>
  blobFields(bytes).filter((f) => f.path.startsWith(`graphs[0].layers[${layer}].fields[`)).length;

describe('dilated conv2d in a blob', () => {
  const [json, bin, tensors] = model();
  const bytes = packGraph(json, bin);

  it('keeps each layer\'s dilation; undilated layers keep the 16 field words blobs always had', () => {
    const b = readBlob(bytes);
    expect(b.graphs[0].layers.map((l) => l.fields.dilation)).toEqual([2, 3, 2, null]);
    expect([0, 1, 2, 3].map((l) => fieldWords(bytes, l))).toEqual([17, 17, 17, 16]);
  });

  it('the plan runs dilated layers through conv2d with word 24 = dilation, undilated ones with the 24-word record', () => {
    const recs = records(readBlob(bytes).graphs[0].plan);
    // the dilated depthwise layer is a grouped conv2d, not dwconv (dilation 1 only)
    expect(recs.map((r) => r.op)).toEqual([OPCODES.conv2d, OPCODES.conv2d, OPCODES.conv2d, OPCODES.conv2d]);
    expect(recs.map((r) => r.words.length)).toEqual([25, 25, 25, 24]);
    expect(recs.slice(0, 3).map((r) => r.words[24])).toEqual([2, 3, 2]);
  });

  it.each(engines())('runs like the f64 reference [%s]', (_b, eng) => {
    const x = randn(3 * 14 * 17, 70, 1);
    const y = new Runner(eng, readBlob(bytes), 'classifier').run(x) as Float32Array;
    const ref = reference(x, tensors);
    expect(y.length).toBe(4 * 7 * 9);
    expect(nerr(y, ref)).toBeLessThan(1e-6);
  });

  it('both builds give the same bits', () => {
    const x = randn(3 * 14 * 17, 71, 1);
    const [[, simd], [, scalar]] = engines();
    const a = new Runner(simd, readBlob(bytes), 'classifier').run(x), b = new Runner(scalar, readBlob(bytes), 'classifier').run(x);
    expect(Array.from(a)).toEqual(Array.from(b));
  });

  it('unpack -> pack gives the same bytes', () => {
    const u = unpackBlob(bytes);
    const layers = (u.graph as { graphs: { classifier: { layers: Array<Record<string, unknown>> } } }).graphs.classifier.layers;
    expect(layers.map((l) => l.dilation)).toEqual([2, 3, 2, undefined]);
    const again = packGraph(JSON.parse(JSON.stringify(u.graph)), u.tensors.slice());
    expect(Buffer.compare(Buffer.from(again), Buffer.from(bytes))).toBe(0);
  });

  it('an explicit dilation 1 stores the word and runs the same', () => {
    const [j1, bin1] = model(true);
    const b1 = packGraph(j1, bin1);
    expect(fieldWords(b1, 3)).toBe(17);
    expect(readBlob(b1).graphs[0].layers[3].fields.dilation).toBe(1);
    const [[, eng]] = engines();
    const x = randn(3 * 14 * 17, 72, 1);
    expect(Array.from(new Runner(eng, readBlob(b1), 'classifier').run(x))).toEqual(Array.from(new Runner(eng, readBlob(bytes), 'classifier').run(x)));
  });

  it('refuses a dilation of 0, naming the layer', () => {
    const [j0, bin0] = model();
    ((j0.graphs as Record<string, { layers: Array<Record<string, unknown>> }>).classifier.layers[0]).dilation = 0;
    expect(() => packGraph(j0, bin0)).toThrow(/layer 0 \(conv2d\).*dilation must be a positive integer, got 0/);
  });
});
