/**
 * Where a model's bytes come from: a path, the name of a model shipped in the package's weights/,
 * a URL (file:, http:, https:), a Uint8Array or an ArrayBuffer.
 *
 *   const bytes = await modelBytes('see-cifar10');            // <package>/weights/see-cifar10.slim
 *   const same = await modelBytes('./my-models/x.slim');      // a path, relative to the cwd
 *
 * A path that exists wins over a shipped name, so a file called `see-cifar10` in the cwd is read.
 * Names are resolved from the package root (found by walking up to slimsplit's package.json), so
 * they work from any directory and from an installed package (node_modules/slimsplit/weights).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type ModelSource = string | URL | Uint8Array | ArrayBuffer;

let root: string | undefined;

/** The directory holding slimsplit's package.json (src/model/ from source, dist/src/model/ when built). */
export function packageDir(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if (JSON.parse(readFileSync(pj, 'utf8')).name === 'slimsplit') return (root = dir);
      } catch {
        // an unreadable package.json on the way up is not ours: keep walking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`slimsplit: cannot find slimsplit's package.json above ${fileURLToPath(import.meta.url)}; reinstall the package`);
    dir = up;
  }
}

/** Names of the models in the package's weights/ folder (file names without .slim), sorted. */
export function shippedModels(): string[] {
  const dir = join(packageDir(), 'weights');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.slim')).map((f) => f.slice(0, -5)).sort();
}

/** The path of shipped model `name` ('see-cifar10' or 'see-cifar10.slim'), or undefined. */
export function shippedModelPath(name: string): string | undefined {
  const stem = name.endsWith('.slim') ? name.slice(0, -5) : name;
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(stem)) return undefined;
  return shippedModels().includes(stem) ? join(packageDir(), 'weights', `${stem}.slim`) : undefined;
}

/** A short description of a value for error messages: "number 42", "a string", "a Float32Array". */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${String(v)}`;
  if (typeof v === 'string') return 'a string';
  if (Array.isArray(v)) return 'an Array';
  if (typeof v === 'object') {
    const name = (v as object).constructor?.name;
    return name && name !== 'Object' ? `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}` : 'an object';
  }
  return `a ${typeof v}`;
}

/** The bytes of a model blob from any of the accepted sources; errors name the source and the cause. */
export async function modelBytes(src: ModelSource): Promise<Uint8Array> {
  if (src instanceof Uint8Array) return src;
  if (src instanceof ArrayBuffer) return new Uint8Array(src);
  if (!(src instanceof URL) && typeof src !== 'string') {
    throw new TypeError(`slimsplit: loadModel takes a path, a shipped model's name, a URL, a Uint8Array or an ArrayBuffer; got ${describeValue(src)}`);
  }
  if (src instanceof URL || /^(https?|file):/i.test(src)) return urlBytes(src instanceof URL ? src : new URL(src));
  try {
    return new Uint8Array(await readFile(src));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new Error(`slimsplit: cannot read model file '${src}': ${(e as Error).message}`);
    const shipped = shippedModelPath(src);
    if (shipped) return new Uint8Array(await readFile(shipped));
    const names = shippedModels();
    const list = names.length ? ` (shipped: ${names.join(', ')})` : '';
    if (/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(src)) throw new Error(`slimsplit: '${src}' is not a file and not a shipped model${list}`);
    throw new Error(`slimsplit: cannot read model file '${src}' (no such file, relative to ${process.cwd()}); pass the path of a .slim blob, or a shipped model's name${list}`);
  }
}

async function urlBytes(url: URL): Promise<Uint8Array> {
  if (url.protocol === 'file:') {
    try {
      return new Uint8Array(await readFile(url));
    } catch (e) {
      throw new Error(`slimsplit: cannot read model ${url.href}: ${(e as Error).message}`);
    }
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`slimsplit: cannot load a model from ${url.href}: only file:, http: and https: URLs`);
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    // fetch says only "fetch failed"; the reason (refused, DNS, TLS, ...) is in its cause
    throw new Error(`slimsplit: fetching model ${url.href} failed: ${causeText(e)}`, { cause: e });
  }
  if (!res.ok) throw new Error(`slimsplit: fetching model ${url.href} failed: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  try {
    return new Uint8Array(await res.arrayBuffer());
  } catch (e) {
    throw new Error(`slimsplit: fetching model ${url.href} failed while reading the body: ${causeText(e)}`, { cause: e });
  }
}

function causeText(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e, depth = 0; c && depth < 4; c = (c as { cause?: unknown }).cause, depth++) {
    const err = c as { message?: string; code?: string };
    const text = [err.code, err.message].filter(Boolean).join(' ');
    if (text && !parts.some((p) => p.includes(text))) parts.push(text);
  }
  return parts.join(': ') || String(e);
}
