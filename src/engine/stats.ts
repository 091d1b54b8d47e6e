/**
 * What a graph costs: weights and multiply-adds per graph, from its layers (largest mode), for
 * `slimsplit inspect` and the import report.
 *
 *   const s = graphStats(blob.graphs[0], blob.tensors);   // { weights: 3504872, macs: 300775552, perOp: {...} }
 */
import type { GraphDef, TensorInfo } from './plan/graph.js';

export interface GraphStats {
  /** f32 weight values the graph's layers reference (each tensor once) */
  weights: number;
  /** multiply-adds of one inference in the largest mode (convolutions, dense layers, squeeze-excite) */
  macs: number;
  /** multiply-adds per op name */
  macsByOp: Record<string, number>;
}

export function graphStats(g: GraphDef, tensors: TensorInfo[]): GraphStats {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const shape = (b: unknown): number[] => g.buffers.find((x) => x.name === b)?.shape ?? [];
  const seen = new Set<string>();
  let weights = 0, macs = 0;
  const macsByOp: Record<string, number> = {};
  for (const l of g.layers) {
    for (const v of [...Object.values(l.fields), ...Object.values(l.active).flatMap((a) => a.values)]) {
      const t = typeof v === 'string' ? byName.get(v) : undefined;
      if (!t || t.dtype !== 'f32' || seen.has(t.name)) continue;
      seen.add(t.name);
      weights += t.shape.reduce((a, b) => a * b, 1);
    }
    const f = l.fields as Record<string, number | string | null>;
    let m = 0;
    if (l.op === 'conv2d') {
      const y = shape(f.y);
      m = (f.cout as number) * (y[1] ?? 1) * (y[2] ?? 1) * ((f.cin as number) / (f.groups as number)) * (f.k as number) ** 2;
    } else if (l.op === 'matmul') {
      m = (f.cin as number) * (f.cout as number) * (f.n as number);
    } else if (l.op === 'se') {
      m = 2 * (f.C as number) * ((f.R as number) / (f.groups as number));
    }
    if (m > 0) {
      macs += m;
      macsByOp[l.op] = (macsByOp[l.op] ?? 0) + m;
    }
  }
  return { weights, macs, macsByOp };
}
