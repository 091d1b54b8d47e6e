/**
 * Header fields shared by the two wire formats, the packet (src/codec/packet.ts, docs/PACKET.md)
 * and the frame envelope (src/server/envelope.ts, docs/ENVELOPE.md): magic, version byte, flags
 * byte, minimal LEB128 varints, u32 little-endian, and a little-endian CRC-16. Each format keeps
 * its own layout, error class and prefix; this module owns the field rules and their messages, so
 * both formats refuse the same damage in the same words.
 *
 *   const head: number[] = [...MAGIC, VERSION, flags];
 *   putVarint(head, seq);
 *   putU32le(head, modelId);
 *
 *   const r = new HeaderReader(bytes, (code, message) => new PacketError(code, message));
 *   r.magic(MAGIC);
 *   r.version(VERSION);
 *   const flags = r.flags(FLAG_RESERVED);
 *   const seq = r.varint('seq', 0xffffffff);
 *   r.crc16('header checksum', 0, r.pos);
 */
import { crc16 } from './checksum.js';

/** The failures a header field can have; each format maps them onto its own error class. */
export type HeaderErrorCode = 'truncated' | 'bad-magic' | 'unsupported-version' | 'bad-field' | 'checksum';

/** Builds the format's own error (its class, its prefix) for a header failure. */
export type HeaderFail = (code: HeaderErrorCode, message: string) => Error;

export const CRC16_BYTES = 2;

/** Appends v (0..2^53-1) as an unsigned LEB128 varint, low group first. */
export function putVarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

/** Appends a u32 as four little-endian bytes. */
export function putU32le(out: number[], v: number): void {
  for (let b = 0; b < 4; b++) out.push((v >>> (8 * b)) & 255);
}

/** Stores a CRC-16 little-endian at out[at], out[at + 1]. */
export function putCrc16(out: Uint8Array, at: number, crc: number): void {
  out[at] = crc & 255;
  out[at + 1] = crc >>> 8;
}

/** The little-endian CRC-16 stored at bytes[at], bytes[at + 1]. */
export function storedCrc16(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8);
}

/** Space-separated hex bytes, as error messages show magic values. */
export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/**
 * One walk over a header, front to back. Every read checks that the bytes go on ('truncated',
 * naming the field and its offset) before it looks at them, and allocates nothing whose size the
 * input controls.
 */
export class HeaderReader {
  /** The next byte to read. */
  pos = 0;
  readonly bytes: Uint8Array;
  private readonly fail: HeaderFail;

  constructor(bytes: Uint8Array, fail: HeaderFail) {
    this.bytes = bytes;
    this.fail = fail;
  }

  /** Throws 'truncated' unless k more bytes follow pos. */
  need(k: number, what: string): void {
    const n = this.bytes.length;
    if (this.pos + k > n) throw this.fail('truncated', `${n} bytes end inside the header (${what} at byte ${this.pos})`);
  }

  /**
   * Checks the magic at byte 0: a wrong byte among those present is 'bad-magic' (with `hint`
   * (bytes) appended), too few bytes 'truncated'. Leaves pos after the magic.
   */
  magic(magic: Uint8Array, hint: (bytes: Uint8Array) => string = () => ''): void {
    const { bytes } = this;
    for (let i = 0; i < magic.length; i++) {
      if (i < bytes.length && bytes[i] !== magic[i]) throw this.fail('bad-magic', `bad magic ${hex(bytes.subarray(0, magic.length))}, expected ${hex(magic)}${hint(bytes)}`);
    }
    this.need(magic.length, 'magic');
    this.pos = magic.length;
  }

  /** The version byte; any other than `known` is 'unsupported-version'. */
  version(known: number): number {
    this.need(1, 'version');
    const version = this.bytes[this.pos++];
    if (version !== known) throw this.fail('unsupported-version', `unsupported version ${version} (this reader knows ${known})`);
    return version;
  }

  /** The flags byte; any bit of `reserved` set is 'bad-field'. */
  flags(reserved: number): number {
    this.need(1, 'flags');
    const flags = this.bytes[this.pos++];
    if (flags & reserved) throw this.fail('bad-field', `reserved flag bits set (flags 0x${flags.toString(16)})`);
    return flags;
  }

  /** One byte. */
  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.pos++];
  }

  /** A u32, little-endian. */
  u32le(what: string): number {
    this.need(4, what);
    const { bytes, pos } = this;
    this.pos += 4;
    return (bytes[pos] | (bytes[pos + 1] << 8) | (bytes[pos + 2] << 16) | (bytes[pos + 3] << 24)) >>> 0;
  }

  /**
   * An unsigned LEB128 varint of at most maxBytes bytes and value at most max; a non-minimal
   * encoding (a trailing 0x00 group) is 'bad-field', so each value has one spelling.
   */
  varint(what: string, max: number, maxBytes = 5): number {
    const { bytes } = this;
    let v = 0;
    for (let i = 0; ; i++) {
      this.need(1, what);
      const b = bytes[this.pos++];
      v += (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) {
        if (b === 0 && i > 0) throw this.fail('bad-field', `${what}: non-minimal varint`);
        break;
      }
      if (i === maxBytes - 1) throw this.fail('bad-field', `${what}: varint longer than ${maxBytes} bytes`);
    }
    if (v > max) throw this.fail('bad-field', `${what} = ${v} exceeds ${max}`);
    return v;
  }

  /**
   * Compares the CRC-16 of bytes[from, to) with the one stored at `to` ('checksum' naming `what`
   * on a mismatch). The caller has made sure the two CRC bytes are present; pos does not move.
   */
  crc16(what: string, from: number, to: number): void {
    const crc = crc16(this.bytes, from, to);
    const stored = storedCrc16(this.bytes, to);
    if (crc !== stored) throw this.fail('checksum', `${what} mismatch (stored 0x${stored.toString(16)}, computed 0x${crc.toString(16)})`);
  }
}
