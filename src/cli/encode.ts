/** The `encode` command (device side): image -> packet, in a given mode or the best one under a byte budget. */
import { writeFileSync } from 'node:fs';
import type { Mode } from '../model/api.js';
import { decodeImage } from '../model/image.js';
import { FULL_DECODE_MAX_PIXELS, imageSize } from '../model/bounded-image.js';
import { readBlob } from '../format/reader.js';
import { modelIdOf, COMPACT_OVERHEAD } from '../codec/packet.js';
import { modeTable, pickMode, formatMode } from '../codec/modes.js';
import { CliError, Ctx, checkMode, openModel, readInput } from './common.js';

export async function cmdEncode(io: Ctx, image: string, o: { mode?: Mode; maxBytes?: number; maxMembers?: number; out: string; model: string; compact?: boolean }): Promise<void> {
  if ((o.mode === undefined) === (o.maxBytes === undefined)) throw new CliError('encode: give either --mode or --max-bytes', 2);
  if (o.maxMembers !== undefined && o.maxBytes === undefined) throw new CliError('encode: --max-members goes with --max-bytes', 2);
  const bytes = readInput(image, 'image file');
  const { model, bytes: blobBytes } = await openModel(io, o.model);
  let mode = o.mode;
  let picked = '';
  if (mode === undefined) {
    const blob = readBlob(blobBytes);
    const tab = modeTable(blob, blob.json ? JSON.parse(blob.json) : {}, modelIdOf(blobBytes), o.compact ? COMPACT_OVERHEAD : undefined);
    const { info, fits } = pickMode(tab, { maxBytes: o.maxBytes, maxMembers: o.maxMembers });
    mode = info.mode;
    const ref = info.top1 === undefined ? '' : `, reference top-1 ${(100 * info.top1).toFixed(2)}%`;
    picked = ` (picked for <= ${o.maxBytes} bytes: expected ${info.expectedBytes}${ref})`;
    if (!fits) io.err(`slimsplit: no mode is expected to fit ${o.maxBytes} bytes; sending the smallest (${formatMode(mode)}, expected ${info.expectedBytes})\n`);
  }
  checkMode(model, mode);
  // a large image goes to the encoder as file bytes, which it decodes within a memory bound
  const size = imageSize(bytes);
  const raw = size && size.width * size.height > FULL_DECODE_MAX_PIXELS ? { ...size, bytes } : decodeImage(bytes);
  const enc = model.encoder({ packet: o.compact ? 'compact' : 'full' });
  enc.setMode(mode);
  const t = performance.now();
  const packet = enc.encode('bytes' in raw ? raw.bytes : raw);
  const ms = performance.now() - t;
  writeFileSync(o.out, packet);
  io.out(`${o.out}: ${packet.length} bytes${o.compact ? ' (compact packet)' : ''}, mode ${formatMode(enc.mode)}${picked}, ${raw.width}x${raw.height} image, encoder ${ms.toFixed(2)} ms\n`);
}
