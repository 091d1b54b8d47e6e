/**
 * A JPEG decoder that never holds the whole image: it feeds rows into a RowResizer.
 *
 *   const info = jpegHeader(bytes);                  // frame from the SOF segment; throws ImageError
 *   checkJpegData(bytes, info);                      // refuses a file too small for its declared size
 *   decodeJpegRows(bytes, info, resizer);            // pushes rows (full scale or 1/8 scale)
 *
 * Two modes, picked from the file's structure:
 *  - full scale, band by band: a sequential (SOF0/SOF1) file whose one scan holds every component is
 *    decoded one MCU row at a time. The entropy decoding, IDCT, upsampling and colour conversion repeat
 *    jpeg-js 0.4.4's arithmetic operation for operation (its integer IDCT, its `0 | (x * h / maxH)`
 *    upsampling, its float YCbCr->RGB stored into bytes), so the rows are the ones jpeg-js would
 *    produce; test/model/jpeg-decode.test.ts compares them byte for byte.
 *  - 1/8 scale (DC only): a progressive (SOF2) file, or a sequential one with several scans, needs every
 *    coefficient of a component before any pixel is final; keeping them all is what costs jpeg-js
 *    ~20 bytes per pixel. Here only each block's DC coefficient is kept (4 bytes per block, 1/16 byte
 *    per pixel per component): AC scans of a progressive file are skipped, sequential scans are decoded
 *    and their AC terms dropped. Each 8x8 cell becomes one pixel, the value jpeg-js's IDCT gives a block
 *    with only its DC term (the block's mean up to rounding), and the resizer weighs each cell by the
 *    pixels it covers, so a shrink by area averaging sees nearly the same means as from a full decode.
 *
 * Memory: full scale holds one MCU row (v*8 lines per component, 256 bytes per block of it); 1/8 scale
 * holds 4 bytes per block. Both are decided from the header before anything else is allocated.
 */
import { ImageError } from './image.js';
import type { AxisWeights } from './image.js';
import { RowResizer } from './row-resize.js';

const ZIGZAG = new Int32Array([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15,
  23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]);

export interface JpegComponentInfo {
  id: number;
  h: number;
  v: number;
  tq: number;
  blocksPerLine: number;
  blocksPerColumn: number;
}

export interface JpegHeader {
  /** SOF marker byte: 0xC0 baseline, 0xC1 extended, 0xC2 progressive, others unsupported here */
  sof: number;
  precision: number;
  width: number;
  height: number;
  components: JpegComponentInfo[];
  maxH: number;
  maxV: number;
  mcusPerLine: number;
  mcusPerColumn: number;
}

function corrupt(msg: string): never {
  throw new ImageError('corrupt', `damaged or unsupported JPEG (${msg}); re-save it as a baseline JPEG or PNG`);
}

/** The frame declared by the first SOFn segment, or null when the markers end before one. */
export function jpegHeader(b: Uint8Array): JpegHeader | null {
  let p = 2;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) return null;
    const m = b[p + 1];
    if (m === 0xff) { p++; continue; }
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { p += 2; continue; }
    if (m === 0xd9 || m === 0xda) return null;
    const len = (b[p + 2] << 8) | b[p + 3];
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (p + 10 > b.length) return null;
      const nf = b[p + 9];
      if (p + 10 + 3 * nf > b.length) corrupt(`SOF segment of ${len} bytes ends before its ${nf} components`);
      const comps: JpegComponentInfo[] = [];
      for (let i = 0; i < nf; i++) {
        const q = p + 10 + 3 * i;
        const h = b[q + 1] >> 4, v = b[q + 1] & 15;
        // T.81 allows 1..4; larger ones are accepted as jpeg-js accepts them (only 0 is refused)
        if (h < 1 || v < 1) corrupt(`component ${b[q]} has sampling factors ${h}x${v}`);
        comps.push({ id: b[q], h, v, tq: b[q + 2], blocksPerLine: 0, blocksPerColumn: 0 });
      }
      const height = (b[p + 5] << 8) | b[p + 6], width = (b[p + 7] << 8) | b[p + 8];
      const maxH = Math.max(1, ...comps.map((c) => c.h)), maxV = Math.max(1, ...comps.map((c) => c.v));
      for (const c of comps) {
        // jpeg-js's (and T.81's) block counts of a component, without the MCU padding
        c.blocksPerLine = Math.ceil((Math.ceil(width / 8) * c.h) / maxH);
        c.blocksPerColumn = Math.ceil((Math.ceil(height / 8) * c.v) / maxV);
      }
      return {
        sof: m, precision: b[p + 4], width, height, components: comps, maxH, maxV,
        mcusPerLine: Math.ceil(width / 8 / maxH), mcusPerColumn: Math.ceil(height / 8 / maxV),
      };
    }
    p += 2 + len;
  }
  return null;
}

/**
 * The fewest bytes of scan data that can hold the declared frame. Every block of every component is
 * Huffman-coded, and no Huffman code is shorter than 1 bit: a sequential scan codes at least a DC
 * symbol and one AC symbol (EOB, or a coefficient) per block, 2 bits; a progressive file codes every
 * block's DC in its first DC scan, 1 bit (its AC scans may skip whole runs of blocks with one EOBRUN).
 * Arithmetic-coded frames (which can spend less than a bit) are not decoded here, so not bounded.
 */
export function jpegMinDataBytes(h: JpegHeader): number {
  if (h.sof !== 0xc0 && h.sof !== 0xc1 && h.sof !== 0xc2) return 0;
  const bitsPerBlock = h.sof === 0xc2 ? 1 : 2;
  let blocks = 0;
  for (const c of h.components) blocks += c.blocksPerLine * c.blocksPerColumn;
  return Math.ceil((blocks * bitsPerBlock) / 8);
}

/** Refuses, before any pixel memory exists, a file that cannot hold the data its header declares. */
export function checkJpegData(bytes: Uint8Array, h: JpegHeader): void {
  const need = jpegMinDataBytes(h);
  if (bytes.length < need) {
    corrupt(`a ${h.width}x${h.height} frame needs at least ${need} bytes of scan data, the whole file has ${bytes.length}; it is truncated or its header is forged`);
  }
}

// ------------------------------------------------------------------------------------------------
// markers

type Huff = { maxcode: Int32Array; valptr: Int32Array; mincode: Int32Array; values: Uint8Array };

type JpegEvent =
  | { kind: 'dht'; seg: Uint8Array }
  | { kind: 'dri'; interval: number }
  | { kind: 'sos'; seg: Uint8Array; data: number; end: number };

interface JpegStructure {
  events: JpegEvent[];
  qt: (Int32Array | undefined)[];
  scans: number;
  adobeTransform: number | null;
}

/** Walks every marker once; scan data is skipped to the marker after it. */
function structure(b: Uint8Array): JpegStructure {
  const n = b.length;
  const events: JpegEvent[] = [];
  const qt: (Int32Array | undefined)[] = [];
  let frames = 0, scans = 0;
  let adobeTransform: number | null = null;
  let p = 2;
  for (;;) {
    if (p + 1 >= n) corrupt(`file ends at byte ${p} without an EOI marker (truncated)`);
    if (b[p] !== 0xff) corrupt(`expected a marker at byte ${p}, found 0x${b[p].toString(16)}`);
    const m = b[p + 1];
    if (m === 0xff) { p++; continue; }
    if (m === 0xd9) break;
    if (m === 0x00 || m === 0x01 || m === 0xd8 || (m >= 0xd0 && m <= 0xd7)) { p += 2; continue; }
    if (p + 4 > n) corrupt(`file ends inside the marker at byte ${p}`);
    const len = (b[p + 2] << 8) | b[p + 3];
    if (len < 2 || p + 2 + len > n) corrupt(`segment 0xFF${m.toString(16)} at byte ${p} declares ${len} bytes, past the end of the file`);
    const seg = b.subarray(p + 4, p + 2 + len);
    p += 2 + len;
    if (m === 0xdb) {
      for (let q = 0; q < seg.length;) {
        const spec = seg[q++], wide = spec >> 4;
        if (wide > 1) corrupt(`DQT table precision ${wide}`);
        if (q + 64 * (wide + 1) > seg.length) corrupt('DQT segment ends inside a table');
        const t = new Int32Array(64);
        for (let j = 0; j < 64; j++, q += wide + 1) t[ZIGZAG[j]] = wide ? (seg[q] << 8) | seg[q + 1] : seg[q];
        qt[spec & 15] = t;
      }
    } else if (m === 0xc4) {
      events.push({ kind: 'dht', seg });
    } else if (m === 0xdd) {
      if (seg.length < 2) corrupt('DRI segment too short');
      events.push({ kind: 'dri', interval: (seg[0] << 8) | seg[1] });
    } else if (m >= 0xc0 && m <= 0xcf && m !== 0xc8 && m !== 0xcc) {
      if (m !== 0xc0 && m !== 0xc1 && m !== 0xc2) corrupt(`frame type SOF${m - 0xc0} is not supported (baseline, extended and progressive Huffman JPEGs are)`);
      if (++frames > 1) corrupt('several frames (SOF segments); only single-frame JPEGs are supported');
    } else if (m === 0xda) {
      if (!frames) corrupt('scan (SOS) before the frame header (SOF)');
      // entropy-coded data runs to the first marker that is neither stuffing (FF00) nor RSTn
      let e = p;
      for (;;) {
        if (e + 1 >= n) corrupt(`scan data from byte ${p} runs to the end of the file (truncated)`);
        if (b[e] === 0xff) {
          const nx = b[e + 1];
          if (nx !== 0x00 && !(nx >= 0xd0 && nx <= 0xd7)) break;
          e += 2;
          continue;
        }
        e++;
      }
      events.push({ kind: 'sos', seg, data: p, end: e });
      scans++;
      p = e;
    } else if (m === 0xee && seg.length >= 6 && seg[0] === 0x41 && seg[1] === 0x64 && seg[2] === 0x6f && seg[3] === 0x62 && seg[4] === 0x65 && seg[5] === 0) {
      adobeTransform = seg[11] ?? 0;
    }
  }
  return { events, qt, scans, adobeTransform };
}

function buildHuff(seg: Uint8Array, q: number): { huff: Huff; next: number } {
  if (q + 17 > seg.length) corrupt('DHT segment ends inside a table');
  const counts = seg.subarray(q + 1, q + 17);
  let total = 0;
  for (let i = 0; i < 16; i++) total += counts[i];
  if (q + 17 + total > seg.length) corrupt('DHT segment ends inside a table');
  const values = seg.slice(q + 17, q + 17 + total);
  const maxcode = new Int32Array(18).fill(-1), valptr = new Int32Array(17), mincode = new Int32Array(17);
  let code = 0, k = 0;
  for (let l = 1; l <= 16; l++) {
    valptr[l] = k;
    mincode[l] = code;
    code += counts[l - 1];
    k += counts[l - 1];
    if (counts[l - 1]) maxcode[l] = code - 1;
    if (code > 1 << l) corrupt('a Huffman table with more codes than its lengths allow');
    code <<= 1;
  }
  return { huff: { maxcode, valptr, mincode, values }, next: q + 17 + total };
}

// ------------------------------------------------------------------------------------------------
// scans

/** One scan's entropy decoder: jpeg-js's bit reader and block decoders, on Huffman lookup arrays. */
class ScanReader {
  private bitsData = 0;
  private bitsCount = 0;
  eobrun = 0;
  constructor(readonly d: Uint8Array, public offset: number) {}

  readBit(): number {
    if (this.bitsCount > 0) return (this.bitsData >> --this.bitsCount) & 1;
    if (this.offset >= this.d.length) corrupt('scan data ends inside a block (truncated)');
    this.bitsData = this.d[this.offset++];
    if (this.bitsData === 0xff) {
      const next = this.d[this.offset++];
      if (next) corrupt(`marker 0xFF${next.toString(16)} inside a block at byte ${this.offset - 2}`);
    }
    this.bitsCount = 7;
    return this.bitsData >>> 7;
  }

  resetBits(): void {
    this.bitsCount = 0;
  }

  decodeHuffman(t: Huff | undefined): number {
    if (!t) corrupt('a scan uses a Huffman table that was never defined');
    let code = 0;
    for (let l = 1; l <= 16; l++) {
      code = (code << 1) | this.readBit();
      if (code <= t.maxcode[l]) return t.values[t.valptr[l] + code - t.mincode[l]];
    }
    return corrupt('invalid Huffman code');
  }

  receive(length: number): number {
    let n = 0;
    while (length > 0) {
      n = (n << 1) | this.readBit();
      length--;
    }
    return n;
  }

  receiveAndExtend(length: number): number {
    const n = this.receive(length);
    if (n >= 1 << (length - 1)) return n;
    return n + (-1 << length) + 1;
  }

  baseline(c: ScanComp, zz: Int32Array, o: number): void {
    const t = this.decodeHuffman(c.dc);
    const diff = t === 0 ? 0 : this.receiveAndExtend(t);
    zz[o] = c.pred += diff;
    this.acTerms(c, zz, o, 1, 63, 0, false);
  }

  /**
   * AC terms k..e of one block, jpeg-js's loop for baseline and first progressive AC scans alike:
   * run/size symbols, ZRL skips 16, values times 2^al. An EOB ends the block; in a progressive scan
   * (`runs`) its run bits also say how many later blocks are empty (eobrun).
   */
  private acTerms(c: ScanComp, zz: Int32Array, o: number, k: number, e: number, al: number, runs: boolean): void {
    while (k <= e) {
      const rs = this.decodeHuffman(c.ac);
      const s = rs & 15, r = rs >> 4;
      if (s === 0) {
        if (r < 15) {
          if (runs) this.eobrun = this.receive(r) + (1 << r) - 1;
          break;
        }
        k += 16;
        continue;
      }
      k += r;
      const v = this.receiveAndExtend(s) * (1 << al);
      if (k < 64) zz[o + ZIGZAG[k]] = v;
      k++;
    }
  }

  dcFirst(c: ScanComp, zz: Int32Array, o: number): void {
    const t = this.decodeHuffman(c.dc);
    const diff = t === 0 ? 0 : this.receiveAndExtend(t) << this.al;
    zz[o] = c.pred += diff;
  }

  dcRefine(_c: ScanComp, zz: Int32Array, o: number): void {
    zz[o] |= this.readBit() << this.al;
  }

  // progressive AC scans: jpeg-js's decodeACFirst / decodeACSuccessive, state machine included
  ss = 0;
  se = 0;
  al = 0;
  private acState = 0;
  private acNext = 0;

  acFirst(c: ScanComp, zz: Int32Array, o: number): void {
    if (this.eobrun > 0) {
      this.eobrun--;
      return;
    }
    this.acTerms(c, zz, o, this.ss, this.se, this.al, true);
  }

  acRefine(c: ScanComp, zz: Int32Array, o: number): void {
    let k = this.ss, r = 0;
    const e = this.se, al = this.al;
    while (k <= e) {
      const z = o + (k < 64 ? ZIGZAG[k] : 64);
      const inBlock = k < 64;
      const cur = inBlock ? zz[z] : 0;
      const direction = cur < 0 ? -1 : 1;
      switch (this.acState) {
        case 0: {
          const rs = this.decodeHuffman(c.ac);
          const s = rs & 15;
          r = rs >> 4;
          if (s === 0) {
            if (r < 15) {
              this.eobrun = this.receive(r) + (1 << r);
              this.acState = 4;
            } else {
              r = 16;
              this.acState = 1;
            }
          } else {
            if (s !== 1) corrupt('invalid progressive AC refinement code');
            this.acNext = this.receiveAndExtend(s);
            this.acState = r ? 2 : 3;
          }
          continue;
        }
        case 1:
        case 2:
          if (cur) {
            if (inBlock) zz[z] += (this.readBit() << al) * direction;
          } else {
            r--;
            if (r === 0) this.acState = this.acState === 2 ? 3 : 0;
          }
          break;
        case 3:
          if (cur) {
            if (inBlock) zz[z] += (this.readBit() << al) * direction;
          } else {
            if (inBlock) zz[z] = this.acNext << al;
            this.acState = 0;
          }
          break;
        case 4:
          if (cur && inBlock) zz[z] += (this.readBit() << al) * direction;
          break;
      }
      k++;
    }
    if (this.acState === 4) {
      this.eobrun--;
      if (this.eobrun === 0) this.acState = 0;
    }
  }
}

interface ScanComp {
  ci: number; // index in the frame's component list
  h: number;
  v: number;
  dc: Huff | undefined;
  ac: Huff | undefined;
  pred: number;
}

/**
 * jpeg-js's MCU loop: restart intervals, preds reset per interval, the marker check after each.
 * `block` says where block (component, row, col) goes; `rowDone` follows each completed MCU row.
 * Returns the MCUs decoded (fewer than expected when the scan ends at a non-RST marker).
 */
function runScan(
  r: ScanReader,
  h: JpegHeader,
  comps: ScanComp[],
  interval: number,
  decode: (c: ScanComp, zz: Int32Array, o: number) => void,
  arrays: Int32Array[],
  block: (ci: number, row: number, col: number) => number,
  rowDone: (row: number) => void,
): void {
  const d = r.d;
  const single = comps.length === 1;
  const c0 = h.components[comps[0].ci];
  const perRow = single ? c0.blocksPerLine : h.mcusPerLine;
  const expected = single ? c0.blocksPerLine * c0.blocksPerColumn : h.mcusPerLine * h.mcusPerColumn;
  const ri = interval || expected;
  let mcu = 0;
  while (mcu < expected) {
    for (const c of comps) c.pred = 0;
    r.eobrun = 0;
    for (let n = 0; n < ri && mcu < expected; n++) {
      if (single) {
        const o = block(comps[0].ci, (mcu / perRow) | 0, mcu % perRow);
        decode(comps[0], arrays[comps[0].ci], o);
      } else {
        const mr = (mcu / perRow) | 0, mc = mcu % perRow;
        for (const c of comps) {
          for (let j = 0; j < c.v; j++) {
            for (let k = 0; k < c.h; k++) {
              const o = block(c.ci, mr * c.v + j, mc * c.h + k);
              decode(c, arrays[c.ci], o);
            }
          }
        }
      }
      mcu++;
      if (mcu % perRow === 0) rowDone(mcu / perRow - 1);
    }
    if (mcu === expected) {
      let o = r.offset;
      do {
        if (d[o] === 0xff && d[o + 1] !== 0x00) break;
        o++;
      } while (o < d.length - 2);
      r.offset = o;
    }
    r.resetBits();
    const o = r.offset;
    if (o + 1 >= d.length || d[o] !== 0xff) corrupt(`no marker where restart interval ends (byte ${o})`);
    const marker = d[o + 1];
    if (marker >= 0xd0 && marker <= 0xd7) r.offset += 2;
    else break;
  }
  // a scan cut short by a marker leaves its remaining blocks zero, as jpeg-js does
  const rows = expected / perRow;
  for (let row = Math.floor(mcu / perRow); row < rows; row++) rowDone(row);
}

function scanComps(seg: Uint8Array, h: JpegHeader, dcTables: (Huff | undefined)[], acTables: (Huff | undefined)[]): { comps: ScanComp[]; ss: number; se: number; ah: number; al: number } {
  const ns = seg[0];
  if (!ns || seg.length < 1 + 2 * ns + 3) corrupt(`SOS segment of ${seg.length} bytes for ${ns} components`);
  const comps: ScanComp[] = [];
  for (let i = 0; i < ns; i++) {
    const id = seg[1 + 2 * i], t = seg[2 + 2 * i];
    const ci = h.components.findIndex((c) => c.id === id);
    if (ci < 0) corrupt(`scan names component ${id}, which the frame lacks`);
    const c = h.components[ci];
    comps.push({ ci, h: c.h, v: c.v, dc: dcTables[t >> 4], ac: acTables[t & 15], pred: 0 });
  }
  const q = 1 + 2 * ns;
  return { comps, ss: seg[q], se: seg[q + 1], ah: seg[q + 2] >> 4, al: seg[q + 2] & 15 };
}

// ------------------------------------------------------------------------------------------------
// pixels

const COS1 = 4017, SIN1 = 799, COS3 = 3406, SIN3 = 2276, COS6 = 1567, SIN6 = 3784, SQRT2 = 5793, SQRT1D2 = 2896;

/** jpeg-js's quantizeAndInverse (poppler's integer IDCT), operation for operation. */
function idct(zz: Int32Array, qt: Int32Array, p: Int32Array, out: Uint8Array, outOff: number, stride: number): void {
  for (let i = 0; i < 64; i++) p[i] = zz[i] * qt[i];
  // rows keep 4 more fraction bits (results >> 8, odd terms scaled up by 16); columns drop them (>> 12)
  idctPass(p, 8, 1, 8, 4);
  idctPass(p, 1, 8, 12, 0);
  for (let i = 0; i < 64; ++i) {
    const s = 128 + ((p[i] + 8) >> 4);
    out[outOff + (i >> 3) * stride + (i & 7)] = s < 0 ? 0 : s > 0xff ? 0xff : s;
  }
}

/**
 * One pass of jpeg-js's IDCT over the block, in place: 8 lines (starting every `lineStep` values),
 * each of 8 values `step` apart. Its row pass is (lineStep 8, step 1, shift 8, up 4), its column
 * pass (1, 8, 12, 0). The stage-one roundings are 1 << (shift - 1) and the DC-only shortcut shifts
 * by shift + 2: 128/>> 8 and 512/>> 10 for rows, 2048/>> 12 and 8192/>> 14 for columns, as jpeg-js
 * writes them out.
 */
function idctPass(p: Int32Array, lineStep: number, step: number, shift: number, up: number): void {
  const round = 1 << (shift - 1), dcRound = round << 2, dcShift = shift + 2;
  let v0, v1, v2, v3, v4, v5, v6, v7, t;
  for (let line = 0; line < 8; line++) {
    const i0 = line * lineStep, i1 = i0 + step, i2 = i1 + step, i3 = i2 + step, i4 = i3 + step, i5 = i4 + step, i6 = i5 + step, i7 = i6 + step;
    if (p[i1] == 0 && p[i2] == 0 && p[i3] == 0 && p[i4] == 0 && p[i5] == 0 && p[i6] == 0 && p[i7] == 0) {
      t = (SQRT2 * p[i0] + dcRound) >> dcShift;
      p[i0] = p[i1] = p[i2] = p[i3] = p[i4] = p[i5] = p[i6] = p[i7] = t;
      continue;
    }
    v0 = (SQRT2 * p[i0] + round) >> shift;
    v1 = (SQRT2 * p[i4] + round) >> shift;
    v2 = p[i2];
    v3 = p[i6];
    v4 = (SQRT1D2 * (p[i1] - p[i7]) + round) >> shift;
    v7 = (SQRT1D2 * (p[i1] + p[i7]) + round) >> shift;
    v5 = p[i3] << up;
    v6 = p[i5] << up;
    t = (v0 - v1 + 1) >> 1;
    v0 = (v0 + v1 + 1) >> 1;
    v1 = t;
    t = (v2 * SIN6 + v3 * COS6 + round) >> shift;
    v2 = (v2 * COS6 - v3 * SIN6 + round) >> shift;
    v3 = t;
    t = (v4 - v6 + 1) >> 1;
    v4 = (v4 + v6 + 1) >> 1;
    v6 = t;
    t = (v7 + v5 + 1) >> 1;
    v5 = (v7 - v5 + 1) >> 1;
    v7 = t;
    t = (v0 - v3 + 1) >> 1;
    v0 = (v0 + v3 + 1) >> 1;
    v3 = t;
    t = (v1 - v2 + 1) >> 1;
    v1 = (v1 + v2 + 1) >> 1;
    v2 = t;
    t = (v4 * SIN3 + v7 * COS3 + 2048) >> 12;
    v4 = (v4 * COS3 - v7 * SIN3 + 2048) >> 12;
    v7 = t;
    t = (v5 * SIN1 + v6 * COS1 + 2048) >> 12;
    v5 = (v5 * COS1 - v6 * SIN1 + 2048) >> 12;
    v6 = t;
    p[i0] = v0 + v7;
    p[i7] = v0 - v7;
    p[i1] = v1 + v6;
    p[i6] = v1 - v6;
    p[i2] = v2 + v5;
    p[i5] = v2 - v5;
    p[i3] = v3 + v4;
    p[i4] = v3 - v4;
  }
}

/** The sample jpeg-js's IDCT gives every pixel of a block whose AC terms are all zero. */
function dcSample(dc: number, q0: number): number {
  const p0 = (dc * q0) | 0;
  const t1 = (SQRT2 * p0 + 512) >> 10;
  const t2 = (SQRT2 * t1 + 8192) >> 14;
  const s = 128 + ((t2 + 8) >> 4);
  return s < 0 ? 0 : s > 0xff ? 0xff : s;
}

function clamp8(a: number): number {
  return a < 0 ? 0 : a > 255 ? 255 : a;
}

/**
 * jpeg-js's getData + copyToImageData for one pixel: samples s[0..n) of the components, RGB out.
 * Every intermediate that jpeg-js stores in a Uint8Array goes through `u8` here, for the same truncation.
 */
function toRgb(n: number, s: Int32Array, adobeTransform: number | null, u8: Uint8Array, out: Uint8Array, o: number): void {
  if (n === 1) {
    out[o] = out[o + 1] = out[o + 2] = s[0];
  } else if (n === 3) {
    const Y = s[0], Cb = s[1], Cr = s[2];
    out[o] = clamp8(Y + 1.402 * (Cr - 128));
    out[o + 1] = clamp8(Y - 0.3441363 * (Cb - 128) - 0.71413636 * (Cr - 128));
    out[o + 2] = clamp8(Y + 1.772 * (Cb - 128));
  } else {
    if (adobeTransform) {
      const Y = s[0], Cb = s[1], Cr = s[2];
      u8[0] = 255 - (255 - clamp8(Y + 1.402 * (Cr - 128)));
      u8[1] = 255 - (255 - clamp8(Y - 0.3441363 * (Cb - 128) - 0.71413636 * (Cr - 128)));
      u8[2] = 255 - (255 - clamp8(Y + 1.772 * (Cb - 128)));
    } else {
      u8[0] = 255 - s[0];
      u8[1] = 255 - s[1];
      u8[2] = 255 - s[2];
    }
    u8[3] = 255 - s[3];
    const C = u8[0], M = u8[1], Ye = u8[2], K = u8[3];
    out[o] = 255 - clamp8(C * (1 - K / 255) + K);
    out[o + 1] = 255 - clamp8(M * (1 - K / 255) + K);
    out[o + 2] = 255 - clamp8(Ye * (1 - K / 255) + K);
  }
}

function checkColor(h: JpegHeader, adobeTransform: number | null): void {
  const n = h.components.length;
  if (n === 4 && adobeTransform === null) corrupt('4 components without an Adobe marker (unknown colour model)');
  if (n !== 1 && n !== 3 && n !== 4) corrupt(`${n} colour components (1, 3 or 4 are supported)`);
  if (h.precision !== 8) corrupt(`${h.precision}-bit samples (8-bit are supported)`);
}

/** Coefficients kept for a progressive or multi-scan file decoded at full scale (4 bytes each). */
export const COEF_BUDGET_BYTES = 24 << 20;

export type JpegMode = 'stream' | 'store' | 'dc';

/**
 * How decodeJpegRows will decode: 'stream' (one sequential scan with every component: one MCU row at
 * a time), 'store' (progressive or multi-scan, all coefficients within COEF_BUDGET_BYTES: kept, then
 * turned into rows band by band), 'dc' (larger ones: 1/8 scale). The first two give jpeg-js's pixels.
 */
function modeOf(h: JpegHeader, st: JpegStructure, coefBudget: number): JpegMode {
  if (h.sof !== 0xc2 && st.scans === 1) {
    const sos = st.events.find((e) => e.kind === 'sos') as { seg: Uint8Array };
    if (sos.seg[0] === h.components.length) return 'stream';
  }
  return coefBytes(h) <= coefBudget ? 'store' : 'dc';
}

/** Bytes of the coefficient store: every block of the MCU-padded grid, 64 int32 each. */
export function coefBytes(h: JpegHeader): number {
  let blocks = 0;
  for (const c of h.components) blocks += h.mcusPerLine * c.h * h.mcusPerColumn * c.v;
  return blocks * 64 * 4;
}

/**
 * Decodes `bytes` into a resizer for a W x H output: at full scale ('stream' or 'store'), or at 1/8
 * scale ('dc'; always with `dcOnly`), one cell per 8x8 block with taps weighing cells by the pixels
 * they cover.
 */
export function decodeJpegRows(
  bytes: Uint8Array,
  h: JpegHeader,
  W: number,
  H: number,
  opts: { dcOnly?: boolean; coefBudget?: number } = {},
): { resizer: RowResizer; mode: JpegMode } {
  const st = structure(bytes);
  checkColor(h, st.adobeTransform);
  if (!st.scans) corrupt('no scan (SOS) in the file');
  for (const c of h.components) if (!st.qt[c.tq]) corrupt(`component ${c.id} uses quantization table ${c.tq}, never defined`);
  const mode = opts.dcOnly ? 'dc' : modeOf(h, st, opts.coefBudget ?? COEF_BUDGET_BYTES);
  const resizer = mode === 'dc' ? decodeDc(bytes, h, st, W, H) : decodeFull(bytes, h, st, W, H, mode);
  return { resizer, mode };
}

function decodeFull(bytes: Uint8Array, h: JpegHeader, st: JpegStructure, W: number, H: number, mode: 'stream' | 'store'): RowResizer {
  const nc = h.components.length;
  const rs = new RowResizer(h.width, h.height, W, H);
  const single = nc === 1;
  // per component: the blocks of one band (one MCU row; one block row for a 1-component frame)
  // and the sample lines they make; 'store' keeps every block of the MCU-padded grid instead
  const bands = h.components.map((c) => {
    const bpl = single && mode === 'stream' ? c.blocksPerLine : h.mcusPerLine * c.h;
    const rows = single ? 1 : c.v;
    return { bpl, rows, lines: new Uint8Array(rows * 8 * bpl * 8), stride: bpl * 8 };
  });
  const arrays = h.components.map((c, ci) =>
    mode === 'stream' ? new Int32Array(bands[ci].bpl * bands[ci].rows * 64) : new Int32Array(h.mcusPerLine * c.h * h.mcusPerColumn * c.v * 64),
  );
  const bandH = single ? 8 : h.maxV * 8;
  const xIdx = h.components.map((c) => {
    const sx = c.h / h.maxH, a = new Int32Array(h.width);
    for (let x = 0; x < h.width; x++) a[x] = 0 | (x * sx);
    return a;
  });
  const rowBuf = new Uint8Array(h.width * 3);
  const P = new Int32Array(64), s = new Int32Array(4), u8 = new Uint8Array(4);
  const qts = h.components.map((c) => st.qt[c.tq] as Int32Array);
  const emit = (row: number): void => {
    for (let ci = 0; ci < nc; ci++) {
      const b = bands[ci], zz = arrays[ci];
      for (let r = 0; r < b.rows; r++) {
        // 'store': block row (row * rows + r) of the padded grid; 'stream': row r of the band
        const base = mode === 'store' ? (row * b.rows + r) * b.bpl : r * b.bpl;
        for (let col = 0; col < b.bpl; col++) {
          const o = (base + col) * 64;
          if (o + 64 <= zz.length) idct(zz.subarray(o, o + 64), qts[ci], P, b.lines, r * 8 * b.stride + col * 8, b.stride);
        }
      }
      if (mode === 'stream') zz.fill(0);
    }
    const y1 = Math.min(h.height, (row + 1) * bandH);
    for (let y = row * bandH; y < y1; y++) {
      const offs = h.components.map((c, ci) => {
        const b = bands[ci];
        const line = 0 | (y * (c.v / h.maxV));
        const local = Math.min(Math.max(line - row * b.rows * 8, 0), b.rows * 8 - 1);
        return local * b.stride;
      });
      for (let x = 0; x < h.width; x++) {
        for (let ci = 0; ci < nc; ci++) s[ci] = bands[ci].lines[offs[ci] + xIdx[ci][x]];
        toRgb(nc, s, st.adobeTransform, u8, rowBuf, 3 * x);
      }
      rs.pushRow(rowBuf, 3);
    }
  };
  const progressive = h.sof === 0xc2;
  forEachScan(h, st, (e, { comps, ss, se, ah, al }, interval) => {
    const r = new ScanReader(bytes, e.data);
    r.ss = ss;
    r.se = se;
    r.al = al;
    const decode = !progressive
      ? (c: ScanComp, zz: Int32Array, o: number) => r.baseline(c, zz, o)
      : ss === 0
        ? ah === 0 ? (c: ScanComp, zz: Int32Array, o: number) => r.dcFirst(c, zz, o) : (c: ScanComp, zz: Int32Array, o: number) => r.dcRefine(c, zz, o)
        : ah === 0 ? (c: ScanComp, zz: Int32Array, o: number) => r.acFirst(c, zz, o) : (c: ScanComp, zz: Int32Array, o: number) => r.acRefine(c, zz, o);
    const scratch = new Int32Array(64);
    const arrs = mode === 'stream' ? arrays : arrays.map((a) => a);
    runScan(
      r, h, comps, interval, decode, arrs,
      (ci, row, col) => {
        const b = bands[ci];
        if (mode === 'stream') return ((single ? 0 : row % b.rows) * b.bpl + col) * 64;
        const o = (row * b.bpl + col) * 64;
        // past jpeg-js's padded grid (a malformed restart count): decoded, then dropped
        if (o + 64 > arrays[ci].length) { arrs[ci] = scratch; return 0; }
        arrs[ci] = arrays[ci];
        return o;
      },
      mode === 'stream' ? emit : () => {},
    );
  });
  if (mode === 'store') {
    const rows = single ? h.components[0].blocksPerColumn : h.mcusPerColumn;
    for (let row = 0; row < rows; row++) emit(row);
  }
  return rs;
}

/**
 * Calls `scan` for each SOS in file order, with the scan's components and spectral parameters and
 * the restart interval and Huffman tables in force where it stands.
 */
function forEachScan(
  h: JpegHeader,
  st: JpegStructure,
  scan: (e: Extract<JpegEvent, { kind: 'sos' }>, params: ReturnType<typeof scanComps>, interval: number) => void,
): void {
  const dcT: (Huff | undefined)[] = [], acT: (Huff | undefined)[] = [];
  let interval = 0;
  for (const e of st.events) {
    if (e.kind === 'dri') interval = e.interval;
    else if (e.kind === 'dht') applyDht(e.seg, dcT, acT);
    else scan(e, scanComps(e.seg, h, dcT, acT), interval);
  }
}

function applyDht(seg: Uint8Array, dcT: (Huff | undefined)[], acT: (Huff | undefined)[]): void {
  for (let q = 0; q < seg.length;) {
    const spec = seg[q];
    const { huff, next } = buildHuff(seg, q);
    (spec >> 4 === 0 ? dcT : acT)[spec & 15] = huff;
    q = next;
  }
}

/** Taps from cells of 8 source pixels (the last one cut at `src`) to `dst` outputs, by area overlap. */
export function cellWeights(src: number, cells: number, dst: number): AxisWeights {
  const idx: number[] = [], w: number[] = [];
  const start = new Int32Array(dst + 1);
  const scale = src / dst;
  for (let i = 0; i < dst; i++) {
    start[i] = idx.length;
    const a = i * scale, b = (i + 1) * scale;
    for (let j = Math.floor(a / 8); j < cells && 8 * j < b; j++) {
      const o = Math.min(b, 8 * j + 8, src) - Math.max(a, 8 * j);
      if (o > 1e-12) {
        idx.push(j);
        w.push(o / scale);
      }
    }
  }
  start[dst] = idx.length;
  return { start, idx: Int32Array.from(idx), w: Float64Array.from(w) };
}

function decodeDc(bytes: Uint8Array, h: JpegHeader, st: JpegStructure, W: number, H: number): RowResizer {
  const nc = h.components.length;
  const progressive = h.sof === 0xc2;
  // DC coefficients, in jpeg-js's MCU-padded block grid
  const bplMcu = h.components.map((c) => h.mcusPerLine * c.h);
  const dcs = h.components.map((c, ci) => new Int32Array(bplMcu[ci] * h.mcusPerColumn * c.v));
  const scratch = h.components.map(() => new Int32Array(64));
  forEachScan(h, st, (e, { comps, ss, ah, al }, interval) => {
    if (progressive && ss !== 0) return; // AC terms: not needed at 1/8 scale
    const r = new ScanReader(bytes, e.data);
    r.al = al;
    let curCi = 0, curAt = 0;
    const decode = !progressive
      ? (c: ScanComp, zz: Int32Array) => { zz.fill(0); r.baseline(c, zz, 0); dcs[curCi][curAt] = zz[0]; }
      : (c: ScanComp, zz: Int32Array) => {
        zz[0] = dcs[curCi][curAt];
        if (ah === 0) r.dcFirst(c, zz, 0);
        else r.dcRefine(c, zz, 0);
        dcs[curCi][curAt] = zz[0];
      };
    runScan(
      r, h, comps, interval, decode, scratch,
      (ci, row, col) => {
        // past the grid (a malformed restart count): decoded, then dropped
        curCi = ci;
        curAt = Math.min(row * bplMcu[ci] + col, dcs[ci].length);
        return 0;
      },
      () => {},
    );
  });
  const w8 = Math.ceil(h.width / 8), h8 = Math.ceil(h.height / 8);
  const rs = new RowResizer(w8, h8, W, H, cellWeights(h.width, w8, W), cellWeights(h.height, h8, H));
  const q0 = h.components.map((c) => (st.qt[c.tq] as Int32Array)[0]);
  // the block of each component under a cell's centre pixel
  const colOf = h.components.map((c) => {
    const a = new Int32Array(w8);
    for (let x = 0; x < w8; x++) a[x] = Math.min(Math.floor(Math.floor(((8 * x + 4) * c.h) / h.maxH) / 8), c.blocksPerLine - 1);
    return a;
  });
  const rowBuf = new Uint8Array(w8 * 3);
  const s = new Int32Array(4), u8 = new Uint8Array(4);
  for (let y = 0; y < h8; y++) {
    const rows = h.components.map((c) => Math.min(Math.floor(Math.floor(((8 * y + 4) * c.v) / h.maxV) / 8), c.blocksPerColumn - 1));
    for (let x = 0; x < w8; x++) {
      for (let ci = 0; ci < nc; ci++) s[ci] = dcSample(dcs[ci][rows[ci] * bplMcu[ci] + colOf[ci][x]] ?? 0, q0[ci]);
      toRgb(nc, s, st.adobeTransform, u8, rowBuf, 3 * x);
    }
    rs.pushRow(rowBuf, 3);
  }
  return rs;
}
