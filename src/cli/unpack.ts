/**
 * The `unpack` command: a .slim blob -> the exported graph it was packed from (docs/GRAPH.md), and
 * its coder tables when it has a coder section; `slimsplit pack` rebuilds the same bytes from them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { unpackBlob, coderToJson } from '../format/unpack.js';
import { Io, readInput } from './common.js';

export function cmdUnpack(io: Io, blob: string, o: { out: string }): void {
  const u = unpackBlob(readInput(blob, 'blob'));
  const model = String(u.graph.name);
  // the model name names the files, as the exporters do, unless it cannot be a file name
  const stem = /^[A-Za-z0-9_.-]{1,100}$/.test(model) && !/^\.+$/.test(model) ? model : basename(blob).replace(/\.slim$/, '');
  mkdirSync(o.out, { recursive: true });
  const graph = join(o.out, `${stem}.graph.json`), tensors = join(o.out, `${stem}.tensors.bin`);
  writeFileSync(graph, JSON.stringify(u.graph, null, 1) + '\n');
  writeFileSync(tensors, u.tensors);
  io.out(`${graph}: model '${model}', ${Object.keys(u.graph.tensors as object).length} tensors\n${tensors}: ${u.tensors.length} bytes\n`);
  if (u.coder) {
    const coder = join(o.out, `${stem}.coder.json`);
    writeFileSync(coder, coderToJson(u.coder) + '\n');
    io.out(`${coder}: ${Object.keys(u.coder.tables).length} coder tables (the symbol counts they were built from are not in a blob)\n`);
  }
  io.out(`repack: slimsplit pack ${graph} ${tensors}${u.coder ? ` --coder ${join(o.out, `${stem}.coder.json`)}` : ''} -o ${stem}.slim\n`);
}
