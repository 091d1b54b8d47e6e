/**
 * slimsplit: split computing with slimmable ensemble encoders, in TypeScript and WebAssembly.
 *
 *   import { loadModel } from 'slimsplit';
 *   const model = await loadModel('weights/see-cifar10.slim');
 *   const enc = model.encoder();                  // device side
 *   enc.setMode({ members: 2, bits: 4 });         // no reload
 *   const packet = enc.encode(jpegBytes);         // RGB/RGBA pixels or a JPEG/PNG file
 *   const { top1, label, mode } = model.decoder().decode(packet);   // server side
 */
export { loadModel, Model, SplitEncoder, SplitDecoder, ImageClassifier, type LoadModelOptions } from './model/model.js';
export { pickMode, modeTable, type ModeInfo, type ModeBudget } from './codec/modes.js';
export type { Mode, ModelInfo, RawImage, ImageInput, DecodeResult, DeviceEncoder, ServerDecoder, Classifier, EncoderOptions, PacketFormat } from './model/api.js';
export { readBlob } from './format/reader.js';
export { BlobError } from './format/schema.js';
export { readPacket, writePacket, readCompactPacket, writeCompactPacket, isCompactPacket, PacketError } from './codec/packet.js';
export { CoderError } from './codec/coder.js';
export { decodeImage, ImageError } from './model/image.js';
export { loadEngine, Arena, Engine, simdSupported, type Build } from './engine/wasm.js';
export { Runner } from './engine/plan/runner.js';
