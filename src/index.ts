/**
 * slimsplit: split computing with slimmable ensemble encoders, in TypeScript and WebAssembly.
 *
 *   import { loadModel } from 'slimsplit';
 *   const model = await loadModel('see-cifar10');   // a shipped model by name, or a path, URL or bytes
 *   const enc = model.encoder();                  // device side
 *   enc.setMode({ members: 2, bits: 4 });         // no reload
 *   const packet = enc.encode(jpegBytes);         // RGB/RGBA pixels or a JPEG/PNG file
 *   const { top1, label, mode } = model.decoder().decode(packet);   // server side
 *   model.close();                                // releases the encoders' and decoders' WASM instances
 */
export { loadModel, Model, SplitEncoder, SplitDecoder, ImageClassifier, type LoadModelOptions } from './model/model.js';
export { shippedModels, type ModelSource } from './model/source.js';
export { pickMode, modeTable, type ModeInfo, type ModeBudget } from './codec/modes.js';
export type { Mode, ModelInfo, RawImage, ImageInput, DecodeResult, DeviceEncoder, ServerDecoder, Classifier, EncoderOptions, PacketFormat } from './model/api.js';
export { readBlob } from './format/reader.js';
export { BlobError } from './format/schema.js';
export { readPacket, writePacket, readCompactPacket, writeCompactPacket, isCompactPacket, PacketError } from './codec/packet.js';
export { CoderError } from './codec/coder.js';
export { decodeImage, ImageError } from './model/image.js';
export { loadEngine, Arena, Engine, simdSupported, type Build } from './engine/wasm.js';
export { Runner } from './engine/plan/runner.js';
export { decodeCenterNet, centernetPeaks, type CenterNetBox, type CenterNetPeak, type CenterNetShape } from './model/centernet.js';
export { splitOutputs, type IrOutputPart } from './import/graph.js';
export { writeEnvelope, readEnvelope, EnvelopeError, type EnvelopeFields } from './server/envelope.js';
export { topKOf, type FrameResult, type Outcome } from './server/result.js';
// device side: streaming to `slimsplit serve`, rate control, link emulation (docs/CONTROLLER.md)
export { connect, DeviceSession, DeviceError, type ConnectOptions, type SendOptions, type SendResult, type Transport } from './device/client.js';
export { makeController, controllerNames, SlimController, EmaController, FixedController, ControllerError, type Controller, type ModeSpec, type Decision } from './device/controller.js';
export { readTrace, parseMahimahi, parseMbps, TraceError, type Trace } from './device/trace.js';
export { TraceLink, RealTimeShaper, type LinkOptions } from './device/link.js';
export { simulate, summarize, type FrameRecord, type RunSummary, type SimDataset } from './device/sim.js';
export { measureModes, streamFrames, type Frame } from './device/run.js';
