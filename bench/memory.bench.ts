/**
 * Peak memory of encoding one image file on the device: node + model + decode + encoder, each case
 * in a fresh child process (so one case's heap cannot hide another's), peak RSS from the kernel
 * (VmHWM in /proc/self/status; getrusage's maxRSS where there is no /proc).
 *
 *   npm run build && npm run bench:memory                 # 32^2, 1024^2, 4096^2; JPEG and PNG
 *   npm run bench:memory -- --sizes 32,1024               # fewer sizes
 *   npm run bench:memory -- --out other.json              # default bench/results/memory.json
 *
 * The images are made here (smooth gradients plus noise, so files are photo-sized, not trivially
 * small): baseline 4:4:4 JPEG from jpeg-js, RGB PNG from pngjs, and, where `cjpeg` is installed
 * (Debian libjpeg-turbo-progs), a progressive 4:2:0 JPEG. Each file is encoded twice:
 *   - `encode(bytes)`: the device path (src/model/bounded-image.ts for images over 2^20 pixels);
 *   - `encode(decodeImage(bytes))`: the whole image decoded first, the path before bounded decoding,
 *     as the peer on the same work.
 * plus a forged file: samples/cat.jpg (927 bytes) with its frame header set to 4096x4096.
 * peakMB: the process's peak RSS, start to end. baseMB: the peak before the image is read (node, the
 * engine, the model, one 32x32 encode). imageMB: the peak after that, less the RSS at that point
 * (garbage collected, kernel peak counter reset through /proc/self/clear_refs): what the image costs,
 * its file bytes included. Base varies by ~30 MB between runs with garbage-collection timing on a busy
 * machine; imageMB does not depend on it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { forgeJpegSize } from '../test/model/jpeg-forge.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist/src/index.js');
const model = join(root, 'weights/see-cifar10.slim');

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}

const CHILD = `
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
// VmHWM: the peak RSS of this process's own address space. getrusage's maxRSS is no good in a child:
// Linux carries the parent's peak over fork and exec.
const status = (key) => {
  try { return +new RegExp(key + ':\\\\s+(\\\\d+)').exec(readFileSync('/proc/self/status', 'utf8'))[1]; } catch { return NaN; }
};
const peakKB = () => status('VmHWM') || process.resourceUsage().maxRSS;
const [dist, modelPath, imagePath, how] = process.argv.slice(2);
const { loadModel, decodeImage } = await import(dist);
const model = await loadModel(modelPath);
const enc = model.encoder();
enc.encode({ data: new Uint8Array(32 * 32 * 3), width: 32, height: 32, channels: 3 });
const baseKB = peakKB();
// steady state before the image: collect garbage, then restart the kernel's peak counter (clear_refs 5)
globalThis.gc?.();
let resetKB = NaN;
try { writeFileSync('/proc/self/clear_refs', '5'); resetKB = status('VmRSS'); } catch {}
const buf = readFileSync(imagePath);
const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
let out;
try {
  const packet = how === 'full' ? enc.encode(decodeImage(bytes)) : enc.encode(bytes);
  out = { packetBytes: packet.length, packetSha: createHash('sha256').update(packet).digest('hex').slice(0, 16) };
} catch (e) {
  out = { error: String(e.message) };
}
const after = peakKB();
console.log(JSON.stringify({ ...out, baseKB, peakKB: Math.max(baseKB, after), imageKB: after - resetKB }));
`;

/** Photo-like RGB: gradients, a few edges, +-8 noise (deterministic). */
function pixels(w: number, h: number): Uint8Array {
  const d = new Uint8Array(w * h * 3);
  let s = 12345;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      s = (s * 1103515245 + 12345) >>> 0;
      const n = (s >>> 24) / 16 - 8, u = x / w, v = y / h, i = 3 * (y * w + x);
      const edge = ((x * 7) / w + (y * 5) / h) % 1 < 0.5 ? 24 : -24;
      d[i] = Math.max(0, Math.min(255, Math.round(128 + 90 * Math.sin(6 * u + 2 * v) + edge + n)));
      d[i + 1] = Math.max(0, Math.min(255, Math.round(40 + 180 * v + n)));
      d[i + 2] = Math.max(0, Math.min(255, Math.round(200 - 150 * u * v + n)));
    }
  }
  return d;
}

function makeFiles(dir: string, side: number): { format: string; file: string }[] {
  const rgb = pixels(side, side);
  const rgba = new Uint8Array(side * side * 4);
  for (let i = 0; i < side * side; i++) {
    rgba.set(rgb.subarray(3 * i, 3 * i + 3), 4 * i);
    rgba[4 * i + 3] = 255;
  }
  const files: { format: string; file: string }[] = [];
  const jf = join(dir, `${side}.jpg`);
  writeFileSync(jf, jpeg.encode({ data: rgba, width: side, height: side }, 90).data);
  files.push({ format: 'jpeg-baseline-444', file: jf });
  const png = new PNG({ width: side, height: side, colorType: 2, inputColorType: 6, inputHasAlpha: true });
  png.data = Buffer.from(rgba.buffer);
  const pf = join(dir, `${side}.png`);
  writeFileSync(pf, PNG.sync.write(png, { colorType: 2, inputHasAlpha: true }));
  files.push({ format: 'png-rgb8', file: pf });
  try {
    const ppm = join(dir, `${side}.ppm`), pj = join(dir, `${side}-prog.jpg`);
    writeFileSync(ppm, Buffer.concat([Buffer.from(`P6\n${side} ${side}\n255\n`), Buffer.from(rgb.buffer)]));
    execFileSync('cjpeg', ['-quality', '90', '-progressive', '-outfile', pj, ppm], { stdio: 'ignore' });
    files.push({ format: 'jpeg-progressive-420', file: pj });
  } catch {
    // no cjpeg: progressive rows are left out
  }
  return files;
}

function runChild(dir: string, file: string, how: 'device' | 'full'): Record<string, unknown> {
  const script = join(dir, 'child.mjs');
  if (!existsSync(script)) writeFileSync(script, CHILD);
  const r = spawnSync(process.execPath, ['--expose-gc', script, pathToFileURL(dist).href, model, file, how], { encoding: 'utf8', timeout: 600_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const o = JSON.parse(line);
    return { ...o, baseMB: +(o.baseKB / 1024).toFixed(1), peakMB: +(o.peakKB / 1024).toFixed(1), imageMB: +(o.imageKB / 1024).toFixed(1), baseKB: undefined, peakKB: undefined, imageKB: undefined };
  } catch {
    return { error: `child failed (status ${r.status}, signal ${r.signal}): ${r.stderr.trim().split('\n').slice(-3).join(' / ')}` };
  }
}

function main(): void {
  if (!existsSync(dist)) throw new Error('bench:memory runs the built library: run `npm run build` first');
  const sizes = arg('--sizes', '32,1024,4096').split(',').map(Number);
  const outPath = arg('--out', join(root, 'bench/results/memory.json'));
  const dir = mkdtempSync(join(tmpdir(), 'slimsplit-mem-'));
  const records: Record<string, unknown>[] = [];
  try {
    for (const side of sizes) {
      for (const { format, file } of makeFiles(dir, side)) {
        const fileBytes = readFileSync(file).length;
        for (const how of ['device', 'full'] as const) {
          const r = runChild(dir, file, how);
          const rec = { format, width: side, height: side, fileBytes, path: how === 'device' ? 'encode(bytes)' : 'encode(decodeImage(bytes))', ...r };
          records.push(rec);
          console.log(`${format.padEnd(22)} ${`${side}x${side}`.padStart(9)} ${String(fileBytes).padStart(9)} B  ${rec.path.padEnd(27)} peak ${String(r.peakMB).padStart(6)} MB (base ${r.baseMB}, image ${String(r.imageMB).padStart(5)} MB)${r.error ? `  error: ${r.error}` : `  packet ${r.packetSha}`}`);
        }
      }
    }
    // a forged header: a real 32x32 JPEG whose frame claims 4096x4096
    const cat = forgeJpegSize(new Uint8Array(readFileSync(join(root, 'samples/cat.jpg'))), 4096, 4096);
    const forged = join(dir, 'forged.jpg');
    writeFileSync(forged, cat);
    for (const how of ['device', 'full'] as const) {
      const r = runChild(dir, forged, how);
      records.push({ format: 'jpeg-forged-header', width: 4096, height: 4096, fileBytes: cat.length, path: how === 'device' ? 'encode(bytes)' : 'encode(decodeImage(bytes))', ...r });
      console.log(`${'jpeg-forged-header'.padEnd(22)} ${'4096x4096'.padStart(9)} ${String(cat.length).padStart(9)} B  peak ${r.peakMB} MB (base ${r.baseMB}, image ${r.imageMB} MB)  ${r.error ?? 'accepted?!'}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, JSON.stringify({ node: process.version, model: 'weights/see-cifar10.slim', records }, null, 2) + '\n');
  console.log(`wrote ${outPath}`);
}

main();
