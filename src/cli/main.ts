#!/usr/bin/env node
/**
 * The `slimsplit` command line.
 *
 *   slimsplit demo                                            # samples/*.jpg through every mode
 *   slimsplit encode cat.jpg --mode members=2,bits=4 -o cat.pkt   # device side
 *   slimsplit decode cat.pkt                                  # server side: top-1 label
 *   slimsplit inspect weights/see-cifar10.slim                # a blob, a packet or a JPEG
 *   slimsplit eval --data ../shared/datasets/cifar10-jpeg/test.tar.gz --limit 1000 --svg rate.svg
 *   slimsplit bench --rounds 5
 *   slimsplit pack model.graph.json model.tensors.bin -o model.slim
 *   slimsplit unpack weights/see-cifar10.slim -o out/               # the exported graph back
 *
 *   import { main } from './main.js';
 *   const code = await main(['inspect', 'x.slim'], { out: (s) => ..., err: (s) => ... });   // 0, 1 or 2
 *   await main(['demo'], io, async (bytes) => myModel);                                       // another loader
 *
 * Exit codes: 0 done, 1 runtime error (missing or bad file, ...), 2 usage error (unknown command,
 * bad option). Default paths (the model, samples/) are resolved from the package root, so the
 * commands work from any directory right after `npm install`; paths given by the user are relative
 * to the current directory. The model runtime (src/model/model.ts) is imported only by the commands that
 * run the model, so help, inspect and pack start fast.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parseMode, parseModeList } from '../codec/modes.js';
import { CliError, Ctx, DEFAULT_BASELINE, DEFAULT_MODEL, Io, MAX_ROUNDS, ModelLoader, ROOT, SAMPLES_DIR, defaultIo, positiveInt, usageParser } from './common.js';
import { exitQuietlyOnClosedPipe } from './pipe.js';
import { cmdEncode } from './encode.js';
import { cmdDecode } from './decode.js';
import { cmdClassify } from './classify.js';
import { cmdInspect } from './inspect.js';
import { cmdDeviceBlob } from './device-blob.js';
import { cmdPack } from './pack.js';
import { cmdUnpack } from './unpack.js';
import { cmdEval } from './eval.js';
import { cmdDemo } from './demo.js';
import { cmdBench } from './bench.js';
import { registerServe } from './serve.js';
import { registerDevice } from './device.js';
import { registerShape } from './shape.js';
import { registerImport } from './import.js';

function buildProgram(io: Ctx): Command {
  const program = new Command('slimsplit');
  // set before the subcommands are made, so they inherit it
  program
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError('(add --help for usage)')
    .description('Split computing with slimmable ensemble encoders: device-side encode, server-side decode, evaluation.')
    .version(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  const modelOpt = () => new Option('--model <file.slim>', 'model blob').default(DEFAULT_MODEL, "the package's weights/see-cifar10.slim");
  const packetOpt = () => new Option('--packet <format>', "packets to write: 'compact' (4 bytes around the payload, for links that frame packets) or 'full' (self-describing: model id, mode, shape, length; 15-16 bytes)").choices(['compact', 'full']).default('compact');
  const modesOpt = () => new Option('--modes <list>', 'modes to run: space- or ;-separated terms, each selecting the modes that match it (e.g. "members=1,bits=2 members=4")').argParser(usageParser(parseModeList));

  program
    .command('encode')
    .description('device side: image (JPEG/PNG) -> packet')
    .argument('<image>', 'JPEG or PNG file')
    .option('--mode <mode>', 'mode, e.g. members=2,bits=4 (axes not given keep the model default)', usageParser(parseMode))
    .option('--max-bytes <n>', 'instead of --mode: the most accurate mode expected to fit n bytes (slimsplit inspect <model> lists them)', positiveInt('--max-bytes'))
    .option('--max-members <n>', 'with --max-bytes: run at most n ensemble members', positiveInt('--max-members'))
    .option('--compact', 'write a compact packet (4 bytes around the payload instead of 15-16; for links that frame packets themselves)')
    .requiredOption('-o, --out <packet>', 'where to write the packet')
    .addOption(modelOpt())
    .addHelpText('after', '\nExamples:\n  slimsplit encode samples/cat.jpg --mode members=2,bits=4 -o cat.pkt\n  slimsplit encode samples/cat.jpg --max-bytes 100 --max-members 1 --compact -o cat.pkt')
    .action((image, o) => cmdEncode(io, image, o));

  program
    .command('decode')
    .description('server side: packet -> top-1 class')
    .argument('<packet>', 'packet file written by encode')
    .addOption(modelOpt())
    .option('--json', 'print JSON (label, mode, bytes, top-3, logits)')
    .addHelpText('after', '\nExample:\n  slimsplit decode cat.pkt --json')
    .action((file, o) => cmdDecode(io, file, o));

  program
    .command('classify')
    .description('images -> classes in this process: a classifier blob (e.g. an imported ImageNet model) or a split model end to end at one mode')
    .argument('<images...>', 'JPEG or PNG files')
    .addOption(modelOpt())
    .option('--mode <mode>', 'split models: the mode, e.g. members=2,bits=4 (default: the model default)', usageParser(parseMode))
    .option('--top <k>', 'classes to list per image', positiveInt('--top'), 1)
    .option('--json', 'print JSON (per image: top1, label, top-k with probabilities, ms; mode and packet bytes for split models)')
    .addHelpText('after', '\nExamples:\n  slimsplit import mobilenet_v2_1.0_224_quant.tflite --labels imagenet_labels.txt -o mnv2.slim\n  slimsplit classify --model mnv2.slim --top 5 photo.jpg\n  slimsplit classify samples/cat.jpg samples/dog.jpg --mode members=1,bits=2')
    .action((files, o) => cmdClassify(io, files, o));

  program
    .command('inspect')
    .description('show the fields of a .slim blob, a packet, or a JPEG/PNG file (detected by magic bytes)')
    .argument('<file>', 'blob, packet or image')
    .option('--json', 'print JSON')
    .option('--model <file.slim>', 'for a packet: check its model id against this blob (default: the package model, if present)')
    .option('--device', "for a .slim blob: the device path's linear memory per mode (docs/DEVICE.md)")
    .addHelpText('after', '\nExamples:\n  slimsplit inspect weights/see-cifar10.slim\n  slimsplit inspect cat.pkt\n  slimsplit inspect samples/cat.jpg')
    .action((file, o) => cmdInspect(io, file, o));

  program
    .command('device-blob')
    .description('write the device-only blob of a split model: encoder plan and weights as stored, coder tables for the kept bit depths, normalization, model id (docs/DEVICE.md)')
    .argument('<blob.slim>', 'full model blob')
    .requiredOption('-o, --out <out.sdev>', 'where to write the device blob')
    .option('--bits <list>', 'bit depths to keep, comma-separated (default: all the model has)', (v: string) => v.split(',').map((b) => {
      if (!/^\d+$/.test(b.trim())) throw new InvalidArgumentError(`'${b}' is not a bit depth`);
      return Number(b);
    }))
    .option('--members <list>', 'members counts the device runs, comma-separated (default: all); the arena and weight rows are cut to these', (v: string) => v.split(',').map((b) => {
      if (!/^\d+$/.test(b.trim())) throw new InvalidArgumentError(`'${b}' is not a members count`);
      return Number(b);
    }))
    .addHelpText('after', '\nExamples:\n  slimsplit device-blob weights/see-cifar10.slim -o see-cifar10.sdev\n  slimsplit device-blob weights/see-cifar10.slim --bits 1,2 --members 1 -o see-cifar10-m1.sdev')
    .action((file, o) => cmdDeviceBlob(io, file, o));

  program
    .command('pack')
    .description('pack an exported graph (docs/GRAPH.md) into a .slim blob')
    .argument('<graph.json>', 'graph JSON')
    .argument('<tensors.bin>', 'tensor data')
    .requiredOption('-o, --out <out.slim>', 'where to write the blob')
    .option('--coder <coder.json>', 'entropy-coder tables as `unpack` writes them, instead of meta.symbolCounts')
    .action((graph, tensors, o) => cmdPack(io, graph, tensors, o));

  program
    .command('unpack')
    .description('a .slim blob -> the exported graph it was packed from (graph JSON + tensors.bin, and coder tables if any)')
    .argument('<blob.slim>', 'blob')
    .requiredOption('-o, --out <dir>', 'folder for <name>.graph.json, <name>.tensors.bin[, <name>.coder.json]')
    .addHelpText('after', '\nExample:\n  slimsplit unpack weights/see-cifar10.slim -o out/ && slimsplit pack out/see-cifar10.graph.json out/see-cifar10.tensors.bin --coder out/see-cifar10.coder.json -o again.slim')
    .action((blob, o) => cmdUnpack(io, blob, o));

  program
    .command('eval')
    .description('rate-accuracy over a CIFAR-10 JPEG tarball: every mode, and the JPEG baseline at each quality')
    .requiredOption('--data <test.tar.gz>', 'CIFAR-10 JPEG tarball (test/<class>/<NNNN>.jpg)')
    .option('--limit <n>', 'at most n images, balanced over the classes', positiveInt('--limit'))
    .option('--json <file>', 'write the full results as JSON')
    .option('--svg <file>', 'write the rate-accuracy chart')
    .addOption(modesOpt())
    .option('--qualities <list>', 'JPEG qualities, comma-separated (default 5, every one from 10 to 40, 45, 50, 60, ..., 95)', (v: string) => v.split(',').map((q) => {
      if (!/^\d+$/.test(q.trim()) || Number(q) < 1 || Number(q) > 100) throw new InvalidArgumentError(`'${q}' is not a quality 1..100`);
      return Number(q);
    }))
    .addOption(modelOpt())
    .addOption(new Option('--baseline <file.slim>', 'JPEG-baseline classifier blob').default(DEFAULT_BASELINE, "the package's weights/jpeg-baseline.slim"))
    .option('--no-baseline', 'skip the JPEG baseline')
    .addOption(packetOpt())
    .addHelpText('after', '\nExample:\n  slimsplit eval --data ../shared/datasets/cifar10-jpeg/test.tar.gz --limit 1000 --json eval.json --svg rate.svg')
    .action((o) => cmdEval(io, o));

  program
    .command('demo')
    .description("the package's sample images through every mode: encoder (device) -> packet -> decoder (server)")
    .addOption(modelOpt())
    .option('--samples <dir>', 'folder of <class>.jpg images', SAMPLES_DIR)
    .addOption(modesOpt())
    .addOption(packetOpt())
    .action((o) => cmdDemo(io, o));

  program
    .command('bench')
    .description('encode/decode timing per mode on the sample images')
    .addOption(modelOpt())
    .option('--samples <dir>', 'folder of images', SAMPLES_DIR)
    .option('--rounds <n>', `timed passes over the samples per mode (1..${MAX_ROUNDS})`, positiveInt('--rounds', MAX_ROUNDS), 5)
    .addOption(modesOpt())
    .addOption(packetOpt())
    .action((o) => cmdBench(io, o));

  registerServe(program, io, DEFAULT_MODEL);
  registerDevice(program, io, DEFAULT_MODEL);
  registerShape(program, io);
  registerImport(program, io);

  return program;
}

/** Runs the CLI on `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], io: Io = defaultIo, load?: ModelLoader): Promise<number> {
  const program = buildProgram({ ...io, load });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    // help and --version end with exit code 0; every other commander error is a usage error
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    const msg = (e as Error).message ?? String(e);
    io.err(`${msg.startsWith('slimsplit:') ? msg : `slimsplit: ${msg}`}\n`);
    return e instanceof CliError ? e.exitCode : 1;
  }
}

function invokedDirectly(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  exitQuietlyOnClosedPipe();
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
