// The device path in one module: a device blob (src/device/blob.ts, docs/DEVICE.md) in, packets
// out. A host (Node, wasm3, WAMR, anything that runs WASM) only moves bytes:
//   p = device_blob_alloc(len); write the blob at p; device_init(p, len)
//   device_set_mode(m)                                   mode index, as the plan numbers them
//   px = device_pixels(w, h, format); write pixels at px; n = device_encode(packetKind)
//   the packet is n bytes at device_packet()
// Every export returns a status (< 0, the E_ codes below, listed in docs/DEVICE.md) or a result.
// The module grows its own memory; nothing here imports anything.

import { alloc, memTop, release } from './device_mem';
import { crcTables, crc32, frameFull, frameCompact, HEADER_MAX } from './device_packet';
import { buildLut, normalizeSame, resize, resizeScratch, formatBytes, FMT_INPUT } from './device_image';
import { plan_bind, plan_check, plan_set_mode, plan_run, plan_input, plan_output } from './plan';
import { PLAN_MAGIC, PLAN_VERSION, PH_MAGIC, PH_VERSION, PH_WORDS, PH_BOUND, PH_NREC, PH_REC, PH_NMODES, PH_MODES, PH_CUR, PH_ARENA_BYTES, PH_IN_OFF, PH_IN_BYTES, PH_IN_DTYPE, PH_OUT_OFF, PH_OUT_BYTES, PH_OUT_DTYPE, PH_PATCHES, PH_NPATCH } from './plan_header';
import { rans_encode, rans_encode_ctx, TAB_WORDS } from './rans';

// Status codes (docs/DEVICE.md).
export const OK: i32 = 0;
export const E_STATE: i32 = -1; // wrong call order (init twice, encode before init, pixels not set)
export const E_NOMEM: i32 = -2; // memory.grow refused
export const E_BLOB_SIZE: i32 = -10; // length below the header or not the header's file size
export const E_BLOB_MAGIC: i32 = -11;
export const E_BLOB_VERSION: i32 = -12;
export const E_BLOB_CRC: i32 = -13;
export const E_BLOB_LAYOUT: i32 = -14; // a section missing, repeated, misaligned or out of the file
export const E_BLOB_PLAN: i32 = -15; // plan words inconsistent or pointing outside data/arena
export const E_BLOB_CODER: i32 = -16; // a coder table or table set is invalid
export const E_BLOB_MODES: i32 = -17; // the mode table disagrees with the plan or the coder
export const E_BLOB_KERNEL: i32 = -18; // the plan needs a kernel this build lacks
export const E_BLOB_WEIGHTS: i32 = -19; // a stored int8 tensor is invalid
export const E_MODE: i32 = -20; // no such mode index
export const E_MODE_BITS: i32 = -21; // the mode's bit depth has no coder tables in this device blob
export const E_MODE_ARENA: i32 = -22; // the device blob's arena is laid out for other members counts
export const E_PIXEL_FORMAT: i32 = -30;
export const E_PIXEL_SIZE: i32 = -31; // width or height < 1, or over MAX_PIXELS
export const E_PACKET_KIND: i32 = -32;
export const E_CODER: i32 = -40; // the coder's output did not fit (cannot happen for valid tables) or failed
export const E_RUN: i32 = -50; // plan_run failed

const MAGIC: u32 = 0x56454453; // "SDEV"
const VERSION: u32 = 1;
const HEADER_BYTES: u32 = 64;
const SEC_PLAN: u32 = 1;
const SEC_MODES: u32 = 2;
const SEC_CODER: u32 = 3;
const SEC_Q8: u32 = 4;
const SEC_DATA: u32 = 5;
const SEC_NAME: u32 = 6;
const MAX_SECTIONS: u32 = 8;
const MODE_WORDS: usize = 8;
const SET_WORDS: usize = 8;
const NOT_KEPT: u32 = 0xffffffff;
const MAX_PIXELS: i32 = 4096 * 4096;
const M: u32 = 1 << 16;


// State.
let g_fixed: usize = 0; // crc tables (1536), lut (3072), params scratch (128)
let g_blob: usize = 0;
let g_blobCap: usize = 0;
let g_ready: bool = false;
let g_plan: usize = 0;
let g_modes: usize = 0; // mode section
let g_coder: usize = 0; // coder section
let g_nmodes: u32 = 0;
let g_mode: i32 = -1;
let g_set: i32 = -1; // coder set built in the table area
let g_tables: usize = 0; // directory then sym words of the current set
let g_tidx: usize = 0; // i32 [channels]: first table of each channel
let g_pkt: usize = 0; // packet buffer: HEADER_MAX, capacity, 2
let g_cap: u32 = 0;
let g_packet: usize = 0; // start of the last packet
let g_frameBase: usize = 0; // frame area start (everything above is per-frame)
let g_px: usize = 0;
let g_pxW: i32 = 0;
let g_pxH: i32 = 0;
let g_pxFmt: i32 = -1;
let g_scratch: usize = 0;
let g_mean: usize = 0;
let g_std: usize = 0;
let g_detail: i32 = 0;
let g_modelId: u32 = 0;
let g_inC: i32 = 0;
let g_inH: i32 = 0;
let g_inW: i32 = 0;

@inline function w(p: usize, i: u32): u32 {
  return load<u32>(p + (<usize>i << 2));
}
@inline function lut(): usize {
  return g_fixed + 1536;
}
@inline function params(): usize {
  return g_fixed + 1536 + 3072;
}

function fail(code: i32, detail: i32): i32 {
  g_detail = detail;
  return code;
}

/**
 * Reserves `len` bytes for the device blob and returns their address (64-byte aligned), or a status.
 * Call once, before device_init.
 */
export function device_blob_alloc(len: u32): i32 {
  if (g_blob != 0) return E_STATE;
  if (len < HEADER_BYTES || len > 0x40000000) return fail(E_BLOB_SIZE, <i32>len);
  if (g_fixed == 0) {
    g_fixed = alloc(1536 + 3072 + 128, 64);
    if (g_fixed == 0) return E_NOMEM;
    crcTables(g_fixed);
  }
  const p = alloc(len, 64);
  if (p == 0) return E_NOMEM;
  g_blob = p;
  g_blobCap = len;
  return <i32>p;
}

/** Validates the blob written at `ptr` (as returned by device_blob_alloc) and lays out the device. */
export function device_init(ptr: u32, len: u32): i32 {
  if (g_ready || g_blob == 0 || <usize>ptr != g_blob || len != <u32>g_blobCap) return E_STATE;
  const b = g_blob;
  if (w(b, 0) != MAGIC) return E_BLOB_MAGIC;
  if (w(b, 1) != VERSION) return fail(E_BLOB_VERSION, <i32>w(b, 1));
  if (w(b, 2) != len) return fail(E_BLOB_SIZE, <i32>w(b, 2));
  if (crc32(b + 16, <usize>(len - 16)) != w(b, 3)) return E_BLOB_CRC;
  // sections
  const nsec = w(b, 14);
  if (nsec < 5 || nsec > MAX_SECTIONS || HEADER_BYTES + nsec * 16 > len) return fail(E_BLOB_LAYOUT, 0);
  let planOff: u32 = 0, planBytes: u32 = 0, modesOff: u32 = 0, modesBytes: u32 = 0, coderOff: u32 = 0, coderBytes: u32 = 0;
  let q8Off: u32 = 0, q8Bytes: u32 = 0, dataOff: u32 = 0, dataBytes: u32 = 0;
  let seen: u32 = 0;
  for (let s: u32 = 0; s < nsec; s++) {
    const e = b + HEADER_BYTES + (<usize>s << 4);
    const kind = w(e, 0), off = w(e, 1), bytes = w(e, 2);
    if (kind < SEC_PLAN || kind > SEC_NAME || (seen & (1 << kind)) != 0) return fail(E_BLOB_LAYOUT, <i32>kind);
    seen |= 1 << kind;
    if ((off & 15) != 0 || off < HEADER_BYTES + nsec * 16 || <u64>off + <u64>bytes > <u64>len) return fail(E_BLOB_LAYOUT, <i32>kind);
    if (kind == SEC_PLAN) { planOff = off; planBytes = bytes; }
    else if (kind == SEC_MODES) { modesOff = off; modesBytes = bytes; }
    else if (kind == SEC_CODER) { coderOff = off; coderBytes = bytes; }
    else if (kind == SEC_Q8) { q8Off = off; q8Bytes = bytes; }
    else if (kind == SEC_DATA) { dataOff = off; dataBytes = bytes; }
  }
  if ((seen & 0x3e) != 0x3e) return fail(E_BLOB_LAYOUT, <i32>seen);
  // the data section ends the file and starts 64-byte aligned, so the q8 expansions can follow it
  if ((dataOff & 63) != 0 || dataOff + dataBytes != len || (dataBytes & 15) != 0) return fail(E_BLOB_LAYOUT, SEC_DATA);
  g_inC = <i32>w(b, 5);
  g_inH = <i32>w(b, 6);
  g_inW = <i32>w(b, 7);
  if (g_inC != 3 || g_inH < 1 || g_inW < 1 || g_inH > 4096 || g_inW > 4096) return fail(E_BLOB_LAYOUT, 5);
  g_mean = b + 32;
  g_std = b + 44;
  g_modelId = w(b, 4);
  const data = b + dataOff;

  // q8 tensors
  if (q8Bytes < 8) return fail(E_BLOB_LAYOUT, SEC_Q8);
  const q8 = b + q8Off;
  const nq = w(q8, 0), expandBytes = w(q8, 1);
  if (<u64>8 + <u64>nq * 16 > <u64>q8Bytes || (expandBytes & 15) != 0 || expandBytes > 0x40000000) return fail(E_BLOB_LAYOUT, SEC_Q8);
  for (let t: u32 = 0; t < nq; t++) {
    const e = q8 + 8 + (<usize>t << 4);
    const so = w(e, 0), eo = w(e, 1), rows = w(e, 2), n = w(e, 3);
    if (rows == 0 || n == 0 || n % rows != 0 || n > 0x10000000) return fail(E_BLOB_WEIGHTS, <i32>t);
    if (<u64>so + 4 * <u64>rows + <u64>n > <u64>dataBytes || (so & 3) != 0) return fail(E_BLOB_WEIGHTS, <i32>t);
    if ((eo & 15) != 0 || eo < dataBytes || <u64>eo + 4 * <u64>n > <u64>dataBytes + <u64>expandBytes) return fail(E_BLOB_WEIGHTS, <i32>t);
    for (let r: u32 = 0; r < rows; r++) {
      const bits = load<u32>(data + so + (<usize>r << 2));
      // a finite scale >= +0 whose 127-fold is finite (src/blob.ts checkQ8)
      if ((bits >>> 31) != 0 || !isFinite<f32>(<f32>127.0 * reinterpret<f32>(bits))) return fail(E_BLOB_WEIGHTS, <i32>t);
    }
    const codes = data + so + 4 * <usize>rows;
    for (let i: u32 = 0; i < n; i++) if (load<i8>(codes + i) == -128) return fail(E_BLOB_WEIGHTS, <i32>t);
  }

  // plan
  const plan = b + planOff;
  const words = planBytes >> 2;
  if ((planBytes & 3) != 0 || words < 32 || w(plan, PH_MAGIC) != PLAN_MAGIC || w(plan, PH_VERSION) != PLAN_VERSION || w(plan, PH_WORDS) != words) return fail(E_BLOB_PLAN, 0);
  if (w(plan, PH_BOUND) != 0 || w(plan, PH_REC) != 32 || w(plan, PH_IN_DTYPE) != 0 || w(plan, PH_OUT_DTYPE) != 1) return fail(E_BLOB_PLAN, 1);
  const arenaBytes = w(plan, PH_ARENA_BYTES);
  if (arenaBytes > 0x40000000) return fail(E_BLOB_PLAN, 2);
  if ((w(plan, PH_IN_OFF) & 15) != 0 || <u64>w(plan, PH_IN_OFF) + <u64>w(plan, PH_IN_BYTES) > <u64>arenaBytes) return fail(E_BLOB_PLAN, 3);
  if ((w(plan, PH_OUT_OFF) & 15) != 0 || <u64>w(plan, PH_OUT_OFF) + <u64>w(plan, PH_OUT_BYTES) > <u64>arenaBytes) return fail(E_BLOB_PLAN, 4);
  if (w(plan, PH_IN_BYTES) != <u32>(4 * g_inC * g_inH * g_inW)) return fail(E_BLOB_PLAN, 5);
  const blobSpan = <u64>dataBytes + <u64>expandBytes;
  let at: u32 = 32;
  for (let r: u32 = 0; r < w(plan, PH_NREC); r++) {
    if (at + 4 > words) return fail(E_BLOB_PLAN, 10);
    const op = w(plan, at), nw = w(plan, at + 1), bm = w(plan, at + 2), am = w(plan, at + 3);
    if (nw > 32 || at + 4 + nw > words || (bm & am) != 0 || (nw < 32 && ((bm | am) >>> nw) != 0)) return fail(E_BLOB_PLAN, 11);
    for (let j: u32 = 0; j < nw; j++) {
      const v = <u64>w(plan, at + 4 + j);
      if (((bm >>> j) & 1) != 0 && v >= blobSpan) return fail(E_BLOB_PLAN, 12);
      if (((am >>> j) & 1) != 0 && v >= <u64>arenaBytes) return fail(E_BLOB_PLAN, 13);
    }
    if (op == 0) return fail(E_BLOB_PLAN, 14);
    at += 4 + nw;
  }
  const nmodes = w(plan, PH_NMODES);
  if (w(plan, PH_MODES) != at || nmodes == 0 || nmodes > 1024) return fail(E_BLOB_PLAN, 15);
  const patches = at + nmodes * 4;
  const npatch = w(plan, PH_NPATCH);
  if (w(plan, PH_PATCHES) != patches || <u64>patches + 3 * <u64>npatch != <u64>words) return fail(E_BLOB_PLAN, 16);
  let next: u32 = 0;
  for (let m: u32 = 0; m < nmodes; m++) {
    const start = w(plan, at + 4 * m), count = w(plan, at + 4 * m + 1);
    if (start != next || <u64>start + <u64>count > <u64>npatch) return fail(E_BLOB_PLAN, 17);
    next = start + count;
  }
  if (next != npatch || w(plan, PH_CUR) != nmodes - 1) return fail(E_BLOB_PLAN, 19);
  for (let k: u32 = 0; k < npatch; k++) {
    const q = patches + 3 * k;
    const idx = w(plan, q) & 0x3fffffff, kind = w(plan, q) >>> 30;
    // a patch targets a record's param word, below the mode table
    if (idx < 36 || idx >= at || kind == 3) return fail(E_BLOB_PLAN, 20);
    for (let j: u32 = 1; j <= 2; j++) {
      const v = <u64>w(plan, q + j);
      if ((kind == 1 && v >= blobSpan) || (kind == 2 && v >= <u64>arenaBytes)) return fail(E_BLOB_PLAN, 21);
    }
  }
  const missing = plan_check(plan);
  if (missing != 0) return fail(E_BLOB_KERNEL, missing);

  // modes and coder sets
  const modes = b + modesOff;
  const coder = b + coderOff;
  if (modesBytes < 32 || coderBytes < 16) return fail(E_BLOB_LAYOUT, SEC_MODES);
  if (w(modes, 0) != nmodes || <u64>32 + <u64>nmodes * MODE_WORDS * 4 > <u64>modesBytes) return fail(E_BLOB_MODES, -1);
  const splitH = w(modes, 1), splitW = w(modes, 2), G = w(modes, 3), maxOut = w(modes, 4);
  if (splitH == 0 || splitW == 0 || splitH > 65535 || splitW > 65535 || G == 0 || maxOut > w(plan, PH_OUT_BYTES) || maxOut > 0x1000000) return fail(E_BLOB_MODES, -2);
  const nsets = w(coder, 0);
  if (nsets > 64 || <u64>16 + <u64>nsets * SET_WORDS * 4 > <u64>coderBytes) return fail(E_BLOB_CODER, -1);
  let maxTables: u64 = 0;
  for (let s: u32 = 0; s < nsets; s++) {
    const e = coder + 16 + (<usize>s * SET_WORDS << 2);
    const nt = w(e, 1), nsym = w(e, 2), K = w(e, 3), shift = w(e, 4), nb = w(e, 5), W = w(e, 6), off = w(e, 7);
    if (nt == 0 || nsym < 2 || nsym > M || K > 16 || shift > 7 || nb > 1 || (off & 1) != 0) return fail(E_BLOB_CODER, <i32>s);
    if (K > 0 && (W == 0 || G % W != 0)) return fail(E_BLOB_CODER, <i32>s);
    if (<u64>off + <u64>nt * <u64>nsym * 2 > <u64>coderBytes) return fail(E_BLOB_CODER, <i32>s);
    const f = coder + off;
    for (let t: u32 = 0; t < nt; t++) {
      let sum: u32 = 0;
      for (let k: u32 = 0; k < nsym; k++) sum += <u32>load<u16>(f + ((<usize>t * nsym + k) << 1)) + 1;
      if (sum != M) return fail(E_BLOB_CODER, <i32>s);
    }
    const need = <u64>nt * (<u64>TAB_WORDS * 4 + 4 * <u64>nsym);
    if (need > maxTables) maxTables = need;
  }
  let maxC: u32 = 0;
  for (let m: u32 = 0; m < nmodes; m++) {
    const e = modes + 32 + (<usize>m * MODE_WORDS << 2);
    const bits = w(e, 1), n = w(e, 3), C = w(e, 4), set = w(e, 5);
    if (w(e, 0) > 255 || bits > 255 || w(e, 2) > 255 || n != w(plan, at + 4 * m + 3) || C == 0 || C > 65535 || <u64>C * <u64>G != <u64>n || w(e, 6) > 1) return fail(E_BLOB_MODES, <i32>m);
    // a runnable mode fits the plan's input, output and the packet buffer; the others never run
    if (w(e, 6) == 1 && (<u64>w(plan, at + 4 * m + 2) * 4 > <u64>w(plan, PH_IN_BYTES) || n > w(plan, PH_OUT_BYTES) || n > maxOut)) return fail(E_BLOB_PLAN, 18);
    if (set != NOT_KEPT && w(e, 6) == 1) {
      if (set >= nsets) return fail(E_BLOB_MODES, <i32>m);
      const se = coder + 16 + (<usize>set * SET_WORDS << 2);
      if (w(se, 0) != bits) return fail(E_BLOB_MODES, <i32>m);
      const K = w(se, 3);
      const per: u64 = K == 0 ? 1 : w(se, 5) == 0 ? <u64>K * K * K : <u64>K * K * K * K;
      if (<u64>C * per > <u64>w(se, 1)) return fail(E_BLOB_MODES, <i32>m);
      if (C > maxC) maxC = C;
    }
  }
  if (maxC == 0) return fail(E_BLOB_MODES, -3);

  // memory: q8 expansions right after the blob, then the arena, coder tables, packet buffer
  const exp = alloc(<usize>expandBytes, 16);
  if (exp != data + <usize>dataBytes && expandBytes > 0) return E_NOMEM;
  const arena = alloc(<usize>(arenaBytes > 16 ? arenaBytes : <u32>16), 64);
  g_tables = alloc(<usize>maxTables, 16);
  g_tidx = alloc(<usize>maxC << 2, 16);
  g_cap = 2 * maxOut + 64;
  g_pkt = alloc(<usize>(HEADER_MAX + <i32>g_cap + 2), 16);
  if (arena == 0 || g_tables == 0 || g_tidx == 0 || g_pkt == 0) return E_NOMEM;
  g_frameBase = memTop();
  for (let t: u32 = 0; t < nq; t++) {
    const e = q8 + 8 + (<usize>t << 4);
    const so = data + w(e, 0), eo = data + w(e, 1), rows = w(e, 2), n = w(e, 3);
    const cols = n / rows, codes = so + 4 * <usize>rows;
    for (let r: u32 = 0; r < rows; r++) {
      const s = load<f32>(so + (<usize>r << 2));
      for (let i = r * cols; i < (r + 1) * cols; i++) store<f32>(eo + (<usize>i << 2), <f32>load<i8>(codes + i) * s);
    }
  }
  if (plan_bind(plan, data, arena) != 0) return fail(E_BLOB_PLAN, 30);
  buildLut(lut(), g_mean, g_std);
  g_plan = plan;
  g_modes = modes;
  g_coder = coder;
  g_nmodes = nmodes;
  g_ready = true;
  // start in the largest mode whose bit depth is kept
  for (let m = <i32>nmodes - 1; m >= 0; m--) {
    const e = modes + 32 + (<usize>m * MODE_WORDS << 2);
    if (w(e, 5) != NOT_KEPT && w(e, 6) == 1) return device_set_mode(m);
  }
  return E_BLOB_MODES;
}

@inline function modeEntry(m: i32): usize {
  return g_modes + 32 + (<usize>m * MODE_WORDS << 2);
}

/** Switches to mode index m (the plan's numbering: docs/DEVICE.md). */
export function device_set_mode(m: i32): i32 {
  if (!g_ready) return E_STATE;
  if (m < 0 || <u32>m >= g_nmodes) return fail(E_MODE, m);
  const e = modeEntry(m);
  const set = w(e, 5);
  if (w(e, 6) != 1) return fail(E_MODE_ARENA, <i32>w(e, 0));
  if (set == NOT_KEPT) return fail(E_MODE_BITS, <i32>w(e, 1));
  if (plan_set_mode(g_plan, <u32>m) != 0) return E_MODE;
  const se = g_coder + 16 + (<usize>set * SET_WORDS << 2);
  if (<i32>set != g_set) {
    // directory [nsym, offset 0, cdf 0, sym, 0, 0, 0, 0] and per-symbol start | (freq - 1) << 16
    // (the encoder reads only these: assembly/rans.ts)
    const nt = w(se, 1), nsym = w(se, 2);
    const f = g_coder + w(se, 7);
    let sym = g_tables + (<usize>nt * TAB_WORDS << 2);
    for (let t: u32 = 0; t < nt; t++) {
      const d = g_tables + (<usize>t * TAB_WORDS << 2);
      store<u32>(d, nsym);
      store<u32>(d, 0, 4);
      store<u32>(d, 0, 8);
      store<u32>(d, <u32>sym, 12);
      store<u32>(d, 0, 16);
      store<u32>(d, 0, 20);
      store<u32>(d, 0, 24);
      store<u32>(d, 0, 28);
      let start: u32 = 0;
      for (let k: u32 = 0; k < nsym; k++) {
        const fm1 = <u32>load<u16>(f + ((<usize>t * nsym + k) << 1));
        store<u32>(sym + (<usize>k << 2), start | (fm1 << 16));
        start += fm1 + 1;
      }
      sym += <usize>nsym << 2;
    }
    g_set = <i32>set;
  }
  const K = w(se, 3);
  const per: u32 = K == 0 ? 1 : w(se, 5) == 0 ? K * K * K : K * K * K * K;
  const C = w(e, 4);
  for (let c: u32 = 0; c < C; c++) store<u32>(g_tidx + (<usize>c << 2), c * per);
  g_mode = m;
  return OK;
}

export function device_mode(): i32 {
  return g_ready ? g_mode : E_STATE;
}
export function device_modes(): i32 {
  return g_ready ? <i32>g_nmodes : E_STATE;
}

/** Field k of mode m: 0 members, 1 bits, 2 compact mode byte, 3 codes, 4 channels sent, 5 runnable here (1/0). */
export function device_mode_info(m: i32, k: i32): i32 {
  if (!g_ready) return E_STATE;
  if (m < 0 || <u32>m >= g_nmodes) return E_MODE;
  const e = modeEntry(m);
  if (k == 5) return w(e, 5) != NOT_KEPT && w(e, 6) == 1 ? 1 : 0;
  if (k < 0 || k > 4) return E_MODE;
  return <i32>w(e, <u32>(k == 3 ? 3 : k == 4 ? 4 : k));
}

/** Model id (u32, as the server's packets carry it). */
export function device_model_id(): u32 {
  return g_modelId;
}

/** More about the last error: the section, table set, record or mode it concerns. */
export function device_error_detail(): i32 {
  return g_detail;
}

/**
 * Makes room for a width x height frame of `format` (0 RGB, 1 RGBA, 2 gray; row-major, 8 bits per
 * value) and returns where to write it, or a status. The area stays valid until the next call.
 */
export function device_pixels(width: i32, height: i32, format: i32): i32 {
  if (!g_ready) return E_STATE;
  if (format == FMT_INPUT) {
    if (width != g_inW || height != g_inH) return E_PIXEL_SIZE;
    release(g_frameBase);
    g_px = plan_input(g_plan);
    g_pxW = width;
    g_pxH = height;
    g_pxFmt = format;
    g_scratch = 0;
    return <i32>g_px;
  }
  const k = formatBytes(format);
  if (k == 0) return fail(E_PIXEL_FORMAT, format);
  if (width < 1 || height < 1 || width > MAX_PIXELS || height > MAX_PIXELS || <i64>width * <i64>height > <i64>MAX_PIXELS) return E_PIXEL_SIZE;
  release(g_frameBase);
  g_pxFmt = -1;
  const px = alloc(<usize>width * <usize>height * <usize>k, 16);
  if (px == 0) return E_NOMEM;
  let scratch: usize = 0;
  if (width != g_inW || height != g_inH) {
    scratch = alloc(resizeScratch(width, height, g_inW, g_inH), 64);
    if (scratch == 0) return E_NOMEM;
  }
  g_px = px;
  g_pxW = width;
  g_pxH = height;
  g_pxFmt = format;
  g_scratch = scratch;
  return <i32>px;
}

/** Pixels of the current frame -> the encoder's codes (u8, device_mode_info(m, 3) of them) at device_codes(). */
export function device_run(): i32 {
  if (!g_ready || g_pxFmt < 0) return E_STATE;
  const inp = plan_input(g_plan);
  const k = formatBytes(g_pxFmt);
  if (g_pxFmt == FMT_INPUT) {
    // the host wrote the normalized input in place
  } else if (g_pxW == g_inW && g_pxH == g_inH) normalizeSame(g_px, k, lut(), inp, g_inW * g_inH);
  else resize(g_px, g_pxW, g_pxH, k, inp, g_inW, g_inH, g_mean, g_std, g_scratch);
  const rc = plan_run(g_plan);
  return rc == 0 ? OK : fail(E_RUN, rc);
}

export function device_codes(): i32 {
  return g_ready ? <i32>plan_output(g_plan) : E_STATE;
}

/**
 * Encodes the current frame in the current mode: kind 0 a full packet, 1 a compact one. Returns the
 * packet's length (its bytes at device_packet()) or a status.
 */
export function device_encode(kind: i32): i32 {
  if (kind != 0 && kind != 1) return fail(E_PACKET_KIND, kind);
  const rc = device_run();
  if (rc != OK) return rc;
  const e = modeEntry(g_mode);
  const se = g_coder + 16 + (<usize>w(e, 5) * SET_WORDS << 2);
  const n = w(e, 3), G = w(g_modes, 3);
  const payload = g_pkt + <usize>HEADER_MAX;
  const p = params();
  const K = w(se, 3);
  store<u32>(p, <u32>plan_output(g_plan));
  store<u32>(p, n, 4);
  if (K == 0) {
    store<u32>(p, 0, 8);
    store<u32>(p, G, 12);
  } else {
    store<u32>(p, w(se, 6), 8);
    store<u32>(p, G, 12);
  }
  store<u32>(p, <u32>g_tidx, 16);
  store<u32>(p, <u32>g_tables, 20);
  store<u32>(p, w(se, 1), 24);
  store<u32>(p, <u32>payload, 28);
  store<u32>(p, g_cap, 32);
  store<i32>(p, 0, 36);
  if (K == 0) rans_encode(p);
  else {
    store<u32>(p, K, 40);
    store<u32>(p, w(se, 4), 44);
    store<u32>(p, w(se, 5), 48);
    rans_encode_ctx(p);
  }
  const len = load<i32>(p, 36);
  if (len < 0) return fail(E_CODER, len);
  if (kind == 0) {
    g_packet = frameFull(payload, <u32>len, g_modelId, w(e, 0), w(e, 1), w(e, 4), w(g_modes, 1), w(g_modes, 2));
    return <i32>(payload + <usize>len + 2 - g_packet);
  }
  g_packet = frameCompact(payload, <u32>len, g_modelId, w(e, 2), p + 64);
  return len + 4;
}

export function device_packet(): i32 {
  return g_ready ? <i32>g_packet : E_STATE;
}

/** Bytes of linear memory in use (the allocator's high-water mark) and as grown (pages * 65536). */
export function device_memory_used(): i32 {
  return <i32>memTop();
}
export function device_memory_size(): i32 {
  return memory.size() << 16;
}
