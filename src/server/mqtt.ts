/**
 * MQTT: devices publish envelopes to `<prefix>/frames/<device>` (or `<prefix>/frames/<device>/<model>`
 * for compact packets on a multi-model server) and get results on `<prefix>/results/<device>`.
 *
 * Two ways to the same topics:
 * - EmbeddedBroker: an aedes broker inside the server process (the default: devices need nothing
 *   else on one machine). The server subscribes in-process, with no extra network hop.
 * - BrokerLink (`--broker mqtt://host:1883`): an MQTT 5 client (MQTT.js) of an external broker,
 *   consuming through the shared subscription `$share/<group>/<prefix>/frames/#`, so N servers split
 *   the frames and a server that dies leaves its share to the others.
 */
import { createServer as createNetServer, type Server as NetServer, type AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { Aedes, type Client, type AedesPublishPacket } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { DEVICE_ID_RE } from './envelope.js';
import { listenError } from './http.js';
import type { FrameService } from './frames.js';
import type { FrameResult } from './result.js';
import type { ServerMetrics } from './metrics.js';

export const DEFAULT_PREFIX = 'slimsplit/v1';

export interface MqttFront {
  readonly kind: 'embedded' | 'external';
  connected(): boolean;
  stopAccepting(): Promise<void>;
  close(): Promise<void>;
}

/** device and model from `<prefix>/frames/<device>[/<model>]`, or why the topic is not one */
export function parseFrameTopic(prefix: string, topic: string): { device: string; model?: string } | { error: string } {
  const head = `${prefix}/frames/`;
  if (!topic.startsWith(head)) return { error: `topic '${topic}' is not under ${head}` };
  const parts = topic.slice(head.length).split('/');
  if (parts.length > 2 || !DEVICE_ID_RE.test(parts[0])) return { error: `topic '${topic}': frames go to ${head}<device>[/<model>] with a device id of 1-64 of A-Z a-z 0-9 _ . -` };
  return parts.length === 2 ? { device: parts[0], model: parts[1] } : { device: parts[0] };
}

function resultTopic(prefix: string, device: string | null): string {
  return `${prefix}/results/${device ?? '_unknown'}`;
}

/** Frames from a topic go to the frame service; a topic that names no device gets a malformed answer on _unknown. */
function onFrame(frames: FrameService, prefix: string, topic: string, payload: Uint8Array, send: (topic: string, r: FrameResult) => void): void {
  const t = parseFrameTopic(prefix, topic);
  if ('error' in t) {
    frames.metrics.frame('unknown', 'unknown', 'mqtt', 'malformed');
    send(resultTopic(prefix, null), { v: 1, device: null, seq: null, outcome: 'malformed', error: { code: 'no-device', message: t.error } });
    return;
  }
  frames.handle(payload, { transport: 'mqtt', device: t.device, model: t.model }, (r) => send(resultTopic(prefix, t.device), r));
}

export class EmbeddedBroker implements MqttFront {
  readonly kind = 'embedded';
  private broker!: Aedes;
  private net!: NetServer;
  private stopping = false;
  private readonly deliver = (packet: AedesPublishPacket, cb: () => void): void => {
    onFrame(this.frames, this.prefix, packet.topic, packet.payload as Buffer, (topic, r) => this.publish(topic, r, Math.min(packet.qos, 1) as 0 | 1));
    cb();
  };

  constructor(
    private readonly frames: FrameService,
    private readonly metrics: ServerMetrics,
    private readonly prefix: string,
    private readonly opts: { maxConnections: number; drainTimeoutMs: number },
  ) {}

  async listen(port: number, host: string): Promise<AddressInfo> {
    // drainTimeout: a subscriber that stops reading is dropped after this long instead of holding
    // one of the broker's delivery slots for ever (aedes docs: one frozen client can stall all)
    this.broker = await Aedes.createBroker({ concurrency: 1000, drainTimeout: this.opts.drainTimeoutMs, maxClientsIdLength: 128 });
    this.broker.authenticate = (client: Client, _u, _p, done) => {
      if (this.stopping || this.broker.connectedClients >= this.opts.maxConnections) {
        this.metrics.refusedConnections.inc({ transport: 'mqtt' });
        const e = Object.assign(new Error(this.stopping ? 'server shutting down' : `connection limit ${this.opts.maxConnections} reached (--max-connections)`), { returnCode: 3 });
        return done(e as never, false);
      }
      done(null, true);
    };
    this.broker.on('client', () => this.metrics.connections.inc({ transport: 'mqtt' }));
    this.broker.on('clientDisconnect', () => this.metrics.connections.dec({ transport: 'mqtt' }));
    await new Promise<void>((r) => this.broker.subscribe(`${this.prefix}/frames/#`, this.deliver, () => r()));
    this.net = createNetServer(this.broker.handle as never);
    return new Promise((resolve, reject) => {
      this.net.once('error', (e: NodeJS.ErrnoException) => reject(listenError('MQTT', host, port, '--mqtt-port (or --no-mqtt)', e)));
      this.net.listen(port, host, () => resolve(this.net.address() as AddressInfo));
    });
  }

  private publish(topic: string, r: FrameResult, qos: 0 | 1): void {
    this.broker.publish({ cmd: 'publish', topic, payload: Buffer.from(JSON.stringify(r)), qos, retain: false, dup: false } as never, () => {});
  }

  connected(): boolean {
    return !!this.net?.listening;
  }

  async stopAccepting(): Promise<void> {
    this.stopping = true;
    this.net?.close();
  }

  async close(): Promise<void> {
    this.stopping = true;
    // give QoS 1 results a moment to leave before the broker closes the sockets
    await new Promise((r) => setTimeout(r, 100));
    await new Promise<void>((r) => this.broker.close(() => r()));
    await new Promise<void>((r) => (this.net.listening ? this.net.close(() => r()) : r()));
  }
}

export class BrokerLink implements MqttFront {
  readonly kind = 'external';
  private client!: MqttClient;
  private readonly filter: string;

  constructor(
    private readonly frames: FrameService,
    private readonly url: string,
    private readonly prefix: string,
    group: string,
  ) {
    this.filter = `$share/${group}/${prefix}/frames/#`;
  }

  async connect(timeoutMs = 10_000): Promise<void> {
    this.client = mqtt.connect(this.url, {
      protocolVersion: 5,
      clean: true,
      clientId: `slimsplit-serve-${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      reconnectPeriod: 1000,
      connectTimeout: timeoutMs,
    });
    this.client.on('message', (topic, payload) => {
      onFrame(this.frames, this.prefix, topic, payload, (t, r) => {
        this.client.publish(t, JSON.stringify(r), { qos: 1 });
      });
    });
    this.client.on('error', () => {}); // reconnects; /readyz reports the state
    // resubscribe after a reconnect too (clean sessions lose subscriptions)
    this.client.on('connect', () => this.client.subscribe(this.filter, { qos: 1 }));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`slimsplit: serve: cannot reach the MQTT broker ${this.url} within ${timeoutMs} ms`)), timeoutMs);
      this.client.once('connect', () => {
        clearTimeout(t);
        resolve();
      });
    });
    await this.client.subscribeAsync(this.filter, { qos: 1 });
  }

  connected(): boolean {
    return !!this.client?.connected;
  }

  /** Leaves the shared subscription, so the broker sends new frames to the other servers. */
  async stopAccepting(): Promise<void> {
    this.client.removeAllListeners('connect');
    if (this.client.connected) await this.client.unsubscribeAsync(this.filter).catch(() => {});
  }

  async close(): Promise<void> {
    await this.client.endAsync(false);
  }
}
