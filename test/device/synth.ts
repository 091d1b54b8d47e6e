/** A synthetic mode table and per-image sizes (shaped like the 16x16 CIFAR-10 model's) for controller tests. */
import type { ModeSpec } from '../../src/device/controller.js';
import type { SimDataset } from '../../src/device/sim.js';

export const SYNTH_MODES: ModeSpec[] = [
  { mode: { members: 1, bits: 1 }, expectedBytes: 83, top1: 0.8497, encodeMs: 0.2, decodeMs: 1 },
  { mode: { members: 1, bits: 2 }, expectedBytes: 161, top1: 0.8825, encodeMs: 0.2, decodeMs: 1 },
  { mode: { members: 2, bits: 2 }, expectedBytes: 328, top1: 0.896, encodeMs: 0.35, decodeMs: 1 },
  { mode: { members: 2, bits: 4 }, expectedBytes: 755, top1: 0.9002, encodeMs: 0.38, decodeMs: 1 },
  { mode: { members: 4, bits: 8 }, expectedBytes: 1687, top1: 0.902, encodeMs: 0.65, decodeMs: 1 },
];

/** Deterministic xorshift in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

/** count images; each mode's size varies +-20% around its expected bytes; correct with prob top1. */
export function synthDataset(count = 2000, seed = 7, modes = SYNTH_MODES): SimDataset {
  const r = rng(seed);
  const M = modes.length;
  const bytes = new Uint16Array(count * M), correct = new Uint8Array(count * M);
  for (let i = 0; i < count; i++) {
    const v = 0.8 + 0.4 * r();
    const u = r();
    for (let m = 0; m < M; m++) {
      bytes[i * M + m] = Math.round(modes[m].expectedBytes * v);
      correct[i * M + m] = u < modes[m].top1 ? 1 : 0;
    }
  }
  return { modes, count, bytes, correct };
}
