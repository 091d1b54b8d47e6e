/**
 * The models a server holds, and how a frame finds its model: a full packet by the model id it
 * carries, a compact one by the envelope's model id, else the model its route or topic names, else
 * the server's only model.
 *
 *   const set = await ModelSet.load(['weights/see-cifar10.slim', 'other.slim']);
 *   const m = set.byId(0x4ded2727) ?? set.byName('see-cifar10');
 *
 * The main thread parses blobs only (names, ids, classes, modes) and checks packet headers; the
 * kernel module instances live in the decoder workers (src/server/worker.ts).
 */
import { readFile } from 'node:fs/promises';
import { Model, type Mode } from '../index.js';
import { modelIdHex } from './envelope.js';

export interface ServedModel {
  /** index in the set: the workers hold their decoders in the same order */
  index: number;
  name: string;
  id: number;
  idHex: string;
  bytes: Uint8Array;
  classes: string[];
  modes: Mode[];
}

export class ModelSet {
  readonly models: ServedModel[];
  private readonly ids = new Map<number, ServedModel>();
  private readonly names = new Map<string, ServedModel>();

  constructor(blobs: Uint8Array[]) {
    this.models = blobs.map((bytes, index) => {
      const m = new Model(bytes);
      if (!m.hasGraph('decoder')) throw new Error(`slimsplit: serve: model '${m.info.name}' has no decoder graph; it is not a split model`);
      // Results are a class and top-k of one score vector; several heads (a detector) would come out
      // as the argmax over their concatenation, a silently wrong answer.
      if (m.heads.length) {
        throw new Error(`slimsplit: serve: model '${m.info.name}' has ${m.heads.length} outputs (${m.heads.join(', ')}); serve answers classifiers (one vector of class scores), not detection heads`);
      }
      m.split();
      return { index, name: m.info.name, id: m.modelId, idHex: modelIdHex(m.modelId), bytes, classes: m.info.classes, modes: m.modes() };
    });
    for (const m of this.models) {
      const same = this.ids.get(m.id);
      if (same) throw new Error(`slimsplit: serve: model '${m.name}' is loaded twice (same model id ${m.idHex} as '${same.name}')`);
      if (this.names.has(m.name)) throw new Error(`slimsplit: serve: two models are named '${m.name}' (ids ${this.names.get(m.name)!.idHex} and ${m.idHex}); routes name models by name`);
      this.ids.set(m.id, m);
      this.names.set(m.name, m);
    }
  }

  static async load(paths: (string | Uint8Array)[]): Promise<ModelSet> {
    const blobs = await Promise.all(
      paths.map(async (p) => {
        if (p instanceof Uint8Array) return p;
        try {
          return new Uint8Array(await readFile(p));
        } catch (e) {
          throw new Error(`slimsplit: serve: cannot read model file '${p}': ${(e as Error).message}`);
        }
      }),
    );
    return new ModelSet(blobs);
  }

  byId(id: number): ServedModel | undefined {
    return this.ids.get(id >>> 0);
  }

  /** A route's or topic's model: its name, or its id as 8 hex digits. */
  byName(name: string): ServedModel | undefined {
    return this.names.get(name) ?? (/^[0-9a-f]{8}$/i.test(name) ? this.ids.get(parseInt(name, 16)) : undefined);
  }

  /** the only model, where there is one */
  get only(): ServedModel | undefined {
    return this.models.length === 1 ? this.models[0] : undefined;
  }
}
