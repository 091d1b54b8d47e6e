/**
 * Linear memory the device path takes, part by part: the same allocations, in the same order and
 * alignment, as assembly/device.ts makes them (device_blob_alloc, device_init, device_pixels), so
 * the total equals device_memory_used() after a frame (test/device/device.test.ts checks it).
 *
 *   const b = deviceBudget(makeDeviceBlob(full, { bits: [1] }), eng.exports.heap_base());
 *   b.total; b.parts;   // bytes
 *
 * Memory per mode: a device that runs one mode is given a device blob for it alone (`slimsplit
 * device-blob --bits B --members M`: that bit depth's tables, the plan's arena laid out for that
 * members count). docs/DEVICE.md lists the figures.
 */
import { readDeviceBlobInfo } from './blob.js';

const TAB_WORDS = 8;
const HEADER_MAX = 24;
/** crc tables, normalization table, params scratch (assembly/device.ts device_blob_alloc) */
const FIXED_BYTES = 1536 + 3072 + 128;

export interface DeviceBudget {
  total: number;
  parts: {
    /** module data and stack below __heap_base, and alignment up to the first allocation */
    module: number;
    /** CRC tables, the normalization lookup, call params */
    fixed: number;
    /** the device blob as copied in (plan, modes, coder frequencies, weights as stored) */
    blob: number;
    /** int8 weights expanded to f32 for the kernels */
    weightsF32: number;
    /** the encoder plan's activation arena (for the members counts the blob runs) */
    arena: number;
    /** rANS directory and symbol words of the largest kept table set, table index per channel */
    coderTables: number;
    /** packet buffer (header room, coder capacity, CRC) */
    packet: number;
    /** the frame's pixels and resize scratch */
    frame: number;
  };
}

const up = (x: number, a: number): number => Math.ceil(x / a) * a;

/** Resize scratch of assembly/device_image.ts resizeScratch. */
function resizeScratch(sw: number, sh: number, W: number, H: number): number {
  const taps = (s: number, d: number) => 2 * (s + d) + 2;
  return sh * W * 3 * 4 + 64 + (W + 1 + taps(sw, W)) * 12 + (H + 1 + taps(sh, H)) * 12 + 64;
}

/** `frame`: the frame size and bytes per pixel (default: the model's input size, RGB). */
export function deviceBudget(deviceBlob: Uint8Array, heapBase: number, frame?: { width: number; height: number; channels: number }): DeviceBudget {
  const info = readDeviceBlobInfo(deviceBlob);
  const [, H, W] = info.input;
  const f = frame ?? { width: W, height: H, channels: 3 };
  let top = up(heapBase, 64);
  const module = top;
  const take = (bytes: number, alignment: number): number => {
    const start = top;
    top = up(top, alignment) + bytes;
    return top - start;
  };
  const fixed = take(FIXED_BYTES, 64);
  const blob = take(info.bytes, 64);
  const weightsF32 = take(info.expandBytes, 16);
  const arena = take(Math.max(info.arenaBytes, 16), 64);
  const maxTables = Math.max(...info.coderSets.map((s) => s.tables * (TAB_WORDS * 4 + 4 * s.symbols)));
  const maxC = Math.max(...info.modes.filter((m) => m.kept).map((m) => m.channels));
  const coderTables = take(maxTables, 16) + take(4 * maxC, 16);
  const packet = take(HEADER_MAX + 2 * info.maxCodes + 64 + 2, 16);
  let frameBytes = take(f.width * f.height * f.channels, 16);
  if (f.width !== W || f.height !== H) frameBytes += take(resizeScratch(f.width, f.height, W, H), 64);
  return { total: top, parts: { module, fixed, blob, weightsF32, arena, coderTables, packet, frame: frameBytes } };
}
