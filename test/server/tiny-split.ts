/**
 * A tiny split model for the server tests: test/fixtures/tiny.gen.ts's graph with a split point and
 * flat-ish coder counts, so a decode costs microseconds and 64 devices x 1,000 frames per transport
 * measure the server, not the network. Two variants with different weights give two model ids.
 *
 *   const bytes = tinySplitBlob();          // .slim bytes
 *   const other = tinySplitBlob(1);         // another model (other id, other name)
 */
import { packGraph } from '../../src/format/pack.js';
import { tinyGraph, tinyTensors } from '../fixtures/tiny.gen.js';

export const TINY_CLASSES = ['ant', 'bee', 'cat', 'dog', 'eel'];

/** `meta` adds or replaces metadata fields (a test's odd model). */
export function tinySplitBlob(variant = 0, meta: Record<string, unknown> = {}): Uint8Array {
  const g = tinyGraph() as Record<string, unknown> & { meta: Record<string, unknown> };
  g.name = variant === 0 ? 'tiny-split' : `tiny-split-${variant}`;
  const counts = (levels: number) => Array.from({ length: 4 }, (_, c) => Array.from({ length: levels }, (_, k) => 1 + ((k * 7 + c * 3) % 11)));
  g.meta = {
    ...g.meta,
    classes: TINY_CLASSES,
    // the tiny graph sums its members into one 4-channel code (groupsum): as a refining model with K = 1
    split: { channelsPerMember: 4, H: 5, W: 5, channelMembers: 1 },
    symbolCounts: { 2: counts(4), 4: counts(16), 8: counts(256) },
    ...meta,
  };
  const t = tinyTensors();
  if (variant !== 0) {
    const f = new Float32Array(t.buffer, t.byteOffset, t.byteLength >> 2);
    for (let i = 0; i < f.length; i++) f[i] *= 1 + 0.01 * variant;
  }
  return packGraph(g, t);
}
