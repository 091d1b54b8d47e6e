// Execution plans: the tiny model (test/fixtures/tiny.gen.ts: every op, 3 members x 3 bit
// widths) run through Runner on both builds, against an f64 op-by-op reference and against the
// same kernels called one by one from the host, in every mode.
import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { Arena, type Engine } from '../../src/engine/wasm.js';
import { readBlob, blobSpec as blobSpecOf } from '../../src/format/reader.js';
import { writeBlob } from '../../src/format/writer.js';
import { BlobError, type Blob, type BlobSpec } from '../../src/format/schema.js';
import { graphSpec, packGraph, PackError } from '../../src/format/pack.js';
import { Runner } from '../../src/engine/plan/runner.js';
import { GraphError, type LayerDef, type FieldValue } from '../../src/engine/plan/graph.js';
import { OPCODES, PH, RECORD_HEADER_WORDS } from '../../src/engine/plan/words.js';
import { modeCount, modeDigits, type AxisDef } from '../../src/codec/modes.js';
import { Act } from '../../src/engine/ops/act.js';
import { OPS } from '../../src/engine/ops/registry.js';
import { conv2dScratchBytes, conv2dWords } from '../../src/engine/ops/conv2d.js';
import { dwconvWords } from '../../src/engine/ops/dwconv.js';
import { matmulWords, pointwiseWords } from '../../src/engine/ops/matmul.js';
import { instnormWords } from '../../src/engine/ops/instnorm.js';
import { seWords, seScratchBytes } from '../../src/engine/ops/se.js';
import { gapWords, maxpoolWords } from '../../src/engine/ops/pool.js';
import { groupsumWords } from '../../src/engine/ops/groupsum.js';
import { upsample2xWords } from '../../src/engine/ops/upsample.js';
import { mulWords } from '../../src/engine/ops/mul.js';
import { concatWords } from '../../src/engine/ops/concat.js';
import { resizeWords, resizeScratchBytes } from '../../src/engine/ops/resize.js';
import { avgpoolWords } from '../../src/engine/ops/avgpool.js';
import { softmaxWords } from '../../src/engine/ops/softmax.js';
import { chshuffleWords } from '../../src/engine/ops/chshuffle.js';
import { quantizeRef, quantizeWords, dequantizeWords } from '../../src/engine/ops/quant.js';
import { affineWords } from '../../src/engine/ops/affine.js';
import type { Padding } from '../../src/engine/ops/types.js';
import { engines, randn, rng, maxRelErr, TOL } from '../util.js';
import { tinyGraph, tinyTensors, TINY_GRAPH, TINY_TENSORS } from '../fixtures/tiny.gen.js';

type Vals = Record<string, FieldValue>;

/** The tiny model plus 'encoder_f', the encoder without its quantizer (a float output to compare). */
function testBlob(): Blob {
  const spec: BlobSpec = graphSpec(tinyGraph(), tinyTensors());
  const enc = spec.graphs[0];
  spec.graphs.push({ ...enc, name: 'encoder_f', output: 'u', buffers: enc.buffers.filter((b) => b.name !== 'q'), layers: enc.layers.slice(0, -1) });
  return readBlob(writeBlob(spec));
}

function resolve(L: LayerDef, axes: AxisDef[], m: number): Vals {
  const d = modeDigits(axes, m);
  const out: Vals = { ...L.fields };
  for (const [k, a] of Object.entries(L.active)) out[k] = a.values[d[axes.findIndex((x) => x.name === a.axis)]];
  return out;
}
const opt = (v: FieldValue): number | undefined => (v === null ? undefined : (v as number));
const num = (v: FieldValue): number => v as number;

function modeOf(axes: AxisDef[], m: number): Record<string, number> {
  const d = modeDigits(axes, m);
  return Object.fromEntries(axes.map((a, i) => [a.name, a.values[d[i]]]));
}

// ------------------------------------------------------------------------------------------------
// f64 reference: each layer through the ops' references, buffers as Float64Array (NaN = unwritten)
// ------------------------------------------------------------------------------------------------

function refRun(blob: Blob, graph: string, m: number, input: ArrayLike<number>): Float64Array {
  const g = blob.graphs.find((q) => q.name === graph)!;
  const shape = new Map(g.buffers.map((b) => [b.name, b.shape]));
  const bufs = new Map(g.buffers.map((b) => [b.name, new Float64Array(b.shape.reduce((a, c) => a * c, 1)).fill(NaN)]));
  bufs.get(g.input)!.set(Array.from(input));
  const T = (v: FieldValue): Float32Array | undefined => (v === null ? undefined : (blob.tensor(v as string) as Float32Array));
  let written = 0;
  for (const L of g.layers) {
    const f = resolve(L, blob.axes, m);
    const B = (k: string): Float64Array => bufs.get(f[k] as string)!;
    const put = (k: string, y: ArrayLike<number>): void => {
      B(k).set(Array.from(y));
      if (f[k] === g.output) written = y.length;
    };
    const act = f.act === undefined || f.act === null ? 0 : Act[f.act as keyof typeof Act];
    // each op's graph-level reference (src/engine/ops/<op>.ts), found through the registry
    OPS[L.op].ref({
      num: (k) => num(f[k] ?? null),
      opt: (k) => opt(f[k] ?? null),
      str: (k) => f[k] as string,
      value: (k) => f[k] ?? null,
      act,
      buf: B,
      shape: (k) => shape.get(f[k] as string)!,
      tensor: (k) => T(f[k] ?? null),
      put,
    });
  }
  return bufs.get(g.output)!.slice(0, written);
}

// ------------------------------------------------------------------------------------------------
// Direct kernel calls: every buffer and tensor in its own allocation, one eng.call per layer
// ------------------------------------------------------------------------------------------------

function directRun(eng: Engine, arena: Arena, blob: Blob, graph: string, m: number, input: Float32Array | Uint8Array): Float32Array | Uint8Array {
  const g = blob.graphs.find((q) => q.name === graph)!;
  const mark = arena.mark();
  try {
    const ptr = new Map<string, number>();
    for (const b of g.buffers) ptr.set('b:' + b.name, arena.alloc(b.shape.reduce((a, c) => a * c, 1) * (b.dtype === 'u8' ? 1 : 4)));
    for (const t of blob.tensors) {
      const p = arena.alloc(t.byteLength);
      eng.u8().set(blob.data.subarray(t.offset, t.offset + t.byteLength), p);
      ptr.set('t:' + t.name, p);
    }
    const inP = ptr.get('b:' + g.input)!;
    if (input instanceof Uint8Array) eng.u8().set(input, inP);
    else eng.f32().set(input, inP >> 2);
    for (const L of g.layers) {
      const f = resolve(L, blob.axes, m);
      const bp = (k: string): number => ptr.get('b:' + (f[k] as string))!;
      const tp = (k: string): number => (f[k] === null ? 0 : ptr.get('t:' + (f[k] as string))!);
      const act = f.act === null || f.act === undefined ? 0 : Act[f.act as keyof typeof Act];
      const n = opt(f.nActive) ?? num(f.n);
      switch (L.op) {
        case 'conv2d': {
          const [, H, W] = g.buffers.find((b) => b.name === f.x)!.shape;
          const a = { x: bp('x'), y: bp('y'), w: tp('w'), bias: tp('bias'), scale: tp('scale'), shift: tp('shift'), cin: num(f.cin), cout: num(f.cout), groups: num(f.groups),
            k: num(f.k), stride: num(f.stride), pad: f.pad as Padding, act, H, W, cinActive: opt(f.cinActive), coutActive: opt(f.coutActive), groupsActive: opt(f.groupsActive), dilation: opt(f.dilation), scratch: 0 };
          if (a.k === 1 && a.stride === 1 && a.groups === 1) eng.call('matmul', pointwiseWords(a));
          else if (a.groups === a.cin && a.cin === a.cout && (a.dilation ?? 1) === 1) eng.call('dwconv', dwconvWords(a));
          else {
            const s = conv2dScratchBytes(a);
            a.scratch = s ? arena.alloc(s) : 0;
            eng.call('conv2d', conv2dWords(a));
          }
          break;
        }
        case 'matmul':
          eng.call('matmul', matmulWords({ x: bp('x'), y: bp('y'), w: tp('w'), bias: tp('bias'), scale: tp('scale'), shift: tp('shift'), cin: num(f.cin), cout: num(f.cout), n: num(f.n), act, cinActive: opt(f.cinActive), coutActive: opt(f.coutActive) }));
          break;
        case 'instnorm':
          eng.call('instnorm', instnormWords({ x: bp('x'), y: bp('y'), C: num(f.C), HW: num(f.HW), eps: opt(f.eps), gamma: tp('gamma'), beta: tp('beta'), act, cActive: opt(f.cActive) }));
          break;
        case 'se': {
          const s = { C: num(f.C), R: num(f.R), groups: num(f.groups), H: num(f.H), W: num(f.W) };
          eng.call('se', seWords({ ...s, x: bp('x'), y: bp('y'), w1: tp('w1'), b1: tp('b1'), w2: tp('w2'), b2: tp('b2'), act, cActive: opt(f.cActive), rActive: opt(f.rActive), groupsActive: opt(f.groupsActive), scratch: arena.alloc(seScratchBytes(s)) }));
          break;
        }
        case 'add':
          eng.call('add', Int32Array.of(bp('a'), bp('b'), bp('y'), n, act));
          break;
        case 'groupsum':
          eng.call('groupsum', groupsumWords({ x: bp('x'), y: bp('y'), G: num(f.G), C: num(f.C), H: num(f.H), W: num(f.W), weights: tp('weights'), gActive: opt(f.gActive) }));
          break;
        case 'upsample2x':
          eng.call('upsample2x', upsample2xWords({ x: bp('x'), y: bp('y'), C: num(f.C), H: num(f.H), W: num(f.W), cActive: opt(f.cActive) }));
          break;
        case 'maxpool':
          eng.call('maxpool', maxpoolWords({ x: bp('x'), y: bp('y'), C: num(f.C), H: num(f.H), W: num(f.W), k: num(f.k), stride: num(f.stride), pad: f.pad as Padding | number, cActive: opt(f.cActive) }));
          break;
        case 'gap':
          eng.call('gap', gapWords({ x: bp('x'), y: bp('y'), C: num(f.C), H: num(f.H), W: num(f.W), cActive: opt(f.cActive) }));
          break;
        case 'act':
          eng.call('act', Int32Array.of(bp('x'), n, act));
          break;
        case 'quantize':
          eng.call('quantize', quantizeWords({ x: bp('x'), y: bp('y'), n: num(f.n), bits: num(f.bits), scale: num(f.scale), zeroPoint: num(f.zeroPoint), nActive: opt(f.nActive) }));
          break;
        case 'dequantize':
          eng.call('dequantize', dequantizeWords({ x: bp('x'), y: bp('y'), n: num(f.n), bits: num(f.bits), scale: num(f.scale), zeroPoint: num(f.zeroPoint), nActive: opt(f.nActive) }));
          break;
        case 'affine':
          eng.call('affine', affineWords({ x: bp('x'), y: bp('y'), n: num(f.n), a: num(f.a), b: num(f.b), act, nActive: opt(f.nActive) }));
          break;
        case 'mul': {
          const C = num(f.C), HW = num(f.HW);
          const nb = g.buffers.find((b) => b.name === f.b)!.shape.reduce((a, c) => a * c, 1);
          eng.call('mul', mulWords({ a: bp('a'), b: bp('b'), y: bp('y'), C, HW, perChannel: nb === C && HW > 1, act }));
          break;
        }
        case 'concat':
          eng.call('concat', concatWords({ a: bp('a'), b: bp('b'), y: bp('y'), na: num(f.na), nb: num(f.nb), act }));
          break;
        case 'resize_bilinear': {
          const s = { C: num(f.C), H: num(f.H), W: num(f.W), OH: num(f.OH), OW: num(f.OW), mode: num(f.mode) };
          eng.call('resize_bilinear', resizeWords({ ...s, x: bp('x'), y: bp('y'), cActive: opt(f.cActive), scratch: arena.alloc(resizeScratchBytes(s)) }));
          break;
        }
        case 'avgpool':
          eng.call('avgpool', avgpoolWords({ x: bp('x'), y: bp('y'), C: num(f.C), H: num(f.H), W: num(f.W), k: num(f.k), stride: num(f.stride), pad: f.pad as Padding | number, countPad: num(f.countPad) === 1, cActive: opt(f.cActive) }));
          break;
        case 'softmax':
          eng.call('softmax', softmaxWords({ x: bp('x'), y: bp('y'), C: num(f.C), HW: num(f.HW) }));
          break;
        case 'chshuffle':
          eng.call('chshuffle', chshuffleWords({ x: bp('x'), y: bp('y'), C: num(f.C), HW: num(f.HW), groups: num(f.groups), c0: num(f.c0), n: num(f.n) }));
          break;
        default:
          throw new Error(`directRun: no kernel for ${L.op}`);
      }
    }
    const o = g.buffers.find((b) => b.name === g.output)!;
    const p = ptr.get('b:' + o.name)!;
    const total = o.shape.reduce((a, c) => a * c, 1);
    return o.dtype === 'u8' ? eng.u8().slice(p, p + total) : eng.f32().slice(p >> 2, (p >> 2) + total);
  } finally {
    arena.release(mark);
  }
}

const X_LEN = 3 * 9 * 10;
const inputFor = (m: number): Float32Array => randn(X_LEN, 1000 + m, 2);
function codesFor(blob: Blob, m: number): Uint8Array {
  const bits = modeOf(blob.axes, m).bits;
  const r = rng(2000 + m);
  return Uint8Array.from({ length: 100 }, () => Math.floor(r() * (1 << bits)));
}

describe('tiny fixture', () => {
  it('uses every op of the registry, so the tests below run each through the plan and its f64 reference', () => {
    const graphs = Object.values(tinyGraph().graphs as Record<string, { layers: Array<{ op: string }> }>);
    const used = new Set(graphs.flatMap((g) => g.layers.map((l) => l.op)));
    expect([...used].sort()).toEqual(Object.keys(OPS).sort());
  });

  it('the committed graph.json and tensors.bin are what tiny.gen.ts makes', () => {
    expect(JSON.parse(readFileSync(TINY_GRAPH, 'utf8'))).toEqual(tinyGraph());
    expect(new Uint8Array(readFileSync(TINY_TENSORS))).toEqual(tinyTensors());
  });
});

describe.each(engines())('Runner [%s]', (_build, eng) => {
  let blob: Blob;
  let arena: Arena;
  const runners = new Map<string, Runner>();
  const runner = (g: string): Runner => {
    let r = runners.get(g);
    if (!r) runners.set(g, (r = new Runner(eng, blob, g, { arena })));
    return r;
  };
  beforeAll(() => {
    blob = testBlob();
    arena = new Arena(eng);
  });

  it('every opcode of the TS table is a kernel this build dispatches', () => {
    const supports = eng.exports.plan_supports as (op: number) => number;
    for (const [name, op] of Object.entries(OPCODES)) expect([name, supports(op)]).toEqual([name, 1]);
    expect(supports(0)).toBe(0);
    expect(supports(99)).toBe(0);
  });

  it('the float encoder matches the f64 op-by-op reference in every mode', () => {
    const r = runner('encoder_f');
    for (let m = 0; m < modeCount(blob.axes); m++) {
      r.setMode(modeOf(blob.axes, m));
      const x = inputFor(m);
      const y = r.run(x);
      const ref = refRun(blob, 'encoder_f', m, x);
      expect(y.length).toBe(100);
      expect(ref.length).toBe(100);
      expect(maxRelErr(y, ref)).toBeLessThan(TOL.f32);
    }
  });

  it('the encoder codes equal the exact quantization of its float output, and direct kernel calls bit for bit', () => {
    const rq = runner('encoder'), rf = runner('encoder_f');
    for (let m = modeCount(blob.axes) - 1; m >= 0; m--) {
      const mode = modeOf(blob.axes, m);
      rq.setMode(mode);
      rf.setMode(mode);
      const x = inputFor(m);
      const u = Float32Array.from(rf.run(x));
      const q = rq.run(x);
      expect(q).toBeInstanceOf(Uint8Array);
      const qs = m % 3 === 0 ? [0.5, 1] : m % 3 === 1 ? [0.125, 4] : [0.015625, 16];
      expect(Array.from(q)).toEqual(Array.from(quantizeRef(u, { bits: mode.bits, scale: qs[0], zeroPoint: qs[1] })));
      expect(Array.from(q)).toEqual(Array.from(directRun(eng, arena, blob, 'encoder', m, x)));
      expect(Array.from(u)).toEqual(Array.from(directRun(eng, arena, blob, 'encoder_f', m, x)));
    }
  });

  it('the decoder matches the f64 reference and direct kernel calls in every mode', () => {
    const r = runner('decoder');
    for (let m = 0; m < modeCount(blob.axes); m++) {
      r.setMode(modeOf(blob.axes, m));
      const q = codesFor(blob, m);
      const y = Float32Array.from(r.run(q));
      expect(y.length).toBe(5);
      expect(maxRelErr(y, refRun(blob, 'decoder', m, q))).toBeLessThan(TOL.f32);
      expect(Array.from(y)).toEqual(Array.from(directRun(eng, arena, blob, 'decoder', m, q)));
    }
  });

  it('setMode through any sequence of modes, then run, equals a fresh runner in the last mode', () => {
    const nm = modeCount(blob.axes);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: nm - 1 }), { minLength: 1, maxLength: 6 }), (seq) => {
        const long = runner('encoder_f');
        for (const m of seq) long.setMode(modeOf(blob.axes, m));
        const last = seq[seq.length - 1];
        const x = inputFor(last);
        const a = Float32Array.from(long.run(x));
        const mark = arena.mark();
        try {
          const fresh = new Runner(eng, blob, 'encoder_f', { arena });
          fresh.setMode(modeOf(blob.axes, last));
          expect(fresh.modeIndex).toBe(last);
          expect(Array.from(fresh.run(x))).toEqual(Array.from(a));
        } finally {
          arena.release(mark);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('plan_bind relocates exactly the masked words, and every mode switch is undone by the next', () => {
    const r = runner('decoder');
    const g = blob.graphs.find((q) => q.name === 'decoder')!;
    const words = (): Uint32Array => new Uint32Array(eng.memory.buffer, r.plan, g.plan.length).slice();
    r.setMode(modeOf(blob.axes, modeCount(blob.axes) - 1));
    const bound = words();
    let at = g.plan[PH.rec];
    for (let k = 0; k < g.plan[PH.nrec]; k++) {
      const nw = g.plan[at + 1], bm = g.plan[at + 2], am = g.plan[at + 3];
      for (let j = 0; j < nw; j++) {
        const i = at + RECORD_HEADER_WORDS + j;
        const base = (bm >>> j) & 1 ? r.dataBase : (am >>> j) & 1 ? r.arenaBase : 0;
        expect(bound[i]).toBe((g.plan[i] + base) >>> 0);
      }
      at += RECORD_HEADER_WORDS + nw;
    }
    expect(bound[PH.bound]).toBe(1);
    for (let m = 0; m < modeCount(blob.axes); m++) r.setMode(modeOf(blob.axes, m));
    r.setMode(modeOf(blob.axes, modeCount(blob.axes) - 1));
    expect(words()).toEqual(bound);
  });

  it('a run writes nothing outside its data section and arena', () => {
    const mark = arena.mark();
    try {
      const before = arena.alloc(64);
      const r = new Runner(eng, blob, 'encoder', { arena });
      const after = arena.alloc(64);
      eng.u8().fill(0xa5, before, before + 64);
      eng.u8().fill(0xa5, after, after + 64);
      const gap1 = eng.u8().slice(before + 64, r.dataBase);
      for (let m = 0; m < modeCount(blob.axes); m++) {
        r.setMode(modeOf(blob.axes, m));
        r.run(inputFor(m));
      }
      expect(eng.u8().slice(before, before + 64).every((b) => b === 0xa5)).toBe(true);
      expect(eng.u8().slice(after, after + 64).every((b) => b === 0xa5)).toBe(true);
      expect(eng.u8().slice(before + 64, r.dataBase)).toEqual(gap1);
    } finally {
      arena.release(mark);
    }
  });

  it('inputView() lets the host fill the input in place', () => {
    const r = runner('encoder_f');
    r.setMode({ members: 2, bits: 4 });
    const x = inputFor(3);
    const viaArray = Float32Array.from(r.run(x));
    (r.inputView() as Float32Array).set(x);
    expect(Array.from(r.run())).toEqual(Array.from(viaArray));
  });

  it('errors name the problem: unknown graph, axis or value, wrong input', () => {
    expect(() => new Runner(eng, blob, 'nope', { arena })).toThrow(/model 'tiny' has no graph 'nope' \(it has 'encoder', 'decoder', 'encoder_f'\)/);
    const r = runner('encoder');
    expect(() => r.setMode({ members: 5 })).toThrow(/model 'tiny' has no mode members=5; valid: members in \{1, 2, 3\}; bits in \{2, 4, 8\}/);
    expect(() => r.setMode({ width: 1 } as never)).toThrow(/no mode width=1/);
    expect(() => r.setMode({ bogus: 1 } as never)).toThrow(/no mode bogus=1/);
    expect(() => r.run(new Float32Array(7))).toThrow(/takes a Float32Array of 270 elements in mode members=\d,bits=\d, got a Float32Array of 7/);
    expect(() => runner('decoder').run(new Float32Array(100))).toThrow(/takes a Uint8Array of 100 elements/);
    // a failed setMode leaves the mode as it was
    r.setMode({ members: 1, bits: 2 });
    expect(() => r.setMode({ members: 2, bits: 3 })).toThrow(/bits=3/);
    expect(r.mode).toEqual({ members: 1, bits: 2 });
    expect(r.modeIndex).toBe(0);
  });

  it('the packed fixture files load and run like the in-memory model', () => {
    const b = readBlob(packGraph(JSON.parse(readFileSync(TINY_GRAPH, 'utf8')), new Uint8Array(readFileSync(TINY_TENSORS))));
    const mark = arena.mark();
    try {
      const r = new Runner(eng, b, 'encoder', { arena });
      r.setMode({ members: 3, bits: 8 });
      const mine = runner('encoder');
      mine.setMode({ members: 3, bits: 8 });
      const x = inputFor(8);
      expect(Array.from(r.run(x))).toEqual(Array.from(mine.run(x)));
    } finally {
      arena.release(mark);
    }
  });
});

// ------------------------------------------------------------------------------------------------
// Models built here: an exported graph JSON and its tensors.bin from named f32 arrays
// ------------------------------------------------------------------------------------------------

function exported(tensors: Record<string, [number[], Float32Array]>, rest: Record<string, unknown>, storage: Record<string, 'q8'> = {}): [Record<string, unknown>, Uint8Array] {
  const meta: Record<string, { shape: number[]; offset: number; storage?: 'q8' }> = {};
  let at = 0;
  for (const [name, [shape]] of Object.entries(tensors)) {
    meta[name] = { shape, offset: at, ...(storage[name] ? { storage: storage[name] } : {}) };
    at += Math.ceil((shape.reduce((a, b) => a * b, 1) * 4) / 16) * 16;
  }
  const bin = new Uint8Array(at);
  for (const [name, [, v]] of Object.entries(tensors)) bin.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), meta[name].offset);
  return [{ ...rest, tensors: meta }, bin];
}

/** A switchable-norm model: three convs (conv2d, 1x1 as matmul, depthwise) whose scale/shift follow `members`. */
function switchModel(fixedMember?: number): [Record<string, unknown>, Uint8Array] {
  const t: Record<string, [number[], Float32Array]> = {
    'c1.w': [[6, 4, 3, 3], randn(216, 31, 0.5)],
    'c2.w': [[5, 6, 1, 1], randn(30, 32, 0.6)],
    'c3.w': [[5, 1, 3, 3], randn(45, 33, 0.5)],
    'c3.b': [[5], randn(5, 34, 0.1)],
  };
  const norm = (layer: string, C: number, seed: number): void => {
    for (let m = 1; m <= 3; m++) {
      t[`${layer}.scale.m${m}`] = [[C], Float32Array.from(randn(C, seed + m, 0.3), (v) => v + 1)];
      t[`${layer}.shift.m${m}`] = [[C], randn(C, seed + 10 + m, 0.3)];
    }
  };
  norm('c1', 6, 100);
  norm('c2', 5, 200);
  norm('c3', 5, 300);
  const sw = (layer: string): Record<string, unknown> =>
    fixedMember === undefined
      ? { active: { scale: { members: [1, 2, 3].map((m) => `${layer}.scale.m${m}`) }, shift: { members: [1, 2, 3].map((m) => `${layer}.shift.m${m}`) } } }
      : { scale: `${layer}.scale.m${fixedMember}`, shift: `${layer}.shift.m${fixedMember}` };
  return exported(t, {
    name: 'switch',
    input: { shape: [4, 7, 6] },
    modes: { members: [1, 2, 3], bits: [2, 4] },
    graphs: {
      net: {
        input: 'x', output: 'c',
        buffers: { x: [4, 7, 6], a: [6, 7, 6], b: [5, 7, 6], c: [5, 7, 6] },
        layers: [
          { op: 'conv2d', x: 'x', y: 'a', w: 'c1.w', cin: 4, cout: 6, groups: 1, k: 3, stride: 1, pad: 'same', act: 'relu', ...sw('c1') },
          { op: 'conv2d', x: 'a', y: 'b', w: 'c2.w', cin: 6, cout: 5, groups: 1, k: 1, stride: 1, pad: 'none', act: 'none', ...sw('c2') },
          { op: 'conv2d', x: 'b', y: 'c', w: 'c3.w', bias: 'c3.b', cin: 5, cout: 5, groups: 5, k: 3, stride: 1, pad: 'same', act: 'swish', ...sw('c3') },
        ],
      },
    },
  });
}

describe('switchable norm: conv2d scale/shift under active', () => {
  it('the blob keeps one tensor per members value and the plan patches the pointers', () => {
    const [j, bin] = switchModel();
    const b = readBlob(packGraph(j, bin));
    expect(b.graphs[0].layers[0].active.scale).toEqual({ axis: 'members', values: ['c1.scale.m1', 'c1.scale.m2', 'c1.scale.m3'] });
    expect(b.graphs[0].layers[0].fields.scale).toBeNull();
    const plan = b.graphs[0].plan;
    // members=1 vs the largest mode: 3 layers x (scale, shift) pointer words, all relocated against the data base
    const m0 = plan[PH.modes];
    expect(plan[m0 + 1]).toBe(6);
    const q = plan[PH.patches] + 3 * plan[m0];
    for (let k = 0; k < 6; k++) expect(plan[q + 3 * k] >>> 30).toBe(1);
  });

  it('rejects a per-mode tensor of the wrong shape, a non-modal tensor field, and a bad stored index', () => {
    const [j, bin] = switchModel();
    const L = (j.graphs as any).net.layers;
    L[0].active.shift.members[1] = 'c2.shift.m2';
    expect(() => packGraph(j, bin)).toThrow(GraphError);
    expect(() => packGraph(j, bin)).toThrow(/layer 0 \(conv2d\): tensor shift 'c2.shift.m2' has shape \[5\], expected \[6\] \(cout\)/);
    L[0].active.shift.members[1] = 'c1.shift.m2';
    L[0].active.w = { members: ['c1.w', 'c1.w', 'c1.w'] };
    expect(() => packGraph(j, bin)).toThrow(PackError);
    expect(() => packGraph(j, bin)).toThrow(/conv2d field 'w' cannot depend on the mode \(allowed: scale, shift, cinActive/);
    delete L[0].active.w;
    L[0].active.scale.members[0] = 'nope';
    expect(() => packGraph(j, bin)).toThrow(/active scale value names no tensor: "nope"/);
  });

  describe.each(engines())('[%s]', (_build, eng) => {
    it('every mode, reached by any sequence of switches, equals a model packed with that mode\'s tensors', () => {
      const blob = readBlob(packGraph(...switchModel()));
      const arena = new Arena(eng);
      const r = new Runner(eng, blob, 'net', { arena });
      const x = randn(4 * 7 * 6, 77, 1.5);
      const want = [1, 2, 3].map((m) => {
        const fixed = readBlob(packGraph(...switchModel(m)));
        const mark = arena.mark();
        try {
          const out = Float32Array.from(new Runner(eng, fixed, 'net', { arena }).run(x));
          return out;
        } finally {
          arena.release(mark);
        }
      });
      // the f64 reference follows the active entries itself, so it checks the fixed models too
      for (let m = 0; m < modeCount(blob.axes); m++) expect(maxRelErr(want[modeDigits(blob.axes, m)[0]], refRun(blob, 'net', m, x))).toBeLessThan(TOL.f32);
      const nm = modeCount(blob.axes);
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 0, max: nm - 1 }), { minLength: 1, maxLength: 8 }), (seq) => {
          for (const m of seq) {
            r.setMode(modeOf(blob.axes, m));
            expect(Array.from(r.run(x))).toEqual(Array.from(want[modeDigits(blob.axes, m)[0]]));
          }
        }),
        { numRuns: 30 },
      );
    });
  });
});

describe('q8 weights', () => {
  /** The tiny model with two weights stored q8, and the same model with their expanded values stored raw. */
  function pair(): [Uint8Array, Uint8Array] {
    const j = tinyGraph() as Record<string, any>;
    for (const n of ['stem.w', 'proj.w', 'fc.w']) j.tensors[n].storage = 'q8';
    const q = packGraph(j, tinyTensors());
    const qb = readBlob(q);
    const bin = tinyTensors().slice();
    for (const n of ['stem.w', 'proj.w', 'fc.w']) {
      const v = qb.tensor(n) as Float32Array;
      bin.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), j.tensors[n].offset);
    }
    return [q, packGraph(tinyGraph(), bin)];
  }

  it('the expanded data section is made only when asked for: writeData writes its bytes, a Runner never reads data', () => {
    const [q] = pair();
    const qb = readBlob(q);
    // a blob whose data getter throws: the Runner must take the bytes through writeData
    const noData = { name: qb.name, axes: qb.axes, graphs: qb.graphs, dataBytes: qb.dataBytes, writeData: qb.writeData, get data(): Uint8Array { throw new Error('data made'); } };
    const eng = engines()[1][1];
    const lazy = new Runner(eng, noData, 'encoder');
    const eager = new Runner(eng, { name: qb.name, axes: qb.axes, graphs: qb.graphs, data: readBlob(q).data }, 'encoder');
    for (let m = 0; m < modeCount(qb.axes); m++) {
      lazy.setMode(modeOf(qb.axes, m));
      eager.setMode(modeOf(qb.axes, m));
      expect(Array.from(lazy.run(inputFor(m)))).toEqual(Array.from(eager.run(inputFor(m))));
    }
    const out = new Uint8Array(qb.dataBytes + 32).fill(0xa5);
    qb.writeData(out, 16);
    expect(out.subarray(16, 16 + qb.dataBytes)).toEqual(qb.data);
    expect(qb.data.length).toBe(qb.dataBytes);
    expect(() => qb.writeData(new Uint8Array(qb.dataBytes), 16)).toThrow(/do not fit/);
    expect(() => qb.writeData(out, 4)).toThrow(/16-byte aligned, got byte 4/);
  });

  describe.each(engines())('[%s]', (_build, eng) => {
    it('a model with q8 weights runs exactly like the same model with the expanded weights stored raw, in every mode', () => {
      const [q, raw] = pair();
      expect(q.length).toBeLessThan(raw.length);
      const qb = readBlob(q), rb = readBlob(raw);
      expect(qb.expandBytes).toBeGreaterThan(0);
      const arena = new Arena(eng);
      for (const g of ['encoder', 'decoder']) {
        const a = new Runner(eng, qb, g, { arena }), b = new Runner(eng, rb, g, { arena });
        for (let m = 0; m < modeCount(qb.axes); m++) {
          a.setMode(modeOf(qb.axes, m));
          b.setMode(modeOf(qb.axes, m));
          const x = g === 'encoder' ? inputFor(m) : codesFor(qb, m);
          expect(Array.from(a.run(x))).toEqual(Array.from(b.run(x)));
        }
      }
    });
  });

  it('a blob with q8 weights and switchable norms round-trips through writeBlob', () => {
    const [j, bin] = switchModel();
    for (const n of ['c1.w', 'c2.w', 'c3.w']) (j.tensors as any)[n].storage = 'q8';
    const bytes = packGraph(j, bin);
    expect(writeBlob(readBlobSpec(bytes))).toEqual(bytes);
    expect(() => readBlob(bytes.subarray(0, 40))).toThrow(BlobError);
  });
});

function readBlobSpec(bytes: Uint8Array): BlobSpec {
  return blobSpecOf(readBlob(bytes));
}

// plan_bind on the SIMD build rewrites pointwise weights into 4-row groups (assembly/matmul.ts,
// "Packed rows"). A model whose matmuls cover each case: shared weights (left as stored), a
// sliced output count (8 rows packed, the 9th row-major, modes cutting inside a group), a sliced
// input count, and a linear layer (n = 1, left as stored).
describe('plan_bind packs pointwise weights for the SIMD tiles', () => {
  const SHAPES: Record<string, number[]> = { w1: [6, 6], w3: [9, 6], b3: [9], w4: [5, 9], fc: [4, 5] };
  function packModel(): Uint8Array {
    const tensors: Record<string, { shape: number[]; offset: number }> = {};
    const parts: Float32Array[] = [];
    let at = 0;
    Object.entries(SHAPES).forEach(([name, shape], i) => {
      const n = shape.reduce((a, b) => a * b, 1);
      tensors[name] = { shape, offset: at * 4 };
      parts.push(randn(n, 40 + i, 0.7));
      at += Math.ceil(n / 4) * 4;
    });
    const bin = new Float32Array(at);
    Object.values(tensors).forEach((t, i) => bin.set(parts[i], t.offset / 4));
    const m3 = { members: [3, 6, 9] }, m9 = { members: [3, 6, 9] };
    const graph = {
      name: 'packed-rows', input: { shape: [6, 5, 7] }, modes: { members: [1, 2, 3] }, tensors,
      graphs: {
        classifier: {
          input: 'x', output: 'o',
          buffers: { x: [6, 5, 7], a: [6, 5, 7], b: [6, 5, 7], c: [9, 5, 7], d: [5, 5, 7], g: [5], o: [4] },
          layers: [
            { op: 'matmul', x: 'x', y: 'a', w: 'w1', cin: 6, cout: 6, n: 35, act: 'relu6' },
            { op: 'matmul', x: 'a', y: 'b', w: 'w1', cin: 6, cout: 6, n: 35, act: 'none' },
            { op: 'matmul', x: 'b', y: 'c', w: 'w3', bias: 'b3', cin: 6, cout: 9, n: 35, act: 'relu', active: { coutActive: m3 } },
            { op: 'matmul', x: 'c', y: 'd', w: 'w4', cin: 9, cout: 5, n: 35, act: 'none', active: { cinActive: m9 } },
            { op: 'gap', x: 'd', y: 'g', C: 5, H: 5, W: 7 },
            { op: 'matmul', x: 'g', y: 'o', w: 'fc', cin: 5, cout: 4, n: 1, act: 'none' },
          ],
        },
      },
    };
    return packGraph(graph, new Uint8Array(bin.buffer));
  }
  const [[, simd], [, scalar]] = engines();
  const blob = readBlob(packModel());
  const g = blob.graphs[0];
  /** per matmul record: bound act word and weights address, from the runner's memory */
  function matmuls(eng: Engine, r: Runner): Array<{ act: number; w: number }> {
    const words = new Uint32Array(eng.memory.buffer, r.plan, g.plan.length);
    const out: Array<{ act: number; w: number }> = [];
    let at = g.plan[PH.rec];
    for (let k = 0; k < g.plan[PH.nrec]; k++) {
      if (g.plan[at] === OPCODES.matmul) out.push({ act: words[at + RECORD_HEADER_WORDS + 10], w: words[at + RECORD_HEADER_WORDS + 1] });
      at += RECORD_HEADER_WORDS + g.plan[at + 1];
    }
    return out;
  }

  it('packs exactly the unshared pointwise weights, in the documented layout, on the SIMD build only', () => {
    const rs = new Runner(simd, blob, 'classifier'), rc = new Runner(scalar, blob, 'classifier');
    // w1 twice (shared: as stored), w3 (8 of 9 rows), w4 (4 of 5), the linear layer (as stored)
    expect(matmuls(simd, rs).map((m) => m.act >>> 8)).toEqual([0, 0, 2, 1, 0]);
    expect(matmuls(scalar, rc).map((m) => m.act >>> 8)).toEqual([0, 0, 0, 0, 0]);
    expect(matmuls(simd, rs).map((m) => m.act & 0xff)).toEqual(matmuls(scalar, rc).map((m) => m.act));
    const w3 = readWeights(blob, 'w3');
    const got = new Float32Array(simd.memory.buffer, matmuls(simd, rs)[2].w, 54);
    const want = new Float32Array(54);
    for (let co = 0; co < 9; co++) {
      for (let ci = 0; ci < 6; ci++) want[co < 8 ? (co >> 2) * 24 + ci * 4 + (co & 3) : co * 6 + ci] = w3[co * 6 + ci];
    }
    expect(Array.from(got)).toEqual(Array.from(want));
    const w1 = new Float32Array(simd.memory.buffer, matmuls(simd, rs)[0].w, 36);
    expect(Array.from(w1)).toEqual(Array.from(readWeights(blob, 'w1')));
  });

  it('packed and row-major weights give the same bits in every mode and after any switch', () => {
    const rs = new Runner(simd, blob, 'classifier'), rc = new Runner(scalar, blob, 'classifier');
    const x = randn(6 * 35, 7, 2);
    for (const m of [2, 0, 1, 2, 1, 0]) {
      rs.setMode(modeOf(blob.axes, m));
      rc.setMode(modeOf(blob.axes, m));
      const a = new Uint32Array(Float32Array.from(rs.run(x) as Float32Array).buffer);
      const b = new Uint32Array(Float32Array.from(rc.run(x) as Float32Array).buffer);
      expect(Array.from(a), `mode ${m}`).toEqual(Array.from(b));
    }
  });
});

/** A float32 tensor of a loaded blob, by name, as stored. */
function readWeights(blob: Blob, name: string): Float32Array {
  const spec = blobSpecOf(blob);
  const t = spec.tensors.find((q) => q.name === name)!;
  const n = t.shape.reduce((a, b) => a * b, 1);
  return new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + 4 * n));
}
