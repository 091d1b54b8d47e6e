/**
 * Pieces of an imported IR graph as graphs of their own, for the per-layer and per-block timings of
 * bench/mobilenet.bench.ts, bench/mobilenet-ab.ts and bench/mobilenet-blocks.ts.
 */
import { nodeInputs, type IrGraph, type IrNode } from '../src/import/graph.js';

/** `nodes` from tensor `input` to tensor `output`, with the network's normalization and output activation left out. */
export function subgraph(ir: IrGraph, nodes: IrNode[], input: string, output: string): IrGraph {
  return { ...ir, input, output, nodes, outputs: undefined, outputActivation: undefined, mean: [], std: [] };
}

/**
 * Node n alone, reading one input (an add reads it twice); null for a mul or concat, whose two
 * inputs differ in shape.
 */
export function layerAlone(ir: IrGraph, n: IrNode): IrGraph | null {
  if (n.op === 'mul' || n.op === 'concat') return null;
  const x = nodeInputs(n)[0];
  return subgraph(ir, [n.op === 'add' ? { ...n, b: n.a } : n], x, n.y);
}
