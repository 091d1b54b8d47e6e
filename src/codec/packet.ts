/**
 * The wire packet: one coded bottleneck tensor plus what the server needs to
 * decode it. Layout and rationale: docs/PACKET.md.
 *
 *   const modelId = modelIdOf(weightBlob);                     // FNV-1a 32 of the blob
 *   const bytes = writePacket({ modelId, mode: [2, 4], shape: [32, 16, 16], quant: { kind: 'implied' } }, payload);
 *   const { fields, payload } = readPacket(bytes, { modelId }); // throws PacketError
 *   // fields.shape = [32, 16, 16]; payload is a view into bytes (no copy)
 *
 * readPacket checks, in this order: magic, version, header fields, payload
 * length against the bytes present, trailing bytes, checksum, model identity,
 * tensor size caps. It allocates nothing whose size comes from the packet.
 *
 * The compact form (writeCompactPacket / readCompactPacket) is for links that
 * delimit packets themselves (datagrams, radio frames, length-prefixed
 * streams): a tag byte, one mode byte, the payload, and a CRC-16 keyed by the
 * model id. 4 bytes of overhead instead of 15-16; the shape and quantization
 * come from the model and the mode, the length from the frame.
 *
 *   const bytes = writeCompactPacket(modelId, modeIndex, payload);
 *   const { mode, payload } = readCompactPacket(bytes, modelId);
 */
import { crc16 } from '../format/checksum.js';
import { CRC16_BYTES as CRC_BYTES, HeaderReader, putCrc16, type HeaderFail, putU32le, putVarint, storedCrc16 } from '../format/header.js';

/** First two bytes of every packet: 0xD3 ('S' with the high bit, caught by 7-bit channels), 'S'. */
export const MAGIC = Uint8Array.of(0xd3, 0x53);
export const VERSION = 1;
/** Largest C*H*W readPacket accepts by default. */
export const MAX_ELEMENTS = 1 << 24;
/** Largest single dimension (C, H or W). */
export const MAX_DIM = 65535;
/**
 * No 16-bit-precision coder packs more symbols per payload byte (each symbol
 * costs at least log2(65536 / 65535) bit; see src/codec/coder.ts MAX_SYMBOLS_PER_BYTE).
 */
export const MAX_ELEMENTS_PER_PAYLOAD_BYTE = 1 << 19;
/** First byte of a compact packet: never a full packet's first byte (MAGIC[0]). */
export const COMPACT_TAG = 0xc1;
/** Tag + mode byte + CRC-16. */
export const COMPACT_OVERHEAD = 4;

// flags: bits 0-1 quant kind, bit 2 W omitted (W = H), bits 3-4 mode byte count, 5-7 reserved (0)
const QUANT_KINDS = ['implied', 'index', 'inline'] as const;
const FLAG_SQUARE = 1 << 2;
const FLAG_RESERVED = 0xe0;

/**
 * Quantization parameters: implied by the mode (the weight blob's entry for it),
 * an index into the blob's quant table, or inline (f32 scale, integer zero point).
 */
export type Quant =
  | { kind: 'implied' }
  | { kind: 'index'; index: number }
  | { kind: 'inline'; scale: number; zeroPoint: number };

export interface PacketFields {
  /** u32 identity of the weight blob (modelIdOf); a reader for another model refuses the packet. */
  modelId: number;
  /** 0-3 opaque mode bytes; by convention [members, bits]. */
  mode: readonly number[];
  /** Tensor shape [C, H, W], each 1..65535. */
  shape: readonly [number, number, number];
  quant: Quant;
}

export interface Packet {
  fields: PacketFields & { version: number };
  /** A view into the packet's bytes. */
  payload: Uint8Array;
}

export type PacketErrorCode =
  | 'truncated'
  | 'bad-magic'
  | 'unsupported-version'
  | 'bad-field'
  | 'length-exceeds-packet'
  | 'trailing-garbage'
  | 'checksum'
  | 'foreign-model';

/** The only error readPacket and writePacket throw. */
export class PacketError extends Error {
  readonly code: PacketErrorCode;
  constructor(code: PacketErrorCode, message: string) {
    super(`packet: ${message}`);
    this.name = 'PacketError';
    this.code = code;
  }
}

export interface ReadExpect {
  /** The reader's model identity: a packet for any other model is refused ('foreign-model'). */
  modelId?: number;
  /** Cap on C*H*W (default MAX_ELEMENTS). */
  maxElements?: number;
}

const f32buf = new DataView(new ArrayBuffer(4));
const fail: HeaderFail = (code, message) => new PacketError(code, message);

export function writePacket(fields: PacketFields, payload: Uint8Array): Uint8Array {
  const { modelId, mode, shape, quant } = fields;
  if (!isU32(modelId)) throw new PacketError('bad-field', `modelId must be a u32, got ${modelId}`);
  if (mode.length > 3 || !mode.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) throw new PacketError('bad-field', `mode must be 0-3 bytes, got [${mode.join(', ')}]`);
  if (shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d >= 1 && d <= MAX_DIM)) throw new PacketError('bad-field', `shape must be [C, H, W] with each in 1..${MAX_DIM}, got [${shape.join(', ')}]`);
  checkElements(shape, payload.length, MAX_ELEMENTS);
  const kind = QUANT_KINDS.indexOf(quant.kind);
  if (kind < 0) throw new PacketError('bad-field', `unknown quant kind '${(quant as { kind: string }).kind}'`);
  if (quant.kind === 'index' && !isU32(quant.index)) throw new PacketError('bad-field', `quant index must be a u32, got ${quant.index}`);
  if (quant.kind === 'inline') {
    if (!(Math.fround(quant.scale) > 0) || !Number.isFinite(Math.fround(quant.scale))) throw new PacketError('bad-field', `quant scale must be a finite f32 > 0, got ${quant.scale}`);
    if (!Number.isInteger(quant.zeroPoint) || quant.zeroPoint < -(2 ** 31) || quant.zeroPoint > 2 ** 31 - 1) throw new PacketError('bad-field', `quant zero point must be an i32, got ${quant.zeroPoint}`);
  }
  if (payload.length > 0xffffffff) throw new PacketError('bad-field', `payload of ${payload.length} bytes exceeds the u32 length field`);
  const [C, H, W] = shape;
  const square = H === W;
  const head: number[] = [MAGIC[0], MAGIC[1], VERSION, kind | (square ? FLAG_SQUARE : 0) | (mode.length << 3)];
  putU32le(head, modelId);
  head.push(...mode);
  putVarint(head, C);
  putVarint(head, H);
  if (!square) putVarint(head, W);
  if (quant.kind === 'index') putVarint(head, quant.index);
  if (quant.kind === 'inline') {
    f32buf.setFloat32(0, quant.scale, true);
    for (let b = 0; b < 4; b++) head.push(f32buf.getUint8(b));
    putVarint(head, ((quant.zeroPoint << 1) ^ (quant.zeroPoint >> 31)) >>> 0);
  }
  putVarint(head, payload.length);
  const out = new Uint8Array(head.length + payload.length + CRC_BYTES);
  out.set(head, 0);
  out.set(payload, head.length);
  putCrc16(out, out.length - CRC_BYTES, crc16(out, 0, out.length - CRC_BYTES));
  return out;
}

export function readPacket(bytes: Uint8Array, expect: ReadExpect = {}): Packet {
  const n = bytes.length;
  const r = new HeaderReader(bytes, fail);
  r.magic(MAGIC);
  const version = r.version(VERSION);
  const flags = r.flags(FLAG_RESERVED);
  const kind = flags & 3;
  if (kind === 3) throw new PacketError('bad-field', 'quant kind 3 is reserved');
  const modelId = r.u32le('model id');
  const modeLen = (flags >> 3) & 3;
  r.need(modeLen, 'mode');
  const mode = Array.from(bytes.subarray(r.pos, r.pos + modeLen));
  r.pos += modeLen;
  const C = r.varint('C', MAX_DIM), H = r.varint('H', MAX_DIM);
  const W = flags & FLAG_SQUARE ? H : r.varint('W', MAX_DIM);
  if (C === 0 || H === 0 || W === 0) throw new PacketError('bad-field', `shape [${C}, ${H}, ${W}] has a zero dimension`);
  // The writer omits W exactly when W = H: accepting it spelled out would let two byte strings
  // stand for one packet (and a flipped flag bit plus a lucky varint pass the fuzz as valid).
  if (!(flags & FLAG_SQUARE) && W === H) throw new PacketError('bad-field', `W = H = ${H} spelled out with the square flag clear (non-canonical)`);
  let quant: Quant;
  if (kind === 0) quant = { kind: 'implied' };
  else if (kind === 1) quant = { kind: 'index', index: r.varint('quant index', 0xffffffff) };
  else {
    r.need(4, 'quant scale');
    for (let b = 0; b < 4; b++) f32buf.setUint8(b, bytes[r.pos + b]);
    r.pos += 4;
    const scale = f32buf.getFloat32(0, true);
    if (!(scale > 0) || !Number.isFinite(scale)) throw new PacketError('bad-field', `quant scale ${scale} is not a finite value > 0`);
    const z = r.varint('quant zero point', 0xffffffff);
    quant = { kind: 'inline', scale, zeroPoint: (z >>> 1) ^ -(z & 1) };
  }
  const len = r.varint('payload length', 0xffffffff);
  const pos = r.pos;
  const left = n - pos;
  if (len + CRC_BYTES > left) throw new PacketError('length-exceeds-packet', `payload length ${len} + ${CRC_BYTES}-byte checksum exceeds the ${left} bytes left (truncated packet or damaged length)`);
  if (len + CRC_BYTES < left) throw new PacketError('trailing-garbage', `${left - len - CRC_BYTES} bytes after the checksum`);
  const end = pos + len;
  r.crc16('checksum', 0, end);
  if (expect.modelId !== undefined && modelId !== expect.modelId >>> 0) {
    throw new PacketError('foreign-model', `packet is for model ${modelId.toString(16).padStart(8, '0')}, this reader has ${(expect.modelId >>> 0).toString(16).padStart(8, '0')}`);
  }
  checkElements([C, H, W], len, expect.maxElements ?? MAX_ELEMENTS);
  return { fields: { version, modelId, mode, shape: [C, H, W], quant }, payload: bytes.subarray(pos, end) };
}

function checkElements(shape: readonly number[], payloadLength: number, max: number): void {
  const e = shape[0] * shape[1] * shape[2];
  if (e > max) throw new PacketError('bad-field', `shape [${shape.join(', ')}] has ${e} elements, over the cap of ${max}`);
  if (e > payloadLength * MAX_ELEMENTS_PER_PAYLOAD_BYTE) throw new PacketError('bad-field', `shape [${shape.join(', ')}] has ${e} elements, more than a ${payloadLength}-byte payload can code`);
}

/**
 * A compact packet: [COMPACT_TAG, mode, ...payload, crc16 lo, crc16 hi]. The CRC runs over the model
 * id (u32 little-endian) and then every byte before it, so a packet read with another model's id
 * fails the checksum: the id costs no bytes and still keeps models apart (with the CRC's 2^-16).
 */
export function writeCompactPacket(modelId: number, mode: number, payload: Uint8Array): Uint8Array {
  if (!isU32(modelId)) throw new PacketError('bad-field', `modelId must be a u32, got ${modelId}`);
  if (!Number.isInteger(mode) || mode < 0 || mode > 255) throw new PacketError('bad-field', `compact mode must be one byte (0..255), got ${mode}`);
  const out = new Uint8Array(payload.length + COMPACT_OVERHEAD);
  out[0] = COMPACT_TAG;
  out[1] = mode;
  out.set(payload, 2);
  putCrc16(out, out.length - CRC_BYTES, crc16(out, 0, out.length - CRC_BYTES, keyedCrcInit(modelId)));
  return out;
}

/**
 * A compact packet's fields without checking its CRC (which needs the model id): tag and length only.
 * For tools that show a packet without its model; readers use readCompactPacket.
 */
export function splitCompactPacket(bytes: Uint8Array): { mode: number; payload: Uint8Array } {
  if (bytes.length > 0 && bytes[0] !== COMPACT_TAG) throw new PacketError('bad-magic', `first byte 0x${bytes[0].toString(16).padStart(2, '0')} is not a compact packet's tag 0x${COMPACT_TAG.toString(16)}`);
  if (bytes.length < COMPACT_OVERHEAD) throw new PacketError('truncated', `${bytes.length} bytes: a compact packet has at least ${COMPACT_OVERHEAD} (tag, mode, CRC-16)`);
  return { mode: bytes[1], payload: bytes.subarray(2, bytes.length - CRC_BYTES) };
}

/** Reads a compact packet for the model `modelId`. The payload is a view into bytes. */
export function readCompactPacket(bytes: Uint8Array, modelId: number): { mode: number; payload: Uint8Array } {
  const parts = splitCompactPacket(bytes);
  const end = bytes.length - CRC_BYTES;
  const crc = crc16(bytes, 0, end, keyedCrcInit(modelId >>> 0));
  const stored = storedCrc16(bytes, end);
  if (crc !== stored) {
    throw new PacketError('checksum', `checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${crc.toString(16)} for model ${(modelId >>> 0).toString(16).padStart(8, '0')}): a damaged or cut packet, or one made for another model (a compact packet carries no model id)`);
  }
  return parts;
}

/** Whether bytes start like a compact packet (COMPACT_TAG) rather than a full one. */
export function isCompactPacket(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === COMPACT_TAG;
}

/** CRC-16 state after the model id's four little-endian bytes. */
function keyedCrcInit(modelId: number): number {
  const id = Uint8Array.of(modelId & 255, (modelId >>> 8) & 255, (modelId >>> 16) & 255, modelId >>> 24);
  return crc16(id);
}

/** Bytes the packet adds around a payload of `payloadLength` bytes (header + checksum). */
export function overheadBytes(fields: PacketFields, payloadLength: number): number {
  return writePacket(fields, new Uint8Array(payloadLength)).length - payloadLength;
}

/** Model identity: FNV-1a 32 of the weight blob (cheap to compute on any device, no crypto needed). */
export function modelIdOf(blob: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < blob.length; i++) h = Math.imul(h ^ blob[i], 0x01000193);
  return h >>> 0;
}

function isU32(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}
