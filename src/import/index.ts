/**
 * `slimsplit import`: a model from another framework -> a .slim blob.
 *
 *   import { importModel } from './import/index.js';
 *   const { slim, ir } = importModel(readFileSync('mobilenet_v2_1.0_224_quant.tflite'), { labels });
 *   writeFileSync('mobilenet.slim', slim);
 *   const cut = importModel(bytes, { split: 'MobilenetV2/expanded_conv_2/add' });   // encoder + decoder
 *
 * The format is told by the file's own bytes (TFLite: 'TFL3' at byte 4). The readers make the NCHW
 * IR (graph.ts), lowerGraph turns it into docs/GRAPH.md's JSON, and the ordinary packer
 * (src/pack.ts) validates and compiles it, so an imported blob is checked exactly like an exported one.
 */
import { packGraph } from '../format/pack.js';
import { readTflite } from './tflite.js';
import { ImportError, lowerGraph, type IrGraph, type LowerOptions } from './graph.js';

export { ImportError, lowerGraph, splitGraph, findTensor, graphMacs, nodeMacs, type IrGraph, type IrNode } from './graph.js';
export { readTflite } from './tflite.js';
export { referenceForward, referenceActivations } from './reference.js';

export interface ImportOptions extends LowerOptions {
  /** input H x W other than the model's own */
  inputSize?: [number, number];
  /** model name stored in the blob */
  name?: string;
}

export type SourceFormat = 'tflite';

export function detectFormat(bytes: Uint8Array): SourceFormat {
  if (bytes.length >= 8 && String.fromCharCode(...bytes.subarray(4, 8)) === 'TFL3') return 'tflite';
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new ImportError(`unknown model format (starts with ${head || 'nothing'}); supported: TFLite (.tflite)`);
}

export function readIr(bytes: Uint8Array, opts: ImportOptions = {}): IrGraph {
  detectFormat(bytes);
  return readTflite(bytes, { inputSize: opts.inputSize, name: opts.name });
}

export function importModel(bytes: Uint8Array, opts: ImportOptions = {}): { ir: IrGraph; slim: Uint8Array } {
  const ir = readIr(bytes, opts);
  const { json, bin } = lowerGraph(ir, opts);
  return { ir, slim: packGraph(json, bin) };
}
