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
const CRC_BYTES = 2;

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
  if (modelId !== undefined) for (let b = 0; b < 4; b++) head.push((modelId >>> (8 * b)) & 255);
  const out = new Uint8Array(head.length + CRC_BYTES + packet.length);
  out.set(head, 0);
  const crc = crc16(out, 0, head.length);
  out[head.length] = crc & 255;
  out[head.length + 1] = crc >>> 8;
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
  let pos = 0;
  const need = (k: number, what: string): void => {
    if (pos + k > n) throw new EnvelopeError('truncated', `${n} bytes end inside the header (${what} at byte ${pos})`);
  };
  const varint = (what: string, max: number, maxBytes: number): number => {
    let v = 0;
    for (let i = 0; ; i++) {
      need(1, what);
      const b = bytes[pos++];
      v += (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) {
        if (b === 0 && i > 0) throw new EnvelopeError('bad-field', `${what}: non-minimal varint`);
        break;
      }
      if (i === maxBytes - 1) throw new EnvelopeError('bad-field', `${what}: varint longer than ${maxBytes} bytes`);
    }
    if (v > max) throw new EnvelopeError('bad-field', `${what} = ${v} exceeds ${max}`);
    return v;
  };
  for (let i = 0; i < ENVELOPE_MAGIC.length; i++) {
    if (i < n && bytes[i] !== ENVELOPE_MAGIC[i]) {
      const hint = bytes[0] === 0xd3 && bytes[1] === 0x53 ? ' (this is a bare packet: wrap it in an envelope)' : bytes[0] === 0xc1 ? ' (this looks like a bare compact packet: wrap it in an envelope)' : '';
      throw new EnvelopeError('bad-magic', `bad magic ${hex(bytes.subarray(0, 2))}, expected ${hex(ENVELOPE_MAGIC)}${hint}`);
    }
  }
  need(ENVELOPE_MAGIC.length, 'magic');
  pos = ENVELOPE_MAGIC.length;
  need(1, 'version');
  const version = bytes[pos++];
  if (version !== ENVELOPE_VERSION) throw new EnvelopeError('unsupported-version', `unsupported version ${version} (this reader knows ${ENVELOPE_VERSION})`);
  need(1, 'flags');
  const flags = bytes[pos++];
  if (flags & FLAG_RESERVED) throw new EnvelopeError('bad-field', `reserved flag bits set (flags 0x${flags.toString(16)})`);
  const seq = varint('seq', MAX_SEQ, 5);
  const captureMs = varint('capture time', MAX_CAPTURE_MS, 8);
  const deadlineMs = varint('deadline', MAX_DEADLINE_MS, 5);
  let device: string | undefined;
  if (flags & FLAG_DEVICE) {
    need(1, 'device id length');
    const len = bytes[pos++];
    if (len < 1 || len > MAX_DEVICE_ID) throw new EnvelopeError('bad-field', `device id length ${len} outside 1..${MAX_DEVICE_ID}`);
    need(len, 'device id');
    device = latin1.decode(bytes.subarray(pos, pos + len));
    pos += len;
    if (!DEVICE_ID_RE.test(device)) throw new EnvelopeError('bad-field', `device id ${JSON.stringify(device)} has characters outside A-Z a-z 0-9 _ . -`);
  }
  let modelId: number | undefined;
  if (flags & FLAG_MODEL) {
    need(4, 'model id');
    modelId = (bytes[pos] | (bytes[pos + 1] << 8) | (bytes[pos + 2] << 16) | (bytes[pos + 3] << 24)) >>> 0;
    pos += 4;
  }
  need(CRC_BYTES, 'header checksum');
  const crc = crc16(bytes, 0, pos);
  const stored = bytes[pos] | (bytes[pos + 1] << 8);
  if (crc !== stored) throw new EnvelopeError('checksum', `header checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${crc.toString(16)})`);
  pos += CRC_BYTES;
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

function putVarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

function isUint(v: number, max: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= max;
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}
