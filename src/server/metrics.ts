/**
 * The server's Prometheus metrics (prom-client), one registry per server instance so that several
 * servers in one process (tests) keep their counts apart. Names and labels: docs/DEPLOY.md.
 *
 * The per-frame updates go through label children cached here (prom-client otherwise hashes the
 * label object on every call), and the gauges of the server's state (queue depth, frames in flight,
 * busy workers, workers online) are read when /metrics is scraped, not set on every frame.
 */
import { Registry, Counter, Histogram, Gauge, collectDefaultMetrics } from 'prom-client';

/** what the scrape-time gauges read */
export interface ServerState {
  queueDepth(): number;
  inflight(): number;
  workersBusy(): number;
  workersOnline(): number;
}

/** frames counted since the last scrape, per label set */
interface FrameCount {
  labels: { model: string; mode: string; transport: string; outcome: string };
  n: number;
}

// decode and queue times of a few ms; frames of tens of bytes to a few KiB
const TIME_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const BYTE_BUCKETS = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 16384, 65536];

export class ServerMetrics {
  readonly registry = new Registry();
  readonly frames: Counter<'model' | 'mode' | 'transport' | 'outcome'>;
  readonly decodeSeconds: Histogram<'model'>;
  readonly queueSeconds: Histogram<'model'>;
  readonly frameBytes: Histogram<'transport'>;
  readonly queueDepth: Gauge;
  readonly inflight: Gauge;
  readonly workersBusy: Gauge;
  readonly workers: Gauge;
  readonly workerRestarts: Counter;
  readonly connections: Gauge<'transport'>;
  readonly refusedConnections: Counter<'transport'>;
  /** set by the server once its parts exist; the gauges read 0 until then */
  state?: ServerState;
  private readonly frameCounts = new Map<string, FrameCount>();
  /** label objects made once per value: prom-client keeps them, the frame path allocates none */
  private readonly modelLabels = new Map<string, { model: string }>();
  private readonly transportLabels = new Map<string, { transport: string }>();

  constructor(withDefaults = true) {
    const registers = [this.registry];
    if (withDefaults) collectDefaultMetrics({ register: this.registry, prefix: 'slimsplit_' });
    const counts = this.frameCounts;
    this.frames = new Counter({
      name: 'slimsplit_frames_total',
      help: 'Frames answered, by model, mode (members,bits), transport and outcome',
      labelNames: ['model', 'mode', 'transport', 'outcome'],
      registers,
      collect(this: Counter<'model' | 'mode' | 'transport' | 'outcome'>) {
        for (const c of counts.values()) {
          if (c.n > 0) this.inc(c.labels, c.n);
          c.n = 0;
        }
      },
    });
    this.decodeSeconds = new Histogram({ name: 'slimsplit_decode_seconds', help: 'Time a worker spent decoding a frame (rANS + decoder network)', labelNames: ['model'], buckets: TIME_BUCKETS, registers });
    this.queueSeconds = new Histogram({ name: 'slimsplit_queue_seconds', help: 'Time from receipt of a frame to a worker starting on it', labelNames: ['model'], buckets: TIME_BUCKETS, registers });
    this.frameBytes = new Histogram({ name: 'slimsplit_frame_bytes', help: 'Bytes per frame received (envelope and packet)', labelNames: ['transport'], buckets: BYTE_BUCKETS, registers });
    const state = (read: (s: ServerState) => number) => {
      const m = this;
      return function (this: Gauge) {
        this.set(m.state ? read(m.state) : 0);
      };
    };
    this.queueDepth = new Gauge({ name: 'slimsplit_queue_depth', help: 'Frames waiting for a worker', registers, collect: state((s) => s.queueDepth()) });
    this.inflight = new Gauge({ name: 'slimsplit_frames_in_flight', help: 'Frames received and not yet answered', registers, collect: state((s) => s.inflight()) });
    this.workersBusy = new Gauge({ name: 'slimsplit_workers_busy', help: 'Decoder workers holding at least one frame', registers, collect: state((s) => s.workersBusy()) });
    this.workers = new Gauge({ name: 'slimsplit_workers', help: 'Decoder workers online', registers, collect: state((s) => s.workersOnline()) });
    this.workerRestarts = new Counter({ name: 'slimsplit_worker_restarts_total', help: 'Decoder workers that died and were replaced', registers });
    this.connections = new Gauge({ name: 'slimsplit_connections', help: 'Open client connections by transport', labelNames: ['transport'], registers });
    this.refusedConnections = new Counter({ name: 'slimsplit_connections_refused_total', help: 'Connections refused over --max-connections or while draining', labelNames: ['transport'], registers });
  }

  /** counts one answered frame (added to slimsplit_frames_total when it is read) */
  frame(model: string, mode: string, transport: string, outcome: string): void {
    const k = `${model}\n${mode}\n${transport}\n${outcome}`;
    const c = this.frameCounts.get(k);
    if (c) c.n++;
    else this.frameCounts.set(k, { labels: { model, mode, transport, outcome }, n: 1 });
  }

  decoded(model: string, seconds: number): void {
    this.decodeSeconds.observe(this.byModel(model), seconds);
  }

  queued(model: string, seconds: number): void {
    this.queueSeconds.observe(this.byModel(model), seconds);
  }

  received(transport: string, bytes: number): void {
    let l = this.transportLabels.get(transport);
    if (!l) this.transportLabels.set(transport, (l = { transport }));
    this.frameBytes.observe(l, bytes);
  }

  private byModel(model: string): { model: string } {
    let l = this.modelLabels.get(model);
    if (!l) this.modelLabels.set(model, (l = { model }));
    return l;
  }
}
