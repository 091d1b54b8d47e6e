/**
 * The host side of a compiled plan: runs one graph of a blob with one export call per inference.
 *
 *   import { readFileSync } from 'node:fs';
 *   import { loadEngine } from '../wasm.js';
 *   import { readBlob } from '../../format/reader.js';
 *   import { Runner } from './runner.js';
 *   const blob = readBlob(readFileSync('weights/see-384-random.slim'));
 *   const enc = new Runner(loadEngine(), blob, 'encoder');  // blob copied into WASM once, arena planned
 *   enc.setMode({ members: 2 });                              // a few word writes inside WASM
 *   const z = enc.run(image);                                 // a view into WASM memory, valid until the next run
 */
import { Arena, type Engine } from '../wasm.js';
import type { BufferDType } from './graph.js';
import { OPCODE_NAMES, PH, MODE_WORDS } from './words.js';
import { modeIndex, modeText, type AxisDef, type Mode } from '../../codec/modes.js';

/** What the Runner needs of a loaded blob (src/format/blob.ts Blob satisfies it). */
export interface RunnableBlob {
  name: string;
  axes: AxisDef[];
  /** the data section as loaded: tensors, plans, then q8 tensors expanded to f32 */
  readonly data: Uint8Array;
  /** data's length and a writer of its bytes, when the blob can write them without making data (src/format/reader.ts) */
  dataBytes?: number;
  writeData?(dst: Uint8Array, at: number): void;
  graphs: Array<{ name: string; planOffset: number; plan: Uint32Array }>;
}

export interface RunnerOptions {
  /**
   * Where to allocate the data section and the arena. Default: one Arena per engine shared by
   * every Runner made without this option; pass your own when you also allocate from the engine.
   */
  arena?: Arena;
}

const sharedArenas = new WeakMap<Engine, Arena>();

interface PlanExports {
  plan_bind(plan: number, blobBase: number, arenaBase: number): number;
  plan_run(plan: number): number;
  plan_set_mode(plan: number, mode: number): number;
  plan_check(plan: number): number;
  plan_input(plan: number): number;
  plan_output(plan: number): number;
}

/**
 * Runs one graph of a blob: one export call per inference, no JavaScript between layers.
 * The data section (weights and plans) is copied into WASM memory once and the arena allocated
 * once; run() only copies the input in and returns a view of the output.
 */
export class Runner {
  readonly eng: Engine;
  readonly model: string;
  readonly graph: string;
  readonly axes: AxisDef[];
  /** byte addresses in WASM memory */
  readonly plan: number;
  readonly dataBase: number;
  readonly arenaBase: number;
  readonly inputDtype: BufferDType;
  readonly outputDtype: BufferDType;
  private readonly x: PlanExports;
  private readonly inPtr: number;
  private readonly outPtr: number;
  private digits: number[];
  private inN = 0;
  private outN = 0;
  /** per mode: input and output element counts (from the plan's mode table) */
  private readonly sizes: Uint32Array;

  constructor(eng: Engine, blob: RunnableBlob, graphName: string, opts: RunnerOptions = {}) {
    const g = blob.graphs.find((q) => q.name === graphName);
    if (!g) throw new Error(`slimsplit: model '${blob.name}' has no graph '${graphName}' (it has ${blob.graphs.map((q) => `'${q.name}'`).join(', ') || 'none'})`);
    const x = eng.exports as unknown as PlanExports;
    if (typeof x.plan_run !== 'function') throw new Error(`slimsplit: the ${eng.build} kernel module has no plan_run export; rebuild it (npm run asbuild)`);
    this.eng = eng;
    this.x = x;
    this.model = blob.name;
    this.graph = graphName;
    this.axes = blob.axes;
    let arena = opts.arena ?? sharedArenas.get(eng);
    if (!arena) sharedArenas.set(eng, (arena = new Arena(eng)));
    this.dataBase = arena.alloc(blob.dataBytes ?? blob.data.byteLength, 64);
    this.arenaBase = arena.alloc(Math.max(g.plan[PH.arenaBytes], 16), 64);
    if (blob.writeData) blob.writeData(eng.u8(), this.dataBase);
    else eng.u8().set(blob.data, this.dataBase);
    this.plan = this.dataBase + g.planOffset;
    const rc = x.plan_bind(this.plan, this.dataBase, this.arenaBase);
    if (rc !== 0) throw new Error(`slimsplit: plan_bind failed for graph '${graphName}' (code ${rc})`);
    const missing = x.plan_check(this.plan);
    if (missing !== 0) throw new Error(`slimsplit: graph '${graphName}' needs kernel '${OPCODE_NAMES[missing] ?? missing}', which the ${eng.build} build lacks`);
    this.inputDtype = g.plan[PH.inDtype] ? 'u8' : 'f32';
    this.outputDtype = g.plan[PH.outDtype] ? 'u8' : 'f32';
    this.inPtr = x.plan_input(this.plan);
    this.outPtr = x.plan_output(this.plan);
    const nm = g.plan[PH.nmodes], mt = g.plan[PH.modes];
    this.sizes = new Uint32Array(2 * nm);
    for (let m = 0; m < nm; m++) {
      this.sizes[2 * m] = g.plan[mt + m * MODE_WORDS + 2];
      this.sizes[2 * m + 1] = g.plan[mt + m * MODE_WORDS + 3];
    }
    this.digits = blob.axes.map((a) => a.values.length - 1);
    this.syncSizes(nm - 1);
  }

  /** The current value of every axis. */
  get mode(): Record<string, number> {
    return Object.fromEntries(this.axes.map((a, i) => [a.name, a.values[this.digits[i]]]));
  }
  get modeIndex(): number {
    return modeIndex(this.axes, this.digits);
  }
  /** Elements run() takes and returns in the current mode. */
  get inputLength(): number {
    return this.inN;
  }
  get outputLength(): number {
    return this.outN;
  }

  /** Sets the given axes (others keep their value). Throws, listing the valid values, on an unknown axis or value. */
  setMode(mode: Mode): void {
    const d = this.digits.slice();
    for (const [k, v] of Object.entries(mode)) {
      if (v === undefined) continue;
      const i = this.axes.findIndex((a) => a.name === k);
      const j = i < 0 ? -1 : this.axes[i].values.indexOf(Math.fround(v));
      if (j < 0) throw new Error(`slimsplit: model '${this.model}' has no mode ${k}=${v}; valid: ${this.validModes()}`);
      d[i] = j;
    }
    const m = modeIndex(this.axes, d);
    const rc = this.x.plan_set_mode(this.plan, m);
    if (rc !== 0) throw new Error(`slimsplit: plan_set_mode failed (code ${rc})`);
    this.digits = d;
    this.syncSizes(m);
  }

  private validModes(): string {
    return this.axes.length ? this.axes.map((a) => `${a.name} in {${a.values.join(', ')}}`).join('; ') : 'none (the model has one mode)';
  }

  private syncSizes(m: number): void {
    this.inN = this.sizes[2 * m];
    this.outN = this.sizes[2 * m + 1];
  }

  /** The input buffer itself, to fill in place instead of passing an array to run(). */
  inputView(): Float32Array | Uint8Array {
    return this.inputDtype === 'u8' ? this.eng.u8().subarray(this.inPtr, this.inPtr + this.inN) : this.eng.f32().subarray(this.inPtr >> 2, (this.inPtr >> 2) + this.inN);
  }

  /**
   * Runs the graph; `input` may be omitted when inputView() was filled for this run (refill it every
   * time: the arena lends the input's bytes to later layers once the first has read them). Returns a
   * view valid until the next run.
   */
  run(input?: Float32Array | Uint8Array): Float32Array | Uint8Array {
    if (input !== undefined) {
      const want = this.inputDtype === 'u8' ? Uint8Array : Float32Array;
      if (!(input instanceof want) || input.length !== this.inN) {
        throw new Error(`slimsplit: graph '${this.graph}' takes a ${want.name} of ${this.inN} elements in ${modeText(this.axes, this.modeIndex)}, got a ${input.constructor.name} of ${input.length}`);
      }
      if (this.inputDtype === 'u8') this.eng.u8().set(input, this.inPtr);
      else this.eng.f32().set(input, this.inPtr >> 2);
    }
    const rc = this.x.plan_run(this.plan);
    if (rc !== 0) throw new Error(`slimsplit: plan_run failed (code ${rc})`);
    return this.outputDtype === 'u8' ? this.eng.u8().subarray(this.outPtr, this.outPtr + this.outN) : this.eng.f32().subarray(this.outPtr >> 2, (this.outPtr >> 2) + this.outN);
  }
}
