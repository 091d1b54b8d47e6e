// The C hosts (hosts/c: wasm3 and WAMR's classic interpreter) against Node: for every shipped split
// model and every mode, the packets of a few frames are byte-identical across wasm3, WAMR, Node scalar
// and Node SIMD, equal the pre-move encoder's golden digests, and decode on the server; the same
// byte identity for an imported split model whose encoder has dilated convs.
// Build the hosts with `hosts/c/build.sh` (CI does, from .ci/run); without them these tests are
// skipped with a message, unless SLIMSPLIT_REQUIRE_C_HOSTS=1 (set in CI) makes that a failure.
import { describe, it, expect } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { loadModel } from '../../src/model/model.js';
import { loadEngine } from '../../src/engine/wasm.js';
import { makeDeviceBlob } from '../../src/device/blob.js';
import { DeviceCore, type DevicePixels } from '../../src/device/core.js';
import { decodeImage } from '../../src/model/image.js';
import { synthetic } from '../fixtures/device/images.js';
import { shuffleUnit } from '../import/onnx-model.js';
import { importModel } from '../../src/import/index.js';
import { readBlob } from '../../src/format/reader.js';
import { graphModel, b64, T, ints } from '../import/tfjs-graph.js';
import { randn } from '../util.js';

const ROOT = join(import.meta.dirname, '../..');
const HOSTS = ['wasm3', 'wamr'].map((rt) => ({ rt, bin: join(ROOT, 'hosts/c/build', `slimsplit-device-${rt}`) }));
const built = HOSTS.every((h) => existsSync(h.bin));
const required = process.env.SLIMSPLIT_REQUIRE_C_HOSTS === '1';
if (!built && !required) console.warn('test/device/hosts.test.ts: C hosts not built (run hosts/c/build.sh); skipping the wasm3/WAMR byte-identity tests');
const MODELS = ['see-cifar10', 'see-cifar10-d8', 'see-cifar10-d4', 'see-cifar10-d4r'];
const golden = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/device/golden-packets.json'), 'utf8')) as { images: string[]; packets: Record<string, Record<string, string[]>> };
const digest = (p: Uint8Array): string => `${p.length}:${createHash('sha256').update(p).digest('hex').slice(0, 24)}`;
const SAMPLES = ['cat.jpg', 'ship.jpg'];

function readPackets(file: string): Uint8Array[] {
  const b = new Uint8Array(readFileSync(file));
  const out: Uint8Array[] = [];
  for (let at = 0; at < b.length; ) {
    const n = b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24);
    out.push(b.slice(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

/** Node's packets for the same frames, modes in index order, with the scalar and the SIMD build. */
function nodePackets(dev: Uint8Array, frames: DevicePixels[], kind: 'full' | 'compact'): Uint8Array[] {
  const per = (['scalar', 'simd'] as const).map((build) => {
    const core = new DeviceCore(loadEngine({ build }), dev);
    const out: Uint8Array[] = [];
    for (let m = 0; m < core.modes.length; m++) {
      core.setMode(m);
      for (const f of frames) out.push(core.encode(f, kind));
    }
    return out;
  });
  expect(per[1]).toEqual(per[0]);
  return per[0];
}

/** The host's packets; `modes`: 'all' or the mode indexes, comma-separated. */
function runHost(bin: string, dir: string, dev: Uint8Array, frames: DevicePixels[], kind: 'full' | 'compact', modes = 'all'): Uint8Array[] {
  const { width, height, channels } = frames[0];
  writeFileSync(join(dir, 'm.sdev'), dev);
  writeFileSync(join(dir, 'frames.raw'), Buffer.concat(frames.map((f) => Buffer.from(f.data))));
  execFileSync(bin, [
    '--wasm-dir', join(ROOT, 'build'), '--blob', join(dir, 'm.sdev'), '--frames', join(dir, 'frames.raw'), '--width', String(width), '--height', String(height),
    '--format', channels === 3 ? 'rgb' : channels === 4 ? 'rgba' : 'gray', '--modes', modes, '--kind', kind, '--out', join(dir, 'out.bin'),
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return readPackets(join(dir, 'out.bin'));
}

describe.skipIf(!built && !required)('C hosts (wasm3, WAMR classic) against Node', () => {
  it('both host binaries are built', () => {
    for (const h of HOSTS) expect(existsSync(h.bin), `${h.bin} (run hosts/c/build.sh)`).toBe(true);
  });

  it.each(MODELS)('%s: every mode, byte-identical packets in wasm3, WAMR, Node scalar and SIMD; the golden digests; the server decodes them', async (name) => {
    const full = new Uint8Array(readFileSync(join(ROOT, 'weights', `${name}.slim`)));
    const model = await loadModel(full);
    const dev = makeDeviceBlob(full);
    const frames: DevicePixels[] = SAMPLES.map((s) => decodeImage(new Uint8Array(readFileSync(join(ROOT, 'samples', s)))));
    const want = nodePackets(dev, frames, 'full');
    const modes = model.modes();
    expect(want).toHaveLength(modes.length * frames.length);
    // Node's device path is the pre-move encoder's: golden digests for these two images
    modes.forEach((m, i) => SAMPLES.forEach((s, j) => {
      expect(digest(want[i * frames.length + j])).toBe(golden.packets[name][`${name} full ${m.members},${m.bits}`][golden.images.indexOf(s)]);
    }));
    const dir = mkdtempSync(join(tmpdir(), 'slimsplit-hosts-'));
    try {
      for (const h of HOSTS) expect(runHost(h.bin, dir, dev, frames, 'full'), h.rt).toEqual(want);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const dec = model.decoder();
    modes.forEach((m, i) => expect(dec.decode(want[i * frames.length]).mode).toEqual(m));
  });

  it('an imported split model with dilated convs: every mode, byte-identical packets in wasm3, WAMR, Node scalar and SIMD', () => {
    const slim = dilatedSplit();
    const enc = readBlob(slim).graphs.find((g) => g.name === 'encoder')!;
    expect(enc.layers.filter((l) => l.op === 'conv2d').map((l) => [l.fields.groups, l.fields.dilation])).toEqual([[1, 2], [8, 3]]);
    const dev = makeDeviceBlob(slim);
    const frames = [synthetic(15, 17, 3, 81), synthetic(40, 33, 4, 82)];
    const want = nodePackets(dev, frames, 'full');
    expect(want.length).toBeGreaterThan(frames.length);
    hostsAgree(dev, frames);
  });

  it('an imported ONNX split model with a channel split and shuffle (chshuffle): every mode, byte-identical packets in wasm3, WAMR, Node scalar and SIMD', () => {
    const images = [1, 2, 3, 4].map((k) => synthetic(7, 6, 3, 90 + k));
    const slim = importModel(shuffleUnit(() => {}, [], 3), { split: 'sl', calibrate: images }).slim;
    const enc = readBlob(slim).graphs.find((g) => g.name === 'encoder')!;
    expect(enc.layers.filter((l) => l.op === 'chshuffle').map((l) => [l.fields.groups, l.fields.c0, l.fields.n])).toEqual([[1, 0, 4], [1, 4, 4], [2, 0, 8], [1, 2, 5]]);
    const dev = makeDeviceBlob(slim);
    const frames = [synthetic(7, 6, 3, 95), synthetic(20, 17, 4, 96)];
    hostsAgree(dev, frames);
  });

  it('see-cifar10: compact packets and a resized RGBA frame, byte-identical in every runtime', () => {
    const full = new Uint8Array(readFileSync(join(ROOT, 'weights/see-cifar10.slim')));
    const dev = makeDeviceBlob(full, { bits: [1, 4] });
    const dir = mkdtempSync(join(tmpdir(), 'slimsplit-hosts-'));
    try {
      for (const [frames, kind] of [[[synthetic(45, 37, 4, 5)], 'full'], [[decodeImage(new Uint8Array(readFileSync(join(ROOT, 'samples/dog.jpg'))))], 'compact']] as const) {
        const kept = new DeviceCore(loadEngine({ build: 'scalar' }), dev).modes.map((m) => m.kept);
        // the hosts run every mode: modes whose bits were dropped must fail with E_MODE_BITS
        for (const h of HOSTS) expect(() => runHost(h.bin, dir, dev, [...frames], kind)).toThrow(/status -21/);
        const want = nodePacketsKept(dev, [...frames], kind, kept);
        const list = kept.map((k, m) => (k ? m : -1)).filter((m) => m >= 0).join(',');
        for (const h of HOSTS) expect(runHost(h.bin, dir, dev, [...frames], kind, list), `${h.rt} ${kind}`).toEqual(want);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * An imported TF.js split model whose encoder holds dilated convs (dense d 2, depthwise d 3, both
 * SAME), cut after them, with coder tables from calibration images: the encoder the hosts run.
 */
function dilatedSplit(): Uint8Array {
  const H = 15, W = 17, C = 8;
  const conv = (pad: string, d: number) => ({ ...T, strides: ints([1, 1, 1, 1]), padding: { s: b64(pad) }, data_format: { s: b64('NHWC') }, dilations: ints([1, d, d, 1]) });
  const m = graphModel(H, W, {
    w1: { shape: [3, 3, 3, C], values: randn(27 * C, 61, 0.4) },
    dw1: { shape: [3, 3, C, 1], values: randn(9 * C, 62, 0.5) },
    w2: { shape: [1, 1, C, 4], values: randn(4 * C, 63, 0.5) },
  }, [
    { name: 'aspp/c1', op: 'Conv2D', input: ['images', 'w1'], attr: conv('SAME', 2) },
    { name: 'aspp/dw1', op: 'DepthwiseConv2dNative', input: ['aspp/c1', 'dw1'], attr: conv('SAME', 3) },
    { name: 'out', op: 'Conv2D', input: ['aspp/dw1', 'w2'], attr: conv('VALID', 1) },
  ]);
  const images = [1, 2, 3, 4].map((k) => synthetic(W, H, 3, 70 + k));
  return importModel(new TextEncoder().encode(JSON.stringify(m.json)), { weights: [m.bin], split: 'aspp/dw1', calibrate: images }).slim;
}

/** Every host's packets equal Node's: the first frame as full packets, the second as compact ones. */
function hostsAgree(dev: Uint8Array, frames: DevicePixels[]): void {
  const dir = mkdtempSync(join(tmpdir(), 'slimsplit-hosts-'));
  try {
    for (const h of HOSTS) expect(runHost(h.bin, dir, dev, frames.slice(0, 1), 'full'), h.rt).toEqual(nodePackets(dev, frames.slice(0, 1), 'full'));
    for (const h of HOSTS) expect(runHost(h.bin, dir, dev, frames.slice(1), 'compact'), h.rt).toEqual(nodePackets(dev, frames.slice(1), 'compact'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function nodePacketsKept(dev: Uint8Array, frames: DevicePixels[], kind: 'full' | 'compact', kept: boolean[]): Uint8Array[] {
  const core = new DeviceCore(loadEngine({ build: 'simd' }), dev);
  const out: Uint8Array[] = [];
  kept.forEach((k, m) => {
    if (!k) return;
    core.setMode(m);
    for (const f of frames) out.push(core.encode(f, kind));
  });
  return out;
}
