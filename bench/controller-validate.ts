/**
 * Validates the controller simulation against a real run: the same frames, trace and setting once
 * in real time (device -> trace-shaped uplink in the send path -> `slimsplit serve` in this process,
 * over loopback) and once in virtual time (src/device/sim.ts on the cached packet table); reports how
 * many frames got the same mode, the same deadline outcome and the same outcome (ok, refused as late
 * with no class, or dropped by the device's send queue as certainly late), and both runs' accuracy
 * (the right class received, over all frames).
 *
 *   npx tsx bench/controller-validate.ts                       # ATT-LTE-driving.up, scale 1, 10 fps, 300 ms, 300 frames
 *   npx tsx bench/controller-validate.ts --trace ../shared/traces/Verizon-LTE-short.up --scale 0.02 --fps 10 --deadline 300 --frames 600
 *
 * `--replay host` (default): the simulation replays, frame by frame, the real run's decision time,
 * send time and time from the link's delivery to its result (server, transport, event loop), so
 * only the link and the controller are simulated and any difference in modes is theirs.
 * `--replay server`: only the server's reported times per frame (queue + decode), as the benchmark
 * models a device. Writes bench/results/controller-validate.json (--out to change).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../src/model/model.js';
import { readCifarTar } from '../src/eval/cifar.js';
import { decodeImage } from '../src/model/image.js';
import type { RawImage } from '../src/model/api.js';
import { startServer } from '../src/server/server.js';
import { connect, type Transport } from '../src/device/client.js';
import { RealTimeShaper, TraceLink, DROPPED_LATE } from '../src/device/link.js';
import { readTrace } from '../src/device/trace.js';
import { measureModes, streamFrames, ENVELOPE_OVERHEAD, type Frame } from '../src/device/run.js';
import { makeController } from '../src/device/controller.js';
import { simulate, shuffledOrder, type FrameRecord, type FrameReplay } from '../src/device/sim.js';
import { buildCache } from './controller-cache.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function arg(name: string, dflt: string): string {
  const k = process.argv.indexOf(name);
  return k >= 0 && process.argv[k + 1] !== undefined ? process.argv[k + 1] : dflt;
}

function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[s.length >> 1] : 0;
}

async function main(): Promise<void> {
  const tracePath = arg('--trace', join(ROOT, '..', 'shared', 'traces', 'ATT-LTE-driving.up'));
  const sc = /^(\d+(?:\.\d+)?)(?:\/(\d+(?:\.\d+)?))?$/.exec(arg('--scale', '1'));
  const scale = sc ? Number(sc[1]) / (sc[2] ? Number(sc[2]) : 1) : NaN;
  if (!(scale > 0)) throw new Error('--scale needs a factor > 0 like 0.1 or 1/10');
  const fps = Number(arg('--fps', '10'));
  const deadlineMs = Number(arg('--deadline', '300'));
  const nFrames = Number(arg('--frames', '300'));
  const images = Number(arg('--images', '500'));
  const delayMs = Number(arg('--delay', '20'));
  const controller = arg('--controller', 'slim');
  const transport = arg('--transport', 'ws') as Transport;
  const modelPath = arg('--model', join(ROOT, 'weights/see-cifar10.slim'));
  const data = join(ROOT, '..', 'shared', 'datasets', 'cifar10-jpeg', 'test.tar.gz');

  const cache = await buildCache({ model: modelPath, data, images }, ROOT);
  const model = await loadModel(modelPath);
  const imgs: RawImage[] = [];
  const labels: number[] = [];
  for await (const it of readCifarTar(data, { limit: images })) {
    imgs.push(decodeImage(it.bytes) as RawImage);
    labels.push(it.label);
  }
  const order = shuffledOrder(imgs.length, 1);
  const frames: Frame[] = Array.from({ length: nFrames }, (_, k) => ({ image: imgs[order[k % order.length]], label: labels[order[k % order.length]], index: order[k % order.length] }));

  const srv = await startServer({ models: [modelPath], port: 0, mqttPort: transport === 'mqtt' ? 0 : null, workers: 1, processMetrics: false });
  const url = transport === 'mqtt' ? `mqtt://127.0.0.1:${srv.mqtt!.port}` : `http://127.0.0.1:${srv.http.port}`;
  const session = await connect(url, { model, transport, device: 'validate' });
  const modes = measureModes(model, frames[0].image);
  // Warm the server's worker so its first decodes are not the compile's.
  for (let i = 0; i < 5; i++) await session.send(frames[i].image, { mode: modes[modes.length - 1].mode });
  const trace = readTrace(tracePath);
  session.shaper = new RealTimeShaper(new TraceLink(trace, { scale, delayMs }));
  const real = await streamFrames(session, frames, { fps, deadlineMs, controller, modes });
  await session.close();
  await srv.close();

  // The simulation: the cached packets of the same images, the real run's measured times. With
  // --replay host (the default) it replays, frame by frame, the real run's decision and send times
  // and its time from the link's delivery to the result (server, transport, event loop), so that
  // only the link and the controller are simulated; --replay server replays only the server's
  // reported times, as the benchmark models a device.
  const replayHost = arg('--replay', 'host') === 'host';
  const sent = real.frames.filter((f) => f.mode >= 0 && Number.isFinite(f.e2eMs));
  const encodeMs = modes.map((m, i) => median(sent.filter((f) => f.mode === i).map((f) => f.encodeMs)) || m.encodeMs);
  const serverMs = median(sent.map((f) => f.serverDecodeMs));
  const ds = { ...cache, modes: cache.modes.map((m, i) => ({ ...m, expectedBytes: modes[i].expectedBytes, encodeMs: modes[i].encodeMs, decodeMs: serverMs })) };
  const replay = (k: number): FrameReplay | undefined => {
    const r = real.frames[k];
    if (!r || !Number.isFinite(r.resultAt) || r.linkAt === undefined || r.decidedAt === undefined) return undefined;
    // The envelope's size varies by a byte or two with its varints (seq, capture time): the real frame's.
    const overheadBytes = r.bytes - cache.bytes[r.image * cache.modes.length + r.mode];
    // for a frame the real send queue dropped, linkAt is the drop and resultAt when the device heard of it
    return { decidedAt: r.decidedAt, sentAt: r.sentAt, encodeMs: r.encodeMs, afterLinkMs: r.resultAt - r.linkAt, serverQueueMs: r.serverQueueMs, serverDecodeMs: r.serverDecodeMs, overheadBytes, dropped: r.outcome === DROPPED_LATE };
  };
  // The controller gets the real run's mode list as it was (no server-time prior), so both start alike.
  const link = new TraceLink(trace, { scale, delayMs });
  const sim = simulate(ds, link, makeController(controller, replayHost ? modes : ds.modes, { deadlineMs, fps, linkPacketBytes: link.packetBytes }), {
    fps, deadlineMs, frames: nFrames, order, overheadBytes: ENVELOPE_OVERHEAD, encodeMs, decodeMs: ds.modes.map(() => serverMs),
    decodeMsOfFrame: (k) => (Number.isFinite(real.frames[k]?.serverDecodeMs) ? real.frames[k].serverDecodeMs + real.frames[k].serverQueueMs : undefined),
    replay: replayHost ? replay : undefined,
  });
  // Where the two runs part: the first frame whose mode differs, and the controller's view there.
  const firstDiff = real.frames.findIndex((r, k) => r.mode !== sim.frames[k].mode);

  // the link's delivery, or for a dropped frame the send queue's drop
  const simLink = (f: FrameRecord) => f.linkAt ?? f.sentAt + f.uplinkMs;
  const same = (f: (a: FrameRecord, b: FrameRecord) => boolean) => real.frames.filter((r, k) => f(r, sim.frames[k])).length / nFrames;
  const report = {
    trace: trace.name, scale, fps, deadlineMs, delayMs, frames: nFrames, controller, transport,
    sameMode: same((a, b) => a.mode === b.mode),
    sameOutcome: same((a, b) => a.missed === b.missed),
    sameModeAndOutcome: same((a, b) => a.mode === b.mode && a.missed === b.missed),
    // the server's verdict (ok or refused as late, no class) and whether the right class came back
    sameServerOutcome: same((a, b) => a.outcome === b.outcome),
    // frames the device's send queue dropped as certainly late, in each run
    dropped: { real: real.frames.filter((f) => f.outcome === DROPPED_LATE).length, sim: sim.frames.filter((f) => f.outcome === DROPPED_LATE).length },
    sameCorrect: same((a, b) => a.correct === b.correct),
    replay: replayHost ? 'host' : 'server',
    firstDiff,
    sameLinkArrival: real.frames.filter((r, k) => r.linkAt !== undefined && sim.frames[k].mode === r.mode && Math.abs(r.linkAt - simLink(sim.frames[k])) < 0.5).length / nFrames,
    real: real.summary,
    sim: sim.summary,
    medianServerMs: serverMs,
    perFrame: real.frames.map((r, k) => ({
      frame: k, realMode: r.mode, simMode: sim.frames[k].mode, realMissed: r.missed, simMissed: sim.frames[k].missed, realOutcome: r.outcome, simOutcome: sim.frames[k].outcome, realE2e: r.e2eMs, simE2e: sim.frames[k].e2eMs,
      realCorrect: r.correct, simCorrect: sim.frames[k].correct, realBytes: r.bytes, simBytes: sim.frames[k].bytes, realSent: r.sentAt, simSent: sim.frames[k].sentAt, realPred: r.predictedMs, simPred: sim.frames[k].predictedMs, realBps: r.uplinkBps, simBps: sim.frames[k].uplinkBps, realLink: r.linkAt, simLink: simLink(sim.frames[k]),
    })),
  };
  const out = arg('--out', join(ROOT, 'bench/results/controller-validate.json'));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(report, null, 1) + '\n');
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  console.log(`${trace.name} scale ${scale} ${fps} fps ${deadlineMs} ms, ${nFrames} frames, ${controller} over ${transport}:`);
  console.log(`  same mode ${pct(report.sameMode)}, same deadline outcome ${pct(report.sameOutcome)}, both ${pct(report.sameModeAndOutcome)} (replaying ${report.replay} times; modes part first at frame ${firstDiff})`);
  console.log(`  same server outcome (ok / late, no class / dropped at the device) ${pct(report.sameServerOutcome)}, same right-class-received ${pct(report.sameCorrect)}; dropped at the device: real ${report.dropped.real}, sim ${report.dropped.sim}`);
  // accuracy: the right class received over all frames, in both (a frame refused late counts as not right)
  console.log(`  real: acc ${pct(real.summary.accuracy)} miss ${pct(real.summary.missRate)} late ${pct(real.summary.lateRate)} ${real.summary.meanBytes.toFixed(0)} B ${real.summary.switchesPerMin.toFixed(1)} sw/min`);
  console.log(`  sim:  acc ${pct(sim.summary.accuracy)} miss ${pct(sim.summary.missRate)} late ${pct(sim.summary.lateRate)} ${sim.summary.meanBytes.toFixed(0)} B ${sim.summary.switchesPerMin.toFixed(1)} sw/min (acc counting late frames' decodes, the previous figure: ${pct(sim.summary.accuracyInclLate ?? NaN)})`);
  console.log(`  -> ${out}`);
}

main().catch((e) => {
  console.error((e as Error).stack ?? String(e));
  process.exit(1);
});
