/** The `decode` command (server side): packet -> top-1 class. */
import { formatMode } from '../codec/modes.js';
import { Ctx, openModel, readInput } from './common.js';

export async function cmdDecode(io: Ctx, file: string, o: { model: string; json?: boolean }): Promise<void> {
  const bytes = readInput(file, 'packet file');
  const { model } = await openModel(io, o.model);
  const t = performance.now();
  const r = model.decoder().decode(bytes);
  const ms = performance.now() - t;
  // softmax for the top-3 listing (logits of any scale)
  const max = Math.max(...r.logits);
  const e = Array.from(r.logits, (v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  const top = e.map((p, i) => ({ i, p: p / sum })).sort((a, b) => b.p - a.p).slice(0, 3);
  const classes = model.info.classes;
  if (o.json) {
    io.out(JSON.stringify({
      file, bytes: bytes.length, mode: r.mode, top1: r.top1, label: r.label, decodeMs: ms,
      top: top.map((t) => ({ index: t.i, label: classes[t.i] ?? String(t.i), prob: t.p })), logits: Array.from(r.logits),
    }, null, 2) + '\n');
    return;
  }
  io.out(`${r.label} (class ${r.top1}), mode ${formatMode(r.mode)}, ${bytes.length} bytes, decoder ${ms.toFixed(2)} ms\n`);
  io.out(`top-3: ${top.map((t) => `${classes[t.i] ?? t.i} ${(t.p * 100).toFixed(1)}%`).join(', ')}\n`);
}
