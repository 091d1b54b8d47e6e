/**
 * Device blobs and memory budgets as the CLI prints them (`slimsplit device-blob`, `slimsplit
 * inspect --device`).
 *
 *   const rows = budgetPerMode(readFileSync('weights/see-cifar10.slim'), 'scalar');
 *   // per mode: device blob for that mode alone (its bits, its members count's arena), total linear memory, its parts
 */
import { makeDeviceBlob, readDeviceBlobInfo, type DeviceBlobInfo } from './blob.js';
import { deviceBudget, type DeviceBudget } from './budget.js';
import { loadEngine, type Build } from '../engine/wasm.js';

/** The targets of issue 20: members=1 of the default model in 256 KB, every mode in 512 KB. */
export const TARGET_MEMBERS1 = 256 * 1024;
export const TARGET_ANY = 512 * 1024;

export interface ModeBudgetRow {
  members: number;
  bits: number;
  /** device blob for this mode alone: its bit depth's tables, an arena for its members count */
  blobBytes: number;
  budget: DeviceBudget;
}

const heapBases = new Map<Build, number>();
export function heapBase(build: Build): number {
  let h = heapBases.get(build);
  if (h === undefined) heapBases.set(build, (h = loadEngine({ build }).exports.heap_base()));
  return h;
}

export function budgetPerMode(full: Uint8Array, build: Build = 'scalar'): ModeBudgetRow[] {
  const hb = heapBase(build);
  const all = readDeviceBlobInfo(makeDeviceBlob(full));
  return all.modes.map((m) => {
    const b = makeDeviceBlob(full, { bits: [m.bits], members: [m.members] });
    return { members: m.members, bits: m.bits, blobBytes: b.length, budget: deviceBudget(b, hb) };
  });
}

const kb = (n: number): string => (n / 1024).toFixed(1);

/** Text table of budgetPerMode, KiB, with the targets. */
export function budgetTable(rows: ModeBudgetRow[]): string {
  const head = ['mode', 'blob', 'total', 'module', 'blob+fixed', 'f32 weights', 'arena', 'coder', 'packet', 'frame', 'target'];
  const lines = rows.map((r) => {
    const p = r.budget.parts;
    const target = r.members === 1 ? TARGET_MEMBERS1 : TARGET_ANY;
    return [
      `${r.members},${r.bits}`, kb(r.blobBytes), kb(r.budget.total), kb(p.module), kb(p.blob + p.fixed), kb(p.weightsF32), kb(p.arena), kb(p.coderTables), kb(p.packet), kb(p.frame),
      `${kb(target)} ${r.budget.total <= target ? 'met' : `over by ${kb(r.budget.total - target)}`}`,
    ];
  });
  const all = [head, ...lines];
  const wd = head.map((_, i) => Math.max(...all.map((l) => l[i].length)));
  return all.map((l) => l.map((c, i) => (i === 0 || i === l.length - 1 ? c.padEnd(wd[i]) : c.padStart(wd[i]))).join('  ').trimEnd()).join('\n') + '\n';
}

export function describeDeviceBlob(info: DeviceBlobInfo): string {
  const lines = [
    `device blob of model '${info.name}' (id ${info.modelId.toString(16).padStart(8, '0')}), ${info.bytes} bytes, input [${info.input.join(', ')}]`,
    `sections: ${Object.entries(info.sections).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `weights expand to ${info.expandBytes} bytes of f32 on the device; plan arena ${info.arenaBytes} bytes`,
    `coder tables kept: ${info.coderSets.map((s) => `bits ${s.bits} (${s.tables} tables x ${s.symbols} symbols)`).join(', ')}`,
    `modes: ${info.modes.map((m) => `${m.members},${m.bits}${m.kept ? '' : ' (not kept)'}`).join('  ')}`,
  ];
  return lines.join('\n') + '\n';
}
