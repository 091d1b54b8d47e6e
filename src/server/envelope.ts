/**
 * The frame envelope: what a device wraps around a packet when it sends it to `slimsplit serve`.
 * Layout and rationale: docs/ENVELOPE.md (beside docs/PACKET.md).
 *
 *   const bytes = writeEnvelope({ seq: 7, captureMs: Date.now(), deadlineMs: 200, device: 'pi-7' }, packet);
 *   const { fields, packet } = readEnvelope(bytes);      // throws EnvelopeError; packet is a view
 *
 * The envelope carries what the server needs before it touches the packet: who sent it (where the
 * transport does not say), which frame it is (dedup, matching results to frames), when it was
 * captured and by when the answer is still useful, and for compact packets (which carry no model
 * id) optionally the model. A CRC-16 covers the header; the packet keeps its own CRC.
 */
import { crc16 } from '../format/checksum.js';
import { CRC16_BYTES as CRC_BYTES, HeaderReader, putCrc16, type HeaderFail, putU32le, putVarint } from '../format/header.js';

/** 0xD3 ('S' with the high bit, as in the packet's magic) then 'E'. */
export const ENVELOPE_MAGIC = Uint8Array.of(0xd3, 0x45);
export const ENVELOPE_VERSION = 1;
/** Longest device id, in bytes. */
export const MAX_DEVICE_ID = 64;
/** Device ids are safe in an MQTT topic level, a URL path segment and a Prometheus label. */
export const DEVICE_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
/** Largest capture time (ms since the Unix epoch) a varint of the envelope may hold. */
export const MAX_CAPTURE_MS = Number.MAX_SAFE_INTEGER;
export const MAX_SEQ = 0xffffffff;
export const MAX_DEADLINE_MS = 0xffffffff;

const FLAG_DEVICE = 1 << 0;
const FLAG_MODEL = 1 << 1;
const FLAG_RESERVED = 0xfc;

export interface EnvelopeFields {
  /** frame sequence number, u32, per device; (device, seq) identifies a frame */
  seq: number;
  /** capture time, ms since the Unix epoch on the device's clock; 0: the device has no clock */
  captureMs: number;
  /**
   * answer within this many ms, u32; 0: no deadline. Counted from captureMs when it is set (device
   * and server clocks in sync, e.g. NTP), else from the server's receipt of the frame.
   */
  deadlineMs: number;
  /** present when the transport does not name the device (HTTP without ?device=) */
  device?: string;
  /** u32 model id (FNV-1a 32 of the blob): for compact packets, which carry none */
  modelId?: number;
}

export interface Envelope {
  fields: EnvelopeFields & { version: number };
  /** a view into the envelope's bytes: the packet (full or compact) */
  packet: Uint8Array;
  /** header bytes, checksum included */
  headerBytes: number;
}

export type EnvelopeErrorCode = 'truncated' | 'bad-magic' | 'unsupported-version' | 'bad-field' | 'checksum' | 'empty-packet';

/** The only error readEnvelope and writeEnvelope throw. */
export class EnvelopeError extends Error {
  readonly code: EnvelopeErrorCode;
  constructor(code: EnvelopeErrorCode, message: string) {
    super(`envelope: ${message}`);
    this.name = 'EnvelopeError';
    this.code = code;
  }
}

const utf8 = new TextEncoder();
const latin1 = new TextDecoder('latin1');

const fail: HeaderFail = (code, message) => new EnvelopeError(code, message);

/** Names a bare packet sent where an envelope belongs (appended to the bad-magic message). */
function bareHint(bytes: Uint8Array): string {
  return bytes[0] === 0xd3 && bytes[1] === 0x53 ? ' (this is a bare packet: wrap it in an envelope)' : bytes[0] === 0xc1 ? ' (this looks like a bare compact packet: wrap it in an envelope)' : '';
}

export function writeEnvelope(fields: EnvelopeFields, packet: Uint8Array): Uint8Array {
  const { seq, captureMs, deadlineMs, device, modelId } = fields;
  if (!isUint(seq, MAX_SEQ)) throw new EnvelopeError('bad-field', `seq must be a u32, got ${seq}`);
  if (!isUint(captureMs, MAX_CAPTURE_MS)) throw new EnvelopeError('bad-field', `captureMs must be an integer 0..2^53-1 (ms since the epoch, 0 = no clock), got ${captureMs}`);
  if (!isUint(deadlineMs, MAX_DEADLINE_MS)) throw new EnvelopeError('bad-field', `deadlineMs must be a u32 (0 = none), got ${deadlineMs}`);
  if (device !== undefined && !DEVICE_ID_RE.test(device)) throw new EnvelopeError('bad-field', `device id '${device}' must be 1-${MAX_DEVICE_ID} characters of A-Z a-z 0-9 _ . -`);
  if (modelId !== undefined && !isUint(modelId, 0xffffffff)) throw new EnvelopeError('bad-field', `modelId must be a u32, got ${modelId}`);
  if (packet.length === 0) throw new EnvelopeError('empty-packet', 'no packet to wrap');
  const head: number[] = [ENVELOPE_MAGIC[0], ENVELOPE_MAGIC[1], ENVELOPE_VERSION, (device !== undefined ? FLAG_DEVICE : 0) | (modelId !== undefined ? FLAG_MODEL : 0)];
  putVarint(head, seq);
  putVarint(head, captureMs);
  putVarint(head, deadlineMs);
  if (device !== undefined) head.push(device.length, ...utf8.encode(device));
  if (modelId !== undefined) putU32le(head, modelId);
  const out = new Uint8Array(head.length + CRC_BYTES + packet.length);
  out.set(head, 0);
  putCrc16(out, head.length, crc16(out, 0, head.length));
  out.set(packet, head.length + CRC_BYTES);
  return out;
}

/**
 * Reads an envelope; checks, in order: magic, version, flags, varints (minimal, in range), device
 * id, header checksum, a non-empty packet. Allocates nothing whose size the input controls (the
 * device id is at most 64 bytes); the packet is a view into `bytes`.
 */
export function readEnvelope(bytes: Uint8Array): Envelope {
  const n = bytes.length;
  const r = new HeaderReader(bytes, fail);
  r.magic(ENVELOPE_MAGIC, bareHint);
  const version = r.version(ENVELOPE_VERSION);
  const flags = r.flags(FLAG_RESERVED);
  const seq = r.varint('seq', MAX_SEQ, 5);
  const captureMs = r.varint('capture time', MAX_CAPTURE_MS, 8);
  const deadlineMs = r.varint('deadline', MAX_DEADLINE_MS, 5);
  let device: string | undefined;
  if (flags & FLAG_DEVICE) {
    const len = r.u8('device id length');
    if (len < 1 || len > MAX_DEVICE_ID) throw new EnvelopeError('bad-field', `device id length ${len} outside 1..${MAX_DEVICE_ID}`);
    r.need(len, 'device id');
    device = latin1.decode(bytes.subarray(r.pos, r.pos + len));
    r.pos += len;
    if (!DEVICE_ID_RE.test(device)) throw new EnvelopeError('bad-field', `device id ${JSON.stringify(device)} has characters outside A-Z a-z 0-9 _ . -`);
  }
  const modelId = flags & FLAG_MODEL ? r.u32le('model id') : undefined;
  r.need(CRC_BYTES, 'header checksum');
  r.crc16('header checksum', 0, r.pos);
  const pos = r.pos + CRC_BYTES;
  if (pos === n) throw new EnvelopeError('empty-packet', `the ${n}-byte envelope holds a header and no packet`);
  const fields: Envelope['fields'] = { version, seq, captureMs, deadlineMs };
  if (device !== undefined) fields.device = device;
  if (modelId !== undefined) fields.modelId = modelId;
  return { fields, packet: bytes.subarray(pos), headerBytes: pos };
}

/**
 * When the answer to a frame stops being useful, in ms since the epoch on the server's clock
 * (Infinity: no deadline). `receivedMs` is the server's receipt time.
 */
export function dueAt(fields: Pick<EnvelopeFields, 'captureMs' | 'deadlineMs'>, receivedMs: number): number {
  if (fields.deadlineMs === 0) return Infinity;
  return (fields.captureMs > 0 ? fields.captureMs : receivedMs) + fields.deadlineMs;
}

/** A model id as the server names it in results, routes and metrics: 8 lowercase hex digits. */
export function modelIdHex(id: number): string {
  return (id >>> 0).toString(16).padStart(8, '0');
}

function isUint(v: number, max: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= max;
}
