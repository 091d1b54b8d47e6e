/**
 * The `classify` command: images -> classes with one model in this process. A classifier blob (an
 * imported ImageNet network, the JPEG baseline) runs its one graph; a split model runs its encoder
 * and decoder back to back at one mode, the packet never leaving the process.
 */
import { formatMode, type Mode } from '../codec/modes.js';
import type { Model } from '../model/model.js';
import { topKOf } from '../server/result.js';
import { CliError, Ctx, openModel, readInput } from './common.js';

export interface ClassifyOptions {
  model: string;
  mode?: Mode;
  top: number;
  json?: boolean;
}

interface Row {
  file: string;
  top1: number;
  label: string;
  top: { index: number; label: string; prob: number }[];
  ms: number;
  mode?: string;
  bytes?: number;
}

/** the k largest, with softmax probabilities: the server's top-k (its result's topk) */
function topK(logits: Float32Array, k: number, classes: string[]): Row['top'] {
  return topKOf(logits, k, classes).map((t) => ({ index: t.class, label: t.label, prob: t.score }));
}

export async function cmdClassify(io: Ctx, files: string[], o: ClassifyOptions): Promise<void> {
  // the runtime's Model: graph names and metadata, beside the encoder/decoder/classifier API
  const model = (await openModel(io, o.model)).model as unknown as Model;
  try {
    if (model.heads.length) {
      throw new CliError(`${o.model} has ${model.heads.length} outputs (${model.heads.join(', ')}): classify needs a classifier with one vector of class scores; read detection heads through the API (docs/IMPORT.md)`);
    }
    const split = model.hasGraph('encoder') && model.hasGraph('decoder');
    if (!split && !model.hasGraph('classifier')) {
      throw new CliError(`${o.model} has neither a classifier graph nor an encoder and a decoder`);
    }
    if (o.mode && !split) throw new CliError(`--mode applies to split models; ${o.model} is a classifier with no modes`, 2);
    const classes = model.info.classes;
    const rows: Row[] = [];
    let run: (img: Uint8Array) => Omit<Row, 'file' | 'ms' | 'top'> & { logits: Float32Array };
    if (split) {
      const enc = model.encoder(), dec = model.decoder();
      if (o.mode) enc.setMode(o.mode);
      run = (img) => {
        const packet = enc.encode(img);
        const r = dec.decode(packet);
        return { logits: r.logits, top1: r.top1, label: r.label, mode: formatMode(r.mode), bytes: packet.length };
      };
    } else {
      const cls = model.classifier();
      run = (img) => cls.classify(img);
    }
    for (const file of files) {
      const img = readInput(file, 'image file');
      const t = performance.now();
      const r = run(img);
      const ms = performance.now() - t;
      const row: Row = { file, top1: r.top1, label: r.label, top: topK(r.logits, o.top, classes), ms };
      if (r.mode !== undefined) { row.mode = r.mode; row.bytes = r.bytes; }
      rows.push(row);
      if (!o.json) {
        const how = row.mode ? `, mode ${row.mode}, ${row.bytes} B packet` : '';
        io.out(`${file}: ${row.label} (class ${row.top1}) ${(row.top[0].prob * 100).toFixed(1)}%${how}, ${ms.toFixed(1)} ms\n`);
        if (o.top > 1) io.out(`  top-${o.top}: ${row.top.map((t) => `${t.label} ${(t.prob * 100).toFixed(1)}%`).join(', ')}\n`);
      }
    }
    if (o.json) io.out(JSON.stringify(rows, null, 2) + '\n');
  } finally {
    model.close();
  }
}

