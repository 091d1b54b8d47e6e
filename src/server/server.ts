/**
 * `slimsplit serve` as a library: models, decoder pool, frame service, HTTP/WebSocket front and
 * MQTT (embedded broker or an external one), started and drained together.
 *
 *   const srv = await startServer({ models: ['weights/see-cifar10.slim'], port: 0, mqttPort: 0 });
 *   srv.http.port; srv.mqtt?.port;          // where it listens
 *   await srv.close();                      // drain: stop accepting, answer what is in flight, exit
 */
import { cpus } from 'node:os';
import { ModelSet } from './models.js';
import { DecoderPool } from './pool.js';
import { ServerMetrics } from './metrics.js';
import { FrameService } from './frames.js';
import { WebFront } from './http.js';
import { SERVE_DEFAULTS } from './defaults.js';
import { LiveStats } from './live/stats.js';
import { LiveFeed } from './live/feed.js';
import { EmbeddedBroker, BrokerLink, DEFAULT_PREFIX, type MqttFront } from './mqtt.js';

export interface ServeOptions {
  /** model paths or blob bytes (at least one) */
  models: (string | Uint8Array)[];
  host?: string;
  /** HTTP + WebSocket port (default 8080; 0: any free port) */
  port?: number;
  /** embedded MQTT broker port (default 1883; 0: any free port; null: no MQTT) */
  mqttPort?: number | null;
  /** external MQTT 5 broker URL instead of the embedded one */
  broker?: string;
  /** shared-subscription group on the external broker */
  group?: string;
  topicPrefix?: string;
  workers?: number;
  maxQueue?: number;
  maxInflight?: number;
  maxBody?: number;
  maxConnections?: number;
  /** ms to finish frames in flight at shutdown */
  drainTimeoutMs?: number;
  topK?: number;
  /** frames handed to one worker at a time */
  depth?: number;
  build?: 'simd' | 'scalar' | 'auto';
  /** process metrics (CPU, memory, event loop) in /metrics (default true) */
  processMetrics?: boolean;
  log?: (s: string) => void;
}

export { SERVE_DEFAULTS };

export interface RunningServer {
  models: ModelSet;
  pool: DecoderPool;
  frames: FrameService;
  metrics: ServerMetrics;
  /** the live view's window (GET / shows it) */
  live: LiveStats;
  http: { host: string; port: number };
  mqtt?: { kind: 'embedded' | 'external'; port?: number; url?: string };
  /** drain and stop; resolves with the number of frames answered 'drain-timeout' */
  close(): Promise<number>;
}

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const opt = { ...SERVE_DEFAULTS, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) } as typeof SERVE_DEFAULTS & ServeOptions;
  const log = o.log ?? (() => {});
  if (opt.models.length === 0) throw new Error('slimsplit: serve: no model (--model <file.slim>)');
  for (const [k, v] of Object.entries({ maxQueue: opt.maxQueue, maxInflight: opt.maxInflight, maxBody: opt.maxBody, maxConnections: opt.maxConnections, topK: opt.topK })) {
    if (!(Number.isInteger(v) && v >= 1)) throw new Error(`slimsplit: serve: ${k} must be an integer >= 1, got ${v}`);
  }
  const models = await ModelSet.load(opt.models);
  const metrics = new ServerMetrics(opt.processMetrics ?? true);
  const workers = opt.workers ?? cpus().length;
  let frames: FrameService | undefined;
  const pool = new DecoderPool({
    blobs: models.models.map((m) => m.bytes),
    workers,
    topK: opt.topK,
    depth: opt.depth ?? opt.workerDepth,
    build: opt.build,
    onRestart: (i, why) => {
      metrics.workerRestarts.inc();
      log(`slimsplit: serve: ${why}; replaced\n`);
    },
    onLoad: () => frames?.pump(),
  });
  try {
    await pool.ready();
  } catch (e) {
    await pool.close();
    throw e;
  }
  frames = new FrameService(models, pool, metrics, { maxQueue: opt.maxQueue, maxInflight: opt.maxInflight, maxBody: opt.maxBody });
  const fs = frames;
  metrics.state = {
    queueDepth: () => fs.scheduler.depth,
    inflight: () => fs.scheduler.inflight,
    workersBusy: () => pool.busy,
    workersOnline: () => pool.online,
  };
  const live = new LiveStats();
  fs.onAnswer = (f) => live.record(f);
  const prefix = opt.topicPrefix ?? DEFAULT_PREFIX;
  let mqtt: MqttFront | undefined;
  let mqttInfo: RunningServer['mqtt'];
  let draining = false;
  const readiness = () => {
    const brokerOk = !mqtt || mqtt.connected();
    const ready = !draining && pool.online === pool.size && brokerOk;
    return {
      ready,
      draining,
      models: models.models.map((m) => ({ name: m.name, id: m.idHex })),
      workers: { online: pool.online, size: pool.size },
      broker: mqtt ? { kind: mqtt.kind, connected: mqtt.connected() } : null,
    };
  };
  const web = new WebFront(fs, { maxConnections: opt.maxConnections, maxWsBuffer: 1 << 20 }, readiness, metrics, new LiveFeed(live));
  try {
    const a = await web.listen(opt.port, opt.host);
    if (opt.broker) {
      const link = new BrokerLink(fs, opt.broker, prefix, opt.group);
      await link.connect();
      mqtt = link;
      mqttInfo = { kind: 'external', url: opt.broker };
    } else if (opt.mqttPort !== null) {
      const b = new EmbeddedBroker(fs, metrics, prefix, { maxConnections: opt.maxConnections, drainTimeoutMs: 10_000 });
      const ma = await b.listen(opt.mqttPort, opt.host);
      mqtt = b;
      mqttInfo = { kind: 'embedded', port: ma.port };
    }
    log(`slimsplit: serve: ${models.models.map((m) => `${m.name} (${m.idHex})`).join(', ')}; ${workers} decoder worker${workers > 1 ? 's' : ''}; http://${opt.host}:${a.port} (POST /v1/frames, ws /v1/ws, /healthz /readyz /metrics, live view at /)${mqttInfo ? (mqttInfo.kind === 'embedded' ? `; MQTT broker mqtt://${opt.host}:${mqttInfo.port}` : `; MQTT via ${opt.broker} ($share/${opt.group}/${prefix}/frames/#)`) : ''}\n`);
    let closing: Promise<number> | undefined;
    return {
      models,
      pool,
      frames: fs,
      metrics,
      live,
      http: { host: opt.host, port: a.port },
      mqtt: mqttInfo,
      close: () =>
        (closing ??= (async () => {
          draining = true;
          web.stopAccepting();
          await mqtt?.stopAccepting();
          const cut = await fs.drain(opt.drainTimeoutMs);
          await web.close();
          await mqtt?.close();
          await pool.close();
          return cut;
        })()),
    };
  } catch (e) {
    await web.close().catch(() => {});
    await mqtt?.close().catch(() => {});
    await pool.close();
    throw e;
  }
}
