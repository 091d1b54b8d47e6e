/**
 * A/B of two SIMD kernel builds on the SEE encoder (weights/see-384-random.slim) at N = 1 and 4:
 * both in one process, interleaved, timed by this process's CPU time (other jobs' slices stay out),
 * minimum ms per run and the median per-round B/A. For telling a kernel change from the run-to-run
 * spread of `npm run bench:see`.
 *
 *   mkdir -p /tmp/old && git archive <rev> assembly asconfig.json | tar -x -C /tmp/old
 *   (cd /tmp/old && ln -s "$PWD/node_modules" . ; npx asc assembly/index.ts --target simd -o /tmp/old-simd.wasm)
 *   npx tsx bench/see-ab.ts /tmp/old-simd.wasm build/simd.wasm
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../src/engine/wasm.js';
import { Runner } from '../src/engine/plan/runner.js';
import { readBlob } from '../src/format/reader.js';
import { abTime } from './ab-time.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const [A, B] = process.argv.slice(2);
if (!A || !B) throw new Error('see-ab: two builds are required: npx tsx bench/see-ab.ts <a.wasm> <b.wasm>');
const blob = readBlob(new Uint8Array(readFileSync(join(ROOT, 'weights/see-384-random.slim'))));
const engine = (f: string): Engine => new Engine('simd', new WebAssembly.Instance(new WebAssembly.Module(readFileSync(f)), {}));
const rs = [new Runner(engine(A), blob, 'encoder'), new Runner(engine(B), blob, 'encoder')];
const x = new Float32Array(3 * 384 * 384);
for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
const ROUNDS = 15, REPS = 3;
for (const n of [1, 4]) {
  for (const r of rs) r.setMode({ members: n });
  const outs = rs.map((r) => new Uint32Array(Float32Array.from(r.run(x) as Float32Array).buffer));
  const same = outs[0].every((v, i) => v === outs[1][i]);
  for (let w = 0; w < 8; w++) for (const r of rs) r.run(x); // past the baseline tier
  const t = abTime(() => rs[0].run(x), () => rs[1].run(x), ROUNDS, REPS);
  console.log(`N=${n}: A ${t.a.toFixed(2)} ms, B ${t.b.toFixed(2)} ms, B/A ${t.ratio.toFixed(3)}, outputs ${same ? 'bit-identical' : 'DIFFER'}`);
}
