/**
 * The controller benchmark's table of real packets: every test image encoded in every mode by the
 * engine and decoded by the server side, once; bytes and correctness per (image, mode) with each
 * mode's mean encode and decode ms, cached in .tmp/controller-<model>-<images>.json.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../src/model/model.js';
import { readCifarTar } from '../src/eval/cifar.js';
import { decodeImage } from '../src/model/image.js';
import type { ModeSpec } from '../src/device/controller.js';
import type { SimDataset } from '../src/device/sim.js';

interface Cache {
  model: string;
  images: number;
  packet: 'compact';
  modes: ModeSpec[];
  bytes: number[];
  correct: number[];
}

/** Step 1: each image's packet bytes and correctness per mode, with mean encode/decode ms per mode. */
export async function buildCache(a: { model: string; data: string; images?: number }, root: string): Promise<SimDataset> {
  const model = await loadModel(a.model);
  const name = model.info.name;
  const dir = join(root, '.tmp');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `controller-${name}-${a.images ?? 'all'}.json`);
  if (existsSync(file)) {
    const c = JSON.parse(readFileSync(file, 'utf8')) as Cache;
    console.error(`cache: ${file} (${c.images} images x ${c.modes.length} modes)`);
    return { modes: c.modes, count: c.images, bytes: Uint32Array.from(c.bytes), correct: Uint8Array.from(c.correct) };
  }
  const table = model.modeTable({ packet: 'compact' });
  const enc = model.encoder({ packet: 'compact' });
  const dec = model.decoder();
  const M = table.length;
  const encMs = new Float64Array(M), decMs = new Float64Array(M);
  const bytes: number[] = [], correct: number[] = [];
  let n = 0;
  const t0 = performance.now();
  for await (const item of readCifarTar(a.data, { limit: a.images })) {
    const raw = decodeImage(item.bytes);
    for (let m = 0; m < M; m++) {
      enc.setMode(table[m].mode);
      const ta = performance.now();
      const packet = enc.encode(raw);
      const tb = performance.now();
      const out = dec.decode(packet);
      const tc = performance.now();
      encMs[m] += tb - ta;
      decMs[m] += tc - tb;
      bytes.push(packet.length);
      correct.push(out.top1 === item.label ? 1 : 0);
    }
    n++;
    if (n % 100 === 0) process.stderr.write(`\rcache: ${n} images, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  process.stderr.write('\n');
  const modes: ModeSpec[] = table.map((t, m) => ({
    mode: { members: t.mode.members ?? 1, bits: t.mode.bits ?? 8 },
    expectedBytes: t.expectedBytes,
    top1: t.top1 ?? 0,
    encodeMs: encMs[m] / n,
    decodeMs: decMs[m] / n,
  }));
  const c: Cache = { model: name, images: n, packet: 'compact', modes, bytes, correct };
  writeFileSync(file, JSON.stringify(c));
  return { modes, count: n, bytes: Uint32Array.from(bytes), correct: Uint8Array.from(correct) };
}

