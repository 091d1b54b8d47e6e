/** The `pack` command: an exported graph (docs/GRAPH.md) and its tensors -> one .slim blob. */
import { writeFileSync } from 'node:fs';
import { readBlob } from '../format/reader.js';
import { packGraph } from '../format/pack.js';
import { PH } from '../engine/plan/words.js';
import { CliError, Io, readInput } from './common.js';

export function cmdPack(io: Io, graph: string, tensors: string, o: { out: string }): void {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(readInput(graph, 'graph JSON')));
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${graph} is not valid JSON (${(e as Error).message})`);
  }
  const bytes = packGraph(json, readInput(tensors, 'tensor file'));
  writeFileSync(o.out, bytes);
  const b = readBlob(bytes);
  const modes = b.axes.map((a) => `${a.name} [${a.values.join(', ')}]`).join(', ') || 'one mode';
  io.out(`${o.out}: ${bytes.length} bytes, model '${b.name}', ${b.tensors.length} tensors, modes: ${modes}\n`);
  for (const g of b.graphs) io.out(`  ${g.name}: ${g.layers.length} layers, plan ${g.plan.byteLength} bytes, arena ${g.plan[PH.arenaBytes]} bytes\n`);
}
