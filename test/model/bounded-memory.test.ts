// Memory of turning a file into the model input, measured in a child process: the kernel's peak RSS
// counter is reset (/proc/self/clear_refs) after start-up, so the peak that follows is the image's.
// The code before bounded decoding fails both bounds (docs/MEMORY.md has what it took).
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { rng } from '../util.js';
import { forgeJpegSize } from './jpeg-forge.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

const CHILD = `
import { readFileSync, writeFileSync } from 'node:fs';
const [image, file] = process.argv.slice(2);
const { toInput } = await import(image);
const kb = (k) => +new RegExp(k + ':\\\\s+(\\\\d+)').exec(readFileSync('/proc/self/status', 'utf8'))[1];
const buf = readFileSync(file);
const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
const out = new Float32Array(3 * 32 * 32);
toInput(new Uint8Array(readFileSync(${JSON.stringify(join(root, 'samples/cat.jpg'))})), [3, 32, 32], [], [], out); // warm up
globalThis.gc();
writeFileSync('/proc/self/clear_refs', '5');
const before = kb('VmRSS');
let error = null;
try { toInput(bytes, [3, 32, 32], [0.49, 0.48, 0.45], [0.25, 0.24, 0.26], out); } catch (e) { error = e.message; }
console.log(JSON.stringify({ growthMB: (kb('VmHWM') - before) / 1024, error, sum: out.reduce((a, b) => a + b, 0) }));
`;

function measure(dir: string, bytes: Uint8Array): { growthMB: number; error: string | null } {
  const file = join(dir, 'image');
  writeFileSync(file, bytes);
  const script = join(dir, 'child.mjs');
  writeFileSync(script, CHILD);
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, pathToFileURL(join(root, 'src/model/image.ts')).href, file], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

const canMeasure = existsSync('/proc/self/clear_refs');

describe.skipIf(!canMeasure)('memory of a large or forged image file (child process)', () => {
  it('a 2048x2048 JPEG and PNG raise peak RSS by under 40 MB (file included); the forged header by under 5 MB', () => {
    const dir = mkdtempSync(join(tmpdir(), 'slimsplit-boundmem-'));
    try {
      const w = 2048, h = 2048;
      const rgba = gradient(w, h, 3);
      const jpg = measure(dir, new Uint8Array(jpeg.encode({ data: rgba, width: w, height: h }, 85).data));
      expect(jpg.error).toBeNull();
      expect(jpg.growthMB).toBeLessThan(40);
      const png = new PNG({ width: w, height: h });
      png.data = Buffer.from(rgba.buffer);
      const pngRes = measure(dir, new Uint8Array(PNG.sync.write(png)));
      expect(pngRes.error).toBeNull();
      expect(pngRes.growthMB).toBeLessThan(40);

      const forged = measure(dir, forgeJpegSize(new Uint8Array(readFileSync(join(root, 'samples/cat.jpg'))), 4096, 4096));
      expect(forged.error).toMatch(/4096x4096 frame needs at least 98304 bytes of scan data/);
      expect(forged.growthMB).toBeLessThan(5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

// The same bound through the device encoder: a large file goes from the bounded decoder straight
// into the module's input (pixel format 3), and its packet equals the one of the decoded pixels.
const ENCODE_CHILD = `
import { readFileSync } from 'node:fs';
const [index, file] = process.argv.slice(2);
const { loadModel } = await import(index);
const kb = (k) => +new RegExp(k + ':\\\\s+(\\\\d+)').exec(readFileSync('/proc/self/status', 'utf8'))[1];
const enc = (await loadModel('see-cifar10')).encoder({ packet: 'compact' });
enc.encode(new Uint8Array(readFileSync(${JSON.stringify(join(root, 'samples/cat.jpg'))}))); // warm up
const buf = readFileSync(file);
const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
globalThis.gc();
writeFileSync('/proc/self/clear_refs', '5');
const before = kb('VmRSS');
const packet = enc.encode(bytes);
console.log(JSON.stringify({ growthMB: (kb('VmHWM') - before) / 1024, bytes: packet.length }));
`.replace("import { readFileSync }", "import { readFileSync, writeFileSync }");

function gradient(w: number, h: number, seed: number): Uint8Array {
  const r = rng(seed);
  const rgba = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    const x = i % w, y = (i / w) | 0;
    rgba[4 * i] = (x * 255) / w + r() * 16;
    rgba[4 * i + 1] = (y * 255) / h;
    rgba[4 * i + 2] = ((x ^ y) & 64) * 3;
    rgba[4 * i + 3] = 255;
  }
  return rgba;
}

describe('encoder on a large file', () => {
  it('a 1024x768 JPEG: encode(bytes) (bounded decode into the input) equals encode(decodeImage(bytes)), both builds', async () => {
    const { loadModel, decodeImage } = await import('../../src/index.js');
    const file = new Uint8Array(jpeg.encode({ data: gradient(1024, 768, 5), width: 1024, height: 768 }, 85).data);
    for (const build of ['simd', 'scalar'] as const) {
      const enc = (await loadModel('see-cifar10', { build })).encoder();
      for (const mode of [{ members: 1, bits: 1 }, { members: 4, bits: 8 }]) {
        enc.setMode(mode);
        const a = enc.encode(file);
        const b = enc.encode(decodeImage(file));
        expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      }
      enc.close();
    }
  }, 120_000);

  it.skipIf(!canMeasure)('a 2048x2048 JPEG raises the encoding process\'s peak RSS by under 40 MB (child process)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'slimsplit-encmem-'));
    try {
      const file = join(dir, 'image.jpg');
      writeFileSync(file, jpeg.encode({ data: gradient(2048, 2048, 3), width: 2048, height: 2048 }, 85).data);
      const script = join(dir, 'child.mjs');
      writeFileSync(script, ENCODE_CHILD);
      const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, pathToFileURL(join(root, 'src/index.ts')).href, file], { cwd: root, encoding: 'utf8', timeout: 120_000 });
      const r = JSON.parse(out.trim().split('\n').pop()!);
      expect(r.bytes).toBeGreaterThan(4);
      expect(r.growthMB).toBeLessThan(40);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
