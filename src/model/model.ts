/**
 * The split API: one blob, a device-side encoder and a server-side decoder.
 *
 *   import { loadModel } from 'slimsplit';
 *   const model = await loadModel('see-cifar10');                  // a shipped model's name, a path, URL or bytes
 *   const enc = model.encoder();                                   // device side
 *   enc.setMode({ members: 2, bits: 4 });                          // no reload: new slice bounds only
 *   const packet: Uint8Array = enc.encode(image);                  // RGB/RGBA pixels or a JPEG/PNG file
 *   const dec = model.decoder();                                   // server side
 *   const { logits, top1, label, mode } = dec.decode(packet);
 *   enc.close(); dec.close();                                      // or model.close(): closes both
 *
 * Each encoder/decoder owns a kernel module instance (the device and the server are different
 * machines). The encoder is the device path inside the module (assembly/device.ts): it gets this
 * model's device blob (src/device/blob.ts) and turns pixels into a packet in one export call, the
 * same code C hosts run (docs/DEVICE.md). The decoder places the blob's weights and plan, the arena,
 * the coder tables and the payload buffer in WASM memory when it is made; decode() reads the header,
 * decodes straight into the decoder plan's input and runs it.
 */
import type { Classifier, DecodeResult, DeviceEncoder, EncoderOptions, ImageInput, Mode, ModelInfo, PacketFormat, ServerDecoder, RawImage } from './api.js';
import { readBlob } from '../format/reader.js';
import { type Blob } from '../format/schema.js';
import { Runner } from '../engine/plan/runner.js';
import { CdfTables, decodeAt, CoderError, contextsPerGroup, type CoderContext, type ContextNeighbours, type TableSpec } from '../codec/coder.js';
import { modelIdOf, readPacket, PacketError, isCompactPacket, readCompactPacket, COMPACT_OVERHEAD } from '../codec/packet.js';
import { modeTable, modesOf, splitInfo, formatMode, type ModeInfo, type SplitInfo } from '../codec/modes.js';
import { toInput, decodeImage, checkRaw, ImageError, MAX_PIXELS } from './image.js';
import { decodeBoundedInto, imageSize, takesBounded, FULL_DECODE_MAX_PIXELS } from './bounded-image.js';
import { DeviceCore, type DevicePixels } from '../device/core.js';
import { makeDeviceBlob, type DeviceBlobOptions } from '../device/blob.js';
import { Arena, loadEngine, type Build, type Engine } from '../engine/wasm.js';
import { modelBytes, type ModelSource } from './source.js';
import { imageArg, modeArg, packetArg, axesText } from './input.js';
import { validateModel } from './validate.js';

export type { Mode, ModelInfo, DecodeResult, DeviceEncoder, ServerDecoder, Classifier, ImageInput, EncoderOptions, PacketFormat } from './api.js';
export { pickMode, type ModeInfo, type ModeBudget } from '../codec/modes.js';

export interface LoadModelOptions {
  /** kernel build: 'auto' (default) picks SIMD when the runtime has it */
  build?: Build | 'auto';
}

/**
 * Reads a blob from a path, a shipped model's name ('see-cifar10': the package's weights/, from any
 * directory), a URL (file:, http:, https:), a Uint8Array or an ArrayBuffer, and validates all of it
 * (src/model/validate.ts): what loads, encodes and decodes in every mode.
 */
export async function loadModel(src: ModelSource, opts: LoadModelOptions = {}): Promise<Model> {
  return new Model(await modelBytes(src), opts);
}

/** Something close() releases: a model's encoders, decoders and classifiers. */
interface Closable {
  close(): void;
}

/** Coder section json (written by src/format/pack.ts from the exporter's symbol counts). */
export interface CoderMeta {
  kind: 'rans-channel';
  /** the mode axis that selects a table set */
  axis: 'bits';
  channels: number;
  /** symbols per channel: H * W */
  groupSize: number;
  /** axis value -> tensor name of its [channels][T + 2] integer CDFs, T <= 2^bits ([channels * K^3][T + 2] with a context) */
  tables: Record<string, string>;
  /** row length of the bottleneck (context coding) */
  W?: number;
  /** axis values coded with contexts (src/codec/coder.ts CoderContext) */
  contexts?: Record<string, { K: number; shift: number; neighbours?: ContextNeighbours }>;
  /** axis value -> per channel, bits per image on the training set under the shipped tables */
  bitsPerImage?: Record<string, number[]>;
}

export class Model {
  readonly bytes: Uint8Array;
  readonly blob: Blob;
  readonly info: ModelInfo;
  readonly build: Build | 'auto';
  private readonly modelIdU32: number;
  /** the exporter's metadata (blob json): classes, split point, PyTorch's top-1 per mode, ... */
  readonly meta: Record<string, unknown>;
  /** what encoder(), decoder() and classifier() made and not yet closed */
  private readonly open = new Set<Closable>();
  private closed = false;

  constructor(bytes: Uint8Array, opts: LoadModelOptions = {}) {
    this.bytes = bytes;
    this.blob = readBlob(bytes);
    this.build = opts.build ?? 'auto';
    this.meta = this.blob.json ? (JSON.parse(this.blob.json) as Record<string, unknown>) : {};
    validateModel(this.blob, this.meta);
    this.modelIdU32 = modelIdOf(bytes);
    const id = new Uint8Array(4);
    new DataView(id.buffer).setUint32(0, this.modelIdU32, true);
    const shape = this.blob.input.shape;
    this.info = {
      name: this.blob.name,
      inputShape: [shape[0], shape[1], shape[2]],
      mean: this.blob.input.mean,
      std: this.blob.input.std,
      axes: Object.fromEntries(this.blob.axes.map((a) => [a.name, a.values.slice()])),
      classes: Array.isArray(this.meta.classes) ? (this.meta.classes as string[]) : [],
      modelId: id,
      blobBytes: bytes.length,
    };
  }

  /** Every combination of the mode axes, smallest first. */
  modes(): Mode[] {
    return modesOf(this.blob);
  }

  hasGraph(name: string): boolean {
    return this.blob.graphs.some((g) => g.name === name);
  }

  encoder(opts: EncoderOptions = {}): SplitEncoder {
    this.live();
    const packet = opts.packet ?? 'full';
    if (packet !== 'full' && packet !== 'compact') throw new Error(`slimsplit: unknown packet format '${String(packet)}' (full or compact)`);
    return this.track(new SplitEncoder(this, loadEngine({ build: this.build }), packet));
  }
  decoder(): SplitDecoder {
    this.live();
    return this.track(new SplitDecoder(this, loadEngine({ build: this.build })));
  }
  classifier(): ImageClassifier {
    this.live();
    return this.track(new ImageClassifier(this, loadEngine({ build: this.build })));
  }

  /**
   * Closes every encoder, decoder and classifier this model made (each releases its kernel module
   * instance and WASM memory) and refuses to make more. Idempotent.
   */
  close(): void {
    this.closed = true;
    for (const c of [...this.open]) c.close();
    this.open.clear();
  }
  [Symbol.dispose](): void {
    this.close();
  }

  private live(): void {
    if (this.closed) throw new Error(`slimsplit: model '${this.info.name}' is closed`);
  }
  private track<T extends Closable>(c: T): T {
    this.open.add(c);
    return c;
  }
  /** @internal: a closed encoder/decoder is no longer the model's to close. */
  untrack(c: Closable): void {
    this.open.delete(c);
  }

  private deviceBlobs = new Map<string, Uint8Array>();
  /** The device-only blob of this model (src/device/blob.ts), made once per set of kept bit depths. */
  deviceBlob(opts: DeviceBlobOptions = {}): Uint8Array {
    const key = opts.bits ? opts.bits.join(',') : '*';
    let b = this.deviceBlobs.get(key);
    if (!b) this.deviceBlobs.set(key, (b = makeDeviceBlob(this.bytes, opts, this.blob)));
    return b;
  }

  /**
   * The names of the model's outputs when it has several (an imported detector's heads laid end to
   * end, meta.outputs); empty for a classifier's one vector of class scores.
   */
  get heads(): string[] {
    const o = this.meta.outputs;
    return Array.isArray(o) && o.length > 1 ? o.map((p) => String((p as { name?: unknown }).name)) : [];
  }

  /** @internal */
  get modelId(): number {
    return this.modelIdU32;
  }
  /** @internal */
  split(): SplitInfo {
    return splitInfo(this.info.name, this.meta);
  }
  /** @internal: the coder tables as specs, per value of the coder's axis. */
  coderTables(): { meta: CoderMeta; specs: TableSpec[]; first: Map<number, number> } {
    const c = this.blob.coder;
    if (!c) throw new Error(`slimsplit: model '${this.info.name}' ships no entropy-coder tables`);
    const meta = JSON.parse(c.json) as CoderMeta;
    const specs: TableSpec[] = [];
    const first = new Map<number, number>();
    for (const [v, name] of Object.entries(meta.tables)) {
      const t = this.blob.tensor(name);
      const ti = this.blob.tensors.find((q) => q.name === name)!;
      const [rows, len] = ti.shape;
      const ctx = meta.contexts?.[v];
      const per = ctx ? contextsPerGroup(ctx) : 1;
      if (rows !== meta.channels * per) throw new Error(`slimsplit: coder table '${name}' has ${rows} rows, the coder says ${meta.channels} channels x ${per} contexts`);
      if (ctx && !(Number.isInteger(meta.W) && meta.W! >= 1 && meta.groupSize % meta.W! === 0)) throw new Error(`slimsplit: coder: context coding for bits=${v} needs a row length W dividing ${meta.groupSize}, got ${meta.W}`);
      first.set(Number(v), specs.length);
      for (let r = 0; r < rows; r++) specs.push({ cdf: t.subarray(r * len, (r + 1) * len), offset: 0 });
    }
    return { meta, specs, first };
  }
  /** What each mode costs and gives, for choosing one at run time: see modeTable and pickMode in src/codec/modes.ts. */
  modeTable(opts: { packet?: PacketFormat } = {}): ModeInfo[] {
    return modeTable(this.blob, this.meta, this.modelId, opts.packet === 'compact' ? COMPACT_OVERHEAD : undefined);
  }

  /** @internal */
  label(k: number): string {
    return this.info.classes[k] ?? String(k);
  }
}

function argmax(x: Float32Array): number {
  let k = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[k]) k = i;
  return k;
}

/**
 * The decoder's coder side: the blob's CDF tables resident in WASM memory, and the per-channel
 * table index for the current bit depth (written on a mode change, not per packet).
 */
class ChannelCoder {
  readonly tables: CdfTables;
  readonly groupSize: number;
  /** i32 [channels] in WASM memory */
  readonly tableIndex: number;
  /** the current bit depth's context, if it is coded with one */
  context: CoderContext | undefined;
  private readonly first: Map<number, number>;
  private readonly meta: CoderMeta;
  private readonly eng: Engine;
  private readonly model: Model;

  constructor(model: Model, eng: Engine, arena: Arena, lookup: boolean) {
    const { meta, specs, first } = model.coderTables();
    // The decoder's slot lookups are 128 KiB each: only for the large tables (8 bits), not the
    // thousands of small context tables.
    this.tables = new CdfTables(eng, arena, specs, { lookup: lookup ? 'auto' : false });
    this.first = first;
    this.meta = meta;
    this.groupSize = meta.groupSize;
    this.tableIndex = arena.alloc(4 * meta.channels, 4);
    this.eng = eng;
    this.model = model;
  }

  /** Channel c of a `bits`-bit tensor is coded with its own table. */
  select(bits: number, channels: number): void {
    const base = this.first.get(bits);
    if (base === undefined) throw new Error(`slimsplit: model '${this.model.info.name}' has no coder tables for bits=${bits}`);
    const ctx = this.meta.contexts?.[String(bits)];
    this.context = ctx ? { W: this.meta.W!, K: ctx.K, shift: ctx.shift, neighbours: ctx.neighbours } : undefined;
    const per = ctx ? contextsPerGroup(ctx) : 1;
    const i32 = this.eng.i32();
    for (let c = 0; c < channels; c++) i32[(this.tableIndex >> 2) + c] = base + c * per;
  }
}

/**
 * What an encoder, decoder or classifier holds in its kernel module instance; dropped on close() so
 * the instance and its WebAssembly.Memory can be collected even while the object stays reachable.
 */
abstract class ModuleUser implements Closable {
  protected readonly model: Model;
  private engine: Engine | null;
  private readonly what: string;

  constructor(model: Model, eng: Engine, what: string) {
    this.model = model;
    this.engine = eng;
    this.what = what;
  }

  /** The kernel module instance (throws once closed). */
  get eng(): Engine {
    if (!this.engine) throw new Error(`slimsplit: this ${this.what} of model '${this.model.info.name}' is closed`);
    return this.engine;
  }

  /** Throws if closed. */
  protected check(): void {
    void this.eng;
  }

  /** Releases the kernel module instance and its memory; later calls throw. Idempotent. */
  close(): void {
    if (!this.engine) return;
    this.engine = null;
    this.release();
    this.model.untrack(this);
  }
  [Symbol.dispose](): void {
    this.close();
  }

  /** Drops every reference into the instance (runner, coder tables, arena offsets). */
  protected abstract release(): void;
}

/**
 * Device side: image -> packet in one call into the kernel module (assembly/device.ts), the same
 * code a C host runs on wasm3 or WAMR (docs/DEVICE.md). This class only reads image files and
 * maps modes; the module holds the device blob (src/device/blob.ts) made from this model.
 */
export class SplitEncoder extends ModuleUser implements DeviceEncoder {
  private dev: DeviceCore | null;
  readonly packet: PacketFormat;
  private readonly modes: Mode[];

  constructor(model: Model, eng: Engine, packet: PacketFormat = 'full') {
    super(model, eng, 'encoder');
    this.packet = packet;
    this.modes = model.modes();
    this.dev = new DeviceCore(eng, model.deviceBlob());
  }

  /** The module's device path (throws once closed). */
  get device(): DeviceCore {
    this.check();
    return this.dev!;
  }

  protected release(): void {
    this.dev = null;
  }

  get mode(): Mode {
    this.check();
    return { ...this.modes[this.device.mode] };
  }

  /** Sets the given axes (others keep their value); an axis the model lacks or a value it lacks throws. */
  setMode(mode: Mode): void {
    this.check();
    const arg = modeArg(mode, this.model.info.axes, this.model.info.name) as Record<string, number | undefined>;
    const want: Record<string, number> = { ...(this.mode as Record<string, number>) };
    const axes = this.model.blob.axes;
    for (const [k, v] of Object.entries(arg)) {
      if (v === undefined) continue;
      const a = axes.find((q) => q.name === k)!;
      if (!a.values.includes(Math.fround(v))) throw new Error(`slimsplit: model '${this.model.info.name}' has no mode ${k}=${v}; valid: ${axes.map((q) => `${q.name} in {${q.values.join(', ')}}`).join('; ')}`);
      want[k] = Math.fround(v);
    }
    this.device.setMode(this.modes.findIndex((q) => axes.every((a) => q[a.name] === want[a.name])));
  }

  /** The encoder network alone: the codes in WASM memory (a view, valid until the next call). */
  codes(image: ImageInput): Uint8Array {
    this.check();
    return this.device.codes(devicePixels(imageArg(image)));
  }

  encode(image: ImageInput): Uint8Array {
    this.check();
    const img = imageArg(image);
    if (img instanceof Uint8Array && takesBoundedDecode(img)) {
      // large files go straight to the model input, never held as pixels (docs/MEMORY.md)
      const [, H, W] = this.model.info.inputShape;
      const { mean, std } = this.model.info;
      return this.device.encodeInput(W, H, (input) => {
        decodeBoundedInto(img, [H, W], mean, std, input);
      }, this.packet);
    }
    return this.device.encode(devicePixels(img), this.packet);
  }
}

/**
 * Whether the bounded decoder takes a file, decided from its header before the device path runs
 * once (an interlaced PNG under its own threshold, say, is decoded whole). The size test comes
 * first so that small files meet the full decoder's checks, in its words, as before.
 */
function takesBoundedDecode(bytes: Uint8Array): boolean {
  const d = imageSize(bytes);
  return d !== null && d.width * d.height > FULL_DECODE_MAX_PIXELS && takesBounded(bytes);
}

/** Image files decoded, pixels checked: what the device takes (gray, RGB or RGBA bytes). */
function devicePixels(image: RawImage | Uint8Array): DevicePixels {
  const raw = image instanceof Uint8Array ? decodeImage(image) : image;
  if ((raw.channels as number) === 1) {
    const { width, height, data } = raw;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || !data || data.length !== width * height) {
      throw new ImageError('pixels', `a ${width}x${height} gray image needs ${width * height} bytes, got ${data?.length}`);
    }
    return raw as unknown as DevicePixels;
  }
  checkRaw(raw);
  if (raw.width * raw.height > MAX_PIXELS) throw new ImageError('too-large', `${raw.width}x${raw.height} pixels, over the device's cap of ${MAX_PIXELS}`);
  return raw;
}

/** Server side: packet -> rANS decode into the decoder's input -> decoder network -> logits. */
export class SplitDecoder extends ModuleUser implements ServerDecoder {
  private runner: Runner;
  private coder: ChannelCoder;
  private readonly split: SplitInfo;
  private readonly payload: number;
  private readonly payloadCap: number;
  private readonly modes: Mode[];

  constructor(model: Model, eng: Engine) {
    super(model, eng, 'decoder');
    this.modes = model.modes();
    const arena = new Arena(eng);
    this.runner = new Runner(eng, model.blob, 'decoder', { arena });
    if (this.runner.inputDtype !== 'u8') throw new Error(`slimsplit: model '${model.info.name}': its decoder graph does not take codes`);
    this.coder = new ChannelCoder(model, eng, arena, true);
    this.split = model.split();
    this.payloadCap = 2 * this.runner.inputLength + 64;
    this.payload = arena.alloc(this.payloadCap, 16);
  }

  protected release(): void {
    this.runner = null as unknown as Runner;
    this.coder = null as unknown as ChannelCoder;
  }

  /** Reads a full or a compact packet (told apart by the first byte), as a Uint8Array or ArrayBuffer. */
  decode(packetBytes: Uint8Array | ArrayBuffer): DecodeResult {
    const eng = this.eng;
    const packet = packetArg(packetBytes);
    let members: number, bits: number, payload: Uint8Array;
    const { tables, groupSize, tableIndex } = this.coder;
    if (isCompactPacket(packet)) {
      const p = readCompactPacket(packet, this.model.modelId);
      const m = this.modes[p.mode];
      if (m === undefined) throw new PacketError('bad-field', `compact packet mode byte ${p.mode}: model '${this.model.info.name}' has modes 0..${this.modes.length - 1}`);
      members = m.members ?? 1;
      bits = m.bits ?? 8;
      payload = p.payload;
      this.runner.setMode({ members, bits });
    } else {
      const p = readPacket(packet, { modelId: this.model.modelId });
      [members, bits] = p.fields.mode;
      if (p.fields.mode.length !== 2) throw new PacketError('bad-field', `packet mode has ${p.fields.mode.length} bytes; model '${this.model.info.name}' expects [members, bits]`);
      if (p.fields.quant.kind !== 'implied') throw new PacketError('bad-field', `packet carries '${p.fields.quant.kind}' quantization; model '${this.model.info.name}' uses the mode's own`);
      const axes = this.model.info.axes;
      if (!axes.members?.includes(members) || !axes.bits?.includes(bits)) {
        throw new PacketError('bad-field', `packet mode members=${members}, bits=${bits} is not a mode of model '${this.model.info.name}' (${axesText(axes)})`);
      }
      this.runner.setMode({ members, bits });
      const n = this.runner.inputLength;
      const [C, H, W] = p.fields.shape;
      if (C * groupSize !== n || H !== this.split.H || W !== this.split.W) {
        throw new PacketError('bad-field', `packet tensor [${C}, ${H}, ${W}] does not match mode ${formatMode({ members, bits })} ([${n / groupSize}, ${this.split.H}, ${this.split.W}])`);
      }
      payload = p.payload;
    }
    const n = this.runner.inputLength;
    if (payload.length > this.payloadCap) throw new PacketError('bad-field', `payload of ${payload.length} bytes exceeds the ${this.payloadCap} any stream of this model can need`);
    this.coder.select(bits, n / groupSize);
    eng.u8().set(payload, this.payload);
    const inp = this.runner.inputView();
    decodeAt(eng, tables, { bytes: this.payload, length: payload.length, symbols: inp.byteOffset, n, type: 'u8', groupSize, tableIndex, context: this.coder.context });
    const logits = Float32Array.from(this.runner.run() as Float32Array);
    const top1 = argmax(logits);
    return { logits, top1, label: this.model.label(top1), mode: { members, bits } };
  }
}

/** A plain classifier graph (the JPEG baseline): image -> logits. */
export class ImageClassifier extends ModuleUser implements Classifier {
  private runner: Runner;

  constructor(model: Model, eng: Engine) {
    super(model, eng, 'classifier');
    this.runner = new Runner(eng, model.blob, 'classifier', { arena: new Arena(eng) });
  }

  protected release(): void {
    this.runner = null as unknown as Runner;
  }

  classify(image: ImageInput): { logits: Float32Array; top1: number; label: string } {
    this.check();
    const inp = this.runner.inputView() as Float32Array;
    toInput(imageArg(image), this.model.info.inputShape, this.model.info.mean, this.model.info.std, inp);
    const logits = Float32Array.from(this.runner.run() as Float32Array);
    const top1 = argmax(logits);
    return { logits, top1, label: this.model.label(top1) };
  }
}

export { CoderError, PacketError };
