// The .slim blob: round trip, one explicit case per validation rule (asserting the message), and a
// fuzz of truncations, byte flips and field edits (>= 10,000 cases): every input either loads (and
// then writes back to the very same bytes) or throws BlobError.
import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { readBlob, blobSpec, blobFields } from '../../src/format/reader.js';
import { writeBlob } from '../../src/format/writer.js';
import { crc32 } from '../../src/format/checksum.js';
import { quantizeQ8 } from '../../src/format/q8.js';
import { BlobError, BLOB_VERSION, PREAMBLE_BYTES, DIR_ENTRY_BYTES, type Blob, type FieldTrace } from '../../src/format/schema.js';
import { packGraph, graphSpec, type PackOptions } from '../../src/format/pack.js';
import { PH, PLAN_HEADER_WORDS } from '../../src/engine/plan/words.js';
import { tinyGraph, tinyTensors } from '../fixtures/tiny.gen.js';

const CODER: PackOptions = {
  coder: { json: '{"bits":{"2":["cdf.b2"]},"offsets":"cdf.off"}', tables: { 'cdf.b2': Uint32Array.of(0, 20000, 50000, 60000, 65536), 'cdf.off': Int32Array.of(-1) } },
};

let bytes: Uint8Array;
let blob: Blob;
let fields: FieldTrace[];

/** Weights of the tiny model stored q8 in the blob under test (so the fuzz reaches q8 fields). */
const Q8 = ['proj.w', 'fc.w'];
function q8Graph(): Record<string, any> {
  const j = tinyGraph() as Record<string, any>;
  for (const n of Q8) j.tensors[n].storage = 'q8';
  return j;
}

/** Per row of shape[0]: scale = f32(max|w| / 127), code = round half even, clamped to -127..127. */
function q8Reference(v: Float32Array, rows: number): Float32Array {
  const cols = v.length / rows, out = new Float32Array(v.length);
  for (let r = 0; r < rows; r++) {
    const row = v.subarray(r * cols, (r + 1) * cols);
    const s = Math.fround(Math.max(...Array.from(row, Math.abs)) / 127);
    row.forEach((w, c) => {
      const x = w / s, q = Math.round(x);
      const code = s === 0 ? 0 : Math.max(-127, Math.min(127, q - x === 0.5 && q % 2 !== 0 ? q - 1 : q));
      out[r * cols + c] = Math.fround(code * s);
    });
  }
  return out;
}

beforeAll(() => {
  bytes = packGraph(q8Graph(), tinyTensors(), CODER);
  blob = readBlob(bytes);
  fields = blobFields(bytes);
});

const u32At = (b: Uint8Array, o: number): number => new DataView(b.buffer, b.byteOffset).getUint32(o, true);
/** A u32 field of the original blob, found by its path. */
const u32Field = (path: string): number => u32At(bytes, field(path).offset);
const META_OFFSET = PREAMBLE_BYTES + 2 * DIR_ENTRY_BYTES;

/** Recomputes the trailing CRC-32, so only structural validation can catch an edit. */
function fixCrc(b: Uint8Array): Uint8Array {
  new DataView(b.buffer, b.byteOffset).setUint32(b.length - 4, crc32(b, 0, b.length - 4), true);
  return b;
}

function field(path: string): FieldTrace {
  const f = fields.find((x) => x.path === path);
  if (!f) throw new Error(`test: no field ${path}`);
  return f;
}

type Val = number | string | { f32: number } | { byte: number };
/**
 * A copy with the field at `path` set to `v`: a number as the field's u8/u16/u32, a string over a
 * string field of the same length, { byte } into a string's first byte. Checksum fixed unless asked.
 */
function edit(path: string, v: Val, fix = true): Uint8Array {
  const b = bytes.slice();
  const f = field(path);
  const dv = new DataView(b.buffer);
  if (typeof v === 'string') {
    const s = new TextEncoder().encode(v);
    if (s.length + 1 !== f.size) throw new Error(`test: ${path} is ${f.size - 1} bytes, '${v}' is ${s.length}`);
    b.set(s, f.offset);
  } else if (typeof v === 'object') {
    if ('byte' in v) b[f.offset] = v.byte;
    else dv.setFloat32(f.offset, v.f32, true);
  } else if (f.size !== 1 && f.size !== 2 && f.size !== 4) throw new Error(`test: ${path} is a ${f.size}-byte string`);
  else if (f.size === 1) dv.setUint8(f.offset, v);
  else if (f.size === 2) dv.setUint16(f.offset, v, true);
  else dv.setUint32(f.offset, v >>> 0, true);
  return fix ? fixCrc(b) : b;
}

/** A copy with a value written into a q8 tensor's stored form (`at` bytes in), checksum fixed. */
function q8Edit(name: string, at: number, v: { f32: number } | { i8: number }): Uint8Array {
  const b = bytes.slice();
  const t = blob.tensors.find((q) => q.name === name)!;
  const dv = new DataView(b.buffer, u32Field('dataOffset') + t.storedOffset! + at);
  if ('f32' in v) dv.setFloat32(0, v.f32, true);
  else dv.setInt8(0, v.i8);
  return fixCrc(b);
}

/** A copy with value k of raw f32 tensor `name` set to `v`, checksum fixed. */
function rawEdit(name: string, k: number, v: number): Uint8Array {
  const b = bytes.slice();
  const t = blob.tensors.find((q) => q.name === name)!;
  if (t.storage !== 'raw' || t.dtype !== 'f32') throw new Error(`test: ${name} is not a raw f32 tensor`);
  new DataView(b.buffer, u32Field('dataOffset') + t.offset).setFloat32(4 * k, v, true);
  return fixCrc(b);
}

/** Plan word `k` of graph `g`, as a field path. */
const planWord = (g: string, k: number): string => `plan '${g}' word ${k}`;
const planAt = (g: string): Uint32Array => blob.graphs.find((q) => q.name === g)!.plan;

/** What readBlob throws on `b` (undefined when it loads). */
function readError(b: Uint8Array): unknown {
  try {
    readBlob(b);
  } catch (e) {
    return e;
  }
  return undefined;
}

function expectBlobError(b: Uint8Array, code: string, msg: RegExp): void {
  const err = readError(b);
  expect(err).toBeInstanceOf(BlobError);
  expect((err as BlobError).message).toMatch(msg);
  expect((err as BlobError).code).toBe(code);
}

describe('round trip', () => {
  it('reads back what was packed: header, axes, tensors, graphs, coder tables', () => {
    expect(blob.name).toBe('tiny');
    expect(blob.version).toBe(BLOB_VERSION);
    expect(JSON.parse(blob.json)).toEqual({ note: 'hand-made test model (test/fixtures/tiny.gen.ts)' });
    expect(blob.input).toEqual({ shape: [3, 9, 10], mean: [0.5, 0.4, 0.3].map(Math.fround), std: [0.25, 0.2, 0.3].map(Math.fround) });
    expect(blob.axes).toEqual([{ name: 'members', values: [1, 2, 3] }, { name: 'bits', values: [2, 4, 8] }]);
    const spec = graphSpec(q8Graph(), tinyTensors(), CODER);
    expect(blob.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual(spec.tensors.map((t) => [t.name, t.dtype, t.shape]));
    for (const t of spec.tensors) {
      const want = Q8.includes(t.name) ? q8Reference(t.data as Float32Array, t.shape[0]) : (t.data as Float32Array);
      expect([t.name, Array.from(blob.tensor(t.name))]).toEqual([t.name, Array.from(want)]);
    }
    for (const t of blob.tensors) {
      expect(t.offset % 16).toBe(0);
      expect((blob.data.byteOffset + t.offset) % 16).toBe((blob.data.byteOffset) % 16);
    }
    expect(blob.graphs.map((g) => g.name)).toEqual(['encoder', 'decoder']);
    for (let i = 0; i < 2; i++) {
      const { name, input, output, buffers, layers } = blob.graphs[i];
      expect({ name, input, output, buffers, layers }).toEqual(spec.graphs[i]);
    }
    expect(blob.graphs[1].buffers.find((b) => b.name === 'q')!.dtype).toBe('u8');
    expect(blob.graphs[0].layers[8].active.bits).toEqual({ axis: 'bits', values: [2, 4, 8] });
    expect(blob.coder).toEqual({ json: CODER.coder!.json, tables: ['cdf.b2', 'cdf.off'] });
    expect(Array.from(blob.tensor('cdf.b2'))).toEqual([0, 20000, 50000, 60000, 65536]);
    expect(Array.from(blob.tensor('cdf.off'))).toEqual([-1]);
  });

  it('writes the same bytes back, and the blob starts with SLIM and the format version', () => {
    expect(writeBlob(blobSpec(blob))).toEqual(bytes);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('SLIM');
    expect(bytes[4] | (bytes[5] << 8)).toBe(BLOB_VERSION);
    expect(u32At(bytes, bytes.length - 4)).toBe(crc32(bytes, 0, bytes.length - 4));
  });

  it('loads from a Uint8Array at any byte offset (tensors copied when misaligned)', () => {
    const big = new Uint8Array(bytes.length + 3);
    big.set(bytes, 3);
    const b = readBlob(big.subarray(3));
    expect(Array.from(b.tensor('stem.w'))).toEqual(Array.from(blob.tensor('stem.w')));
  });

  it('q8 tensors: compact in the file, expanded to f32 after the data section in memory', () => {
    const dataBytes = u32Field('dataBytes'), expandBytes = u32Field('expandBytes');
    expect(blob.expandBytes).toBe(expandBytes);
    expect(blob.data.byteLength).toBe(dataBytes + expandBytes);
    const [proj, fc] = Q8.map((n) => blob.tensors.find((t) => t.name === n)!);
    expect([proj.storage, proj.byteLength, proj.storedBytes, proj.offset]).toEqual(['q8', 48 * 4, 12 * 4 + 48, dataBytes]);
    expect([fc.storage, fc.byteLength, fc.storedBytes, fc.offset]).toEqual(['q8', 20 * 4, 5 * 4 + 20, dataBytes + 48 * 4]);
    expect(expandBytes).toBe(48 * 4 + 80);
    // the stored form is the packer's quantization, and expanding it is code * scale in f32
    const stored = blob.data.subarray(proj.storedOffset!, proj.storedOffset! + proj.storedBytes!);
    const v = graphSpec(q8Graph(), tinyTensors()).tensors.find((t) => t.name === 'proj.w')!.data as Float32Array;
    expect(Array.from(stored)).toEqual(Array.from(quantizeQ8(v, 12)));
    const sv = new DataView(stored.buffer, stored.byteOffset), codes = new Int8Array(stored.buffer, stored.byteOffset + 48, 48);
    const e = blob.tensor('proj.w') as Float32Array;
    for (let i = 0; i < 48; i++) {
      const s = sv.getFloat32(4 * (i >> 2), true);
      expect(e[i]).toBe(Math.fround(codes[i] * s));
      expect(Math.abs(e[i] - v[i])).toBeLessThanOrEqual(s / 2 + 1e-7);
    }
    // every row reaches the full code range
    for (let r = 0; r < 12; r++) expect(Math.max(...Array.from(codes.subarray(4 * r, 4 * r + 4), Math.abs))).toBe(127);
    // without q8 tensors there is no expansion area (and data stays a view of the file)
    expect(readBlob(packGraph(tinyGraph(), tinyTensors())).expandBytes).toBe(0);
  });

  it('quantizes a zero row to scale 0 and codes 0, which expand to +0', () => {
    const t = tinyTensors().slice();
    const j = q8Graph();
    new Float32Array(t.buffer, j.tensors['fc.w'].offset, 20).fill(0, 4, 8); // row 1 of fc.w [5, 4]
    const b = readBlob(packGraph(j, t));
    const fc = b.tensors.find((q) => q.name === 'fc.w')!;
    expect(new DataView(b.data.buffer, b.data.byteOffset + fc.storedOffset!).getFloat32(4, true)).toBe(0);
    const row = Array.from((b.tensor('fc.w') as Float32Array).subarray(4, 8));
    expect(row).toEqual([0, 0, 0, 0]);
    expect(row.some((x) => Object.is(x, -0))).toBe(false);
  });

  it('the field trace covers every byte of the preamble, directory and meta section exactly once', () => {
    const metaEnd = u32Field('metaOffset') + u32Field('metaBytes');
    const covered = new Uint8Array(metaEnd);
    for (const f of fields) if (f.offset < metaEnd) for (let i = 0; i < f.size; i++) covered[f.offset + i]++;
    expect(Array.from(covered).every((c) => c === 1)).toBe(true);
  });
});

describe('every validation rule has a message', () => {
  const enc = (k: number, f: string): string => `graphs[0].layers[${k}].${f}`;
  const dec = (k: number, f: string): string => `graphs[1].layers[${k}].${f}`;
  // conv2d field words: x y w bias scale shift cin cout groups k stride pad act cinActive coutActive groupsActive
  const cases: Array<[string, () => Uint8Array, string, RegExp]> = [
    ['truncated by one byte', () => bytes.subarray(0, bytes.length - 1), 'truncated', /file is \d+ bytes but its preamble says \d+: truncated/],
    ['shorter than the preamble', () => bytes.subarray(0, 20), 'truncated', new RegExp(`20 bytes, shorter than the ${PREAMBLE_BYTES}-byte preamble`)],
    ['trailing bytes', () => Uint8Array.from([...bytes, 0]), 'size', /trailing bytes/],
    ['wrong magic', () => edit('magic', 0x58, false), 'magic', /magic "XLIM", expected "SLIM"/],
    ['wrong version', () => edit('version', BLOB_VERSION + 1, false), 'version', new RegExp(`format version ${BLOB_VERSION + 1}, this reader supports ${BLOB_VERSION}`)],
    ['checksum mismatch', () => { const b = bytes.slice(); b[u32Field('dataOffset') + 5] ^= 1; return b; }, 'checksum', /CRC-32 0x[0-9a-f]{8} does not match the stored 0x[0-9a-f]{8}/],
    ['unknown flag', () => edit('flags', 0x8001), 'flags', /unknown flag bits 0x8000/],
    ['coder flag cleared', () => edit('flags', 0), 'meta', /meta section has \d+ bytes left over/],
    ['meta offset', () => edit('metaOffset', META_OFFSET + 4), 'layout', new RegExp(`metaOffset ${META_OFFSET + 4}, expected ${META_OFFSET}`)],
    ['data offset misaligned', () => edit('dataOffset', u32Field('dataOffset') + 4), 'align', /dataOffset \d+ is not a multiple of 64/],
    ['version 1 (before q8)', () => edit('version', 1, false), 'version', /format version 1, this reader supports 2 \(an older packer wrote it: repack the model with slimsplit pack\)/],
    ['expansion size', () => edit('expandBytes', u32Field('expandBytes') + 16), 'layout', /expandBytes \d+, expected \d+ \(the q8 tensors expanded to f32 after the \d+-byte data section\)/],
    ['storage code', () => edit('tensors[11].storage', 2), 'tensor', /tensor 11 'proj.w' has storage code 2, expected 0..1 \(raw, q8\)/],
    ['q8 on a tensor stored raw', () => edit('tensors[0].storage', 1), 'shape', /tensor 0 'stem.w' is 1296 bytes, but q8 \[12, 3, 3, 3\] stores 372 \(12 f32 scales, 324 int8 codes\)/],
    ['q8 on an integer tensor', () => edit('tensors[19].storage', 1), 'dtype', /tensor 19 'cdf.b2' is stored q8 but has dtype u32; q8 is for f32 tensors/],
    ['q8 stored size', () => edit('tensors[11].bytes', 112), 'shape', /tensor 11 'proj.w' is 112 bytes, but q8 \[12, 4, 1, 1\] stores 96/],
    ['q8 rows disagree with the stored size', () => edit('tensors[11].shape[0]', 6), 'shape', /tensor 11 'proj.w' is 96 bytes, but q8 \[6, 4, 1, 1\] stores 48/],
    ['q8 negative scale', () => q8Edit('proj.w', 4, { f32: -1 }), 'tensor', /tensor 11 'proj.w' \(q8\) row 1 scale -1 \(bits 0xbf800000\) must be a finite f32 >= \+0 with 127 \* scale finite/],
    ['q8 negative zero scale', () => q8Edit('proj.w', 0, { f32: -0 }), 'tensor', /row 0 scale 0 \(bits 0x80000000\) must be a finite f32 >= \+0/],
    ['q8 NaN scale', () => q8Edit('proj.w', 8, { f32: NaN }), 'tensor', /row 2 scale NaN/],
    ['q8 infinite scale', () => q8Edit('fc.w', 0, { f32: Infinity }), 'tensor', /tensor 15 'fc.w' \(q8\) row 0 scale Infinity/],
    ['q8 scale whose codes overflow f32', () => q8Edit('fc.w', 0, { f32: 3e36 }), 'tensor', /row 0 scale 3\.\d+e\+36 .* with 127 \* scale finite/],
    ['q8 code -128', () => q8Edit('proj.w', 48 + 5, { i8: -128 }), 'tensor', /tensor 11 'proj.w' \(q8\) code 5 \(row 1\) is -128; codes are -127..127/],
    ['q8 zero scale with codes', () => q8Edit('proj.w', 0, { f32: 0 }), 'tensor', /tensor 11 'proj.w' \(q8\) row 0 has scale 0 but code \d is -?\d+; a zero row has zero codes/],
    ['graph count', () => edit('graphCount', 3), 'layout', new RegExp(`metaOffset ${META_OFFSET}, expected ${META_OFFSET + DIR_ENTRY_BYTES}`)],
    ['padding before data', () => { const b = bytes.slice(); b[u32Field('dataOffset') - 1] = 7; return fixCrc(b); }, 'layout', /padding byte \d+ before the data section is 7/],
    ['tensor misaligned', () => edit('tensors[1].offset', blob.tensors[1].offset + 4), 'align', /tensor 1 'stem.scale' offset \d+ is not 16-byte aligned/],
    ['tensor moved', () => edit('tensors[1].offset', blob.tensors[1].offset + 16), 'layout', /tensor 1 'stem.scale' offset \d+, expected \d+ \(tensors are packed in table order\)/],
    ['tensor out of bounds', () => edit('tensors[16].offset', 0x7fff0000), 'bounds', /tensor 16 'fc.b' \[2147418112, 2147418132\) runs past the \d+-byte data section/],
    ['tensor size', () => edit('tensors[0].bytes', 1300), 'shape', /tensor 0 'stem.w' is 1300 bytes, but f32 \[12, 3, 3, 3\] needs 1296/],
    ['tensor shape', () => edit('tensors[0].shape[0]', 13), 'shape', /tensor 0 'stem.w' is 1296 bytes, but f32 \[13, 3, 3, 3\] needs 1404/],
    ['tensor dtype', () => edit('tensors[0].dtype', 9), 'dtype', /tensor 0 'stem.w' has dtype code 9, expected 0..4/],
    ['tensor rank', () => edit('tensors[0].shape', 9), 'limit', /tensors\[0\].shape: 9 entries, at most 8 allowed/],
    ['huge count', () => edit('tensors', 0x7fffffff), 'meta', /tensors: count 2147483647 needs at least \d+ bytes, \d+ remain/],
    ['too many graphs', () => edit('graphs', 9), 'limit', /graphs: 9 entries, at most 8/],
    ['missing tensor', () => edit(enc(0, 'fields[2]'), 99), 'ref', /graph 'encoder' layer 0 \(conv2d\): field w: tensor index 99 is out of range \(21 tensors\)/],
    ['missing buffer', () => edit(enc(0, 'fields[1]'), 99), 'ref', /graph 'encoder' layer 0 \(conv2d\): field y: buffer index 99 is out of range \(7 buffers\)/],
    ['tensor of the wrong shape', () => edit(enc(0, 'fields[2]'), 15), 'shape', /layer 0 \(conv2d\): tensor w 'fc.w' has shape \[5, 4\], expected \[12, 3, 3, 3\] \(cout, cin\/groups, k, k\)/],
    ['channels disagree with the input', () => edit(enc(0, 'fields[6]'), 4), 'shape', /layer 0 \(conv2d\): buffer x 'x' has shape \[3, 9, 10\], expected \[cin=4, H, W\]/],
    ['channels disagree with the weights', () => edit(enc(0, 'fields[7]'), 24), 'shape', /layer 0 \(conv2d\): tensor w 'stem.w' has shape \[12, 3, 3, 3\], expected \[24, 3, 3, 3\]/],
    ['active bound above the full size', () => edit(enc(0, 'active[0].values[2]'), 13), 'active', /layer 0 \(conv2d\): conv2d coutActive 13 exceeds cout 12 in mode members=3,bits=2/],
    ['active bound above the buffer', () => edit(enc(5, 'active[0].values[2]'), 301), 'active', /layer 5 \(add\): nActive 301 in mode members=3,bits=2 is outside 1..n \(300\)/],
    ['reads more than was written', () => edit(enc(6, 'active[0].values[0]'), 2), 'dataflow', /layer 6 \(groupsum\): reads 200 elements of buffer 'p' \(field x\) in mode members=1,bits=2, but only 100 were written/],
    ['active on an unknown axis', () => edit(enc(0, 'active[0].axis'), 5), 'axis', /layer 0 \(conv2d\): active coutActive uses mode axis index 5, the model has 2 axes \(members, bits\)/],
    ['active on a fixed field', () => edit(enc(0, 'active[0].field'), 6), 'active', /layer 0 \(conv2d\): field cin is listed under active but its word is 3/],
    ['unknown op', () => edit(enc(0, 'op'), 'conv3d'), 'op', /graph 'encoder' layer 0: unknown op 'conv3d' \(known: conv2d, matmul/],
    ['unknown mode axis', () => edit('axes[0].name', 'memberz'), 'axis', /unknown mode axis 'memberz' \(known: members, width, bits\)/],
    ['axis values out of order', () => edit('axes[1].values[2]', { f32: 3 }), 'axis', /mode axis 'bits' values \[2, 4, 3\] must be strictly increasing/],
    ['read before written', () => edit(dec(1, 'fields[0]'), 3), 'dataflow', /graph 'decoder' layer 1 \(upsample2x\): reads buffer 'mp' \(field x\) before any layer writes it/],
    ['in place where the kernel cannot', () => edit(enc(0, 'fields[1]'), 0), 'alias', /layer 0 \(conv2d\): x and y both name buffer 'x', which conv2d cannot do in place/],
    ['unknown activation', () => edit(enc(0, 'fields[12]'), 9), 'field', /layer 0 \(conv2d\): field act: activation code 9 is not 0..6/],
    ['NaN float field', () => edit(enc(2, 'fields[4]'), 0x7fc00000), 'field', /layer 2 \(instnorm\): field eps: f32 bits 0x7fc00000 are not a finite number/],
    ['buffer dtype code', () => edit('graphs[0].buffers[1].dtype', 7), 'dtype', /graph 'encoder' buffer 's' has dtype code 7, expected 0 \(f32\) or 1 \(u8\)/],
    ['buffer dtype for the op', () => edit('graphs[0].buffers[1].dtype', 1), 'dtype', /layer 0 \(conv2d\): buffer y 's' has dtype u8, expected f32/],
    ['buffer shape', () => edit('graphs[0].buffers[1].shape[1]', 6), 'shape', /layer 0 \(conv2d\): buffer y 's' has shape \[12, 6, 5\], expected \[12, 5, 5\] \(cout, OH, OW\)/],
    ['graph output index', () => edit('graphs[0].output', 99), 'ref', /graph 'encoder' output buffer index 99 is out of range \(7 buffers\)/],
    ['plan opcode', () => edit(planWord('encoder', PLAN_HEADER_WORDS), 99), 'plan', /plan of graph 'encoder': record 0 has unknown opcode 99/],
    ['plan record length', () => edit(planWord('encoder', PLAN_HEADER_WORDS + 1), 40), 'plan', /record 0 \(conv2d\) has 40 params, out of range/],
    ['plan pointer past the arena', () => edit(planWord('encoder', PLAN_HEADER_WORDS + 4), 0x7fffffff), 'plan', /record 0 \(conv2d\) param 0 points 2147483647 bytes into a \d+-byte arena/],
    ['plan pointer past the data', () => edit(planWord('encoder', PLAN_HEADER_WORDS + 5), 0x7fffffff), 'plan', /record 0 \(conv2d\) param 1 points 2147483647 bytes into a \d+-byte data section/],
    ['plan word that disagrees with the layers', () => edit(planWord('encoder', PLAN_HEADER_WORDS + 4 + 7), 4), 'plan', /plan of graph 'encoder' word 43 is 4, its layers compile to 3 \(edited, or packed for other kernels: repack the model\)/],
    ['plan mode count', () => edit(planWord('decoder', PH.nmodes), 8), 'plan', /plan of graph 'decoder': has 8 modes, the model's axes give 9/],
    ['plan patch target', () => edit(planWord('encoder', planAt('encoder')[PH.patches]), 3), 'plan', /patch 0 targets word 3, which is not a record's param/],
    ['plan bound flag', () => edit(planWord('encoder', PH.bound), 1), 'plan', /is marked bound; a stored plan must hold relative offsets/],
    ['plan misaligned', () => edit('directory[0].planOffset', u32Field('directory[0].planOffset') + 4), 'align', /plan of graph 'encoder' offset \d+ is not 16-byte aligned/],
    ['directory name', () => edit('directory[1].name', 0x20), 'meta', /directory entry 1 name " ecoder.*" is not 1..23 characters/],
    ['invalid UTF-8', () => edit('name', { byte: 0xff }), 'meta', /name: string is not valid UTF-8/],
    ['model json', () => edit('json', { byte: 0x78 }), 'meta', /model json is not valid JSON/],
    ['negative std', () => edit('input.std[0]', { f32: -1 }), 'meta', /model input std value -1 must be positive/],
    ['coder table index', () => edit('tables[0]', 99), 'coder', /coder table index 99 is out of range \(21 tensors\)/],
    ['coder table dtype', () => edit('tables[0]', 0), 'coder', /coder table 'stem.w' has dtype f32, expected an integer dtype/],
    ['NaN weight', () => rawEdit('stem.w', 3, NaN), 'tensor', /tensor 0 'stem.w' value 3 is NaN; weights must be finite/],
    ['infinite weight', () => rawEdit('fc.b', 4, Infinity), 'tensor', /tensor 16 'fc.b' value 4 is Infinity; weights must be finite/],
    ['negative infinite weight', () => rawEdit('stem.w', 0, -Infinity), 'tensor', /value 0 is -Infinity/],
  ];
  it.each(cases)('%s', (_name, make, code, msg) => expectBlobError(make(), code, msg));

  it('the same edits without a checksum fix are checksum errors', () => {
    expectBlobError(edit(enc(0, 'fields[7]'), 24, false), 'checksum', /CRC-32/);
    expectBlobError(edit(planWord('encoder', PLAN_HEADER_WORDS), 99, false), 'checksum', /CRC-32/);
  });
});

describe('fuzz: truncations, byte flips, field edits', { timeout: 900_000 }, () => {
  /** Loads, or throws BlobError; a blob that loads must write back to exactly its bytes. */
  function loadsCanonicallyOrThrows(b: Uint8Array): 'ok' | string {
    let loaded: Blob;
    try {
      loaded = readBlob(b);
    } catch (e) {
      if (!(e instanceof BlobError)) throw e;
      return e.code;
    }
    // a byte loop: vitest's deep equality takes milliseconds per 7 KB array, times thousands of cases
    const back = writeBlob(blobSpec(loaded));
    let same = back.length === b.length;
    for (let i = 0; same && i < b.length; i++) same = back[i] === b[i];
    expect(same).toBe(true);
    return 'ok';
  }
  const interesting = fc.oneof(
    fc.constantFrom(0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff),
    fc.integer({ min: 0, max: 0xffffffff }),
  );
  const stats = new Map<string, number>();
  const count = (k: string): void => void stats.set(k, (stats.get(k) ?? 0) + 1);

  it('truncations are truncation errors (1,500 cases)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 << 30 }), (r) => {
        const err = readError(bytes.subarray(0, r % bytes.length));
        expect(err).toBeInstanceOf(BlobError);
        expect((err as BlobError).code).toBe('truncated');
      }),
      { numRuns: 1500 },
    );
  });

  it('byte flips without a checksum fix never load (2,500 cases)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 << 30 }), fc.integer({ min: 1, max: 255 }), (r, x) => {
        const b = bytes.slice();
        b[r % b.length] ^= x;
        const err = readError(b);
        expect(err).toBeInstanceOf(BlobError);
        count('flip:' + (err as BlobError).code);
      }),
      { numRuns: 2500 },
    );
  });

  it('byte flips with the checksum fixed load canonically or throw BlobError (2,500 cases)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 << 30 }), fc.integer({ min: 1, max: 255 }), (r, x) => {
        const b = bytes.slice();
        b[r % (b.length - 4)] ^= x;
        count('fixed flip:' + loadsCanonicallyOrThrows(fixCrc(b)));
      }),
      { numRuns: 2500 },
    );
  });

  it('field edits with the checksum fixed load canonically or throw BlobError (3,000 cases)', () => {
    const editable = (): FieldTrace[] => fields.filter((f) => f.path !== 'checksum');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 << 30 }), interesting, (r, v) => {
        const fs = editable();
        const f = fs[r % fs.length];
        const b = bytes.slice();
        const dv = new DataView(b.buffer);
        if (f.size === 1) dv.setUint8(f.offset, v & 0xff);
        else if (f.size === 2) dv.setUint16(f.offset, v & 0xffff, true);
        else if (f.size === 4) dv.setUint32(f.offset, v >>> 0, true);
        else b[f.offset + (v % f.size)] = v & 0xff; // a string: one of its bytes
        count('field:' + loadsCanonicallyOrThrows(fixCrc(b)));
      }),
      { numRuns: 3000 },
    );
  });

  it('raw f32 weights set to NaN or an infinity, checksum fixed, are refused (300 cases)', () => {
    const raw = blob.tensors.filter((t) => t.dtype === 'f32' && t.storage === 'raw');
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.constantFrom(NaN, Infinity, -Infinity), fc.constantFrom(0x7fc00000, 0xffc00001, 0x7f800001), fc.boolean(), (ti, k, v, bits, useBits) => {
        const t = raw[ti % raw.length];
        const b = bytes.slice();
        const dv = new DataView(b.buffer, u32Field('dataOffset') + t.offset);
        const at = 4 * (k % (t.byteLength / 4));
        if (useBits) dv.setUint32(at, bits, true); // NaN payloads other than the canonical one
        else dv.setFloat32(at, v, true);
        const r = loadsCanonicallyOrThrows(fixCrc(b));
        expect(r).toBe('tensor');
        count('nonfinite:' + r);
      }),
      { numRuns: 300 },
    );
  });

  it('several edits at once, checksum fixed, load canonically or throw BlobError (600 cases)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 1 << 30 }), interesting), { minLength: 2, maxLength: 5 }), (edits) => {
        const b = bytes.slice();
        for (const [r, v] of edits) {
          const f = fields[r % fields.length];
          if (f.path === 'checksum') continue;
          b[f.offset + (v % f.size)] = v & 0xff;
        }
        count('multi:' + loadsCanonicallyOrThrows(fixCrc(b)));
      }),
      { numRuns: 600 },
    );
    // The fuzz must reach past the checksum: structural checks and the plan comparison both fire.
    const codes = [...stats.keys()].filter((k) => k.startsWith('field:')).map((k) => k.slice(6));
    for (const c of ['ok', 'meta', 'plan', 'ref', 'layout']) expect(codes).toContain(c);
    expect(stats.get('flip:checksum') ?? 0).toBeGreaterThan(2000);
  });
});
