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
export { loadModel, Model, SplitEncoder, SplitDecoder, ImageClassifier, type LoadModelOptions } from './model.js';
export { pickMode, modeTable, type ModeInfo, type ModeBudget } from './modes.js';
export type { Mode, ModelInfo, RawImage, ImageInput, DecodeResult, DeviceEncoder, ServerDecoder, Classifier, EncoderOptions, PacketFormat } from './api.js';
export { readBlob, BlobError } from './blob.js';
export { readPacket, writePacket, readCompactPacket, writeCompactPacket, isCompactPacket, PacketError } from './packet.js';
export { CoderError } from './coder.js';
export { decodeImage, ImageError } from './image.js';
export { loadEngine, Arena, Engine, simdSupported, type Build } from './wasm.js';
export { Runner } from './plan.js';
