/** The `device-blob` command, and inspect's views of device blobs and of the device path's memory (`inspect --device`). */
import { writeFileSync } from 'node:fs';
import { makeDeviceBlob, readDeviceBlobInfo } from '../device/blob.js';
import { budgetPerMode, budgetTable, describeDeviceBlob, heapBase } from '../device/report.js';
import { deviceBudget } from '../device/budget.js';
import { CliError, Io, readInput } from './common.js';

export function cmdDeviceBlob(io: Io, file: string, o: { out: string; bits?: number[]; members?: number[] }): void {
  const bytes = readInput(file, 'blob');
  let dev: Uint8Array;
  try {
    dev = makeDeviceBlob(bytes, { bits: o.bits, members: o.members });
  } catch (e) {
    throw new CliError(`${file}: ${(e as Error).message.replace(/^slimsplit: /, '')}`);
  }
  writeFileSync(o.out, dev);
  io.out(`${o.out}: ${dev.length} bytes (from ${bytes.length}; ${readDeviceBlobInfo(dev).coderSets.map((s) => s.bits).join(',')} bits kept)\n`);
}

export function inspectDeviceBlob(io: Io, bytes: Uint8Array, json: boolean): void {
  const info = readDeviceBlobInfo(bytes);
  const budget = deviceBudget(bytes, heapBase('scalar'));
  if (json) return io.out(JSON.stringify({ ...info, budget }, null, 2) + '\n');
  io.out(describeDeviceBlob(info));
  io.out(`linear memory (scalar build, RGB frame of the input size): ${budget.total} bytes: ${Object.entries(budget.parts).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
}

/** `inspect --device model.slim`: the device path's linear memory per mode against the targets. */
export function inspectDeviceBudget(io: Io, file: string, bytes: Uint8Array, json: boolean): void {
  const rows = budgetPerMode(bytes);
  if (json) return io.out(JSON.stringify(rows, null, 2) + '\n');
  io.out(`${file}: linear memory of the device path per mode (KiB; a device blob for that mode alone: its bits' tables, an arena for its members count; an RGB frame of the model's input size; scalar build)\n`);
  io.out(budgetTable(rows));
}
