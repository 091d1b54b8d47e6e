/**
 * Arguments of the public API checked before they reach the engine: what encode()/classify() take
 * as an image, what decode() takes as a packet, what setMode() takes as a mode. Each refusal names
 * what was passed and what is accepted, so a wrong type never becomes a misleading error deeper in
 * (a path read as pixels, an ArrayBuffer as an empty packet, setMode(3) as "no change").
 *
 *   const img = imageArg('samples/cat.jpg');      // file bytes (read here), or the pixels object as given
 *   const bytes = packetArg(arrayBuffer);          // Uint8Array view
 *   modeArg({ members: 2 }, axes, 'see-cifar10');  // throws on an axis the model lacks
 */
import { readFileSync } from 'node:fs';
import type { Mode, RawImage } from './api.js';
import { ImageError } from './image.js';
import { PacketError } from '../codec/packet.js';
import { describeValue } from './source.js';

const ACCEPTED = 'JPEG/PNG file bytes (Uint8Array or ArrayBuffer), a path to such a file, or { data, width, height, channels } with 8-bit RGB/RGBA pixels';

/** An image argument as toInput takes it: file bytes, or the pixels object (checked by checkRaw). */
export function imageArg(image: unknown): RawImage | Uint8Array {
  if (image instanceof Uint8Array) return image;
  if (image instanceof ArrayBuffer) return new Uint8Array(image);
  if (typeof image === 'string') {
    try {
      return new Uint8Array(readFileSync(image));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? `no such file, relative to ${process.cwd()}` : code === 'EISDIR' ? 'it is a folder' : (e as Error).message;
      throw new ImageError('file', `cannot read image file '${image}' (${why})`);
    }
  }
  if (image !== null && typeof image === 'object' && !ArrayBuffer.isView(image) && !Array.isArray(image)) {
    if (!('data' in image)) throw new ImageError('pixels', `an image is ${ACCEPTED}; got an object without data`);
    return image as RawImage;
  }
  throw new ImageError('pixels', `an image is ${ACCEPTED}; got ${describeValue(image)}`);
}

/** A packet argument as bytes: a Uint8Array (Buffer included) or an ArrayBuffer. */
export function packetArg(packet: unknown): Uint8Array {
  if (packet instanceof Uint8Array) return packet;
  if (packet instanceof ArrayBuffer) return new Uint8Array(packet);
  throw new PacketError('bad-field', `decode takes the packet's bytes (Uint8Array or ArrayBuffer), got ${describeValue(packet)}`);
}

/** Checks setMode's argument: an object whose keys are axes of the model and whose values are numbers. */
export function modeArg(mode: unknown, axes: Record<string, number[]>, model: string): Mode {
  if (mode === null || typeof mode !== 'object' || Array.isArray(mode)) {
    throw new TypeError(`slimsplit: setMode takes an object such as { members: 2, bits: 4 }, got ${typeof mode === 'string' ? JSON.stringify(mode) : describeValue(mode)}`);
  }
  const names = Object.keys(axes);
  for (const [k, v] of Object.entries(mode)) {
    if (v === undefined) continue;
    if (!(k in axes)) throw new Error(`slimsplit: model '${model}' has no mode axis '${k}' (its axes: ${names.join(', ') || 'none'})`);
    if (typeof v !== 'number') throw new TypeError(`slimsplit: setMode: ${k} must be a number, got ${describeValue(v)}`);
  }
  return mode as Mode;
}

/** "members takes 1, 2, 3, 4; bits takes 1, 2, 4, 8" */
export function axesText(axes: Record<string, number[]>): string {
  return Object.entries(axes).map(([k, v]) => `${k} takes ${v.join(', ')}`).join('; ') || 'one mode only';
}
