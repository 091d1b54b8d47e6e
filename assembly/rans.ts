import { pi, pp } from './common';

// rANS entropy coder with static integer CDF tables (model-agnostic, in the
// manner of CompressAI's rans coder; the stream format is in docs/PACKET.md).
//
// - Precision: 16 bits (every table's frequencies sum to M = 1 << 16, all >= 1).
// - State: 32 bits, kept in [L, L << 8) with L = 1 << 23 once the stream has
//   bytes; renormalization moves whole bytes. With L / M = 128 the coding loss
//   measures ~1e-5 bit/symbol; a 16-bit-word variant (L = 1 << 16) was 0.1-0.2%
//   larger, over the 0.1% budget.
// - Streams of at most SHORT_MAX symbols (every packet-sized tensor): one
//   state, started at 1 rather than L. The first symbols encoded grow it
//   without emitting anything, so the 4-byte final state carries ~23 bits of
//   them instead of 23 bits of a constant: 4 bytes of overhead become ~0.6,
//   and the stream is ~7 bytes shorter than with two states started at L (7%
//   of a 100-byte packet). The decoder reads while x < L and bytes remain; a
//   state below L with bytes left is corrupt (the encoder never emits there).
// - Longer streams: two interleaved states started at L (symbol i on state
//   i & 1), so the two dependency chains (divide on encode, table lookup on
//   decode) overlap in the CPU: ~1.8x the single state's decoding speed. The start-at-1
//   trick cannot be shared between two states: the decoder could not tell
//   which state the last bytes belong to.
// - Escape: a table's last symbol. A value outside [offset, offset + nsym - 2]
//   is coded as the escape symbol, then a 4-bit count k-1 (k in 1..9), then k
//   4-bit nibbles of the folded offset-relative value (least significant first),
//   all with uniform frequency through the same state (CompressAI's bypass).
// - Stream: the final state(s) (big-endian u32; one state in [1, 2^31), two in
//   [L, 2^31), state 0 first), then the renormalization bytes in decode order.
//   A decoder that does not end at the initial state(s) with every byte read
//   saw corruption.
//
// Table directory: TAB_WORDS i32 words per table, in WASM memory (src/codec/coder.ts
// CdfTables writes [0], [1], [2], [4]; rans_init fills [3] and the lookup):
//   [0] nsym (>= 1, escape included)  [1] offset (value of symbol 0)
//   [2] cdf u32*[nsym + 1]  [3] sym u32*[nsym]: start | (freq - 1) << 16
//   [4] lut u16*[M]: slot -> symbol, or 0  [5] coarse u8*[256]: (slot >> 8) -> the
//   symbol holding slot & ~255, then a short forward scan (small tables), or 0;
//   with neither, the decoder binary-searches the CDF  [6..7] 0

export const TAB_WORDS: i32 = 8;
const M: u32 = 1 << 16;
const L: u32 = 1 << 23;
export const SHORT_MAX: i32 = 1 << 16; // streams of up to this many symbols use one state
const BYP_SHIFT: u32 = 12; // bypass nibble: frequency M >> 4
const MAX_NIBBLES: u32 = 9; // a folded i64 offset-relative value of an i32 fits 36 bits

export const RANS_OK: i32 = 0;
export const ERR_CAPACITY: i32 = -1;
export const ERR_TRUNCATED: i32 = -2;
export const ERR_BAD_START: i32 = -3;
export const ERR_BAD_END: i32 = -4;
export const ERR_TRAILING: i32 = -5;
export const ERR_ESCAPE: i32 = -6;
export const ERR_RANGE: i32 = -7;
export const ERR_TABLE_INDEX: i32 = -8;
export const ERR_PARAMS: i32 = -9;
export const ERR_TABLE: i32 = -10;
export const ERR_STATE: i32 = -11;

// The slow paths (escapes, the last few bytes of a buffer) share the stream
// position through globals; the fast loops keep it in locals.
let g_ptr: usize = 0;
let g_lim: usize = 0; // encoder: lowest writable byte; decoder: end of input
let g_err: i32 = 0;
let g_val: i64 = 0;
let g_two: bool = false; // decoder: two states (running out of bytes is truncation)

// rans_init(p): validate tables and build sym info and slot lookups.
// params: [0] table dir  [1] ntables  [2] out: status  [3] out: index of the bad table
export function rans_init(p: usize): void {
  const dir = pp(p, 0), nt = pi(p, 1);
  store<i32>(p + 8, RANS_OK);
  store<i32>(p + 12, -1);
  for (let t = 0; t < nt; t++) {
    const tab = dir + (<usize>t * TAB_WORDS << 2);
    const nsym = load<i32>(tab), off = load<i32>(tab, 4);
    const cdf = <usize>load<u32>(tab, 8), sym = <usize>load<u32>(tab, 12), lut = <usize>load<u32>(tab, 16);
    // Regular values must stay inside i32 so the encoder's wrapped u32 range test is exact.
    let ok = nsym >= 1 && nsym <= <i32>M && <i64>off + <i64>nsym - 2 <= <i64>i32.MAX_VALUE;
    if (ok) ok = load<u32>(cdf) == 0 && load<u32>(cdf + (<usize>nsym << 2)) == M;
    for (let k = 0; ok && k < nsym; k++) {
      const a = load<u32>(cdf + (<usize>k << 2)), b = load<u32>(cdf + (<usize>(k + 1) << 2));
      if (b <= a || b > M) ok = false;
      else store<u32>(sym + (<usize>k << 2), a | ((b - a - 1) << 16));
    }
    if (!ok) {
      store<i32>(p + 8, ERR_TABLE);
      store<i32>(p + 12, t);
      return;
    }
    if (lut != 0) {
      for (let k = 0; k < nsym; k++) {
        const a = load<u32>(cdf + (<usize>k << 2)), b = load<u32>(cdf + (<usize>(k + 1) << 2));
        for (let s = a; s < b; s++) store<u16>(lut + (<usize>s << 1), <u16>k);
      }
    }
    const coarse = <usize>load<u32>(tab, 20);
    if (coarse != 0) {
      if (nsym > 256) {
        store<i32>(p + 8, ERR_TABLE);
        store<i32>(p + 12, t);
        return;
      }
      let k: u32 = 0;
      for (let j: u32 = 0; j < 256; j++) {
        while (load<u32>(cdf + (<usize>(k + 1) << 2)) <= j << 8) k++;
        store<u8>(coarse + <usize>j, <u8>k);
      }
    }
  }
}

// ---------------------------------------------------------------- encoder

// Encode (start, freq) into x with exact capacity checks (escapes, buffer tail).
function putSlow(x: u32, start: u32, freq: u32): u32 {
  const xmax = freq << 15;
  const nb = <u32>(x >= xmax) + <u32>((x >> 8) >= xmax);
  if (<usize>nb > g_ptr - g_lim) {
    g_err = ERR_CAPACITY;
    return x;
  }
  if (nb >= 1) store<u8>(g_ptr - 1, <u8>x);
  if (nb == 2) store<u8>(g_ptr - 2, <u8>(x >> 8));
  g_ptr -= nb;
  x >>= nb << 3;
  const q = x / freq;
  return x + q * (M - freq) + start;
}

// One value through the slow path: a regular symbol, or escape + bypass.
// Pushes in reverse of the decoder's read order: nibbles high..low, count, escape.
function encSlow(x: u32, v: i32, off: i32, nsym: i32, sym: usize): u32 {
  const esc = nsym - 1;
  const d = <i64>v - <i64>off;
  if (d >= 0 && d < <i64>esc) {
    const info = load<u32>(sym + (<usize>d << 2));
    return putSlow(x, info & 0xffff, (info >> 16) + 1);
  }
  const raw: u64 = d < 0 ? <u64>(-2 * d - 1) : <u64>(2 * (d - <i64>esc));
  let k: u32 = 1;
  while (k < MAX_NIBBLES && (raw >> (<u64>k << 2)) != 0) k++;
  const bf: u32 = M >> 4;
  for (let j = <i32>k - 1; j >= 0; j--) {
    x = putSlow(x, (<u32>(raw >> (<u64>j << 2)) & 15) << BYP_SHIFT, bf);
  }
  x = putSlow(x, (k - 1) << BYP_SHIFT, bf);
  const info = load<u32>(sym + (<usize>esc << 2));
  return putSlow(x, info & 0xffff, (info >> 16) + 1);
}

// Context-adaptive coding (rans_encode_ctx / rans_decode_ctx): the same stream format, but each
// symbol's table depends on neighbours already known to the decoder (u8 symbols of a
// channel-major [C][H][W] tensor), each quantized to q(v) = min(v >> shift, K - 1), 0 where the
// neighbour is off the tensor. Two neighbour sets (nb):
//   0: left (same row), up (same column), the same position one channel before:
//      table base[g] + (qL * K + qU) * K + qP, K^3 tables per group;
//   1: left, up, up-left, up-right: base[g] + ((qL * K + qU) * K + qUL) * K + qUR, K^4 tables.
// Measured on the 16x16 model's 1- and 2-bit codes set 0 saves 11-13% over one table per channel;
// on the 4x4 model, whose channels are nearly independent, set 1 saves 21% and set 0 13%
// (train/coder_context.py).

// Context of symbol i at column col and row row of group g (K >= 1).
@inline function ctxOf(s: usize, i: i32, col: i32, row: i32, g: i32, W: i32, G: i32, K: u32, shift: u32, nb: i32): u32 {
  const km = K - 1;
  const l: u32 = col > 0 ? min(<u32>load<u8>(s + <usize>(i - 1)) >> shift, km) : 0;
  const u: u32 = row > 0 ? min(<u32>load<u8>(s + <usize>(i - W)) >> shift, km) : 0;
  if (nb == 0) {
    const c: u32 = g > 0 ? min(<u32>load<u8>(s + <usize>(i - G)) >> shift, km) : 0;
    return (l * K + u) * K + c;
  }
  const ul: u32 = row > 0 && col > 0 ? min(<u32>load<u8>(s + <usize>(i - W - 1)) >> shift, km) : 0;
  const ur: u32 = row > 0 && col < W - 1 ? min(<u32>load<u8>(s + <usize>(i - W + 1)) >> shift, km) : 0;
  return ((l * K + u) * K + ul) * K + ur;
}

// Tables per group a context layout may use.
@inline function ctxSpan(K: i32, nb: i32): i32 {
  return K == 0 ? 1 : nb == 0 ? K * K * K : K * K * K * K;
}

// Shape checks shared by both directions: G a whole number of rows, K^3 or K^4 tables per group.
function ctxParamsOk(n: i32, W: i32, G: i32, K: i32, shift: i32, nb: i32): bool {
  return n >= 0 && W >= 1 && G >= W && G % W == 0 && K >= 1 && K <= 16 && shift >= 0 && shift <= 7 && (nb == 0 || nb == 1);
}

// rans_encode(p): symbols -> bytes at out[0 .. result).
// params: [0] symbols (u8* or i32*)  [1] n  [2] type: 0 u8, 1 i32  [3] group size G >= 1
//   [4] table index per group i32*[ceil(n / G)]  [5] table dir  [6] ntables
//   [7] out u8*  [8] capacity  [9] out: byte length, or a negative ERR_ code
// Symbol i uses table tidx[i / G]: G = H*W gives one table per channel of a
// channel-major [C][H*W] tensor; G = 1 gives one table index per symbol.
export function rans_encode(p: usize): void {
  const type = pi(p, 2), G = pi(p, 3);
  if (type == 0) encodeImpl<u8>(p, pp(p, 0), pi(p, 1), G, pp(p, 4), pp(p, 5), pi(p, 6), pp(p, 7), pi(p, 8), G, 0, 0, 0);
  else if (type == 1) encodeImpl<i32>(p, pp(p, 0), pi(p, 1), G, pp(p, 4), pp(p, 5), pi(p, 6), pp(p, 7), pi(p, 8), G, 0, 0, 0);
  else store<i32>(p + 36, ERR_PARAMS);
}

// rans_encode_ctx(p): u8 symbols -> bytes at out[0 .. result), tables chosen by context (below).
// params: [0] symbols u8*  [1] n  [2] W  [3] group size G (a multiple of W)
//   [4] first table per group i32*  [5] table dir  [6] ntables  [7] out u8*  [8] capacity
//   [9] out: byte length, or a negative ERR_ code  [10] K  [11] shift  [12] neighbour set nb
export function rans_encode_ctx(p: usize): void {
  const n = pi(p, 1), W = pi(p, 2), G = pi(p, 3), K = pi(p, 10), shift = pi(p, 11), nb = pi(p, 12);
  if (!ctxParamsOk(n, W, G, K, shift, nb)) store<i32>(p + 36, ERR_PARAMS);
  else encodeImpl<u8>(p, pp(p, 0), n, G, pp(p, 4), pp(p, 5), pi(p, 6), pp(p, 7), pi(p, 8), W, K, shift, nb);
}

// K = 0: one table per group; K >= 1: ctxSpan tables per group, picked per symbol by ctxOf.
function encodeImpl<T>(p: usize, src: usize, n: i32, G: i32, tidx: usize, dir: usize, nt: i32, out: usize, cap: i32, W: i32, K: i32, shift: i32, nb: i32): void {
  if (n < 0 || G < 1 || cap < 0) {
    store<i32>(p + 36, ERR_PARAMS);
    return;
  }
  const span = ctxSpan(K, nb); // tables a group may use
  const lim = out;
  let ptr = out + <usize>cap; // bytes are written downwards from the end
  const two = n > SHORT_MAX;
  const x0: u32 = two ? L : 1;
  let xa: u32 = x0, xb: u32 = x0; // xa codes the next symbol (index i), xb the one before it
  g_err = 0;
  const ng = n == 0 ? 0 : (n - 1) / G + 1;
  for (let g = ng - 1; g >= 0; g--) {
    const base = load<i32>(tidx + (<usize>g << 2));
    if (base < 0 || <i64>base + <i64>span > <i64>nt) {
      store<i32>(p + 36, ERR_TABLE_INDEX);
      return;
    }
    const lo = g * G;
    const hi = G < n - lo ? lo + G : n;
    let col = (hi - 1 - lo) % W, row = (hi - 1 - lo) / W;
    for (let i = hi - 1; i >= lo; i--) {
      const t = K == 0 ? <u32>base : <u32>base + ctxOf(src, i, col, row, g, W, G, <u32>K, <u32>shift, nb);
      const tab = dir + (<usize>t * TAB_WORDS << 2);
      const nsym = load<i32>(tab), off = load<i32>(tab, 4), sym = <usize>load<u32>(tab, 12);
      const v = <i32>load<T>(src + (<usize>i << alignof<T>()));
      const d = <u32>(v - off);
      if (d < <u32>(nsym - 1) && ptr - lim >= 2) {
        const info = load<u32>(sym + (<usize>d << 2));
        const f = (info >> 16) + 1;
        const xmax = f << 15;
        const nb = <u32>(xa >= xmax) + <u32>((xa >> 8) >= xmax);
        // Both bytes are stored unconditionally; ptr only moves by nb, so an
        // unused byte lands below ptr and is overwritten later.
        store<u8>(ptr - 1, <u8>xa);
        store<u8>(ptr - 2, <u8>(xa >> 8));
        ptr -= nb;
        xa >>= nb << 3;
        const q = xa / f;
        xa += q * (M - f) + (info & 0xffff);
      } else {
        g_ptr = ptr;
        g_lim = lim;
        xa = encSlow(xa, v, off, nsym, sym);
        ptr = g_ptr;
        if (g_err != 0) {
          store<i32>(p + 36, g_err);
          return;
        }
      }
      if (two) {
        const s = xa;
        xa = xb;
        xb = s;
      }
      if (col == 0) {
        col = W - 1;
        row--;
      } else col--;
    }
  }
  // Two states: after symbol 0, xb holds state 0 and xa state 1. State 0 goes first.
  const flush: usize = two ? 8 : 4;
  if (ptr - lim < flush) {
    store<i32>(p + 36, ERR_CAPACITY);
    return;
  }
  store<u32>(ptr - 4, bswap<u32>(xa));
  if (two) store<u32>(ptr - 8, bswap<u32>(xb));
  ptr -= flush;
  const len = out + <usize>cap - ptr;
  memory.copy(out, ptr, len);
  store<i32>(p + 36, <i32>len);
}

// ---------------------------------------------------------------- decoder

// Renormalize near the end of the input (escapes, the last byte): the bytes the
// encoder emitted before its state first reached L are the last ones, so
// running out here is the stream's start, not an error.
function getSlow(x: u32): u32 {
  let nb = <u32>(x < L) + <u32>(x < (1 << 15));
  if (<usize>nb > g_lim - g_ptr) {
    if (g_two) {
      g_err = ERR_TRUNCATED;
      return L;
    }
    nb = <u32>(g_lim - g_ptr);
  }
  for (let j: u32 = 0; j < nb; j++) {
    x = (x << 8) | <u32>load<u8>(g_ptr);
    g_ptr++;
  }
  return x;
}

// Read the bypass part of an escape (count, nibbles) from x; the value lands in g_val.
function decBypass(x: u32, off: i32, esc: i32, lo: i64, hi: i64): u32 {
  if (x < L && g_ptr < g_lim) {
    g_err = ERR_STATE;
    return x;
  }
  let slot = x & 0xffff;
  const k = (slot >> BYP_SHIFT) + 1;
  x = (x >> 16 << BYP_SHIFT) + (slot & 0xfff);
  x = getSlow(x);
  if (g_err != 0) return x;
  if (k > MAX_NIBBLES) {
    g_err = ERR_ESCAPE;
    return x;
  }
  let raw: u64 = 0;
  let nib: u32 = 0;
  for (let j: u32 = 0; j < k; j++) {
    if (x < L && g_ptr < g_lim) {
      g_err = ERR_STATE;
      return x;
    }
    slot = x & 0xffff;
    nib = slot >> BYP_SHIFT;
    x = (x >> 16 << BYP_SHIFT) + (slot & 0xfff);
    x = getSlow(x);
    if (g_err != 0) return x;
    raw |= <u64>nib << (<u64>j << 2);
  }
  // The encoder uses the fewest nibbles; a zero top nibble means the bits were damaged.
  if (k > 1 && nib == 0) {
    g_err = ERR_ESCAPE;
    return x;
  }
  const d: i64 = (raw & 1) != 0 ? -<i64>((raw + 1) >> 1) : <i64>(raw >> 1) + <i64>esc;
  const v = <i64>off + d;
  if (v < lo || v > hi) g_err = ERR_RANGE;
  g_val = v;
  return x;
}

// The symbol whose [cdf[k], cdf[k+1]) holds slot, from the coarse lookup: cdf[nsym] = M > slot
// ends the scan; a small table takes ~1 step.
@inline function coarseSlot(cdf: usize, coarse: usize, slot: u32): u32 {
  let k = <u32>load<u8>(coarse + <usize>(slot >> 8));
  while (load<u32>(cdf + (<usize>(k + 1) << 2)) <= slot) k++;
  return k;
}

// Binary search for the symbol whose [cdf[k], cdf[k+1]) holds slot (tables without a lookup).
@inline function findSlot(cdf: usize, nsym: i32, slot: u32): u32 {
  let a: i32 = 0, b: i32 = nsym; // cdf[a] <= slot < cdf[b]
  while (b - a > 1) {
    const m = (a + b) >> 1;
    if (load<u32>(cdf + (<usize>m << 2)) <= slot) a = m;
    else b = m;
  }
  return <u32>a;
}

// rans_decode(p): bytes -> n symbols.
// params: [0] in u8*  [1] in length  [2] out symbols (u8* or i32*)  [3] n  [4] type: 0 u8, 1 i32
//   [5] group size G  [6] table index per group i32*  [7] table dir  [8] ntables
//   [9] out: status (0 or a negative ERR_ code)  [10] out: symbols decoded before an error
// Work is bounded by n (at most 11 coder steps per symbol); bytes are never read
// at or past in + length.
export function rans_decode(p: usize): void {
  const type = pi(p, 4), G = pi(p, 5);
  if (type == 0) decodeImpl<u8>(p, 0, 255, G, 0, 0, 0);
  else if (type == 1) decodeImpl<i32>(p, i32.MIN_VALUE, i32.MAX_VALUE, G, 0, 0, 0);
  else store<i32>(p + 36, ERR_PARAMS);
}

// rans_decode_ctx(p): bytes -> n u8 symbols, tables chosen by context (below).
// params: [0] in u8*  [1] in length  [2] out u8*  [3] n  [4] W  [5] group size G
//   [6] first table per group i32*  [7] table dir  [8] ntables  [9] out: status
//   [10] out: symbols decoded before an error  [11] K  [12] shift  [13] neighbour set nb
export function rans_decode_ctx(p: usize): void {
  const W = pi(p, 4), K = pi(p, 11), shift = pi(p, 12), nb = pi(p, 13);
  store<i32>(p + 40, 0);
  if (!ctxParamsOk(pi(p, 3), W, pi(p, 5), K, shift, nb)) store<i32>(p + 36, ERR_PARAMS);
  else decodeImpl<u8>(p, 0, 255, W, K, shift, nb);
}

// Both exports share the params words 0-3 and 5-10; word 4 is the type or W (passed in).
function decodeImpl<T>(p: usize, vlo: i64, vhi: i64, W: i32, K: i32, shift: i32, nb: i32): void {
  const inp = pp(p, 0), len = pi(p, 1), dst = pp(p, 2), n = pi(p, 3), G = pi(p, 5);
  const tidx = pp(p, 6), dir = pp(p, 7), nt = pi(p, 8);
  store<i32>(p + 40, 0);
  if (n < 0 || G < 1 || len < 0) {
    store<i32>(p + 36, ERR_PARAMS);
    return;
  }
  const span = ctxSpan(K, nb);
  const two = n > SHORT_MAX;
  const x0: u32 = two ? L : 1;
  const flush = two ? 8 : 4;
  if (len < flush) {
    store<i32>(p + 36, ERR_TRUNCATED);
    return;
  }
  const end = inp + <usize>len;
  let xa = bswap<u32>(load<u32>(inp)), xb = two ? bswap<u32>(load<u32>(inp, 4)) : x0;
  if (xa < x0 || xa >= (L << 8) || xb < x0 || xb >= (L << 8)) {
    store<i32>(p + 36, ERR_BAD_START);
    return;
  }
  let ptr = inp + <usize>flush;
  g_two = two;
  g_err = 0;
  const ng = n == 0 ? 0 : (n - 1) / G + 1;
  for (let g = 0; g < ng; g++) {
    const lo = g * G;
    const base = load<i32>(tidx + (<usize>g << 2));
    if (base < 0 || <i64>base + <i64>span > <i64>nt) {
      store<i32>(p + 36, ERR_TABLE_INDEX);
      store<i32>(p + 40, lo);
      return;
    }
    const hi = G < n - lo ? lo + G : n;
    let col = 0, row = 0;
    for (let i = lo; i < hi; i++) {
      // With bytes left the encoder's state was >= L here; below it, the decoder
      // would read bytes the encoder never wrote (accepting a non-canonical stream).
      if (xa < L && ptr < end) {
        store<i32>(p + 36, ERR_STATE);
        store<i32>(p + 40, i);
        return;
      }
      const t = K == 0 ? <u32>base : <u32>base + ctxOf(dst, i, col, row, g, W, G, <u32>K, <u32>shift, nb);
      const tab = dir + (<usize>t * TAB_WORDS << 2);
      const nsym = load<i32>(tab), off = load<i32>(tab, 4);
      const cdf = <usize>load<u32>(tab, 8), sym = <usize>load<u32>(tab, 12), lut = <usize>load<u32>(tab, 16), coarse = <usize>load<u32>(tab, 20);
      const esc = <u32>(nsym - 1);
      const slot = xa & 0xffff;
      const s: u32 = lut != 0 ? <u32>load<u16>(lut + (<usize>slot << 1)) : coarse != 0 ? coarseSlot(cdf, coarse, slot) : findSlot(cdf, nsym, slot);
      const info = load<u32>(sym + (<usize>s << 2));
      xa = ((info >> 16) + 1) * (xa >> 16) + slot - (info & 0xffff);
      if (end - ptr >= 2) {
        // Branch-free: take 0, 1 or 2 of the next two bytes.
        const nb = <u32>(xa < L) + <u32>(xa < (1 << 15));
        const w = (<u32>load<u8>(ptr) << 8) | <u32>load<u8>(ptr, 1);
        xa = (xa << (nb << 3)) | (w >> ((2 - nb) << 3));
        ptr += nb;
      } else {
        g_ptr = ptr;
        g_lim = end;
        xa = getSlow(xa);
        ptr = g_ptr;
      }
      let v: i64;
      if (s == esc) {
        g_ptr = ptr;
        g_lim = end;
        xa = decBypass(xa, off, <i32>esc, vlo, vhi);
        ptr = g_ptr;
        v = g_val;
      } else {
        v = <i64>off + <i64>s;
        if (v < vlo || v > vhi) g_err = ERR_RANGE;
      }
      if (g_err != 0) {
        store<i32>(p + 36, g_err);
        store<i32>(p + 40, i);
        return;
      }
      store<T>(dst + (<usize>i << alignof<T>()), <T>v);
      if (two) {
        const sw = xa;
        xa = xb;
        xb = sw;
      }
      if (++col == W) {
        col = 0;
        row++;
      }
    }
  }
  store<i32>(p + 40, n);
  if (xa != x0 || xb != x0) store<i32>(p + 36, ERR_BAD_END);
  else if (ptr != end) store<i32>(p + 36, ERR_TRAILING);
  else store<i32>(p + 36, RANS_OK);
}
