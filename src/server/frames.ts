/**
 * What happens to a frame between the transport that received it and the answer: envelope check,
 * device and model routing, duplicate and limit checks, the round-robin queue, the deadline check
 * when a worker frees up, the decode in the pool, the result and the metrics. Transports
 * (src/server/http.ts, src/server/mqtt.ts) only carry bytes in and results out.
 *
 *   const frames = new FrameService({ models, pool, metrics, maxQueue, maxInflight, maxBody, topK });
 *   frames.handle(bytes, { transport: 'ws', device: 'pi-7' }, (result) => socket.send(JSON.stringify(result)));
 *
 * `reply` is called exactly once per frame, whatever happens (a worker dying, shutdown).
 */
import { readEnvelope, EnvelopeError, dueAt } from './envelope.js';
import { PacketError, readPacket, readCompactPacket } from '../index.js';
import type { FrameResult, Outcome } from './result.js';
import type { ModelSet, ServedModel } from './models.js';
import type { DecoderPool, PoolReply } from './pool.js';
import type { ServerMetrics } from './metrics.js';
import { Scheduler } from './scheduler.js';
import { nowMs } from './worker.js';
import type { AnsweredFrame } from './live/stats.js';

export type Transport = 'http' | 'ws' | 'mqtt';

export interface FrameContext {
  transport: Transport;
  /** the device the transport names (WebSocket query, MQTT topic, HTTP ?device=) */
  device?: string;
  /** the model the route or topic names (name or 8-hex id) */
  model?: string;
}

export type Reply = (r: FrameResult) => void;

interface Job {
  device: string;
  seq: number;
  model: ServedModel;
  mode: string;
  transport: Transport;
  packet: Uint8Array;
  receivedAt: number;
  due: number;
  bytes: number;
  captureMs: number;
  reply: Reply;
  answered: boolean;
}

export interface FrameLimits {
  maxQueue: number;
  maxInflight: number;
  maxBody: number;
}

export class FrameService {
  readonly scheduler: Scheduler<Job>;
  private readonly live = new Set<Job>();
  draining = false;
  /** sees every frame that reached the queue, once answered (the live view) */
  onAnswer?: (f: AnsweredFrame) => void;
  private drainWaiters: (() => void)[] = [];

  constructor(
    readonly models: ModelSet,
    readonly pool: DecoderPool,
    readonly metrics: ServerMetrics,
    readonly limits: FrameLimits,
  ) {
    this.scheduler = new Scheduler<Job>({ maxQueue: limits.maxQueue, maxInflight: limits.maxInflight });
  }

  /** Takes one frame; `reply` gets its answer exactly once (a bug here answers 'failed', never crashes the server). */
  handle(bytes: Uint8Array, ctx: FrameContext, reply: Reply): void {
    let replied = false;
    const once: Reply = (r) => {
      if (replied) return;
      replied = true;
      reply(r);
    };
    try {
      this.take(bytes, ctx, once);
    } catch (e) {
      this.metrics.frame('unknown', 'unknown', ctx.transport, 'failed');
      once({ v: 1, device: ctx.device ?? null, seq: null, outcome: 'failed', error: { code: 'internal', message: `server error: ${(e as Error).message}` } });
    }
  }

  private take(bytes: Uint8Array, ctx: FrameContext, reply: Reply): void {
    const receivedAt = nowMs();
    const t = ctx.transport;
    this.metrics.received(t, bytes.length);
    const early = (outcome: Outcome, code: string, message: string, extra: Partial<FrameResult> = {}, model = 'unknown', mode = 'unknown'): void => {
      this.metrics.frame(model, mode, t, outcome);
      reply({ v: 1, device: extra.device ?? ctx.device ?? null, seq: extra.seq ?? null, outcome, ...extra, error: { code, message } });
    };
    if (bytes.length > this.limits.maxBody) return early('refused', 'too-large', `frame of ${bytes.length} bytes exceeds the server's limit of ${this.limits.maxBody} (--max-body)`);
    let env;
    try {
      env = readEnvelope(bytes);
    } catch (e) {
      if (e instanceof EnvelopeError) return early('malformed', `envelope:${e.code}`, e.message);
      throw e;
    }
    const { seq } = env.fields;
    const device = ctx.device ?? env.fields.device;
    if (device === undefined) return early('malformed', 'no-device', 'the frame names no device: put the device id in the envelope, the URL (?device=) or the topic', { seq });
    if (ctx.device !== undefined && env.fields.device !== undefined && env.fields.device !== ctx.device) {
      return early('malformed', 'device-mismatch', `the envelope says device '${env.fields.device}', the ${t === 'mqtt' ? 'topic' : 'connection'} says '${ctx.device}'`, { seq, device: ctx.device });
    }
    const ids = { seq, device };
    if (this.draining) return early('refused', 'draining', 'the server is shutting down; send this frame to another server or again later', ids);
    // routing: a full packet names its model; a compact one is named by the envelope, route or topic
    const p = env.packet;
    let model: ServedModel | undefined;
    let mode = 'unknown';
    try {
      if (p[0] === 0xd3) {
        const pk = readPacket(p);
        model = this.models.byId(pk.fields.modelId);
        if (!model) return early('malformed', 'unknown-model', `the packet is for model ${hex8(pk.fields.modelId)}; this server has ${this.modelList()}`, ids);
        if (env.fields.modelId !== undefined && env.fields.modelId !== pk.fields.modelId) {
          return early('malformed', 'model-mismatch', `the envelope names model ${hex8(env.fields.modelId)}, the packet carries ${hex8(pk.fields.modelId)}`, ids, model.name);
        }
        mode = pk.fields.mode.join(',');
      } else if (p[0] === 0xc1) {
        if (env.fields.modelId !== undefined) {
          model = this.models.byId(env.fields.modelId);
          if (!model) return early('malformed', 'unknown-model', `the envelope names model ${hex8(env.fields.modelId)}; this server has ${this.modelList()}`, ids);
        } else if (ctx.model !== undefined) {
          model = this.models.byName(ctx.model);
          if (!model) return early('malformed', 'unknown-model', `the ${t === 'mqtt' ? 'topic' : 'route'} names model '${ctx.model}'; this server has ${this.modelList()}`, ids);
        } else {
          model = this.models.only;
          if (!model) return early('malformed', 'unknown-model', `a compact packet carries no model id and this server has ${this.models.models.length} models: name one in the envelope, the ${t === 'mqtt' ? 'topic' : 'URL (?model=)'}`, ids);
        }
        readCompactPacket(p, model.id);
        const m = model.modes[p[1]];
        if (!m) return early('malformed', 'packet:bad-field', `packet: compact packet mode byte ${p[1]}: model '${model.name}' has modes 0..${model.modes.length - 1}`, ids, model.name);
        mode = `${m.members ?? 1},${m.bits ?? 8}`;
      } else {
        readPacket(p); // names the bad magic
      }
    } catch (e) {
      if (e instanceof PacketError) return early('malformed', `packet:${e.code}`, e.message, ids, model?.name);
      throw e;
    }
    const m = model!;
    const named = { model: m.name, modelId: m.idHex };
    const refusal = this.scheduler.admit(device, seq);
    if (refusal) return early(refusal.outcome, refusal.code, refusal.message, { ...ids, ...named }, m.name, mode);
    const job: Job = { device, seq, model: m, mode, transport: t, packet: p, receivedAt, due: dueAt(env.fields, Date.now()), bytes: bytes.length, captureMs: env.fields.captureMs, reply, answered: false };
    this.live.add(job);
    if (Date.now() > job.due) return this.late(job, receivedAt);
    this.scheduler.push(job);
    this.pump();
  }

  private modelList(): string {
    return this.models.models.map((m) => `'${m.name}' (${m.idHex})`).join(', ');
  }

  /** Hands waiting frames to free workers, answering those whose deadline has passed. */
  pump(): void {
    while (this.scheduler.depth > 0 && this.pool.hasRoom()) {
      const job = this.scheduler.next()!;
      if (job.answered) continue;
      if (Date.now() > job.due) {
        this.late(job, nowMs());
        continue;
      }
      this.pool.run(job.model.index, job.packet, (r) => this.finish(job, r));
    }
  }

  private late(job: Job, at: number): void {
    const queueMs = at - job.receivedAt;
    this.answer(job, 'late', { queueMs: round3(queueMs), error: { code: 'deadline', message: `the frame's deadline passed ${Math.max(0, Date.now() - job.due).toFixed(0)} ms before a worker was free (waited ${queueMs.toFixed(1)} ms); not decoded` } }, true);
  }

  private finish(job: Job, r: PoolReply): void {
    if (job.answered) {
      // answered already (drain timeout): the worker's slot is free all the same
      this.pump();
      return;
    }
    const queueMs = r.startedAt > 0 ? r.startedAt - job.receivedAt : undefined;
    if (queueMs !== undefined) this.metrics.queued(job.model.name, Math.max(0, queueMs) / 1000);
    if (r.ok) {
      this.metrics.decoded(job.model.name, r.decodeMs / 1000);
      const classes = job.model.classes;
      const topk = Array.from(r.classes, (c, i) => ({ class: c, label: classes[c] ?? String(c), score: r.scores[i] }));
      const top = topk[0];
      this.answer(job, 'ok', { class: top?.class, label: top?.label, topk, mode: { members: r.members, bits: r.bits }, queueMs: round3(queueMs!), decodeMs: round3(r.decodeMs) }, true);
    } else if (r.error.kind === 'malformed') {
      this.answer(job, 'malformed', { error: { code: r.error.code, message: r.error.message } }, false);
    } else {
      // the device may send it again: forget the seq so a resend is decoded, not called a duplicate
      this.answer(job, 'failed', { error: { code: r.error.code, message: r.error.message } }, false);
    }
    this.pump();
  }

  private answer(job: Job, outcome: Outcome, extra: Partial<FrameResult>, keepSeq: boolean): void {
    if (job.answered) return;
    job.answered = true;
    this.live.delete(job);
    this.scheduler.done(job.device, job.seq, keepSeq);
    this.metrics.frame(job.model.name, job.mode, job.transport, outcome);
    job.reply({ v: 1, device: job.device, seq: job.seq, outcome, model: job.model.name, modelId: job.model.idHex, ...extra });
    if (this.onAnswer) {
      const now = Date.now();
      this.onAnswer({ device: job.device, mode: job.mode, bytes: job.bytes, receivedMs: now - (nowMs() - job.receivedAt), answeredMs: now, captureMs: job.captureMs, dueMs: job.due, outcome });
    }
    if (this.live.size === 0 && this.drainWaiters.length) for (const w of this.drainWaiters.splice(0)) w();
  }

  /**
   * Stops taking frames and waits for the ones in flight to be answered; after `timeoutMs` answers
   * the rest with 'failed' (drain-timeout). Resolves with the number answered that way.
   */
  async drain(timeoutMs: number): Promise<number> {
    this.draining = true;
    if (this.live.size > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        this.drainWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    const left = [...this.live];
    for (const job of left) this.answer(job, 'failed', { error: { code: 'drain-timeout', message: `the server shut down before this frame was decoded (--drain-timeout ${timeoutMs} ms); send it again` } }, false);
    this.scheduler.drainAll();
    return left.length;
  }

  /** frames received and not yet answered */
  get pending(): number {
    return this.live.size;
  }
}

function hex8(id: number): string {
  return (id >>> 0).toString(16).padStart(8, '0');
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
