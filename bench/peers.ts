/**
 * The peers the kernel benchmark compares against, run in this Node process on one thread:
 * onnxruntime-web (WASM backend) on an ONNX model built in memory, and tfjs-backend-wasm
 * (XNNPACK). Both take the same NCHW input and OIHW weights as slimsplit.
 *
 *   import { initPeers, ortConv, tfjsConv, convRef, type ConvSpec } from './peers.js';
 *   await initPeers();
 *   const spec: ConvSpec = { cin: 32, cout: 32, groups: 32, H: 112, W: 112, k: 3, stride: 1,
 *     padT: 1, padL: 1, padB: 1, padR: 1, x, w, bias };
 *   const ort = await ortConv(spec);     // session created here, outside any timing
 *   await ort.run();                     // one inference
 *   const y = await ort.output();        // NCHW Float32Array, for the cross-check
 *   const tf = tfjsConv(spec); tf.run(); tf.output();
 *   const ref = convRef(spec);           // f64, what every engine is checked against
 */
import * as ort from 'onnxruntime-web';
import * as tf from '@tensorflow/tfjs-core';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { onnxModelType } from '../src/import/onnx.js';

/** One convolution, NCHW, batch 1: depthwise is groups = cin = cout, pointwise k = 1. */
export interface ConvSpec {
  cin: number;
  cout: number;
  groups: number;
  H: number;
  W: number;
  k: number;
  stride: number;
  padT: number;
  padL: number;
  padB: number;
  padR: number;
  /** input [cin][H][W] */
  x: Float32Array;
  /** weights OIHW [cout][cin/groups][k][k] */
  w: Float32Array;
  /** [cout] */
  bias: Float32Array;
}

export function outSize(s: ConvSpec): { OH: number; OW: number } {
  return {
    OH: Math.floor((s.H + s.padT + s.padB - s.k) / s.stride) + 1,
    OW: Math.floor((s.W + s.padL + s.padR - s.k) / s.stride) + 1,
  };
}

/** Multiply-adds of the conv (FLOPs = 2x this). */
export function macs(s: ConvSpec): number {
  const { OH, OW } = outSize(s);
  return s.cout * OH * OW * (s.cin / s.groups) * s.k * s.k;
}

export interface Peer {
  /** one inference on the resident input */
  run(): void | Promise<void>;
  /** the last output as NCHW [cout][OH][OW] */
  output(): Promise<Float32Array>;
}

let ready = false;

/** One-thread settings for both peers; call once before creating any. */
export async function initPeers(): Promise<void> {
  if (ready) return;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.simd = true;
  ort.env.logLevel = 'error';
  setThreadsCount(1);
  if (!(await tf.setBackend('wasm'))) throw new Error('bench: tfjs wasm backend failed to initialize');
  await tf.ready();
  ready = true;
}

// ---------------------------------------------------------------------------------------
// ONNX models for the peers, written by protobufjs with the ModelProto descriptors the importer
// reads (src/import/onnx_proto.ts): plain objects in onnx.proto's field names, encoded.

const FLOAT = 1; // TensorProto.DataType
const ATTR_INT = 2, ATTR_INTS = 7; // AttributeProto.AttributeType

export type OnnxObject = Record<string, unknown>;

export function tensorProto(name: string, dims: number[], data: Float32Array): OnnxObject {
  const raw = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  return { dims, dataType: FLOAT, name, rawData: raw };
}
export function valueInfo(name: string, dims: number[]): OnnxObject {
  return { name, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } };
}
export function attrInts(name: string, vs: number[]): OnnxObject {
  return { name, type: ATTR_INTS, ints: vs };
}
export function attrInt(name: string, v: number): OnnxObject {
  return { name, type: ATTR_INT, i: v };
}
/** A ModelProto (IR version 8, opset 17) around `graph`, encoded. */
export function onnxModel(graph: OnnxObject): Uint8Array {
  const T = onnxModelType();
  return T.encode(T.fromObject({ irVersion: 8, producerName: 'slimsplit-bench', graph, opsetImport: [{ domain: '', version: 17 }] })).finish();
}

/** An ONNX model (opset 17) with one Conv node: input "x" [1,cin,H,W] -> output "y". */
export function onnxConvModel(s: ConvSpec): Uint8Array {
  const { OH, OW } = outSize(s);
  const node = {
    input: ['x', 'w', 'b'], output: ['y'], name: 'conv', opType: 'Conv',
    attribute: [
      attrInts('kernel_shape', [s.k, s.k]), attrInts('strides', [s.stride, s.stride]),
      attrInts('pads', [s.padT, s.padL, s.padB, s.padR]), attrInts('dilations', [1, 1]), attrInt('group', s.groups),
    ],
  };
  return onnxModel({
    node: [node],
    name: 'bench',
    initializer: [tensorProto('w', [s.cout, s.cin / s.groups, s.k, s.k], s.w), tensorProto('b', [s.cout], s.bias)],
    input: [valueInfo('x', [1, s.cin, s.H, s.W])],
    output: [valueInfo('y', [1, s.cout, OH, OW])],
  });
}

export async function ortConv(s: ConvSpec): Promise<Peer> {
  const session = await ort.InferenceSession.create(onnxConvModel(s), {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  const feeds = { x: new ort.Tensor('float32', s.x, [1, s.cin, s.H, s.W]) };
  let last: ort.Tensor | null = null;
  return {
    async run() {
      last = (await session.run(feeds)).y as ort.Tensor;
    },
    async output() {
      if (!last) last = (await session.run(feeds)).y as ort.Tensor;
      return Float32Array.from(last.data as Float32Array);
    },
  };
}

// ---------------------------------------------------------------------------------------
// tfjs: NHWC activations; conv filters HWIO, depthwise filters [k][k][C][1]. A grouped,
// non-depthwise conv (which tfjs lacks) runs as one conv per group on pre-split inputs.

function nchwToNhwc(x: Float32Array, C: number, H: number, W: number): Float32Array {
  const o = new Float32Array(x.length);
  for (let c = 0; c < C; c++) for (let i = 0; i < H * W; i++) o[i * C + c] = x[c * H * W + i];
  return o;
}

export function tfjsConv(s: ConvSpec): Peer {
  const { OH, OW } = outSize(s);
  const sym = s.padT === s.padB && s.padL === s.padR && s.padT === s.padL;
  // tfjs takes a number for symmetric padding; otherwise the explicit NHWC form (conv only)
  const pad: number | [[number, number], [number, number], [number, number], [number, number]] = sym
    ? s.padT
    : [[0, 0], [s.padT, s.padB], [s.padL, s.padR], [0, 0]];
  const depthwise = s.groups === s.cin && s.groups === s.cout && s.groups > 1;
  let out: tf.Tensor4D[] = [];
  let run: () => void;
  if (depthwise) {
    if (!sym) throw new Error('bench: tfjs fused depthwiseConv2d needs symmetric padding');
    const C = s.cin, k = s.k;
    const x = tf.tensor4d(nchwToNhwc(s.x, C, s.H, s.W), [1, s.H, s.W, C]);
    const f = new Float32Array(k * k * C);
    for (let c = 0; c < C; c++) for (let t = 0; t < k * k; t++) f[t * C + c] = s.w[c * k * k + t];
    const filter = tf.tensor4d(f, [k, k, C, 1]);
    const bias = tf.tensor1d(s.bias);
    run = () => {
      out.forEach((t) => t.dispose());
      out = [tf.fused.depthwiseConv2d({ x, filter, strides: s.stride, pad: pad as number, bias })];
    };
  } else {
    const G = s.groups, cinG = s.cin / G, coutG = s.cout / G, k = s.k;
    const xs: tf.Tensor4D[] = [], fs: tf.Tensor4D[] = [], bs: tf.Tensor1D[] = [];
    for (let g = 0; g < G; g++) {
      xs.push(tf.tensor4d(nchwToNhwc(s.x.subarray(g * cinG * s.H * s.W, (g + 1) * cinG * s.H * s.W), cinG, s.H, s.W), [1, s.H, s.W, cinG]));
      const f = new Float32Array(k * k * cinG * coutG);
      for (let co = 0; co < coutG; co++) {
        for (let ci = 0; ci < cinG; ci++) {
          for (let t = 0; t < k * k; t++) f[(t * cinG + ci) * coutG + co] = s.w[((g * coutG + co) * cinG + ci) * k * k + t];
        }
      }
      fs.push(tf.tensor4d(f, [k, k, cinG, coutG]));
      bs.push(tf.tensor1d(s.bias.subarray(g * coutG, (g + 1) * coutG)));
    }
    run = () => {
      out.forEach((t) => t.dispose());
      out = xs.map((x, g) => tf.fused.conv2d({ x, filter: fs[g], strides: s.stride, pad, bias: bs[g] }));
    };
  }
  return {
    run,
    async output() {
      if (!out.length) run();
      const y = new Float32Array(s.cout * OH * OW);
      const coutG = s.cout / out.length;
      for (let g = 0; g < out.length; g++) {
        const d = out[g].dataSync() as Float32Array; // NHWC [OH][OW][coutG]
        for (let i = 0; i < OH * OW; i++) for (let c = 0; c < coutG; c++) y[(g * coutG + c) * OH * OW + i] = d[i * coutG + c];
      }
      return y;
    },
  };
}

// ---------------------------------------------------------------------------------------

/** f64 grouped conv with bias, NCHW: the cross-check every engine must match. */
export function convRef(s: ConvSpec): Float64Array {
  const { OH, OW } = outSize(s);
  const cinG = s.cin / s.groups, coutG = s.cout / s.groups, k = s.k;
  const y = new Float64Array(s.cout * OH * OW);
  for (let co = 0; co < s.cout; co++) {
    const g = Math.floor(co / coutG);
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        let acc = s.bias[co];
        for (let ci = 0; ci < cinG; ci++) {
          const xc = (g * cinG + ci) * s.H * s.W, wb = (co * cinG + ci) * k * k;
          for (let ky = 0; ky < k; ky++) {
            const iy = oy * s.stride - s.padT + ky;
            if (iy < 0 || iy >= s.H) continue;
            for (let kx = 0; kx < k; kx++) {
              const ix = ox * s.stride - s.padL + kx;
              if (ix < 0 || ix >= s.W) continue;
              acc += s.x[xc + iy * s.W + ix] * s.w[wb + ky * k + kx];
            }
          }
        }
        y[(co * OH + oy) * OW + ox] = acc;
      }
    }
  }
  return y;
}

/** ||a - ref|| / ||ref|| */
export function normErr(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (a.length !== ref.length) return Infinity;
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  const e = Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
  return Number.isNaN(e) ? Infinity : e;
}

/** Seeded uniform floats in [-scale, scale) (mulberry32), so every run sees the same data. */
export function seeded(n: number, seed: number, scale = 1): Float32Array {
  let st = seed >>> 0;
  const o = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    st = (st + 0x6d2b79f5) >>> 0;
    let t = st;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    o[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return o;
}
