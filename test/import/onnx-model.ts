/**
 * Small ONNX models written in the tests with protobufjs and the importer's ModelProto descriptors
 * (test/import/onnx.test.ts, test/device/hosts.test.ts).
 */
import { onnxModelType } from '../../src/import/onnx.js';
import { randn } from '../util.js';

export interface NodeSpec {
  op: string;
  ins: string[];
  out: string;
  /** several outputs (Split); `out` is then the first */
  outs?: string[];
  name?: string;
  attrs?: Record<string, number | number[] | string>;
}

let typedFields = false;
/** Initializers in float_data instead of raw_data from now on (true) or again in raw_data. */
export function setTypedFields(v: boolean): void {
  typedFields = v;
}
/** A FLOAT initializer in raw_data, or in float_data while `typedFields` is set. */
const floatTensor = (name: string, dims: number[], data: ArrayLike<number>) => (typedFields
  ? { name, dims, dataType: 1, floatData: Array.from(data) }
  : { name, dims, dataType: 1, rawData: new Uint8Array(Float32Array.from(data).buffer) });

/** An opset-13 (or `opset`) ModelProto: input 'x' [1, C, H, W], float initializers, the nodes, output `out`. */
export function onnxBytes(o: { C: number; H: number; W: number; inits: Array<[string, number[], ArrayLike<number>]>; ints?: Array<[string, number[], number[]]>; nodes: NodeSpec[]; out: string; outDims?: number[]; opset?: number }): Uint8Array {
  const attr = (name: string, v: number | number[] | string) =>
    typeof v === 'string' ? { name, type: 3, s: new TextEncoder().encode(v) }
      : Array.isArray(v) ? { name, type: 7, ints: v }
        : Number.isInteger(v) ? { name, type: 2, i: v } : { name, type: 1, f: v };
  const vi = (name: string, dims?: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: dims ? { dim: dims.map((d) => ({ dimValue: d })) } : undefined } } });
  const T = onnxModelType();
  const msg = T.fromObject({
    irVersion: 8,
    opsetImport: [{ domain: '', version: o.opset ?? 13 }],
    graph: {
      name: 'test',
      node: o.nodes.map((n, k) => ({ input: n.ins, output: n.outs ?? [n.out], name: n.name ?? `n${k}`, opType: n.op, attribute: Object.entries(n.attrs ?? {}).map(([a, v]) => attr(a, v)) })),
      initializer: [...o.inits.map(([name, dims, data]) => floatTensor(name, dims, data)), ...(o.ints ?? []).map(([name, dims, data]) => ({ name, dims, dataType: 7, int64Data: data }))],
      input: [vi('x', [1, o.C, o.H, o.W])],
      output: [vi(o.out, o.outDims)],
    },
  });
  return T.encode(msg).finish();
}

/**
 * A ShuffleNetV2 unit on [1, cin, 6, 7]: 1x1 conv to 8 channels, Split into 4 + 4, a depthwise 3x3 + Relu on the
 * second half, Concat, the channel shuffle (Reshape [1, 2, 4, 6, 7], Transpose [0, 2, 1, 3, 4],
 * Reshape [1, -1, 6, 7]), a Slice of channels 2..6 and a 1x1 conv.
 */
export const shuffleUnit = (edit: (nodes: NodeSpec[]) => void = () => {}, ints: Array<[string, number[], number[]]> = [], cin = 8) => {
  const nodes: NodeSpec[] = [
    { op: 'Conv', ins: ['x', 'w1', 'b1'], out: 'a', name: 'c1' },
    { op: 'Split', ins: ['a', 'sp'], out: 'a1', outs: ['a1', 'a2'], name: 'split', attrs: { axis: 1 } },
    { op: 'Conv', ins: ['a2', 'wd', 'bd'], out: 'b2', name: 'dw', attrs: { group: 4, pads: [1, 1, 1, 1] } },
    { op: 'Relu', ins: ['b2'], out: 'b2r', name: 'relu' },
    { op: 'Concat', ins: ['a1', 'b2r'], out: 'cat', name: 'cat', attrs: { axis: 1 } },
    { op: 'Reshape', ins: ['cat', 's5'], out: 'r5', name: 'r5' },
    { op: 'Transpose', ins: ['r5'], out: 't5', name: 't5', attrs: { perm: [0, 2, 1, 3, 4] } },
    { op: 'Reshape', ins: ['t5', 's4'], out: 'sh', name: 'r4' },
    { op: 'Slice', ins: ['sh', 'st', 'en', 'ax'], out: 'sl', name: 'slice' },
    { op: 'Conv', ins: ['sl', 'w2', 'b2c'], out: 'y', name: 'c2' },
  ];
  edit(nodes);
  return onnxBytes({
    C: cin, H: 6, W: 7, out: 'y',
    inits: [['w1', [8, cin, 1, 1], randn(8 * cin, 31, 0.5)], ['b1', [8], randn(8, 32, 0.5)], ['wd', [4, 1, 3, 3], randn(36, 33, 0.5)], ['bd', [4], randn(4, 34, 0.5)],
      ['w2', [3, 5, 1, 1], randn(15, 35, 0.5)], ['b2c', [3], randn(3, 36, 0.5)]],
    ints: [['sp', [2], [4, 4]], ['s5', [5], [1, 2, 4, 6, 7]], ['s4', [4], [1, -1, 6, 7]], ['st', [1], [2]], ['en', [1], [7]], ['ax', [1], [1]], ...ints],
    nodes,
  });
};

