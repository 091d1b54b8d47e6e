import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { constantTrace } from '../../src/device/trace.js';
import { TraceLink } from '../../src/device/link.js';
import { startShapingProxy, type ShapingProxy } from '../../src/device/proxy.js';

// 0.1 Mbit/s = 12.5 B per ms in 100-B opportunities, 30 ms one-way delay
const TRACE = constantTrace(0.1, 10, 100);
const LINK = { delayMs: 30 };

describe('shaping TCP proxy', () => {
  let upstream: Server | undefined;
  let proxy: ShapingProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
    await new Promise((r) => (upstream ? upstream.close(r) : r(undefined)));
    upstream = proxy = undefined;
  });

  it('delays an unmodified HTTP client\'s upload as the link would, bytes intact', async () => {
    const got: { at: number; body: Buffer }[] = [];
    upstream = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        got.push({ at: proxy!.shaper.elapsed(), body: Buffer.concat(parts) });
        res.end(String(Buffer.concat(parts).length));
      });
    });
    await new Promise<void>((r) => upstream!.listen(0, '127.0.0.1', () => r()));
    const port = (upstream.address() as { port: number }).port;
    proxy = await startShapingProxy({ link: new TraceLink(TRACE, LINK), listen: { port: 0 }, to: { port } });
    const body = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) & 255));
    const t0 = proxy.shaper.elapsed();
    const res = await fetch(`http://127.0.0.1:${proxy.port}/up`, { method: 'POST', body });
    expect(await res.text()).toBe('3000');
    expect(got).toHaveLength(1);
    expect(Buffer.compare(got[0].body, body)).toBe(0);
    // the request's headers and 3000-B body cross at 12.5 B/ms after t0, plus 30 ms
    const wire = proxy.upBytes;
    expect(wire).toBeGreaterThan(3000);
    const virtual = new TraceLink(TRACE, LINK).transmit(t0, wire);
    expect(got[0].at).toBeGreaterThanOrEqual(virtual - 1);
    expect(virtual).toBeGreaterThan(t0 + 3000 / 12.5 + 30 - 1);
  });

  it('names a port it cannot listen on', async () => {
    upstream = createServer(() => {});
    await new Promise<void>((r) => upstream!.listen(0, '127.0.0.1', () => r()));
    const taken = (upstream.address() as { port: number }).port;
    await expect(startShapingProxy({ link: new TraceLink(TRACE), listen: { port: taken }, to: { port: taken } })).rejects.toThrow(/cannot listen on 127.0.0.1:\d+: EADDRINUSE/);
    await expect(startShapingProxy({ link: new TraceLink(TRACE), listen: { port: 0 }, to: { port: 0 } })).rejects.toThrow(/upstream port must be 1..65535/);
  });
});

describe('slimsplit shape', () => {
  it('names bad arguments', async () => {
    const { main } = await import('../../src/cli/main.js');
    let err = '';
    const io = { out: () => {}, err: (s: string) => (err += s) };
    expect(await main(['shape', '--trace', '../shared/traces/ATT-LTE-driving.up', '--to', '8080'], io)).toBe(2);
    expect(err).toMatch(/--to needs host:port/);
    expect(await main(['shape', '--trace', '../shared/traces/ATT-LTE-driving.up', '--to', '127.0.0.1:8080', '--scale', '0'], io)).toBe(2);
    expect(err).toMatch(/--scale needs a factor > 0/);
    expect(await main(['shape', '--trace', 'no/such.up', '--to', '127.0.0.1:8080'], io)).toBe(1);
    expect(err).toMatch(/file not found: no\/such.up/);
  });
});
