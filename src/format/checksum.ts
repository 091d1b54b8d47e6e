/**
 * Checksums: CRC-32 (IEEE 802.3, the zlib one) closes a .slim blob; CRC-16 closes a packet (keyed
 * by the model id in a compact packet, see src/codec/packet.ts).
 */

const CRC32_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC32_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const CRC16_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? (c << 1) ^ 0x1021 : c << 1;
    t[i] = c & 0xffff;
  }
  return t;
})();

/**
 * CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF; check("123456789") = 0x29B1) over bytes[from, to);
 * `init` continues a CRC from an earlier call's result.
 */
export function crc16(bytes: Uint8Array, from = 0, to = bytes.length, init = 0xffff): number {
  let c = init;
  for (let i = from; i < to; i++) c = ((c << 8) & 0xffff) ^ CRC16_TABLE[(c >>> 8) ^ bytes[i]];
  return c;
}
