/**
 * The answer to one frame, as every transport of `slimsplit serve` sends it (JSON text): the
 * classification, or the outcome that replaced it and a message saying why. Spec: docs/ENVELOPE.md.
 *
 *   { "v": 1, "device": "pi-7", "seq": 42, "outcome": "ok", "model": "see-cifar10", "modelId": "1a2b3c4d",
 *     "class": 3, "label": "cat", "topk": [{ "class": 3, "label": "cat", "score": 0.81 }, ...],
 *     "mode": { "members": 2, "bits": 4 }, "queueMs": 0.21, "decodeMs": 1.73 }
 *   { "v": 1, "device": "pi-7", "seq": 43, "outcome": "late", "queueMs": 250.4,
 *     "error": { "code": "deadline", "message": "..." } }
 *
 * topKOf turns logits into the result's top-k with the same arithmetic the server uses, so a test
 * or a client can compare a server's answer with an in-process decode exactly.
 */

/**
 * ok: decoded. late: its deadline passed before a worker took it (not decoded). duplicate: this
 * (device, seq) was answered already. malformed: the envelope or packet is bad (not decoded, or
 * the decoder refused it). refused: a limit or the server's state turned it away (queue full,
 * frames in flight for the device, too large, draining). failed: the server lost it (a worker died
 * while decoding it, the drain timed out); the device may resend it.
 */
export type Outcome = 'ok' | 'late' | 'duplicate' | 'malformed' | 'refused' | 'failed';
export const OUTCOMES: readonly Outcome[] = ['ok', 'late', 'duplicate', 'malformed', 'refused', 'failed'];

export interface TopEntry {
  class: number;
  label: string;
  /** softmax probability, computed in f64 from the f32 logits */
  score: number;
}

export interface FrameResult {
  /** result format version */
  v: 1;
  /** null where the frame was too broken to say */
  device: string | null;
  seq: number | null;
  outcome: Outcome;
  /** model name (the blob's) and id (8 hex digits), where the frame was routed to one */
  model?: string;
  modelId?: string;
  /** ok only */
  class?: number;
  label?: string;
  topk?: TopEntry[];
  mode?: { members: number; bits: number };
  /** ms from the server's receipt of the frame to a worker starting on it (late: until it was judged late) */
  queueMs?: number;
  /** ms the worker spent decoding (rANS + decoder network) */
  decodeMs?: number;
  /** every outcome but ok */
  error?: { code: string; message: string };
}

/** Top-k classes by logit (ties: lower class first) with softmax scores. */
export function topKOf(logits: ArrayLike<number>, k: number, labels: readonly string[]): TopEntry[] {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
  return order.slice(0, Math.max(0, Math.min(k, logits.length))).map((c) => ({ class: c, label: labels[c] ?? String(c), score: Math.exp(logits[c] - max) / sum }));
}

/** HTTP status for an outcome (HTTP transport; error codes refine refused and malformed). */
export function httpStatusOf(r: Pick<FrameResult, 'outcome' | 'error'>): number {
  switch (r.outcome) {
    case 'ok':
      return 200;
    case 'late':
      return 504;
    case 'duplicate':
      return 409;
    case 'malformed':
      return r.error?.code === 'unknown-model' ? 404 : 400;
    case 'refused':
      return r.error?.code === 'too-large' ? 413 : r.error?.code === 'draining' || r.error?.code === 'connections' ? 503 : 429;
    case 'failed':
      return 500;
  }
}
