/**
 * The device side of `slimsplit serve`: encode frames and stream them in the frame envelope
 * (src/server/envelope.ts, docs/ENVELOPE.md) over HTTP, WebSocket or MQTT.
 *
 *   const s = await connect('http://127.0.0.1:8080', { model: 'weights/see-cifar10.slim', transport: 'ws' });
 *   s.setMode({ members: 2, bits: 4 });
 *   const r = await s.send(image, { deadlineMs: 150 });
 *   r.result.label; r.timings.e2eMs; r.deadlineHeld;
 *   await s.close();
 *
 * Frames are numbered (seq) and several may be in flight; results are matched by seq. With a
 * `shaper` (link.ts), every envelope waits in the send path until the emulated uplink would have
 * delivered it, so a real run and a simulated one see the same link; the device's send queue puts a
 * frame on that link only when it has finished the one before, and drops one that reaches the head
 * of the queue already certain to miss its deadline (link.ts `sendOrDrop`, as the simulator does).
 *
 * Transports, all well-kept libraries rather than hand-written protocol code: HTTP is Node's own
 * fetch (undici, keep-alive, one POST per frame, no head-of-line blocking between frames); WebSocket
 * is `ws` (the server's library too); MQTT is MQTT.js (`mqtt`), QoS 1 both ways, as the server
 * recommends.
 */
import mqtt, { type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { loadModel, type Model } from '../model/model.js';
import type { ImageInput, Mode, RawImage } from '../model/api.js';
import { decodeImage } from '../model/image.js';
import { writeEnvelope, DEVICE_ID_RE } from '../server/envelope.js';
import type { FrameResult as ServerResult } from '../server/result.js';
import { sleepUntil, sendOrDrop, DROPPED_LATE, type RealTimeShaper, type Sent } from './link.js';

export type Transport = 'http' | 'ws' | 'mqtt';

export interface ConnectOptions {
  /** the model (a loaded one, or a blob path) */
  model: Model | string;
  /** default: from the URL (http: -> http, ws: -> ws, mqtt: -> mqtt) */
  transport?: Transport;
  /** device id (default: 'dev-' and random digits) */
  device?: string;
  /** emulated uplink in the send path */
  shaper?: RealTimeShaper;
  /**
   * with a shaper and a deadline: drop a frame that reaches the head of the send queue when now + the
   * link's one-way delay >= capture + deadline (default true; false: every frame enters the link when encoded)
   */
  dropLate?: boolean;
  /** ms to wait for a result before the frame counts as lost (default 10,000) */
  timeoutMs?: number;
  /** MQTT topic prefix (default slimsplit/v1) */
  topicPrefix?: string;
}

export interface SendOptions {
  /** mode for this frame (default: the session's) */
  mode?: Mode;
  /** deadline in ms from capture; 0: none (default 0) */
  deadlineMs?: number;
  /** when the frame was captured, performance.now() ms (default: now) */
  capturedAt?: number;
}

export interface FrameTimings {
  encodeMs: number;
  /** round trip minus the server's time: uplink, the emulated link's queue and delay, downlink */
  uplinkMs: number;
  serverQueueMs: number;
  serverDecodeMs: number;
  /** capture to result */
  e2eMs: number;
}

export interface SendResult {
  seq: number;
  mode: Required<Pick<Mode, 'members' | 'bits'>>;
  /** bytes on the wire: envelope and packet */
  bytes: number;
  result: ServerResult;
  timings: FrameTimings;
  /** performance.now() ms */
  capturedAt: number;
  sentAt: number;
  resultAt: number;
  /** the result came back ok within the deadline (always true with no deadline and an ok outcome) */
  deadlineHeld: boolean;
  /**
   * with a shaper: when the emulated link delivered the envelope's last byte, or, for a dropped
   * frame, when the send queue dropped it (performance.now() ms)
   */
  linkAt?: number;
  /**
   * the device's send queue dropped the frame, certain to be late (`dropped: late at the device`): it
   * never reached the link or the server; `result` is then the device's own, outcome late, error
   * code `dropped`
   */
  dropped?: boolean;
}

export class DeviceError extends Error {
  constructor(message: string) {
    super(`slimsplit: device: ${message}`);
    this.name = 'DeviceError';
  }
}

/** What a transport does: carry envelopes one way, results the other. */
interface Wire {
  send(envelope: Uint8Array, seq: number): void;
  close(): Promise<void>;
}

interface Waiter {
  resolve: (r: ServerResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class DeviceSession {
  readonly model: Model;
  readonly device: string;
  readonly transport: Transport;
  private readonly enc;
  private readonly modelId: number;
  private wire!: Wire;
  private seq = 0;
  private readonly waiting = new Map<number, Waiter>();
  /** emulated uplink in the send path (may be set after connecting, e.g. to start its clock with the stream) */
  shaper?: RealTimeShaper;
  /** ConnectOptions.dropLate */
  dropLate: boolean;
  private readonly timeoutMs: number;
  private closed = false;
  /** bytes on the wire and encoder ms of the latest send() (known before it first awaits) */
  lastBytes = 0;
  lastEncodeMs = 0;
  /** performance.now() ms when the latest send() handed its envelope on (its result's sentAt) */
  lastSentAt = NaN;
  /** a link send in progress: envelopes leave in seq order */
  private sendChain: Promise<void> = Promise.resolve();

  constructor(model: Model, device: string, transport: Transport, o: ConnectOptions) {
    this.model = model;
    this.device = device;
    this.transport = transport;
    this.enc = model.encoder({ packet: 'compact' });
    this.modelId = new DataView(model.info.modelId.buffer, model.info.modelId.byteOffset, 4).getUint32(0, true);
    this.shaper = o.shaper;
    this.dropLate = o.dropLate ?? true;
    this.timeoutMs = o.timeoutMs ?? 10_000;
  }

  /** @internal */
  attach(wire: Wire): void {
    this.wire = wire;
  }

  /** @internal: a result text from the transport */
  deliver(text: string): void {
    let r: ServerResult;
    try {
      r = JSON.parse(text) as ServerResult;
    } catch {
      return;
    }
    if (typeof r.seq !== 'number') {
      // A result the server could not tie to a frame: it must be about the oldest one waiting.
      const first = this.waiting.keys().next();
      if (first.done) return;
      r = { ...r, seq: first.value };
    }
    const w = this.waiting.get(r.seq!);
    if (!w) return;
    this.waiting.delete(r.seq!);
    clearTimeout(w.timer);
    w.resolve(r);
  }

  setMode(mode: Mode): void {
    this.enc.setMode(mode);
  }

  get mode(): Mode {
    return this.enc.mode;
  }

  /** Frames sent whose results have not come back. */
  get inFlight(): number {
    return this.waiting.size;
  }

  /** Encodes `image` and sends it; resolves with the server's result and this frame's timings. */
  async send(image: ImageInput | RawImage, o: SendOptions = {}): Promise<SendResult> {
    if (this.closed) throw new DeviceError('the session is closed');
    const capturedAt = o.capturedAt ?? performance.now();
    const deadlineMs = o.deadlineMs ?? 0;
    if (!(Number.isInteger(deadlineMs) && deadlineMs >= 0)) throw new DeviceError(`deadlineMs must be a whole number of ms >= 0, got ${deadlineMs}`);
    if (o.mode) this.enc.setMode(o.mode);
    const t0 = performance.now();
    const packet = this.enc.encode(image instanceof Uint8Array ? decodeImage(image) : image);
    const encodeMs = performance.now() - t0;
    const mode = { members: this.enc.mode.members ?? 1, bits: this.enc.mode.bits ?? 8 };
    const seq = this.seq++ >>> 0;
    // Capture time on the wall clock, for the server's deadline check (same machine or NTP).
    const captureMs = Math.round(Date.now() - (performance.now() - capturedAt));
    const env = writeEnvelope({ seq, captureMs, deadlineMs, modelId: this.modelId }, packet);
    this.lastBytes = env.length;
    this.lastEncodeMs = encodeMs;
    const sentAt = performance.now();
    this.lastSentAt = sentAt;
    let sent: Sent | undefined;
    if (this.shaper) {
      // The send queue decides in link time, from the frame's send time and the link's state, so the
      // host's timer lag moves neither the decision nor the link (the simulator computes the same).
      const sh = this.shaper;
      const due = this.dropLate && deadlineMs > 0 ? capturedAt - sh.startedAt + deadlineMs : Infinity;
      sent = sendOrDrop(sh.link, sentAt - sh.startedAt, env.length, due);
      if (sent.dropped) {
        const droppedAt = sent.droppedAt;
        await sleepUntil(() => sh.elapsed(), droppedAt);
        const resultAt = performance.now();
        const result: ServerResult = { v: 1, device: this.device, seq, outcome: 'late', error: { code: 'dropped', message: `${DROPPED_LATE}: it reached the head of the send queue ${(droppedAt + sh.startedAt - capturedAt).toFixed(1)} ms after capture, with a ${sh.link.delayMs}-ms one-way delay and a ${deadlineMs}-ms deadline` } };
        return {
          seq, mode, bytes: env.length, result, capturedAt, sentAt, resultAt,
          timings: { encodeMs, uplinkMs: NaN, serverQueueMs: NaN, serverDecodeMs: NaN, e2eMs: resultAt - capturedAt },
          deadlineHeld: false, linkAt: sh.startedAt + droppedAt, dropped: true,
        };
      }
    }
    const answer = new Promise<ServerResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(seq);
        reject(new DeviceError(`no result for frame ${seq} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiting.set(seq, { resolve, reject, timer });
    });
    let linkAt: number | undefined;
    if (this.shaper && sent && !sent.dropped) {
      // The emulated link decides when the bytes arrive; they leave in order.
      const at = sent.arrival;
      linkAt = this.shaper.startedAt + at;
      const prev = this.sendChain;
      this.sendChain = prev.then(async () => {
        await sleepUntil(() => this.shaper!.elapsed(), at);
        this.wire.send(env, seq);
      });
      await this.sendChain;
    } else this.wire.send(env, seq);
    const result = await answer;
    const resultAt = performance.now();
    const serverQueueMs = result.queueMs ?? 0, serverDecodeMs = result.decodeMs ?? 0;
    const e2eMs = resultAt - capturedAt;
    return {
      seq, mode, bytes: env.length, result, capturedAt, sentAt, resultAt,
      timings: { encodeMs, uplinkMs: resultAt - sentAt - serverQueueMs - serverDecodeMs, serverQueueMs, serverDecodeMs, e2eMs },
      deadlineHeld: result.outcome === 'ok' && (deadlineMs === 0 || e2eMs <= deadlineMs),
      linkAt,
    };
  }

  /** Waits for no frame; rejects those in flight; closes the transport. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [seq, w] of this.waiting) {
      clearTimeout(w.timer);
      w.reject(new DeviceError(`session closed with frame ${seq} in flight`));
    }
    this.waiting.clear();
    await this.wire.close();
  }
}

/** Opens a session to `slimsplit serve` at `url` (http://host:port, ws://host:port, mqtt://host:port). */
export async function connect(url: string, o: ConnectOptions): Promise<DeviceSession> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new DeviceError(`'${url}' is not a server URL (http://host:port, ws://host:port or mqtt://host:port)`);
  }
  const scheme = u.protocol.replace(/:$/, '');
  const transport: Transport = o.transport ?? (scheme === 'mqtt' || scheme === 'mqtts' ? 'mqtt' : scheme === 'ws' || scheme === 'wss' ? 'ws' : 'http');
  if (!['http', 'ws', 'mqtt'].includes(transport)) throw new DeviceError(`unknown transport '${transport}' (http, ws or mqtt)`);
  if (transport === 'mqtt' ? !/^mqtts?$/.test(scheme) : !/^(https?|wss?)$/.test(scheme)) {
    throw new DeviceError(`transport ${transport} cannot use a ${scheme}: URL (${transport === 'mqtt' ? 'mqtt://host:1883' : 'http://host:8080'})`);
  }
  const device = o.device ?? `dev-${Math.floor(Math.random() * 1e9)}`;
  if (!DEVICE_ID_RE.test(device)) throw new DeviceError(`device id '${device}' must be 1-64 of A-Z a-z 0-9 _ . -`);
  const model = typeof o.model === 'string' ? await loadModel(o.model) : o.model;
  const s = new DeviceSession(model, device, transport, o);
  const base = `${u.host}${u.pathname.replace(/\/$/, '')}`;
  if (transport === 'http') s.attach(httpWire(`${scheme.replace(/^ws/, 'http')}://${base}/v1/frames?device=${encodeURIComponent(device)}`, s));
  else if (transport === 'ws') s.attach(await wsWire(`${scheme.replace(/^http/, 'ws')}://${base}/v1/ws?device=${encodeURIComponent(device)}`, s));
  else s.attach(await mqttWire(url, o.topicPrefix ?? 'slimsplit/v1', device, s));
  return s;
}

function httpWire(endpoint: string, s: DeviceSession): Wire {
  const pending = new Set<Promise<void>>();
  return {
    send(env, seq) {
      const p = fetch(endpoint, { method: "POST", body: env as unknown as RequestInit["body"], headers: { 'content-type': 'application/octet-stream' } })
        .then(async (res) => s.deliver(await res.text()))
        .catch((e: Error) => s.deliver(JSON.stringify({ v: 1, device: s.device, seq, outcome: 'failed', error: { code: 'transport', message: e.message } })))
        .finally(() => pending.delete(p));
      pending.add(p);
    },
    async close() {
      await Promise.allSettled([...pending]);
    },
  };
}

function wsWire(url: string, s: DeviceSession): Promise<Wire> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('error', (e) => reject(new DeviceError(`cannot open ${url}: ${e.message}`)));
    ws.on('message', (data, isBinary) => {
      if (!isBinary) s.deliver(data.toString());
    });
    ws.once('open', () => {
      ws.on('error', () => {});
      resolve({
        send(env) {
          ws.send(env, { binary: true });
        },
        close: () =>
          new Promise<void>((r) => {
            if (ws.readyState === ws.CLOSED) return r();
            ws.once('close', () => r());
            ws.close(1000);
          }),
      });
    });
  });
}

async function mqttWire(url: string, prefix: string, device: string, s: DeviceSession): Promise<Wire> {
  const client: MqttClient = await mqtt.connectAsync(url, { clientId: `slimsplit-${device}`, clean: true, reconnectPeriod: 0, connectTimeout: 5000 }).catch((e: Error) => {
    throw new DeviceError(`cannot connect to the MQTT broker at ${url}: ${e.message}`);
  });
  await client.subscribeAsync(`${prefix}/results/${device}`, { qos: 1 });
  client.on('message', (_topic, payload) => s.deliver(payload.toString()));
  const topic = `${prefix}/frames/${device}`;
  return {
    send(env) {
      client.publish(topic, Buffer.from(env.buffer, env.byteOffset, env.byteLength), { qos: 1 });
    },
    async close() {
      await client.endAsync();
    },
  };
}
