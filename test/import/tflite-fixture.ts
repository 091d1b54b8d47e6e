/**
 * Small TFLite files built in the test with the same generated FlatBuffers code the reader uses
 * (src/import/tflite_schema.ts), plus a plain NHWC float64 reference of TFLite's op semantics
 * written from the TFLite docs, independent of the importer's NCHW IR.
 *
 *   const file = buildTflite({ tensors, ops, inputs: [0], outputs: [7] });
 */
import * as flatbuffers from 'flatbuffers';
import * as T from '../../src/import/tflite_schema.js';
import { importModel, referenceForward } from '../../src/import/index.js';
import { loadModel } from '../../src/model/model.js';
import { Runner } from '../../src/engine/plan/runner.js';
import { loadEngine, type Build } from '../../src/engine/wasm.js';
import { rng } from '../util.js';

export interface FxTensor {
  name: string;
  shape: number[];
  type: T.TensorType;
  /** constant data in the tensor's type, little-endian */
  data?: Uint8Array;
  scale?: number[];
  zeroPoint?: number[];
  qdim?: number;
}
export interface FxOp {
  code: T.BuiltinOperator;
  inputs: number[];
  outputs: number[];
  options?: (b: flatbuffers.Builder) => [T.BuiltinOptions, flatbuffers.Offset];
}

export function buildTflite(m: { tensors: FxTensor[]; ops: FxOp[]; inputs: number[]; outputs: number[] }): Uint8Array {
  const b = new flatbuffers.Builder(1024);
  const codes = [...new Set(m.ops.map((o) => o.code))];
  // buffer 0 is the empty sentinel; every constant gets its own
  const bufs: flatbuffers.Offset[] = [T.Buffer.createBuffer(b, 0)];
  const bufIndex = m.tensors.map((t) => {
    if (!t.data) return 0;
    bufs.push(T.Buffer.createBuffer(b, T.Buffer.createDataVector(b, t.data)));
    return bufs.length - 1;
  });
  const tensors = m.tensors.map((t, i) => {
    let q = 0;
    if (t.scale) {
      const sv = T.QuantizationParameters.createScaleVector(b, t.scale);
      const zv = T.QuantizationParameters.createZeroPointVector(b, (t.zeroPoint ?? t.scale.map(() => 0)).map((z) => BigInt(z)));
      q = T.QuantizationParameters.createQuantizationParameters(b, 0, 0, sv, zv, T.QuantizationDetails.NONE, 0, t.qdim ?? 0);
    }
    const name = b.createString(t.name);
    const shape = T.Tensor.createShapeVector(b, t.shape);
    T.Tensor.startTensor(b);
    T.Tensor.addShape(b, shape);
    T.Tensor.addType(b, t.type);
    T.Tensor.addBuffer(b, bufIndex[i]);
    T.Tensor.addName(b, name);
    if (q) T.Tensor.addQuantization(b, q);
    return T.Tensor.endTensor(b);
  });
  const ops = m.ops.map((o) => {
    const [ot, oo] = o.options ? o.options(b) : [T.BuiltinOptions.NONE, 0];
    return T.Operator.createOperator(b, codes.indexOf(o.code), T.Operator.createInputsVector(b, o.inputs), T.Operator.createOutputsVector(b, o.outputs), ot, oo, 0, T.CustomOptionsFormat.FLEXBUFFERS, 0);
  });
  const sg = T.SubGraph.createSubGraph(
    b, T.SubGraph.createTensorsVector(b, tensors), T.SubGraph.createInputsVector(b, m.inputs), T.SubGraph.createOutputsVector(b, m.outputs),
    T.SubGraph.createOperatorsVector(b, ops), b.createString('main'),
  );
  const opcodes = codes.map((c) => T.OperatorCode.createOperatorCode(b, c, 0, 1));
  const model = T.Model.createModel(
    b, 3, T.Model.createOperatorCodesVector(b, opcodes), T.Model.createSubgraphsVector(b, [sg]), b.createString('fixture'),
    T.Model.createBuffersVector(b, bufs), 0,
  );
  T.Model.finishModelBuffer(b, model);
  return b.asUint8Array().slice();
}

export const f32Bytes = (v: ArrayLike<number>): Uint8Array => new Uint8Array(Float32Array.from(v).buffer);
export const i32Bytes = (v: ArrayLike<number>): Uint8Array => new Uint8Array(Int32Array.from(v).buffer);
export const i8Bytes = (v: ArrayLike<number>): Uint8Array => new Uint8Array(Int8Array.from(v).buffer);

// ------------------------------------------------------------------------------------------------
// NHWC reference (batch 1), TFLite semantics: SAME pads (out - 1) * s + k - in in total, the
// smaller half on top/left, k the dilated extent (k - 1) * dilation + 1 for a conv (TFLite's
// ComputePaddingHeightWidth); filters OHWI, depthwise [1][kh][kw][C].

export interface Nhwc {
  h: number;
  w: number;
  c: number;
  v: Float64Array;
}

function samePad(n: number, k: number, s: number): { out: number; before: number } {
  const out = Math.ceil(n / s);
  const total = Math.max((out - 1) * s + k - n, 0);
  return { out, before: Math.floor(total / 2) };
}

export function convNhwc(x: Nhwc, f: ArrayLike<number>, fshape: number[], bias: ArrayLike<number>, s: number, same: boolean, depthwise: boolean, dil = 1): Nhwc {
  const [o0, kh, kw, i3] = fshape;
  const cout = depthwise ? i3 : o0;
  const eh = (kh - 1) * dil + 1, ew = (kw - 1) * dil + 1;
  const ph = same ? samePad(x.h, eh, s) : { out: Math.floor((x.h - eh) / s) + 1, before: 0 };
  const pw = same ? samePad(x.w, ew, s) : { out: Math.floor((x.w - ew) / s) + 1, before: 0 };
  const y = new Float64Array(ph.out * pw.out * cout);
  for (let oy = 0; oy < ph.out; oy++) {
    for (let ox = 0; ox < pw.out; ox++) {
      for (let co = 0; co < cout; co++) {
        let acc = bias[co];
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * s + ky * dil - ph.before;
          if (iy < 0 || iy >= x.h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * s + kx * dil - pw.before;
            if (ix < 0 || ix >= x.w) continue;
            if (depthwise) acc += x.v[(iy * x.w + ix) * x.c + co] * f[(ky * kw + kx) * cout + co];
            else for (let ci = 0; ci < x.c; ci++) acc += x.v[(iy * x.w + ix) * x.c + ci] * f[((co * kh + ky) * kw + kx) * i3 + ci];
          }
        }
        y[(oy * pw.out + ox) * cout + co] = acc;
      }
    }
  }
  return { h: ph.out, w: pw.out, c: cout, v: y };
}

/** A seeded NHWC input of f32 values in [lo, hi), and the same values NCHW for the engine. */
export function nhwcInput(seed: number, h: number, w: number, c: number, lo: number, hi: number): { nchw: Float32Array; nhwc: Nhwc } {
  const r = rng(seed);
  const nhwc = { h, w, c, v: Float64Array.from({ length: h * w * c }, () => Math.fround(r() * (hi - lo) + lo)) };
  return { nchw: Float32Array.from(toNchw(nhwc)), nhwc };
}

/**
 * Imports a TFLite file, runs it on one build's engine for the inputs of `seeds`, and gives per
 * seed the input, the engine's output and the IR's own f64 reference, for the caller to compare.
 */
export async function runImported<X extends { nchw: Float32Array }>(file: Uint8Array, build: Build, input: (seed: number) => X, seeds = [1, 2, 3]): Promise<{ x: X; got: Float32Array; ref: Float64Array }[]> {
  const { slim, ir } = importModel(file);
  const model = await loadModel(slim, { build });
  const run = new Runner(loadEngine({ build }), model.blob, 'classifier');
  return seeds.map((seed) => {
    const x = input(seed);
    return { x, got: (run.run(x.nchw) as Float32Array).slice(), ref: referenceForward(ir, x.nchw) };
  });
}

/** NHWC [h][w][c] -> NCHW [c][h][w] */
export function toNchw(x: Nhwc): Float64Array {
  const o = new Float64Array(x.v.length);
  for (let c = 0; c < x.c; c++) for (let i = 0; i < x.h * x.w; i++) o[c * x.h * x.w + i] = x.v[i * x.c + c];
  return o;
}

/** TFLite AVERAGE_POOL_2D / MAX_POOL_2D: the average over the window's pixels inside the map (padding not counted). */
export function poolNhwc(x: Nhwc, kind: 'avg' | 'max', kh: number, kw: number, sh: number, sw: number, same: boolean): Nhwc {
  const ph = same ? samePad(x.h, kh, sh) : { out: Math.floor((x.h - kh) / sh) + 1, before: 0 };
  const pw = same ? samePad(x.w, kw, sw) : { out: Math.floor((x.w - kw) / sw) + 1, before: 0 };
  const y = new Float64Array(ph.out * pw.out * x.c);
  for (let oy = 0; oy < ph.out; oy++) {
    for (let ox = 0; ox < pw.out; ox++) {
      for (let c = 0; c < x.c; c++) {
        let acc = kind === 'max' ? -Infinity : 0, n = 0;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh + ky - ph.before;
          if (iy < 0 || iy >= x.h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw + kx - pw.before;
            if (ix < 0 || ix >= x.w) continue;
            const v = x.v[(iy * x.w + ix) * x.c + c];
            acc = kind === 'max' ? Math.max(acc, v) : acc + v;
            n++;
          }
        }
        y[(oy * pw.out + ox) * x.c + c] = kind === 'max' ? acc : acc / n;
      }
    }
  }
  return { h: ph.out, w: pw.out, c: x.c, v: y };
}

/** TFLite SOFTMAX (beta 1): over the last axis. */
export function softmaxNhwc(x: Nhwc): Nhwc {
  const y = new Float64Array(x.v.length);
  for (let i = 0; i < x.h * x.w; i++) {
    const row = x.v.subarray(i * x.c, (i + 1) * x.c);
    const m = Math.max(...row);
    let s = 0;
    for (let c = 0; c < x.c; c++) s += Math.exp(row[c] - m);
    for (let c = 0; c < x.c; c++) y[i * x.c + c] = Math.exp(row[c] - m) / s;
  }
  return { ...x, v: y };
}
