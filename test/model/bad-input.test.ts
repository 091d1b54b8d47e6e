// Bad input through the API, as a new user would pass it: shipped models by name, pixels that are not
// 8-bit, blobs whose checksum is right but whose weights or coder section are not, the small
// argument mistakes (paths, ArrayBuffers, URLs, modes) and closing what was opened. Every case
// must end in an error naming what is wrong, at the first call that can know it.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fc from 'fast-check';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { loadModel, BlobError, ImageError, PacketError, readPacket, writePacket, type Model, type RawImage } from '../../src/index.js';
import { readBlob, blobSpec, blobFields } from '../../src/format/reader.js';
import { writeBlob } from '../../src/format/writer.js';
import type { Blob } from '../../src/format/schema.js';

const ROOT = join(import.meta.dirname, '..', '..');
const MODEL = join(ROOT, 'weights', 'see-cifar10.slim');
const SHIPPED = ['see-cifar10', 'see-cifar10-d8', 'see-cifar10-d4', 'see-cifar10-d4r', 'jpeg-baseline', 'see-384-random'];
const pixels = new Uint8Array(readFileSync(join(ROOT, 'test/fixtures/cifar/images.u8')));
const image = (i: number): RawImage => ({ data: pixels.subarray(i * 3072, (i + 1) * 3072), width: 32, height: 32, channels: 3 });

let model: Model;
let bytes: Uint8Array;
beforeAll(async () => {
  bytes = new Uint8Array(readFileSync(MODEL));
  model = await loadModel(bytes);
});

/** What `f` throws (or rejects with); fails the test when it returns. */
async function thrown(f: () => unknown): Promise<Error> {
  try {
    await f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('test: expected an error, none was thrown');
}

/** Recomputes the blob's trailing CRC-32, so that only the validator can catch an edit. */
function fixCrc(b: Uint8Array): Uint8Array {
  new DataView(b.buffer, b.byteOffset).setUint32(b.length - 4, crc32(b.subarray(0, b.length - 4)) >>> 0, true);
  return b;
}

describe('shipped models load by name, from any directory', () => {
  it.each(SHIPPED)('%s', async (name) => {
    const cwd = process.cwd();
    process.chdir(mkdtempSync(join(tmpdir(), 'slimsplit-cwd-')));
    try {
      const m = await loadModel(name);
      expect(m.info.name).toBe(name);
      // (Buffer.equals: vitest's deep equality takes seconds on a 2 MB array)
      expect(Buffer.from(m.bytes).equals(readFileSync(join(ROOT, 'weights', `${name}.slim`)))).toBe(true);
    } finally {
      process.chdir(cwd);
    }
  });

  it('a name that is neither a file nor a shipped model lists the shipped ones', async () => {
    const e = await thrown(() => loadModel('see-cifar11'));
    expect(e.message).toMatch(/'see-cifar11' is not a file and not a shipped model \(shipped: .*see-cifar10, .*see-cifar10-d4r/);
  });

  it('a path still wins over a name: a file of that name in the current directory is read', async () => {
    const cwd = process.cwd();
    const dir = mkdtempSync(join(tmpdir(), 'slimsplit-cwd-'));
    writeFileSync(join(dir, 'see-cifar10'), readFileSync(join(ROOT, 'weights', 'see-cifar10-d4.slim')));
    process.chdir(dir);
    try {
      expect((await loadModel('see-cifar10')).info.name).toBe('see-cifar10-d4');
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('pixels that are not 8-bit are refused, naming the expected type and range', () => {
  const data = image(0).data;
  const cases: Array<[string, () => unknown]> = [
    ['Float32Array in 0..1', () => ({ data: Float32Array.from(data, (v) => v / 255), width: 32, height: 32, channels: 3 })],
    ['Uint16Array', () => ({ data: Uint16Array.from(data, (v) => v * 257), width: 32, height: 32, channels: 3 })],
    ['plain array with NaN', () => ({ data: Array.from(data, (v, i) => (i === 7 ? NaN : v)), width: 32, height: 32, channels: 3 })],
    ['Float64Array', () => ({ data: Float64Array.from(data), width: 32, height: 32, channels: 3 })],
    ['Int8Array', () => ({ data: Int8Array.from(data, (v) => v - 128), width: 32, height: 32, channels: 3 })],
  ];
  it.each(cases)('%s', async (_name, make) => {
    const enc = model.encoder();
    const e = await thrown(() => enc.encode(make() as RawImage));
    expect(e).toBeInstanceOf(ImageError);
    expect(e.message).toMatch(/pixels must be a Uint8Array or Uint8ClampedArray of 8-bit values \(0\.\.255\), got (an? )?(Float32Array|Uint16Array|Array|Float64Array|Int8Array)/);
    const cls = (await loadModel('jpeg-baseline')).classifier();
    expect(() => cls.classify(make() as RawImage)).toThrow(/pixels must be a Uint8Array/);
  });

  it('a typed array of floats passed as the image itself is named, not read as a file', async () => {
    const e = await thrown(() => model.encoder().encode(Float32Array.from(data, (v) => v / 255) as unknown as Uint8Array));
    expect(e).toBeInstanceOf(ImageError);
    expect(e.message).toMatch(/got a Float32Array/);
  });

  it('a Uint8ClampedArray and a Buffer are accepted and code as the Uint8Array does', () => {
    const enc = model.encoder();
    const a = enc.encode(image(0));
    expect(enc.encode({ ...image(0), data: new Uint8ClampedArray(data) })).toEqual(a);
    expect(enc.encode({ ...image(0), data: Buffer.from(data) })).toEqual(a);
  });
});

describe('blobs with a correct checksum are fully validated at load', () => {
  let blob: Blob;
  let dataOffset: number;
  beforeAll(() => {
    blob = readBlob(bytes);
    const f = blobFields(bytes).find((q) => q.path === 'dataOffset')!;
    dataOffset = new DataView(bytes.buffer, bytes.byteOffset).getUint32(f.offset, true);
  });
  /** A copy with value k of tensor `name` (raw storage) overwritten, checksum recomputed. */
  function setValue(name: string, k: number, v: number): Uint8Array {
    const t = blob.tensors.find((q) => q.name === name)!;
    expect(t.storage).toBe('raw');
    const b = bytes.slice();
    const dv = new DataView(b.buffer, dataOffset + t.offset);
    if (t.dtype === 'f32') dv.setFloat32(4 * k, v, true);
    else dv.setUint32(4 * k, v >>> 0, true);
    return fixCrc(b);
  }
  /** A copy whose coder json is `edit`ed, written by writeBlob (so the checksum is right). */
  function coderJson(edit: (j: Record<string, any>) => void): Uint8Array {
    const spec = blobSpec(blob);
    const j = JSON.parse(spec.coder!.json);
    edit(j);
    return writeBlob({ ...spec, coder: { ...spec.coder!, json: JSON.stringify(j) } });
  }

  const cases: Array<[string, () => Uint8Array, RegExp]> = [
    ['NaN weight', () => setValue('enc.stem.w', 5, NaN), /tensor \d+ 'enc.stem.w' value 5 is NaN; weights must be finite/],
    ['infinite weight', () => setValue('enc.stem.shift', 0, Infinity), /tensor \d+ 'enc.stem.shift' value 0 is Infinity/],
    ['negative infinite weight', () => setValue('enc.head.bias', 3, -Infinity), /'enc.head.bias' value 3 is -Infinity/],
    // row 0 of the 2-bit table: cdf[1] above cdf[2] makes symbol 1's frequency negative
    ['negative frequency', () => setValue('coder.bits2', 1, 65000), /coder table 'coder.bits2' row 0: symbol 1 has frequency cdf\[2\] - cdf\[1\] = -\d+/],
    ['cdf not ending at 65536', () => setValue('coder.bits8', 257, 65535), /coder table 'coder.bits8' row 0: cdf\[257\] must be 65536 \(16-bit precision\), got 65535/],
    ['coder names a missing tensor', () => coderJson((j) => (j.tables['4'] = 'coder.bits5')), /coder tables.4 names tensor 'coder.bits5', which the blob does not have/],
    ['coder names a tensor outside its section', () => coderJson((j) => (j.tables['4'] = 'enc.head.bias')), /coder tables.4 names tensor 'enc.head.bias', which is not one of the coder section's tables/],
    ['coder lacks a bit depth of the model', () => coderJson((j) => delete j.tables['2']), /coder has no table for bits=2, a value of the model's bits axis/],
    ['coder table for a bit depth the model lacks', () => coderJson((j) => (j.tables['3'] = 'coder.bits2')), /coder tables.3: 3 is not a value of the bits axis \(1, 2, 4, 8\)/],
    ['coder channel count', () => coderJson((j) => (j.channels = 12)), /coder table 'coder.bits1' has \d+ rows, the coder says 12 channels x 8 contexts/],
    ['coder group size', () => coderJson((j) => (j.groupSize = 255)), /coder groupSize 255 is not the split's H x W = 256/],
    ['coder kind', () => coderJson((j) => (j.kind = 'huffman')), /coder kind "huffman", this reader knows "rans-channel"/],
    ['coder context K', () => coderJson((j) => (j.contexts['2'].K = 0)), /coder contexts.2: K must be 1..16, got 0/],
    ['coder context row length', () => coderJson((j) => (j.W = 7)), /coder W 7 must divide groupSize 256/],
    ['coder cost table', () => coderJson((j) => (j.bitsPerImage['4'] = [1, 2])), /coder bitsPerImage.4: expected 16 finite values >= 0/],
    ['split without channels', () => {
      const spec = blobSpec(blob);
      const j = JSON.parse(spec.json!);
      j.split.channelsPerMember = 0;
      return writeBlob({ ...spec, json: JSON.stringify(j) });
    }, /meta.split/],
    ['coder section missing from a split model', () => writeBlob({ ...blobSpec(blob), coder: null }), /graph 'encoder' outputs codes \(u8\), so the blob needs a coder section/],
  ];
  it.each(cases)('%s: refused by loadModel', async (_name, make, msg) => {
    const e = await thrown(() => loadModel(make()));
    expect(e).toBeInstanceOf(BlobError);
    expect(e.message).toMatch(msg);
  });
  it('NaN and Inf weights are refused by readBlob itself (the format promises finite weights)', () => {
    expect(() => readBlob(setValue('enc.stem.w', 5, NaN))).toThrow(/value 5 is NaN/);
  });
});

// Mutations with the checksum recomputed, so the validator, not the CRC, is what is tested: every
// blob either fails loadModel with a BlobError or encodes and decodes in every mode, finite logits.
describe('fuzz: coder tables, weights and coder json edited, checksum recomputed', { timeout: 600_000 }, () => {
  let blob: Blob;
  let dataOffset: number;
  let base: Uint8Array;
  const stats = new Map<string, number>();
  beforeAll(() => {
    // the 4x4 model: its modes are cheap to run, so each case can go through all 16
    base = new Uint8Array(readFileSync(join(ROOT, 'weights', 'see-cifar10-d4.slim')));
    blob = readBlob(base);
    const f = blobFields(base).find((q) => q.path === 'dataOffset')!;
    dataOffset = new DataView(base.buffer, base.byteOffset).getUint32(f.offset, true);
  });
  async function loadsAndRunsOrRefused(b: Uint8Array, kind: string): Promise<void> {
    let m: Model;
    try {
      m = await loadModel(b);
    } catch (e) {
      if (!(e instanceof BlobError)) throw e;
      stats.set(`${kind}:refused`, (stats.get(`${kind}:refused`) ?? 0) + 1);
      return;
    }
    stats.set(`${kind}:ok`, (stats.get(`${kind}:ok`) ?? 0) + 1);
    for (const packet of ['full', 'compact'] as const) for (const r of m.modeTable({ packet })) expect(Number.isFinite(r.expectedBytes)).toBe(true);
    const enc = m.encoder({ packet: 'compact' }), dec = m.decoder();
    for (const mode of m.modes()) {
      enc.setMode(mode);
      const r = dec.decode(enc.encode(image(1)));
      expect(r.mode).toEqual(mode);
      for (const v of r.logits) expect(Number.isFinite(v)).toBe(true);
    }
    m.close();
  }
  const special = fc.oneof(
    fc.constantFrom(0, 1, 2, 0x7fff, 0x8000, 0xffff, 65535, 65536, 65537, 0x7fffffff, 0x80000000, 0xffffffff),
    fc.integer({ min: 0, max: 0xffffffff }),
  );

  it('a word of a coder table set to another value (150 cases)', async () => {
    const tables = blob.tensors.filter((t) => blob.coder!.tables.includes(t.name));
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat(), special, async (ti, k, v) => {
        const t = tables[ti % tables.length];
        const b = base.slice();
        new DataView(b.buffer, dataOffset + t.offset).setUint32(4 * (k % (t.byteLength / 4)), v >>> 0, true);
        await loadsAndRunsOrRefused(fixCrc(b), 'table');
      }),
      { numRuns: 150 },
    );
    expect(stats.get('table:refused') ?? 0).toBeGreaterThan(50);
  });

  it('a raw f32 weight set to NaN, Inf or another float (100 cases)', async () => {
    const weights = blob.tensors.filter((t) => t.dtype === 'f32' && t.storage === 'raw');
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat(), fc.oneof(fc.constantFrom(NaN, Infinity, -Infinity), fc.float({ noNaN: true, min: -4, max: 4 })), async (ti, k, v) => {
        const t = weights[ti % weights.length];
        const b = base.slice();
        new DataView(b.buffer, dataOffset + t.offset).setFloat32(4 * (k % (t.byteLength / 4)), v, true);
        await loadsAndRunsOrRefused(fixCrc(b), 'weight');
      }),
      { numRuns: 100 },
    );
    expect(stats.get('weight:refused') ?? 0).toBeGreaterThan(20);
  });

  it('a field of the coder json set to another value (60 cases)', async () => {
    const spec = blobSpec(blob);
    const json = JSON.parse(spec.coder!.json) as Record<string, any>;
    const names = blob.tensors.map((t) => t.name);
    type Edit = (j: Record<string, any>, v: number, s: string) => void;
    const edits: Edit[] = [
      (j, v) => (j.channels = v % 40),
      (j, v) => (j.groupSize = v % 40),
      (j, v) => (j.W = v % 10),
      (j, _v, s) => (j.tables[String([1, 2, 4, 8][s.length % 4])] = s),
      (j, v) => (j.tables[String(v % 10)] = j.tables['8']),
      (j, v) => delete j.tables[String([1, 2, 4, 8][v % 4])],
      (j, v) => (j.contexts ??= {})[String([1, 2, 4, 8][v % 4])] = { K: v % 6, shift: v % 9 },
      (j, v) => (j.bitsPerImage[String([1, 2, 4, 8][v % 4])] = new Array(v % 20).fill(v % 3 === 0 ? -1 : 1)),
      (j, v) => (j.bitsPerImageByMembers = { [String(v % 6)]: { 4: [1] } }),
      (j, _v, s) => (j.kind = s),
      (j, _v, s) => (j.axis = s),
    ];
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat(), fc.constantFrom(...names, 'nope', 'bits'), async (ei, v, s) => {
        const j = structuredClone(json);
        edits[ei % edits.length](j, v, s);
        const b = writeBlob({ ...spec, coder: { ...spec.coder!, json: JSON.stringify(j) } });
        await loadsAndRunsOrRefused(b, 'json');
      }),
      { numRuns: 60 },
    );
    expect(stats.get('json:refused') ?? 0).toBeGreaterThan(20);
  });
});

describe('the small ones', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/model.slim') res.end(bytes);
      else {
        res.statusCode = 404;
        res.end('no');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('encode accepts a path as loadModel does, and names a path that is not there', async () => {
    const enc = model.encoder();
    enc.setMode({ members: 2, bits: 4 });
    const file = join(ROOT, 'samples', 'cat.jpg');
    expect(enc.encode(file)).toEqual(enc.encode(new Uint8Array(readFileSync(file))));
    const e = await thrown(() => enc.encode('no-such-cat.jpg'));
    expect(e).toBeInstanceOf(ImageError);
    expect(e.message).toMatch(/cannot read image file 'no-such-cat.jpg' \(no such file/);
  });

  it('encode names what it was given when it is no image at all', async () => {
    const enc = model.encoder();
    for (const [v, name] of [[42, 'number 42'], [null, 'null'], [undefined, 'undefined'], [{ width: 32 }, 'an object without data']] as const) {
      const e = await thrown(() => enc.encode(v as unknown as Uint8Array));
      expect(e).toBeInstanceOf(ImageError);
      expect(e.message).toContain(`got ${name}`);
    }
  });

  it('decode and loadModel accept an ArrayBuffer; other types are named', async () => {
    const enc = model.encoder();
    const p = enc.encode(image(2));
    const ab = p.buffer.slice(p.byteOffset, p.byteOffset + p.length) as ArrayBuffer;
    const dec = model.decoder();
    expect(dec.decode(ab as unknown as Uint8Array).logits).toEqual(dec.decode(p).logits);
    const m = await loadModel(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as unknown as Uint8Array);
    expect(m.info.modelId).toEqual(model.info.modelId);
    const e1 = await thrown(() => dec.decode('x.pkt' as unknown as Uint8Array));
    expect(e1).toBeInstanceOf(PacketError);
    expect(e1.message).toMatch(/decode takes the packet's bytes \(Uint8Array or ArrayBuffer\), got a string/);
    const e2 = await thrown(() => loadModel(42 as unknown as string));
    expect(e2.message).toMatch(/loadModel takes a path, a shipped model's name, a URL, a Uint8Array or an ArrayBuffer; got number 42/);
  });

  it('loadModel over http: loads, and a failure names the URL and the cause', async () => {
    const m = await loadModel(`http://127.0.0.1:${port}/model.slim`);
    expect(m.info.name).toBe('see-cifar10');
    const e404 = await thrown(() => loadModel(`http://127.0.0.1:${port}/other.slim`));
    expect(e404.message).toMatch(new RegExp(`fetching model http://127.0.0.1:${port}/other.slim failed: HTTP 404`));
    // a port nobody listens on: connection refused
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const dead = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const e = await thrown(() => loadModel(`http://127.0.0.1:${dead}/model.slim`));
    expect(e.message).toMatch(new RegExp(`fetching model http://127.0.0.1:${dead}/model.slim failed: .*ECONNREFUSED`));
  });

  it('setMode refuses what is not a mode object, and an axis the model lacks (as src/codec/modes.ts documents)', async () => {
    const enc = model.encoder();
    for (const v of [3, null, 'members=2', [2, 4]]) {
      const e = await thrown(() => enc.setMode(v as never));
      expect(e.message).toMatch(/setMode takes an object such as \{ members: 2, bits: 4 \}, got /);
    }
    const e = await thrown(() => enc.setMode({ width: 2 }));
    expect(e.message).toMatch(/model 'see-cifar10' has no mode axis 'width' \(its axes: members, bits\)/);
    const doc = readFileSync(join(ROOT, 'src', 'codec', 'modes.ts'), 'utf8');
    expect(doc).toMatch(/an axis the model does not have is an error/);
    expect(enc.mode).toEqual({ members: 4, bits: 8 });
    const e2 = await thrown(() => enc.setMode({ members: 1.5 }));
    expect(e2.message).toMatch(/has no mode members=1.5; valid: members in \{1, 2, 3, 4\}/);
  });

  it('a full packet for a mode the model lacks is a PacketError naming the mode', async () => {
    const enc = model.encoder();
    const p = readPacket(enc.encode(image(0)));
    const bad = writePacket({ ...p.fields, mode: [9, 4] }, p.payload);
    const e = await thrown(() => model.decoder().decode(bad));
    expect(e).toBeInstanceOf(PacketError);
    expect(e.message).toMatch(/packet mode members=9, bits=4 is not a mode of model 'see-cifar10' \(members takes 1, 2, 3, 4; bits takes 1, 2, 4, 8\)/);
  });
});

describe('close() and [Symbol.dispose]', () => {
  it('encoders, decoders and classifiers refuse use after close, with a clear error; closing twice is fine', async () => {
    const m = await loadModel('see-cifar10');
    const enc = m.encoder(), dec = m.decoder();
    const p = enc.encode(image(0));
    enc.close();
    enc.close();
    expect(() => enc.encode(image(0))).toThrow(/this encoder of model 'see-cifar10' is closed/);
    expect(() => enc.setMode({ bits: 2 })).toThrow(/is closed/);
    dec[Symbol.dispose]();
    expect(() => dec.decode(p)).toThrow(/this decoder of model 'see-cifar10' is closed/);
    const base = await loadModel('jpeg-baseline');
    const cls = base.classifier();
    expect(cls.classify(image(0)).logits.length).toBe(10);
    cls.close();
    expect(() => cls.classify(image(0))).toThrow(/this classifier of model 'jpeg-baseline' is closed/);
  });

  it('closing a model closes what it made and refuses to make more', async () => {
    const m = await loadModel('see-cifar10');
    const enc = m.encoder(), dec = m.decoder();
    m[Symbol.dispose]();
    expect(() => enc.encode(image(0))).toThrow(/closed/);
    expect(() => dec.decode(new Uint8Array(8))).toThrow(/closed/);
    expect(() => m.encoder()).toThrow(/model 'see-cifar10' is closed/);
    expect(() => m.decoder()).toThrow(/model 'see-cifar10' is closed/);
    m.close();
  });

  it('close releases the module instance and its memory (a closed encoder holds no WebAssembly.Memory)', () => {
    // In a child with --expose-gc: the encoder object stays reachable, its memory must not.
    const script = `
      import { loadModel } from ${JSON.stringify(join(ROOT, 'src', 'index.ts'))};
      const m = await loadModel('see-cifar10');
      const enc = m.encoder(), dec = m.decoder();
      const refs = [new WeakRef(enc.eng.memory), new WeakRef(dec.eng.memory)];
      enc.close(); dec.close();
      for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); }
      console.log(JSON.stringify({ alive: refs.map((r) => r.deref() !== undefined), held: [enc, dec].length }));
    `;
    const file = join(mkdtempSync(join(tmpdir(), 'slimsplit-gc-')), 'gc.mts');
    writeFileSync(file, script);
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', file], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout.trim())).toEqual({ alive: [false, false], held: 2 });
  });
});
