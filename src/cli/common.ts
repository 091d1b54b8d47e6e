/**
 * What the CLI commands share: output, errors with exit codes, package paths, opening models, mode
 * selection and option parsers.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import type { Mode, RawImage } from '../model/api.js';
import { decodeImage } from '../model/image.js';
import { type SplitModel, type ClassifierModel } from '../eval/eval.js';
import { ModeError } from '../codec/modes.js';
import { packageDir, shippedModelPath } from '../model/source.js';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

export const defaultIo: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

/** Turns blob bytes into a model; src/model/model.ts's loadModel unless a caller (a test) passes another. */
export type ModelLoader = (bytes: Uint8Array) => Promise<SplitModel & ClassifierModel>;

export interface Ctx extends Io {
  load?: ModelLoader;
}

/** An error with its exit code: 1 for runtime problems, 2 for usage. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2 = 1) {
    super(message);
    this.name = 'CliError';
  }
}

export type FullModel = SplitModel & ClassifierModel;

export const ROOT = packageDir();
export const DEFAULT_MODEL = join(ROOT, 'weights', 'see-cifar10.slim');
export const DEFAULT_BASELINE = join(ROOT, 'weights', 'jpeg-baseline.slim');
export const SAMPLES_DIR = join(ROOT, 'samples');

export function readInput(path: string, what: string): Uint8Array {
  if (!existsSync(path)) throw new CliError(`${what} not found: ${path} (relative paths start at ${process.cwd()})`);
  if (!statSync(path).isFile()) throw new CliError(`${what} is not a file: ${path}`);
  return new Uint8Array(readFileSync(path));
}

export async function openModel(ctx: Ctx, path: string, what = 'model file'): Promise<{ model: FullModel; bytes: Uint8Array }> {
  // a shipped model's name (--model see-cifar10-d4) where no file of that name exists
  if (!existsSync(path)) path = shippedModelPath(path) ?? path;
  if (!existsSync(path)) {
    const hint = path === DEFAULT_MODEL
      ? 'the trained model ships as weights/see-cifar10.slim; export it with train/export_cifar.py or pass --model <file.slim>'
      : path === DEFAULT_BASELINE
        ? 'export it with train/export_cifar.py, pass --baseline <file.slim>, or --no-baseline'
        : 'run from the repo root or pass --model <file.slim>';
    throw new CliError(`${what} not found: ${path} (${hint})`);
  }
  const bytes = readInput(path, what);
  const load: ModelLoader = ctx.load ?? (await import('../model/model.js')).loadModel;
  return { model: await load(bytes), bytes };
}

/** A mode parser as a commander option parser: a ModeError is a usage error. */
export function usageParser<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (e) {
      if (e instanceof ModeError) throw new InvalidArgumentError(e.message);
      throw e;
    }
  };
}

/** Checks each axis value against the model's axes; a wrong one is a usage error listing the choices. */
export function checkMode(model: FullModel, mode: Mode): void {
  const axes = model.info.axes;
  for (const [axis, v] of Object.entries(mode)) {
    const values = axes[axis];
    if (!values) throw new CliError(`this model has no ${axis} axis (its axes: ${Object.keys(axes).join(', ') || 'none'})`, 2);
    if (!values.includes(v as number)) throw new CliError(`${axis}=${v} is not a mode of this model (${axis} takes ${values.join(', ')})`, 2);
  }
}

/** The model's modes matching any of the terms (all modes when none), in the model's order. */
export function selectModes(model: FullModel, terms: Mode[] | undefined): Mode[] {
  const all = model.modes();
  if (!terms) return all;
  for (const t of terms) checkMode(model, t);
  const match = (m: Mode, t: Mode): boolean => Object.entries(t).every(([k, v]) => m[k as keyof Mode] === v);
  return all.filter((m) => terms.some((t) => match(m, t)));
}


export function progressBar(unit: string): cliProgress.SingleBar {
  return new cliProgress.SingleBar(
    { format: `{bar} {percentage}% | {value}/{total} ${unit} | {duration_formatted} elapsed, ETA {eta_formatted}`, hideCursor: true, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
}

export function sampleFiles(dir: string): string[] {
  if (!existsSync(dir)) throw new CliError(`samples folder not found: ${dir} (reinstall the package, or pass --samples <dir>)`);
  const files = readdirSync(dir).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
  if (files.length === 0) throw new CliError(`no .jpg or .png files in ${dir}`);
  return files.map((f) => join(dir, f));
}

export function positiveInt(name: string, max?: number) {
  return (v: string): number => {
    const bad = !/^\d+$/.test(v) || Number(v) < 1 || (max !== undefined && Number(v) > max);
    if (bad) throw new InvalidArgumentError(max === undefined ? `${name} must be a positive integer` : `${name} must be an integer from 1 to ${max}, got '${v}'`);
    return Number(v);
  };
}

/** bench's --rounds: 1000 passes over 10 samples in 16 modes is minutes; more is a typo, not a bench. */
export const MAX_ROUNDS = 1000;

export function hex32(v: number): string {
  return '0x' + (v >>> 0).toString(16).padStart(8, '0');
}

// ------------------------------------------------------------------------------------------------
// Commands
// ------------------------------------------------------------------------------------------------

export interface Sample {
  file: string;
  raw: RawImage;
  /** class index from the file name, -1 if the name is not a class */
  label: number;
}

export function loadSamples(model: FullModel, dir: string): Sample[] {
  return sampleFiles(dir).map((file) => {
    const stem = basename(file, extname(file)).toLowerCase();
    let raw: RawImage;
    try {
      raw = decodeImage(readInput(file, 'sample image'));
    } catch (e) {
      throw new CliError(`sample image ${file}: ${(e as Error).message.replace(/^slimsplit: (image: )?/, '')}`);
    }
    return { file, raw, label: model.info.classes.indexOf(stem) };
  });
}
