// Prints a digest line for each packet the device path makes for every shipped split model, mode,
// build (scalar, simd) and a few frames; test/arm64/run.sh runs it under x64 Node and under arm64
// Node (qemu) and compares the output. Plain JS on the built package (dist/), so no tsx under qemu.
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const { makeDeviceBlob } = await import(join(ROOT, 'dist/src/device/blob.js'));
const { DeviceCore } = await import(join(ROOT, 'dist/src/device/core.js'));
const { loadEngine, simdSupported } = await import(join(ROOT, 'dist/src/engine/wasm.js'));
const { decodeImage } = await import(join(ROOT, 'dist/src/model/image.js'));

const frames = ['cat', 'ship'].map((n) => ({ name: n, px: decodeImage(new Uint8Array(readFileSync(join(ROOT, 'samples', `${n}.jpg`)))) }));
// a frame that takes the resize path (shrink in x, enlarge in y)
const w = 50, h = 20, data = new Uint8Array(w * h * 3);
for (let i = 0; i < data.length; i++) data[i] = (i * 37 + (i >> 5) * 11) & 255;
frames.push({ name: 'resize-50x20', px: { data, width: w, height: h, channels: 3 } });

console.log(`# node ${process.version} ${process.arch}, simd ${simdSupported()}`);
for (const model of ['see-cifar10', 'see-cifar10-d8', 'see-cifar10-d4', 'see-cifar10-d4r']) {
  const dev = makeDeviceBlob(new Uint8Array(readFileSync(join(ROOT, 'weights', `${model}.slim`))));
  for (const build of ['scalar', 'simd']) {
    const core = new DeviceCore(loadEngine({ build }), dev);
    for (let m = 0; m < core.modes.length; m++) {
      core.setMode(m);
      const { members, bits } = core.modes[m];
      for (const kind of model === 'see-cifar10' ? ['full', 'compact'] : ['full']) {
        for (const f of frames) {
          const p = core.encode(f.px, kind);
          // the build is not part of the line: both builds must agree too
          console.log(`${model} ${kind} ${members},${bits} ${f.name} ${p.length}:${createHash('sha256').update(p).digest('hex').slice(0, 24)}`);
        }
      }
    }
  }
}
