// Packet framing inside WASM, byte for byte the TypeScript writer's (src/packet.ts, docs/PACKET.md):
// full: D3 53, version 1, flags (quant kind 0 'implied' | 4 when H == W | mode bytes << 3), model id
// (u32 LE), mode [members, bits], varint C, varint H, [varint W], varint payload length, payload,
// CRC-16/CCITT-FALSE of everything before it (LE). compact: C1, mode byte, payload, CRC-16 started
// from the CRC of the model id's four LE bytes.
// CRC-32 (IEEE, reflected, as src/blob.ts crc32) checks device blobs at init.

/** Largest full header: 8 fixed bytes, 2 mode bytes, 3 varints of C/H/W (<= 3 bytes each), a 5-byte length. */
export const HEADER_MAX: i32 = 24;
export const COMPACT_TAG: u8 = 0xc1;

let crc16Table: usize = 0;
let crc32Table: usize = 0;

/** Builds both CRC tables at `at` (1536 bytes: u16 [256], then u32 [256]). */
export function crcTables(at: usize): void {
  crc16Table = at;
  crc32Table = at + 512;
  for (let i: u32 = 0; i < 256; i++) {
    let c: u32 = i << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? (c << 1) ^ 0x1021 : c << 1;
    store<u16>(crc16Table + (<usize>i << 1), <u16>c);
    let d: u32 = i;
    for (let k = 0; k < 8; k++) d = d & 1 ? 0xedb88320 ^ (d >>> 1) : d >>> 1;
    store<u32>(crc32Table + (<usize>i << 2), d);
  }
}

export function crc16(p: usize, n: usize, init: u32): u32 {
  let c = init;
  for (let i: usize = 0; i < n; i++) c = ((c << 8) & 0xffff) ^ <u32>load<u16>(crc16Table + (<usize>((c >>> 8) ^ <u32>load<u8>(p + i)) << 1));
  return c;
}

export function crc32(p: usize, n: usize): u32 {
  let c: u32 = 0xffffffff;
  for (let i: usize = 0; i < n; i++) c = load<u32>(crc32Table + (<usize>((c ^ <u32>load<u8>(p + i)) & 0xff) << 2)) ^ (c >>> 8);
  return c ^ 0xffffffff;
}

@inline function varintBytes(v: u32): i32 {
  let n = 1;
  while (v >= 0x80) {
    v >>>= 7;
    n++;
  }
  return n;
}

function putVarint(p: usize, v: u32): usize {
  while (v >= 0x80) {
    store<u8>(p, <u8>((v & 0x7f) | 0x80));
    p++;
    v >>>= 7;
  }
  store<u8>(p, <u8>v);
  return p + 1;
}

/**
 * Frames the payload at `payload` (len bytes, with HEADER_MAX free bytes before it and 2 after) as a
 * full packet; returns where the packet starts. Its length is header + len + 2.
 */
export function frameFull(payload: usize, len: u32, modelId: u32, members: u32, bits: u32, C: u32, H: u32, W: u32): usize {
  const square = H == W;
  const head = 10 + varintBytes(C) + varintBytes(H) + (square ? 0 : varintBytes(W)) + varintBytes(len);
  const start = payload - <usize>head;
  store<u8>(start, 0xd3);
  store<u8>(start, 0x53, 1);
  store<u8>(start, 1, 2);
  store<u8>(start, <u8>((square ? 4 : 0) | (2 << 3)), 3);
  store<u32>(start + 4, modelId);
  store<u8>(start, <u8>members, 8);
  store<u8>(start, <u8>bits, 9);
  let q = putVarint(start + 10, C);
  q = putVarint(q, H);
  if (!square) q = putVarint(q, W);
  putVarint(q, len);
  const crc = crc16(start, <usize>head + len, 0xffff);
  store<u8>(payload + len, <u8>crc);
  store<u8>(payload + len + 1, <u8>(crc >>> 8));
  return start;
}

/** Frames a compact packet around the payload (2 free bytes before it and 2 after); returns its start. */
export function frameCompact(payload: usize, len: u32, modelId: u32, modeByte: u32, idScratch: usize): usize {
  const start = payload - 2;
  store<u8>(start, COMPACT_TAG);
  store<u8>(start, <u8>modeByte, 1);
  store<u32>(idScratch, modelId);
  const crc = crc16(start, <usize>len + 2, crc16(idScratch, 4, 0xffff));
  store<u8>(payload + len, <u8>crc);
  store<u8>(payload + len + 1, <u8>(crc >>> 8));
  return start;
}
