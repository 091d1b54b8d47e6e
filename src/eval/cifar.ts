/**
 * CIFAR-10 test images streamed out of a tarball of JPEG files (../shared/datasets/cifar10-jpeg:
 * `test/<class>/<NNNN>.jpg`), without unpacking it or holding more than one file in memory.
 *
 *   import { readCifarTar, CLASSES } from './cifar.js';
 *   for await (const { name, label, bytes } of readCifarTar('../shared/datasets/cifar10-jpeg/test.tar.gz', { limit: 500 })) {
 *     // name 'test/cat/0007.jpg', label 3 (CLASSES[3] === 'cat'), bytes: the JPEG file
 *   }
 *
 * The tarball lists the classes one after another, so `limit` takes a balanced subset (the first
 * limit/10 files of every class) rather than the first files, which would all be airplanes.
 */
import { createReadStream, openSync, readSync, closeSync, existsSync, statSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';

/** The usual CIFAR-10 class order (alphabetical too): the label is the index. */
export const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;

export interface CifarItem {
  /** member path inside the tarball */
  name: string;
  /** class index into CLASSES */
  label: number;
  /** the image file (JPEG or PNG) */
  bytes: Uint8Array;
}

export interface CifarReadOptions {
  /** at most this many images, spread evenly over the classes (the first classes take the remainder) */
  limit?: number;
}

/** Largest member read into memory; CIFAR files are about 1 kB. */
const MAX_MEMBER_BYTES = 16 << 20;

export class DatasetError extends Error {
  constructor(message: string) {
    super(`slimsplit: dataset: ${message}`);
    this.name = 'DatasetError';
  }
}

/** Per-class quotas for a balanced subset of `limit` images (Infinity when no limit). */
export function classQuotas(limit: number | undefined): number[] {
  if (limit === undefined) return CLASSES.map(() => Infinity);
  if (!Number.isInteger(limit) || limit < 1) throw new DatasetError(`limit must be a positive integer, got ${limit}`);
  const k = CLASSES.length;
  return CLASSES.map((_, c) => Math.floor(limit / k) + (c < limit % k ? 1 : 0));
}

function openTar(path: string): Readable {
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new DatasetError(`data file not found: ${path} (pass the CIFAR-10 JPEG tarball, e.g. ../shared/datasets/cifar10-jpeg/test.tar.gz)`);
  }
  const head = Buffer.alloc(2);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, 2, 0);
  } finally {
    closeSync(fd);
  }
  const src = createReadStream(path);
  if (head[0] !== 0x1f || head[1] !== 0x8b) return src;
  const gunzip = createGunzip();
  src.on('error', (e) => gunzip.destroy(e));
  return src.pipe(gunzip);
}

/** Yields the images of a CIFAR-10 JPEG tarball (.tar or .tar.gz) in the tarball's order. */
export async function* readCifarTar(path: string, opts: CifarReadOptions = {}): AsyncGenerator<CifarItem> {
  const quota = classQuotas(opts.limit);
  const want = quota.reduce((a, b) => a + b, 0);
  const taken = CLASSES.map(() => 0);
  let yielded = 0;
  const stream = openTar(path);
  const extract = tar.extract();
  stream.on('error', (e) => extract.destroy(e));
  stream.pipe(extract);
  try {
    for await (const entry of extract) {
      const { name, type, size } = entry.header;
      if (type !== 'file' || !/\.(jpe?g|png)$/i.test(name)) {
        entry.resume();
        continue;
      }
      const parts = name.split('/');
      const label = CLASSES.indexOf(parts[parts.length - 2] as (typeof CLASSES)[number]);
      if (label < 0) throw new DatasetError(`${path}: member ${name} is not in a class folder (expected <split>/<class>/<file>, class one of ${CLASSES.join(', ')})`);
      if ((size ?? 0) > MAX_MEMBER_BYTES) throw new DatasetError(`${path}: member ${name} has ${size} bytes, over ${MAX_MEMBER_BYTES}`);
      if (taken[label] >= quota[label]) {
        entry.resume();
        continue;
      }
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      taken[label]++;
      yielded++;
      yield { name, label, bytes: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) };
      if (yielded >= want) return;
    }
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(`${path}: cannot read the tarball (${(e as Error).message}); check it with sha256sum -c SHA256SUMS`);
  } finally {
    extract.destroy();
    stream.destroy();
  }
}

/** Images readCifarTar would yield with these options (reads the tarball once, decodes nothing). */
export async function countCifarTar(path: string, opts: CifarReadOptions = {}): Promise<number> {
  let n = 0;
  for await (const _ of readCifarTar(path, opts)) n++;
  return n;
}
