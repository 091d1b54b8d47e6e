/**
 * Public types of the split API (implemented in src/model/model.ts).
 *
 *   const model = await loadModel('see-cifar10');                  // a shipped model's name, a path, URL or bytes
 *   const enc = model.encoder();                                   // device side
 *   enc.setMode({ members: 2, bits: 4 });                          // no reload
 *   const packet: Uint8Array = enc.encode(image);                  // RGB/RGBA pixels, a JPEG/PNG file's bytes or path
 *   const dec = model.decoder();                                   // server side
 *   const { logits, top1, mode } = dec.decode(packet);
 *   enc.close(); dec.close(); model.close();                       // or [Symbol.dispose]() (`using`)
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
 * Raw pixels, or a JPEG or PNG file: its bytes (Uint8Array, ArrayBuffer) or its path. Pixels are
 * 8-bit only: other arrays (Float32Array in 0..1, Uint16Array, ...) are refused with an ImageError
 * naming the expected type, never read modulo 256. Pass a large photo as a file: it is decoded
 * straight to the model's input size within a fixed memory bound (docs/MEMORY.md), while RawImage
 * pixels of a large image already cost their full size.
 */
export type ImageInput = RawImage | Uint8Array | ArrayBuffer | string;

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
  /** Releases the kernel module instance and its memory; later calls throw. */
  close(): void;
}

export interface ServerDecoder {
  /** A full or compact packet (Uint8Array or ArrayBuffer). */
  decode(packet: Uint8Array | ArrayBuffer): DecodeResult;
  /** Releases the kernel module instance and its memory; later calls throw. */
  close(): void;
}

/** For plain classifiers (the JPEG baseline): image -> logits. */
export interface Classifier {
  classify(image: ImageInput): { logits: Float32Array; top1: number; label: string };
  close(): void;
}
