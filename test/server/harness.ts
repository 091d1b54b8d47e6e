/**
 * Shared pieces of the server tests: the tiny split model on disk, reference packets with their
 * in-process decode, and simulated devices for each transport that keep a window of frames in
 * flight and record every answer.
 *
 *   const ref = await reference();                          // packets + expected results
 *   const srv = await startServer({ models: [ref.path], port: 0, mqttPort: 0, workers: 2 });
 *   const got = await wsDevice(`ws://127.0.0.1:${srv.http.port}`, 'd0', frames, 8);
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import http from 'node:http';
import { WebSocket } from 'ws';
import mqtt from 'mqtt';
import { Model } from '../../src/model/model.js';
import { writeEnvelope } from '../../src/server/envelope.js';
import { topKOf, type FrameResult } from '../../src/server/result.js';
import { tinySplitBlob } from './tiny-split.js';

export interface RefPacket {
  packet: Uint8Array;
  compact: boolean;
  expected: Pick<FrameResult, 'class' | 'label' | 'topk' | 'mode'>;
}

export interface Reference {
  path: string;
  otherPath: string;
  model: Model;
  other: Model;
  packets: RefPacket[];
  dir: string;
}

let cached: Reference | undefined;

/** The tiny model (and a second one) on disk, and 2 images x 9 modes x full/compact packets decoded in-process. */
export function reference(): Reference {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'slimsplit-serve-'));
  const bytes = tinySplitBlob();
  const otherBytes = tinySplitBlob(1);
  const path = join(dir, 'tiny-split.slim');
  const otherPath = join(dir, 'tiny-split-1.slim');
  writeFileSync(path, bytes);
  writeFileSync(otherPath, otherBytes);
  const model = new Model(bytes);
  const dec = model.decoder();
  const packets: RefPacket[] = [];
  for (let img = 0; img < 2; img++) {
    const image = { data: new Uint8Array(3 * 9 * 10).map((_, i) => (i * (37 + 60 * img) + 11 * img) & 255), width: 10, height: 9, channels: 3 as const };
    for (const compact of [false, true]) {
      const enc = model.encoder({ packet: compact ? 'compact' : 'full' });
      for (const mode of model.modes()) {
        enc.setMode(mode);
        const packet = enc.encode(image);
        const r = dec.decode(packet);
        const topk = topKOf(r.logits, 3, model.info.classes);
        packets.push({ packet, compact, expected: { class: topk[0].class, label: topk[0].label, topk, mode: { members: r.mode.members, bits: r.mode.bits } } });
      }
    }
  }
  cached = { path, otherPath, model, other: new Model(otherBytes), packets, dir };
  return cached;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** Frame i of a device: which reference packet it carries (spread over packets and devices). */
export function frameOf(ref: Reference, device: number, seq: number): RefPacket {
  return ref.packets[(device * 7 + seq) % ref.packets.length];
}

export function envelopeOf(ref: Reference, device: number, seq: number, extra: { deadlineMs?: number; withDevice?: boolean } = {}): Uint8Array {
  const f = frameOf(ref, device, seq);
  return writeEnvelope({ seq, captureMs: 0, deadlineMs: extra.deadlineMs ?? 0, device: extra.withDevice ? `d${device}` : undefined }, f.packet);
}

/** Answers by seq: every answer a device got (more than one per seq means a frame was answered twice). */
export type Answers = Map<number, FrameResult[]>;

function record(answers: Answers, r: FrameResult): void {
  const list = answers.get(r.seq ?? -1);
  if (list) list.push(r);
  else answers.set(r.seq ?? -1, [r]);
}

/**
 * Sends `seqs` with at most `window` unanswered; resolves when each has an answer. send(seq) puts
 * a frame on the wire; the transport calls got(result) for each answer.
 */
function windowed(seqs: number[], window: number, send: (seq: number) => void): { got: (r: FrameResult) => void; done: Promise<Answers> } {
  const answers: Answers = new Map();
  let next = 0;
  let open = 0;
  let finished = 0;
  let resolve!: (a: Answers) => void;
  const done = new Promise<Answers>((r) => (resolve = r));
  const pump = (): void => {
    while (open < window && next < seqs.length) {
      open++;
      send(seqs[next++]);
    }
    if (finished === seqs.length) resolve(answers);
  };
  queueMicrotask(pump);
  return {
    got: (r) => {
      const first = !answers.has(r.seq ?? -1);
      record(answers, r);
      if (first) {
        open--;
        finished++;
      }
      pump();
    },
    done,
  };
}

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);
export { range };

const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });

/** One POST of a frame; resolves with the status and the parsed result. */
export function postFrame(base: string, path: string, body: Uint8Array): Promise<{ status: number; result: FrameResult }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method: 'POST', agent, headers: { 'content-type': 'application/octet-stream', 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, result: JSON.parse(Buffer.concat(chunks).toString()) as FrameResult });
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A GET with a fresh connection: status and body text. */
export function getText(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    }).on('error', reject);
  });
}

export async function httpDevice(base: string, ref: Reference, device: number, seqs: number[], window = 1): Promise<Answers> {
  const w = windowed(seqs, window, (seq) => {
    postFrame(base, `/v1/frames?device=d${device}`, envelopeOf(ref, device, seq)).then(
      (r) => w.got(r.result),
      (e) => w.got({ v: 1, device: `d${device}`, seq, outcome: 'failed', error: { code: 'client', message: String(e) } }),
    );
  });
  return w.done;
}

export async function wsDevice(base: string, ref: Reference, device: number, seqs: number[], window = 8, frame = (seq: number) => envelopeOf(ref, device, seq)): Promise<Answers> {
  const ws = new WebSocket(`${base}/v1/ws?device=d${device}`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const w = windowed(seqs, window, (seq) => ws.send(frame(seq)));
  ws.on('message', (data) => w.got(JSON.parse(String(data)) as FrameResult));
  const a = await w.done;
  ws.close();
  return a;
}

export async function mqttDevice(url: string, ref: Reference, device: number, seqs: number[], window = 8, opts: { prefix?: string; resendAfterMs?: number } = {}): Promise<Answers> {
  const prefix = opts.prefix ?? 'slimsplit/v1';
  const c = await mqtt.connectAsync(url, { clientId: `dev-d${device}-${process.pid}`, clean: true, reconnectPeriod: 0 });
  await c.subscribeAsync(`${prefix}/results/d${device}`, { qos: 1 });
  const sent = new Map<number, number>();
  const w = windowed(seqs, window, (seq) => {
    sent.set(seq, Date.now());
    c.publish(`${prefix}/frames/d${device}`, Buffer.from(envelopeOf(ref, device, seq)), { qos: 1 });
  });
  const resent = new Set<number>();
  c.on('message', (_t, payload) => {
    const r = JSON.parse(String(payload)) as FrameResult;
    // a resend that reached the server still holding the original: that one's answer is coming
    if (r.outcome === 'duplicate' && resent.has(r.seq ?? -1)) return;
    sent.delete(r.seq ?? -1);
    w.got(r);
  });
  // a frame unanswered for resendAfterMs is sent again with the same seq, once; then reported failed
  let timer: NodeJS.Timeout | undefined;
  if (opts.resendAfterMs) {
    timer = setInterval(() => {
      const now = Date.now();
      for (const [seq, at] of sent) {
        if (now - at < opts.resendAfterMs!) continue;
        if (resent.has(seq)) {
          sent.delete(seq);
          w.got({ v: 1, device: `d${device}`, seq, outcome: 'failed', error: { code: 'client-timeout', message: 'no answer after a resend' } });
        } else {
          resent.add(seq);
          sent.set(seq, now);
          c.publish(`${prefix}/frames/d${device}`, Buffer.from(envelopeOf(ref, device, seq)), { qos: 1 });
        }
      }
    }, 100);
  }
  const a = await w.done;
  if (timer) clearInterval(timer);
  await c.endAsync();
  return a;
}

/** Every seq answered exactly once, ok, and equal to the in-process decode. Returns a description of the first problem. */
export function checkAnswers(ref: Reference, device: number, seqs: number[], a: Answers): string | undefined {
  for (const seq of seqs) {
    const got = a.get(seq);
    if (!got) return `d${device} seq ${seq}: no answer`;
    if (got.length !== 1) return `d${device} seq ${seq}: answered ${got.length} times`;
    const r = got[0];
    if (r.outcome !== 'ok') return `d${device} seq ${seq}: ${r.outcome} ${JSON.stringify(r.error)}`;
    const e = frameOf(ref, device, seq).expected;
    if (r.class !== e.class || r.label !== e.label || JSON.stringify(r.topk) !== JSON.stringify(e.topk) || JSON.stringify(r.mode) !== JSON.stringify(e.mode)) {
      return `d${device} seq ${seq}: got ${JSON.stringify(r)}, expected ${JSON.stringify(e)}`;
    }
    if (r.device !== `d${device}` || !(r.decodeMs! >= 0) || !(r.queueMs! >= -1)) return `d${device} seq ${seq}: bad ids/times ${JSON.stringify(r)}`;
  }
  if (a.size !== seqs.length) return `d${device}: answers for ${a.size} seqs, sent ${seqs.length}`;
  return undefined;
}

/** A counter's value from Prometheus text, summed over the series matching every given label. */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
