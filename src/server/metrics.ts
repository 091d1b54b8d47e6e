/**
 * The server's Prometheus metrics (prom-client), one registry per server instance so that several
 * servers in one process (tests) keep their counts apart. Names and labels: docs/DEPLOY.md.
 */
import { Registry, Counter, Histogram, Gauge, collectDefaultMetrics } from 'prom-client';

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

  constructor(withDefaults = true) {
    const registers = [this.registry];
    if (withDefaults) collectDefaultMetrics({ register: this.registry, prefix: 'slimsplit_' });
    this.frames = new Counter({ name: 'slimsplit_frames_total', help: 'Frames answered, by model, mode (members,bits), transport and outcome', labelNames: ['model', 'mode', 'transport', 'outcome'], registers });
    this.decodeSeconds = new Histogram({ name: 'slimsplit_decode_seconds', help: 'Time a worker spent decoding a frame (rANS + decoder network)', labelNames: ['model'], buckets: TIME_BUCKETS, registers });
    this.queueSeconds = new Histogram({ name: 'slimsplit_queue_seconds', help: 'Time from receipt of a frame to a worker starting on it', labelNames: ['model'], buckets: TIME_BUCKETS, registers });
    this.frameBytes = new Histogram({ name: 'slimsplit_frame_bytes', help: 'Bytes per frame received (envelope and packet)', labelNames: ['transport'], buckets: BYTE_BUCKETS, registers });
    this.queueDepth = new Gauge({ name: 'slimsplit_queue_depth', help: 'Frames waiting for a worker', registers });
    this.inflight = new Gauge({ name: 'slimsplit_frames_in_flight', help: 'Frames received and not yet answered', registers });
    this.workersBusy = new Gauge({ name: 'slimsplit_workers_busy', help: 'Decoder workers holding at least one frame', registers });
    this.workers = new Gauge({ name: 'slimsplit_workers', help: 'Decoder workers online', registers });
    this.workerRestarts = new Counter({ name: 'slimsplit_worker_restarts_total', help: 'Decoder workers that died and were replaced', registers });
    this.connections = new Gauge({ name: 'slimsplit_connections', help: 'Open client connections by transport', labelNames: ['transport'], registers });
    this.refusedConnections = new Counter({ name: 'slimsplit_connections_refused_total', help: 'Connections refused over --max-connections or while draining', labelNames: ['transport'], registers });
  }
}
