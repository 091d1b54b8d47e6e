/**
 * Public types of the split API (implemented in src/model/model.ts).
 *
 *   const model = await loadModel('weights/see-cifar10.slim');   // path, URL or bytes
 *   const enc = model.encoder();                                   // device side
 *   enc.setMode({ members: 2, bits: 4 });                          // no reload
 *   const packet: Uint8Array = enc.encode(image);                  // RGB/RGBA pixels or a decoded file
 *   const dec = model.decoder();                                   // server side
 *   const { logits, top1, mode } = dec.decode(packet);
 */
import type { Mode } from '../codec/modes.js';

export type { Mode };

/**
 * Which packet an encoder writes: 'full' is self-describing (model id, mode, shape, length: 15-16
 * bytes of header and CRC for a CIFAR-10 bottleneck); 'compact' is 4 bytes (tag, mode index, a CRC
 * keyed by the model id) for links that frame packets themselves. Decoders read both.
 */
export type PacketFormat = 'full' | 'compact';

export interface EncoderOptions {
  /** default 'full' */
  packet?: PacketFormat;
}

/** Raw pixels, row-major, 3 (RGB) or 4 (RGBA) channels of 8 bits. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 3 | 4;
}

/**
 * Raw pixels, or the bytes of a JPEG or PNG file. Pass a large photo as file bytes: those are decoded
 * straight to the model's input size within a fixed memory bound (docs/MEMORY.md), while RawImage
 * pixels of a large image already cost their full size.
 */
export type ImageInput = RawImage | Uint8Array;

export interface ModelInfo {
  name: string;
  /** model input [C, H, W] */
  inputShape: [number, number, number];
  mean: number[];
  std: number[];
  /** mode axes, e.g. { members: [1,2,3,4], bits: [1,2,4,8] } */
  axes: Record<string, number[]>;
  classes: string[];
  /** FNV-1a 32 of the blob bytes (packet.ts modelIdOf), little-endian: carried in every packet */
  modelId: Uint8Array;
  blobBytes: number;
}

export interface DecodeResult {
  logits: Float32Array;
  top1: number;
  label: string;
  mode: Required<Pick<Mode, 'members' | 'bits'>> & Mode;
}

export interface DeviceEncoder {
  setMode(mode: Mode): void;
  readonly mode: Mode;
  /** Encoder network + quantization + rANS + packet header. */
  encode(image: ImageInput): Uint8Array;
}

export interface ServerDecoder {
  decode(packet: Uint8Array): DecodeResult;
}

/** For plain classifiers (the JPEG baseline): image -> logits. */
export interface Classifier {
  classify(image: ImageInput): { logits: Float32Array; top1: number; label: string };
}
