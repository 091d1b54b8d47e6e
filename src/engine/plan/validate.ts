/**
 * Graph validation, shared by the packer and the blob reader: every shape, every active bound in
 * every mode, every buffer access, and the order buffers are written and read. Throws GraphError
 * naming the graph, layer, field and mode. resolveGraph also hands the compiler each layer's
 * plan in each mode.
 */
import { GraphError, LIMITS, type GraphDef, type LayerDef, type FieldValue, type PlanLayout, type TensorInfo } from './graph.js';
import { OPS, OP_NAMES } from '../ops/registry.js';
import { PADS, type BufInfo, type FieldSpec, type LayerView, type OpPlan, type OpSpec } from '../ops/spec.js';
import { Act, ACTS } from '../ops/act.js';
import { modeCount, modeDigits, modeText, type AxisDef } from '../../codec/modes.js';
import { product, shapeText } from '../../util.js';

interface GraphCtx {
  graph: GraphDef;
  axes: AxisDef[];
  tensors: Map<string, TensorInfo>;
  buffers: Map<string, BufInfo>;
}

/** One layer seen in one mode: field values resolved, with checks that name the layer. */
class View implements LayerView {
  readonly spec: OpSpec;
  private readonly digits: number[];
  constructor(
    private readonly g: GraphCtx,
    readonly index: number,
    readonly def: LayerDef,
    readonly mode: number,
  ) {
    this.spec = OPS[def.op];
    this.digits = modeDigits(g.axes, mode);
  }
  get where(): string {
    return `graph '${this.g.graph.name}' layer ${this.index} (${this.def.op})`;
  }
  fail(code: string, msg: string): never {
    throw new GraphError(code, `${this.where}: ${msg}`);
  }
  private inMode(): string {
    return this.g.axes.length ? ` in ${modeText(this.g.axes, this.mode)}` : '';
  }
  value(name: string): FieldValue {
    const a = this.def.active[name];
    if (a) return a.values[this.digits[this.g.axes.findIndex((x) => x.name === a.axis)]];
    return this.def.fields[name] ?? null;
  }
  optInt(name: string): number | undefined {
    const v = this.value(name);
    return v === null ? undefined : (v as number);
  }
  int(name: string): number {
    const v = this.optInt(name);
    if (v === undefined) this.fail('field', `field ${name} is missing`);
    return v;
  }
  optFloat(name: string): number | undefined {
    return this.optInt(name);
  }
  float(name: string): number {
    return this.int(name);
  }
  str(name: string): string {
    return this.value(name) as string;
  }
  actCode(): number {
    return Act[this.str('act') as keyof typeof Act];
  }
  tensor(name: string): TensorInfo | null {
    const v = this.value(name);
    return typeof v === 'string' ? this.g.tensors.get(v)! : null;
  }
  buffer(name: string): BufInfo {
    return this.g.buffers.get(this.def.fields[name] as string)!;
  }
  /** an active count in 1..full (absent: full) */
  activeCount(name: string, full: number, fullName: string): number {
    const v = this.optInt(name);
    if (v === undefined) return full;
    if (v < 1 || v > full) this.fail('active', `${name} ${v}${this.inMode()} is outside 1..${fullName} (${full})`);
    return v;
  }
  /** Runs a kernel module's own argument check, naming this layer and mode in what it throws. */
  kernelCheck<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof GraphError) throw e;
      const msg = (e as Error).message.replace(/^slimsplit: /, '');
      this.fail(/Active|active/.test(msg) ? 'active' : 'field', `${msg}${this.inMode()}`);
    }
  }
  /** The tensor's shape must equal `want` ignoring size-1 dims (PyTorch's [c,1,1] vs [c]). */
  tensorShape(name: string, want: number[], what: string): void {
    const t = this.tensor(name);
    if (!t) return;
    if (t.dtype !== 'f32') this.fail('dtype', `tensor ${name} '${t.name}' has dtype ${t.dtype}, expected f32`);
    if (!sameSqueezed(t.shape, want)) this.fail('shape', `tensor ${name} '${t.name}' has shape ${shapeText(t.shape)}, expected ${shapeText(want)} (${what})`);
  }
  bufferShape(name: string, want: number[], what: string): void {
    const b = this.buffer(name);
    if (!sameSqueezed(b.shape, want)) this.fail('shape', `buffer ${name} '${b.name}' has shape ${shapeText(b.shape)}, expected ${shapeText(want)} (${what})`);
  }
  /** shape [lead, ...rest] with prod(rest) == inner */
  bufferLead(name: string, lead: number, inner: number, what: string): void {
    const b = this.buffer(name);
    if (b.shape[0] !== lead || product(b.shape.slice(1)) !== inner) {
      this.fail('shape', `buffer ${name} '${b.name}' has shape ${shapeText(b.shape)}, expected [${lead}, ...] holding ${lead}x${inner} (${what})`);
    }
  }
  bufferElems(name: string, n: number, what: string): void {
    const b = this.buffer(name);
    if (b.elems !== n) this.fail('shape', `buffer ${name} '${b.name}' has ${b.elems} elements (${shapeText(b.shape)}), expected ${what} = ${n}`);
  }
}

function sameSqueezed(a: number[], b: number[]): boolean {
  const sa = a.filter((d) => d !== 1), sb = b.filter((d) => d !== 1);
  return sa.length === sb.length && sa.every((d, i) => d === sb[i]);
}

function isI32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff;
}
function isF32(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(Math.fround(v)) && Math.fround(v) === v;
}

function checkShape(where: string, shape: number[]): number {
  if (!Array.isArray(shape) || shape.length > LIMITS.rank) throw new GraphError('shape', `${where}: shape must be a list of at most ${LIMITS.rank} dims, got ${JSON.stringify(shape)}`);
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 1) throw new GraphError('shape', `${where}: shape ${JSON.stringify(shape)} has a dim that is not a positive integer`);
    n *= d;
    if (n > LIMITS.elems) throw new GraphError('limit', `${where}: shape ${shapeText(shape)} exceeds ${LIMITS.elems} elements`);
  }
  return n;
}

/** Checks a field value against its kind; returns a reason or null. */
function badValue(f: FieldSpec, v: FieldValue, g: GraphCtx): string | null {
  switch (f.kind) {
    case 'int':
      return isI32(v) ? null : `must be a 32-bit integer, got ${JSON.stringify(v)}`;
    case 'float':
      return isF32(v) ? null : `must be a finite f32, got ${JSON.stringify(v)}`;
    case 'pad':
      if (typeof v === 'string' && (PADS as readonly string[]).includes(v)) return null;
      if (f.numericPad && typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 256) return null;
      return `must be one of ${PADS.join(', ')}${f.numericPad ? ' or a pixel count 0..255' : ''}, got ${JSON.stringify(v)}`;
    case 'act':
      return typeof v === 'string' && (ACTS as string[]).includes(v) ? null : `must be one of ${ACTS.join(', ')}, got ${JSON.stringify(v)}`;
    case 'tensor':
      return typeof v === 'string' && g.tensors.has(v) ? null : `names no tensor: ${JSON.stringify(v)}`;
    case 'buffer':
      return typeof v === 'string' && g.buffers.has(v) ? null : `names no buffer of this graph: ${JSON.stringify(v)}`;
  }
}

function graphContext(graph: GraphDef, layout: PlanLayout): GraphCtx {
  const gname = `graph '${graph.name}'`;
  if (graph.layers.length > LIMITS.layers) throw new GraphError('limit', `${gname} has ${graph.layers.length} layers, more than ${LIMITS.layers}`);
  if (graph.buffers.length > LIMITS.buffers) throw new GraphError('limit', `${gname} has ${graph.buffers.length} buffers, more than ${LIMITS.buffers}`);
  if (modeCount(layout.axes) > LIMITS.modes) throw new GraphError('limit', `the mode axes give ${modeCount(layout.axes)} modes, more than ${LIMITS.modes}`);
  if (graph.layers.length * modeCount(layout.axes) > LIMITS.layerModes) {
    throw new GraphError('limit', `${gname} has ${graph.layers.length} layers in ${modeCount(layout.axes)} modes, more than ${LIMITS.layerModes} layer-modes to validate`);
  }
  const tensors = new Map<string, TensorInfo>();
  for (const t of layout.tensors) tensors.set(t.name, t);
  const buffers = new Map<string, BufInfo>();
  for (const b of graph.buffers) {
    if (buffers.has(b.name)) throw new GraphError('ref', `${gname}: buffer '${b.name}' is declared twice`);
    if (b.dtype !== 'f32' && b.dtype !== 'u8') throw new GraphError('dtype', `${gname}: buffer '${b.name}' has dtype ${b.dtype}, expected f32 or u8`);
    const elems = checkShape(`${gname} buffer '${b.name}'`, b.shape);
    buffers.set(b.name, { ...b, elems, bytes: elems * (b.dtype === 'u8' ? 1 : 4) });
  }
  for (const [what, name] of [['input', graph.input], ['output', graph.output]]) {
    if (!buffers.has(name)) throw new GraphError('ref', `${gname}: ${what} '${name}' is not one of its buffers (${[...buffers.keys()].join(', ')})`);
  }
  return { graph, axes: layout.axes, tensors, buffers };
}

/** Field kinds, refs, active entries, dtypes, aliasing and dataflow: the checks no mode changes. */
function checkLayersStatic(g: GraphCtx): void {
  const written = new Set<string>([g.graph.input]);
  g.graph.layers.forEach((L, i) => {
    const spec = OPS[L.op];
    const where = `graph '${g.graph.name}' layer ${i} (${L.op})`;
    if (!spec) throw new GraphError('op', `${where}: unknown op '${L.op}' (known: ${OP_NAMES.join(', ')})`);
    const names = new Set(spec.fields.map((f) => f.name));
    for (const k of Object.keys(L.fields)) if (!names.has(k)) throw new GraphError('field', `${where}: unknown field '${k}' (${L.op} has ${[...names].join(', ')})`);
    for (const k of Object.keys(L.active)) {
      const f = spec.fields.find((x) => x.name === k);
      if (!f || !f.modal) {
        const modal = spec.fields.filter((x) => x.modal).map((x) => x.name);
        throw new GraphError('active', `${where}: field '${k}' cannot depend on the mode (${L.op} allows ${modal.join(', ') || 'none'})`);
      }
    }
    for (const f of spec.fields) {
      const v = L.fields[f.name] ?? null;
      const a = L.active[f.name];
      if (a) {
        if (v !== null) throw new GraphError('active', `${where}: field ${f.name} has both a fixed value and an active entry`);
        const ax = g.axes.find((x) => x.name === a.axis);
        if (!ax) throw new GraphError('axis', `${where}: active ${f.name} uses mode axis '${a.axis}', which this model does not have (axes: ${g.axes.map((x) => x.name).join(', ') || 'none'})`);
        if (a.values.length !== ax.values.length) throw new GraphError('active', `${where}: active ${f.name} has ${a.values.length} values, axis ${a.axis} has ${ax.values.length}`);
        for (const av of a.values) {
          const bad = badValue(f, av, g);
          if (bad) throw new GraphError('active', `${where}: active ${f.name} value ${bad}`);
        }
        continue;
      }
      if (v === null) {
        if (!f.optional) throw new GraphError('field', `${where}: required field ${f.name} is missing`);
        continue;
      }
      const bad = badValue(f, v, g);
      if (bad) throw new GraphError(f.kind === 'tensor' || f.kind === 'buffer' ? 'ref' : 'field', `${where}: field ${f.name} ${bad}`);
      if (f.kind === 'buffer') {
        const b = g.buffers.get(v as string)!;
        const want = f.dtype ?? 'f32';
        if (b.dtype !== want) throw new GraphError('dtype', `${where}: buffer ${f.name} '${b.name}' has dtype ${b.dtype}, expected ${want}`);
      }
    }
    const bufFields = spec.fields.filter((f) => f.kind === 'buffer');
    for (let a = 0; a < bufFields.length; a++) {
      for (let b = a + 1; b < bufFields.length; b++) {
        const fa = bufFields[a].name, fb = bufFields[b].name;
        if (L.fields[fa] !== L.fields[fb]) continue;
        if (!(spec.alias ?? []).some(([p, q]) => (p === fa && q === fb) || (p === fb && q === fa))) {
          throw new GraphError('alias', `${where}: ${fa} and ${fb} both name buffer '${L.fields[fa]}', which ${L.op} cannot do in place`);
        }
      }
    }
    for (const f of bufFields) {
      if (f.role !== 'out' && !written.has(L.fields[f.name] as string)) {
        throw new GraphError('dataflow', `${where}: reads buffer '${L.fields[f.name]}' (field ${f.name}) before any layer writes it`);
      }
    }
    for (const f of bufFields) if (f.role !== 'in') written.add(L.fields[f.name] as string);
  });
  if (!written.has(g.graph.output)) throw new GraphError('dataflow', `graph '${g.graph.name}': output '${g.graph.output}' is never written`);
}

export interface Resolved {
  g: GraphCtx;
  /** [mode][layer] */
  plans: OpPlan[][];
  views: View[][];
  /** per layer, the most scratch any mode needs */
  scratch: number[];
  inElems: number[];
  outElems: number[];
}

/** The checks that need no mode: ops, field kinds, refs, active entries, dtypes, aliasing, dataflow. */
export function checkGraphStatic(graph: GraphDef, layout: PlanLayout): void {
  checkLayersStatic(graphContext(graph, layout));
}

/** Validates a graph in every mode. Throws GraphError naming the graph, layer, field and mode. */
export function validateGraph(graph: GraphDef, layout: PlanLayout): void {
  resolveGraph(graph, layout);
}

export function resolveGraph(graph: GraphDef, layout: PlanLayout): Resolved {
  const g = graphContext(graph, layout);
  checkLayersStatic(g);
  const nm = modeCount(g.axes);
  const layers = graph.layers;
  const plans: OpPlan[][] = [], views: View[][] = [];
  const scratch = new Array<number>(layers.length).fill(0);
  const inElems: number[] = [], outElems: number[] = [];
  for (let m = 0; m < nm; m++) {
    const pm: OpPlan[] = [], vm: View[] = [];
    // how many leading elements of each buffer hold this mode's values so far
    const filled = new Map<string, number>([[graph.input, g.buffers.get(graph.input)!.elems]]);
    let inN = 0, outN = 0;
    layers.forEach((L, i) => {
      const v = new View(g, i, L, m);
      const p = v.spec.plan(v);
      for (const f of v.spec.fields) {
        if (f.kind !== 'buffer') continue;
        const b = v.buffer(f.name), n = p.extents[f.name];
        if (!(Number.isInteger(n) && n >= 0)) v.fail('plan', `internal: no extent for buffer field ${f.name}`);
        if (n > b.elems) v.fail('shape', `touches ${n} elements of buffer ${f.name} '${b.name}' ${shapeText(b.shape)} in ${modeText(g.axes, m)}, more than its ${b.elems}`);
        if (f.role !== 'out') {
          const have = filled.get(b.name) ?? 0;
          if (n > have) v.fail('dataflow', `reads ${n} elements of buffer '${b.name}' (field ${f.name}) in ${modeText(g.axes, m)}, but only ${have} were written`);
          if (b.name === graph.input) inN = Math.max(inN, n);
        }
      }
      for (const f of v.spec.fields) {
        if (f.kind !== 'buffer' || f.role === 'in') continue;
        const b = v.buffer(f.name), n = p.extents[f.name];
        filled.set(b.name, Math.max(filled.get(b.name) ?? 0, n));
        if (b.name === graph.output) outN = Math.max(outN, n);
      }
      scratch[i] = Math.max(scratch[i], p.scratch);
      pm.push(p);
      vm.push(v);
    });
    if (inN === 0) inN = g.buffers.get(graph.input)!.elems;
    if (outN === 0) outN = filled.get(graph.output) ?? 0;
    plans.push(pm);
    views.push(vm);
    inElems.push(inN);
    outElems.push(outN);
  }
  return { g, plans, views, scratch, inElems, outElems };
}
