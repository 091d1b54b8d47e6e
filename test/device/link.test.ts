import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMahimahi, parseMbps, readTrace, meanMbps, stepTrace, TraceError } from '../../src/device/trace.js';
import { TraceLink, RealTimeShaper } from '../../src/device/link.js';

describe('trace readers', () => {
  it('reads mahimahi timestamps, repeats included', () => {
    const t = parseMahimahi('1\n1\n5\n10\n');
    expect(Array.from(t.opportunities)).toEqual([1, 1, 5, 10]);
    expect(t.periodMs).toBe(10);
    expect(t.bytesPerOpportunity).toBe(1500);
  });

  it('turns Mbit/s per second into opportunities carrying the same bytes', () => {
    const t = parseMbps('1.2\n0\n0.6\n');
    // 1.2 Mbit/s = 150,000 B = 100 packets in second 0, none in 1, 50 in 2
    expect(t.opportunities.length).toBe(150);
    expect(t.opportunities[0]).toBeCloseTo(5, 9);
    expect(t.opportunities[100]).toBeCloseTo(2010, 9);
    expect(t.periodMs).toBe(3000);
    expect(meanMbps(t)).toBeCloseTo(0.6, 9);
  });

  it('names what is wrong in a bad file', () => {
    expect(() => parseMahimahi('1\n5\n3\n', 'x.up')).toThrow(/x.up: line 3: timestamp 3 goes back in time/);
    expect(() => parseMahimahi('1\nabc\n', 'x.up')).toThrow(/line 2: 'abc' is not a millisecond timestamp/);
    expect(() => parseMbps('1\n-2\n', 'j.txt')).toThrow(/line 2: '-2' is not a capacity/);
    expect(() => parseMbps('0\n0\n', 'j.txt')).toThrow(/every capacity is zero/);
    expect(() => readTrace('/nonexistent/trace.up')).toThrow(TraceError);
  });

  it('tells the formats apart by content on the shipped traces', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trace-'));
    writeFileSync(join(dir, 'a.up'), '0\n0\n700\n1400\n2100\n');
    writeFileSync(join(dir, 'b.txt'), '3.6\n13.5\n');
    expect(readTrace(join(dir, 'a.up')).format).toBe('mahimahi');
    expect(readTrace(join(dir, 'b.txt')).format).toBe('mbps');
    const att = readTrace('../shared/traces/ATT-LTE-driving.up');
    expect(att.format).toBe('mahimahi');
    expect(meanMbps(att)).toBeCloseTo(0.83, 2);
    expect(readTrace('../shared/traces/jellyfish-lte-uplink.txt').periodMs).toBe(199_000);
  });
});

describe('trace link', () => {
  // one opportunity of 1500 B every 10 ms (the trace is 0, 10, ..., 990 and repeats every 1000 ms)
  const trace = parseMahimahi(Array.from({ length: 100 }, (_, k) => String(k * 10)).join('\n') + '\n1000');

  it('delivers at the opportunity that carries the last byte, plus the delay', () => {
    const link = new TraceLink(trace, { delayMs: 7 });
    expect(link.transmit(0, 100)).toBe(7); // opportunity 0 has room
    expect(link.transmit(1, 1400)).toBe(17); // 1400 B left no room in 0 (100 used): opportunity 10
    expect(link.transmit(2, 3000)).toBe(37); // 20 and 30
    expect(link.transmit(100, 1)).toBe(107); // idle link: the next opportunity at or after 100
  });

  it('packs small messages into one opportunity and splits large ones (fluid bytes)', () => {
    const link = new TraceLink(trace);
    expect([1, 2, 3].map((t) => link.transmit(t, 500))).toEqual([10, 10, 10]);
    expect(link.transmit(4, 1)).toBe(20);
  });

  it('scales the bytes each opportunity carries', () => {
    const link = new TraceLink(trace, { scale: 1 / 10 });
    // 150 B per opportunity: 300 B take opportunities 0 and 10
    expect(link.transmit(0, 300)).toBe(10);
    // 101 opportunities start in [0, 1000): 0..990, and 1000 itself, where the repeat's 0 falls too
    expect(link.capacityBps(0, 1000)).toBeCloseTo(101 * 150, 6);
  });

  it('clones into an independent link in the same state', () => {
    const link = new TraceLink(trace, { delayMs: 7 });
    link.transmit(0, 100);
    const copy = link.clone();
    // both continue from opportunity 0 with 100 B used; the copy's sends leave the original alone
    expect(copy.transmit(1, 1400)).toBe(17);
    expect(copy.transmit(2, 3000)).toBe(37);
    expect(link.transmit(0, 1300)).toBe(7);
    expect(link.drainedAt).toBe(0);
    expect(copy.drainedAt).toBe(30);
  });

  it('tells apart two copies that drain at the same ms of a burst by how far along the trace they are', () => {
    // four opportunities at 5 ms (a burst after a gap), then one every 10 ms
    const burst = parseMahimahi('5\n5\n5\n5\n15\n25\n35\n');
    const a = new TraceLink(burst), b = a.clone();
    expect(a.transmit(0, 1000)).toBe(5);
    expect(b.transmit(0, 3500)).toBe(5); // 2,500 B more, still within the burst
    expect(a.drainedAt).toBe(b.drainedAt);
    expect(b.position - a.position).toBe(2500);
    // and the one behind delivers what follows later
    expect(a.transmit(1, 3000)).toBe(5);
    expect(b.transmit(1, 3000)).toBe(15);
  });

  it('repeats the trace', () => {
    const link = new TraceLink(trace);
    expect(link.transmit(1995, 1)).toBe(2000);
  });

  it('refuses messages out of time order and bad options', () => {
    const link = new TraceLink(trace);
    link.transmit(50, 1);
    expect(() => link.transmit(40, 1)).toThrow(/time order/);
    expect(() => new TraceLink(trace, { scale: 0 })).toThrow(/scale must be/);
    expect(() => new TraceLink(trace, { delayMs: -1 })).toThrow(/delayMs/);
  });

  it('keeps the same schedule in real time as in virtual time', async () => {
    let clock = 0;
    const shaper = new RealTimeShaper(new TraceLink(stepTrace([1])), () => clock);
    const virtual = new TraceLink(stepTrace([1]));
    clock = 3;
    expect(shaper.schedule(2000)).toBe(virtual.transmit(3, 2000));
  });
});
