// measureModes: the controller's mode specs from a model, with and without reference accuracies.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../../src/model/model.js';
import { measureModes } from '../../src/device/run.js';
import { makeController } from '../../src/device/controller.js';
import { simulate } from '../../src/device/sim.js';
import { TraceLink } from '../../src/device/link.js';
import { stepTrace } from '../../src/device/trace.js';
import { tinySplitBlob } from '../server/tiny-split.js';
import { synthDataset } from './synth.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PIXELS = { data: new Uint8Array(3 * 32 * 32).map((_, i) => (i * 37) & 255), width: 32, height: 32, channels: 3 as const };

describe('measureModes', () => {
  it('carries the shipped reference top-1 per mode', async () => {
    const model = await loadModel(join(ROOT, 'weights/see-cifar10-d4.slim'));
    const specs = measureModes(model, PIXELS, 1);
    const table = model.modeTable({ packet: 'compact' });
    expect(specs.map((s) => s.top1)).toEqual(table.map((t) => t.top1));
    expect(specs.every((s) => s.top1 > 0.8)).toBe(true);
    model.close();
  });

  it('without references (an imported split model), ranks the modes by expected bytes, and slim climbs past the smallest', async () => {
    const model = await loadModel(tinySplitBlob());
    const table = model.modeTable({ packet: 'compact' });
    expect(table.every((t) => t.top1 === undefined)).toBe(true);
    const specs = measureModes(model, { ...PIXELS, width: 20, height: 20, data: PIXELS.data.subarray(0, 1200) }, 1);
    const order = specs.map((s, i) => i).sort((a, b) => specs[a].expectedBytes - specs[b].expectedBytes);
    // increasing with bytes (equal bytes tie), all in [0, 1)
    for (let k = 1; k < order.length; k++) {
      const [a, b] = [specs[order[k - 1]], specs[order[k]]];
      if (b.expectedBytes > a.expectedBytes) expect(b.top1).toBeGreaterThan(a.top1);
      else expect(b.top1).toBe(a.top1);
    }
    expect(new Set(specs.map((s) => s.top1)).size).toBeGreaterThan(1);
    expect(specs.every((s) => s.top1 >= 0 && s.top1 < 1)).toBe(true);
    // on a link that carries every mode, the controller ends in the largest (with every mode tied at 0 it stayed in the smallest)
    const modes = specs.map((s) => ({ ...s, decodeMs: 1 }));
    const ds = synthDataset(300, 3, modes);
    const r = simulate(ds, new TraceLink(stepTrace(Array(12).fill(10)), { delayMs: 10 }), makeController('slim', modes, { deadlineMs: 300, fps: 10 }), { fps: 10, deadlineMs: 300 });
    // (this model's modes send the same bytes whatever the members: it ends at the most bytes, and
    // at equal bytes slim keeps the fewest members, as pickMode does)
    expect(specs[r.frames.at(-1)!.mode].expectedBytes).toBe(specs[order.at(-1)!].expectedBytes);
    expect(specs[r.frames.at(-1)!.mode].mode.members).toBe(1);
    model.close();
  });
});
