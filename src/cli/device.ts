/**
 * `slimsplit device`: stream frames to `slimsplit serve`, a rate controller choosing each frame's mode.
 * Registered on the program by src/cli.ts.
 *
 *   slimsplit device --server http://127.0.0.1:8080 --frames ../shared/datasets/cifar10-jpeg/test.tar.gz --limit 600 \
 *     --fps 30 --deadline 150 --controller slim --log run.jsonl
 *   slimsplit device --server ws://127.0.0.1:8080 --frames photos/ --trace ../shared/traces/ATT-LTE-driving.up --scale 0.1 --delay 20
 *
 * Shows a live progress line (frames/s, current mode, estimated uplink rate, misses) on stderr,
 * writes one JSON line per frame with --log, and prints a summary: accuracy where labels are known,
 * deadline-miss rate, mean bytes, mode switches per minute, mean time per stage.
 */
import { createWriteStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadModel } from '../model/model.js';
import { decodeImage } from '../model/image.js';
import type { RawImage } from '../model/api.js';
import { readCifarTar, CLASSES } from '../eval/cifar.js';
import { connect, type Transport } from '../device/client.js';
import { RealTimeShaper, TraceLink, DROPPED_LATE } from '../device/link.js';
import { readTrace } from '../device/trace.js';
import { measureModes, streamFrames, type Frame } from '../device/run.js';
import type { FrameRecord } from '../device/sim.js';
import { controllerNames, parseSlimTuning } from '../device/controller.js';

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

function num(name: string, min: number, integer = false) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) throw new InvalidArgumentError(`${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}`);
    return n;
  };
}

function scale(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(?:\/(\d+(?:\.\d+)?))?$/.exec(v);
  const k = m ? Number(m[1]) / (m[2] ? Number(m[2]) : 1) : NaN;
  if (!(k > 0)) throw new InvalidArgumentError(`--scale needs a factor > 0 like 0.1 or 1/10, got '${v}'`);
  return k;
}

/** Frames from a folder of JPEG/PNG files (labels from a class-named parent folder or file name) or a CIFAR-10 tarball. */
export async function loadFrames(src: string, classes: readonly string[], limit?: number): Promise<Frame[]> {
  if (!existsSync(src)) throw new Error(`slimsplit device: --frames ${src}: no such file or folder`);
  const labelOf = (path: string): number | undefined => {
    const names = [basename(dirname(path)), basename(path).replace(/\.[^.]+$/, '')];
    for (const n of names) {
      const k = classes.indexOf(n);
      if (k >= 0) return k;
    }
    return undefined;
  };
  const out: Frame[] = [];
  if (statSync(src).isDirectory()) {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (/\.(jpe?g|png)$/i.test(e.name)) files.push(join(d, e.name));
      }
    };
    walk(src);
    if (files.length === 0) throw new Error(`slimsplit device: --frames ${src}: no .jpg or .png files in the folder`);
    for (const f of files.slice(0, limit ?? files.length)) out.push({ image: decodeImage(readFileSync(f)) as RawImage, label: labelOf(f), index: out.length });
    return out;
  }
  for await (const item of readCifarTar(src, { limit })) {
    const label = classes.length ? classes.indexOf(CLASSES[item.label]) : item.label;
    out.push({ image: decodeImage(item.bytes) as RawImage, label: label >= 0 ? label : undefined, index: out.length });
  }
  return out;
}

export function registerDevice(program: Command, io: Io, defaultModel: string): Command {
  return program
    .command('device')
    .description('stream frames to slimsplit serve at a frame rate, a rate controller choosing each frame\'s mode')
    .requiredOption('--server <url>', 'http://host:8080, ws://host:8080 or mqtt://host:1883')
    .requiredOption('--frames <path>', 'folder of JPEG/PNG images, or a CIFAR-10 JPEG tarball')
    .option('--limit <n>', 'at most n frames (a tarball: balanced over the classes)', num('--limit', 1, true))
    .option('--fps <n>', 'frames per second', num('--fps', 0.001), 30)
    .option('--deadline <ms>', 'per-frame deadline from capture', num('--deadline', 1, true), 150)
    .option('--controller <name>', 'slim, ema, or fixed:<members>,<bits>', 'slim')
    .option('--max-members <n>', 'run at most n ensemble members on the device', num('--max-members', 1, true))
    .option('--tuning <json>', 'slim\'s knobs, e.g. \'{"guardSlack":0}\' (docs/CONTROLLER.md)')
    .addOption(new Option('--transport <t>', 'default: from the URL').choices(['http', 'ws', 'mqtt']))
    .option('--device <id>', 'device id (default: dev-<random>)')
    .option('--model <file.slim>', 'model blob', defaultModel)
    .option('--log <file.jsonl>', 'one JSON line per frame')
    .option('--trace <file>', 'emulate the uplink with this trace (mahimahi *.up or Mbit/s per second) in the send path')
    .option('--scale <k>', 'with --trace: multiply its capacity by k (0.1 or 1/10)', scale, 1)
    .option('--delay <ms>', 'with --trace: fixed one-way delay', num('--delay', 0), 0)
    .option('--link-packet <bytes>', "the uplink's packet size in bytes, which tells slim the modes that cost the link what the smallest does (default: with --trace, the emulated link's 1500 x scale; else not known); a size over the link's own costs misses", num('--link-packet', 1))
    .option('--no-drop-late', 'with --trace: put every frame on the link when encoded (by default a frame that reaches the head of the send queue certain to miss its deadline is dropped there)')
    .addHelpText('after', '\nExample:\n  slimsplit device --server http://127.0.0.1:8080 --frames ../shared/datasets/cifar10-jpeg/test.tar.gz --limit 600 --fps 30 --deadline 150 --controller slim --log run.jsonl')
    .action(async (o) => {
      if (o.tuning !== undefined && o.controller !== 'slim') throw new Error(`slimsplit device: --tuning sets slim's knobs; the controller is '${o.controller}'`);
      const tuning = o.tuning === undefined ? undefined : parseSlimTuning(o.tuning);
      const model = await loadModel(o.model);
      const frames = await loadFrames(o.frames, model.info.classes, o.limit);
      const modes = measureModes(model, frames[0].image);
      const names = controllerNames(modes);
      if (!names.includes(o.controller)) throw new Error(`slimsplit device: unknown controller '${o.controller}' (${names.join(', ')})`);
      const shaper = o.trace ? new RealTimeShaper(new TraceLink(readTrace(o.trace), { scale: o.scale, delayMs: o.delay })) : undefined;
      const linkPacket: number | undefined = o.linkPacket ?? shaper?.link.packetBytes;
      const session = await connect(o.server, { model, transport: o.transport as Transport | undefined, device: o.device, shaper, dropLate: o.dropLate });
      const log = o.log ? createWriteStream(o.log) : undefined;
      let done = 0, misses = 0, lastLine = 0, mode = '-', rate = NaN;
      const t0 = performance.now();
      const tty = process.stderr.isTTY;
      const progress = (final = false) => {
        const s = (performance.now() - t0) / 1000;
        const line = `frames ${done}/${frames.length}  ${(done / Math.max(s, 1e-3)).toFixed(1)} fps  mode ${mode}  uplink ${Number.isFinite(rate) ? `${((rate * 8) / 1000).toFixed(0)} kbit/s` : '?'}  misses ${misses} (${((100 * misses) / Math.max(done, 1)).toFixed(1)}%)`;
        io.err(tty ? `\r${line}\x1b[K${final ? '\n' : ''}` : `${line}\n`);
      };
      const run = await streamFrames(session, frames, {
        fps: o.fps, deadlineMs: o.deadline, controller: o.controller, modes, maxMembers: o.maxMembers, linkPacketBytes: linkPacket, tuning,
        onFrame: (r, d) => {
          done++;
          if (r.missed) misses++;
          mode = r.mode >= 0 ? `${r.members},${r.bits}` : 'skip';
          rate = d.uplinkBps;
          log?.write(JSON.stringify({ ...r, label: frames[r.frame].label ?? null }) + '\n');
          const now = performance.now();
          if (now - lastLine > (tty ? 200 : 2000)) {
            lastLine = now;
            progress();
          }
        },
      });
      progress(true);
      await session.close();
      if (log) await new Promise<void>((r) => log.end(() => r()));
      const sent = run.frames.filter((f) => f.mode >= 0 && f.outcome !== DROPPED_LATE && Number.isFinite(f.e2eMs));
      const mean = (k: 'encodeMs' | 'uplinkMs' | 'serverQueueMs' | 'serverDecodeMs' | 'e2eMs') => sent.reduce((a, f) => a + f[k], 0) / Math.max(sent.length, 1);
      const s = run.summary;
      const labelled = run.frames.some((f) => f.correct !== null);
      io.out(
        [
          `frames ${s.frames} in ${run.seconds.toFixed(1)} s (${o.fps} fps, deadline ${o.deadline} ms, controller ${o.controller}${o.controller === 'slim' ? `, link packet ${linkPacket === undefined ? 'not known' : `${+linkPacket.toFixed(1)} B`}` : ''}, ${session.transport})`,
          `accuracy ${labelled ? `${(100 * s.accuracy).toFixed(2)}% right class received (over every labelled frame: late, skipped and lost ones count as not right), ${(100 * s.timelyAccuracy).toFixed(2)}% right and on time` : 'n/a (no labels)'}`,
          `deadline misses ${(100 * s.missRate).toFixed(2)}% (answered late with no class ${(100 * s.lateRate).toFixed(2)}%, ${DROPPED_LATE} ${(100 * s.dropRate).toFixed(2)}%, skipped ${(100 * s.skipRate).toFixed(2)}%)`,
          ...notAnswered(run.frames),
          `mean bytes ${s.meanBytes.toFixed(1)}  mode switches ${s.switchesPerMin.toFixed(1)}/min`,
          `time per stage (mean ms): encode ${mean('encodeMs').toFixed(2)}  uplink ${mean('uplinkMs').toFixed(1)}  server queue ${mean('serverQueueMs').toFixed(1)}  server decode ${mean('serverDecodeMs').toFixed(1)}  end to end ${mean('e2eMs').toFixed(1)}`,
        ].join('\n') + '\n',
      );
    });
}

/**
 * One line per kind of frame the server neither answered nor judged late (refused, malformed,
 * failed) or that got no answer (lost), with the first reason given: a 400 kB packet over the
 * server's --max-body is otherwise only a 100% miss rate.
 */
function notAnswered(frames: readonly FrameRecord[]): string[] {
  const kinds = new Map<string, { n: number; why: string }>();
  for (const f of frames) {
    if (f.outcome === undefined || f.outcome === 'ok' || f.outcome === 'late' || f.outcome === DROPPED_LATE) continue;
    const kind = f.outcome.startsWith('lost') ? 'lost' : f.outcome;
    const why = f.error ? `${f.error.code}: ${f.error.message}` : f.outcome.replace(/^lost: /, '');
    const k = kinds.get(kind);
    if (k) k.n++;
    else kinds.set(kind, { n: 1, why });
  }
  return [...kinds].map(([kind, { n, why }]) => `${kind} ${n} of ${frames.length} frames (first: ${why})`);
}
