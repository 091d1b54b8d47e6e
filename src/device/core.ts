/**
 * The device path as Node runs it: the kernel module's device_* exports driven exactly as a C host
 * drives them (docs/DEVICE.md), so Node, wasm3 and WAMR run the same code from pixels to packet.
 *
 *   const dev = new DeviceCore(loadEngine(), makeDeviceBlob(fullBlobBytes));
 *   dev.setMode(dev.modeIndex({ members: 2, bits: 4 }));
 *   const packet = dev.encode({ data, width, height, channels: 3 }, 'full');   // a copy
 */
import type { Engine } from '../engine/wasm.js';
import type { PacketFormat } from '../model/api.js';

/** Status codes of the device_* exports (assembly/device.ts; meanings in docs/DEVICE.md). */
export const DEVICE_STATUS: Record<number, string> = {
  [-1]: 'wrong call order',
  [-2]: 'out of memory (memory.grow refused)',
  [-10]: 'device blob size does not match its header',
  [-11]: 'not a device blob (bad magic)',
  [-12]: 'unsupported device blob version',
  [-13]: 'device blob checksum mismatch',
  [-14]: 'device blob layout is damaged (a section is missing, repeated, misaligned or outside the file)',
  [-15]: 'device blob plan is inconsistent or points outside its data or arena',
  [-16]: 'device blob coder table is invalid',
  [-17]: 'device blob mode table disagrees with its plan or coder tables',
  [-18]: 'the plan needs a kernel this build lacks',
  [-19]: 'device blob int8 tensor is invalid',
  [-20]: 'no such mode',
  [-21]: "the mode's bit depth has no coder tables in this device blob",
  [-22]: "this device blob's arena is laid out for other members counts",
  [-30]: 'unknown pixel format',
  [-31]: 'bad frame size',
  [-32]: 'unknown packet kind',
  [-40]: 'coder failed',
  [-50]: 'plan run failed',
};

export class DeviceError extends Error {
  readonly status: number;
  readonly detail: number;
  constructor(what: string, status: number, detail: number) {
    super(`slimsplit: device: ${what}: ${DEVICE_STATUS[status] ?? 'unknown status'} (status ${status}, detail ${detail})`);
    this.name = 'DeviceError';
    this.status = status;
    this.detail = detail;
  }
}

interface DeviceExports {
  device_blob_alloc(len: number): number;
  device_init(ptr: number, len: number): number;
  device_set_mode(m: number): number;
  device_mode(): number;
  device_modes(): number;
  device_mode_info(m: number, k: number): number;
  device_model_id(): number;
  device_error_detail(): number;
  device_pixels(w: number, h: number, fmt: number): number;
  device_run(): number;
  device_codes(): number;
  device_encode(kind: number): number;
  device_packet(): number;
  device_memory_used(): number;
  device_memory_size(): number;
}

/** Pixels as the device takes them: 1 (gray), 3 (RGB) or 4 (RGBA) bytes per pixel, row-major. */
export interface DevicePixels {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

const FORMAT: Record<number, number> = { 3: 0, 4: 1, 1: 2 };

export interface DeviceModeInfo {
  members: number;
  bits: number;
  compact: number;
  codes: number;
  channels: number;
  kept: boolean;
}

export class DeviceCore {
  readonly eng: Engine;
  readonly modes: DeviceModeInfo[];
  private readonly x: DeviceExports;

  constructor(eng: Engine, deviceBlob: Uint8Array) {
    this.eng = eng;
    this.x = eng.exports as unknown as DeviceExports;
    if (typeof this.x.device_init !== 'function') throw new Error(`slimsplit: the ${eng.build} kernel module has no device_init export; rebuild it (npm run asbuild)`);
    const p = this.check('device_blob_alloc', this.x.device_blob_alloc(deviceBlob.length));
    eng.u8().set(deviceBlob, p);
    this.check('device_init', this.x.device_init(p, deviceBlob.length));
    const n = this.x.device_modes();
    this.modes = Array.from({ length: n }, (_, m) => ({
      members: this.x.device_mode_info(m, 0),
      bits: this.x.device_mode_info(m, 1),
      compact: this.x.device_mode_info(m, 2),
      codes: this.x.device_mode_info(m, 3),
      channels: this.x.device_mode_info(m, 4),
      kept: this.x.device_mode_info(m, 5) === 1,
    }));
  }

  private check(what: string, rc: number): number {
    if (rc < 0) throw new DeviceError(what, rc, this.x.device_error_detail());
    return rc;
  }

  get mode(): number {
    return this.x.device_mode();
  }
  get modelId(): number {
    return this.x.device_model_id() >>> 0;
  }

  /** Index of the mode with these members and bits, or -1. */
  modeIndex(members: number, bits: number): number {
    return this.modes.findIndex((m) => m.members === members && m.bits === bits);
  }

  setMode(m: number): void {
    this.check('device_set_mode', this.x.device_set_mode(m));
  }

  private frame(img: DevicePixels): void {
    const fmt = FORMAT[img.channels];
    const p = this.check('device_pixels', this.x.device_pixels(img.width, img.height, fmt ?? -1));
    this.eng.u8().set(img.data, p);
  }

  /**
   * One frame given as the model input itself ([3][H][W] f32, normalized, at the model's size):
   * `write` fills the view in place, so a host that decodes a large file straight to the input
   * never holds its pixels (pixel format 3 in docs/DEVICE.md). Returns a copy of the packet.
   */
  encodeInput(width: number, height: number, write: (input: Float32Array) => void, packet: PacketFormat = 'full'): Uint8Array {
    const p = this.check('device_pixels', this.x.device_pixels(width, height, 3));
    write(new Float32Array(this.eng.memory.buffer, p, 3 * width * height));
    const n = this.check('device_encode', this.x.device_encode(packet === 'compact' ? 1 : 0));
    const q = this.x.device_packet();
    return this.eng.u8().slice(q, q + n);
  }

  /** The encoder's codes for a frame: a view into WASM memory, valid until the next call. */
  codes(img: DevicePixels): Uint8Array {
    this.frame(img);
    this.check('device_run', this.x.device_run());
    const p = this.x.device_codes();
    return this.eng.u8().subarray(p, p + this.modes[this.mode].codes);
  }

  /** One frame to one packet (a copy). */
  encode(img: DevicePixels, packet: PacketFormat = 'full'): Uint8Array {
    this.frame(img);
    const n = this.check('device_encode', this.x.device_encode(packet === 'compact' ? 1 : 0));
    const p = this.x.device_packet();
    return this.eng.u8().slice(p, p + n);
  }

  /** Linear memory: the allocator's high-water mark and the memory's size (bytes). */
  memory(): { used: number; size: number } {
    return { used: this.x.device_memory_used(), size: this.x.device_memory_size() };
  }
}
