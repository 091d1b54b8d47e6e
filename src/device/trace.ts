/**
 * Uplink capacity traces: when the link may carry bytes. Two formats (../shared/traces/README.md):
 *
 *   - mahimahi (`*.up`): one line per delivery opportunity, a timestamp in ms from the trace start;
 *     each opportunity carries one 1500-byte packet; a timestamp repeats for several; the trace
 *     repeats after its last timestamp.
 *   - per second (Jellyfish `*.txt`): one capacity in Mbit/s per line, one line per second.
 *
 *   const trace = readTrace('../shared/traces/ATT-LTE-driving.up');
 *   trace.opportunities   // ms timestamps, sorted; each carries trace.bytesPerOpportunity bytes
 *   trace.periodMs        // the trace repeats with this period
 *
 * Both are held as delivery opportunities so one link model (link.ts) replays either. A per-second
 * rate becomes that second's opportunities spread evenly over it, as mahimahi's own converters do.
 */
import { readFileSync, existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';

/** Bytes one mahimahi delivery opportunity carries (its MTU). */
export const MAHIMAHI_PACKET_BYTES = 1500;

export class TraceError extends Error {
  constructor(message: string) {
    super(`slimsplit: trace: ${message}`);
    this.name = 'TraceError';
  }
}

export interface Trace {
  /** file name, e.g. 'ATT-LTE-driving.up' */
  name: string;
  format: 'mahimahi' | 'mbps';
  /** delivery opportunities in ms from the start, nondecreasing: [count] */
  opportunities: Float64Array;
  /** bytes each opportunity carries at scale 1 */
  bytesPerOpportunity: number;
  /** the trace repeats after this many ms (> the last opportunity) */
  periodMs: number;
}

/** Mean capacity of a trace in Mbit/s (at scale 1). */
export function meanMbps(trace: Trace): number {
  return (trace.opportunities.length * trace.bytesPerOpportunity * 8) / (trace.periodMs * 1000);
}

/** Parses mahimahi text: one integer ms timestamp per line. */
export function parseMahimahi(text: string, name = 'trace'): Trace {
  const lines = text.split(/\r?\n/);
  const out: number[] = [];
  let prev = -Infinity;
  for (let i = 0; i < lines.length; i++) {
    const s = lines[i].trim();
    if (s === '') continue;
    if (!/^\d+$/.test(s)) throw new TraceError(`${name}: line ${i + 1}: '${s.slice(0, 40)}' is not a millisecond timestamp (mahimahi traces hold one non-negative integer per line)`);
    const t = Number(s);
    if (t < prev) throw new TraceError(`${name}: line ${i + 1}: timestamp ${t} goes back in time (after ${prev}); mahimahi timestamps never decrease`);
    prev = t;
    out.push(t);
  }
  if (out.length === 0) throw new TraceError(`${name}: no delivery opportunities (empty file)`);
  // mahimahi repeats the trace after its last timestamp; a trace of one instant still needs a period.
  const periodMs = Math.max(out[out.length - 1], 1);
  return { name, format: 'mahimahi', opportunities: Float64Array.from(out), bytesPerOpportunity: MAHIMAHI_PACKET_BYTES, periodMs };
}

/** Parses one Mbit/s value per line, one line per second, into opportunities of 1500 bytes. */
export function parseMbps(text: string, name = 'trace', packetBytes = MAHIMAHI_PACKET_BYTES): Trace {
  if (!(packetBytes > 0)) throw new TraceError(`${name}: packetBytes must be > 0, got ${packetBytes}`);
  const lines = text.split(/\r?\n/);
  const rates: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const s = lines[i].trim();
    if (s === '') continue;
    const v = Number(s);
    if (!Number.isFinite(v) || v < 0) throw new TraceError(`${name}: line ${i + 1}: '${s.slice(0, 40)}' is not a capacity in Mbit/s (one non-negative number per line, one line per second)`);
    rates.push(v);
  }
  if (rates.length === 0) throw new TraceError(`${name}: no capacities (empty file)`);
  const out: number[] = [];
  // Carry the fraction of a packet from one second to the next so the total bytes stay exact.
  let carry = 0;
  rates.forEach((mbps, sec) => {
    const packets = (mbps * 1e6) / 8 / packetBytes + carry;
    const n = Math.floor(packets);
    carry = packets - n;
    for (let k = 0; k < n; k++) out.push(sec * 1000 + ((k + 0.5) * 1000) / n);
  });
  if (out.length === 0) throw new TraceError(`${name}: every capacity is zero; the link would never deliver`);
  return { name, format: 'mbps', opportunities: Float64Array.from(out), bytesPerOpportunity: packetBytes, periodMs: rates.length * 1000 };
}

/**
 * Reads a trace file; the format comes from the content: lines of integers that never decrease and
 * reach past 1000 are mahimahi timestamps, anything else numeric is Mbit/s per second. Pass
 * `format` to say which.
 */
export function readTrace(path: string, format?: 'mahimahi' | 'mbps'): Trace {
  if (!existsSync(path) || !statSync(path).isFile()) throw new TraceError(`file not found: ${path} (pass a mahimahi *.up file or one Mbit/s value per line; real traces are in ../shared/traces)`);
  const text = readFileSync(path, 'utf8');
  const name = basename(path);
  if (format === 'mahimahi') return parseMahimahi(text, name);
  if (format === 'mbps') return parseMbps(text, name);
  if (format !== undefined) throw new TraceError(`unknown trace format '${String(format)}' (mahimahi or mbps)`);
  return looksLikeMahimahi(text) ? parseMahimahi(text, name) : parseMbps(text, name);
}

function looksLikeMahimahi(text: string): boolean {
  const vals = text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== '');
  if (vals.length === 0 || !vals.every((s) => /^\d+$/.test(s))) return false;
  let prev = -Infinity;
  for (const s of vals) {
    const v = Number(s);
    if (v < prev) return false;
    prev = v;
  }
  // A per-second file of whole Mbit/s could also be integers that never decrease; only timestamps
  // reach past a second's worth of milliseconds within a realistic file.
  return prev > 1000 || vals.length > 3600;
}

/**
 * A trace from per-second rates (tests: capacity drops and recoveries). Opportunities of
 * `packetBytes` (default 100) keep a slow second from turning into a few 1500-byte bursts.
 */
export function stepTrace(mbpsPerSecond: readonly number[], name = 'steps', packetBytes = 100): Trace {
  return parseMbps(mbpsPerSecond.join('\n'), name, packetBytes);
}

/** A constant-rate trace: `mbps` for `seconds` (repeating). */
export function constantTrace(mbps: number, seconds = 10, packetBytes = 100): Trace {
  if (!(mbps > 0)) throw new TraceError(`constant trace: rate must be > 0 Mbit/s, got ${mbps}`);
  return stepTrace(Array(seconds).fill(mbps), `constant-${mbps}Mbps`, packetBytes);
}
