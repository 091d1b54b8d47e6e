/**
 * The trace-driven uplink as a TCP proxy, for clients that cannot take a shaper in their send path
 * (a browser, another language's client, `curl`): what a client writes to the proxy reaches the
 * upstream server when the emulated link (link.ts) would have delivered it; the downlink passes
 * through unshaped, as in the device's own send path.
 *
 *   const p = await startShapingProxy({ link: new TraceLink(readTrace('ATT-LTE-driving.up'), { scale: 0.1, delayMs: 20 }),
 *     listen: { port: 9090 }, to: { host: '127.0.0.1', port: 8080 } });
 *   // point the client at 127.0.0.1:9090 instead of :8080
 *   await p.close();
 *
 * One link for every connection: their bytes share the uplink's queue in the order they were
 * written, as on a device's one radio. The link's clock starts when the proxy starts.
 */
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { RealTimeShaper, sleepUntil, type TraceLink } from './link.js';

export interface ProxyOptions {
  link: TraceLink;
  listen: { port: number; host?: string };
  to: { port: number; host?: string };
}

export interface ShapingProxy {
  /** the port it listens on (the one asked for, or the one the OS picked for port 0) */
  port: number;
  shaper: RealTimeShaper;
  /** bytes that went up through the link so far */
  readonly upBytes: number;
  close(): Promise<void>;
}

export async function startShapingProxy(o: ProxyOptions): Promise<ShapingProxy> {
  if (!(Number.isInteger(o.to.port) && o.to.port > 0 && o.to.port < 65536)) throw new Error(`slimsplit shape: upstream port must be 1..65535, got ${o.to.port}`);
  const shaper = new RealTimeShaper(o.link);
  const sockets = new Set<Socket>();
  let upBytes = 0;
  // Every chunk from every client takes its turn on the one link: delivery times are scheduled in
  // write order and the writes upstream happen in that order.
  let chain: Promise<void> = Promise.resolve();
  const server: Server = createServer((client) => {
    const upstream = tcpConnect({ port: o.to.port, host: o.to.host ?? '127.0.0.1' });
    sockets.add(client);
    sockets.add(upstream);
    let ended = false;
    client.on('data', (chunk: Buffer) => {
      const at = shaper.schedule(chunk.length);
      upBytes += chunk.length;
      chain = chain.then(async () => {
        await sleepUntil(() => shaper.elapsed(), at);
        if (!upstream.destroyed) upstream.write(chunk);
      });
    });
    // The client's end goes upstream after its last bytes have crossed.
    client.on('end', () => {
      ended = true;
      chain = chain.then(() => {
        if (!upstream.destroyed) upstream.end();
      });
    });
    upstream.pipe(client);
    const drop = (s: Socket) => () => {
      sockets.delete(s);
      if (s === upstream && !ended) client.destroy();
      if (s === client) chain = chain.then(() => void upstream.destroy());
    };
    client.on('close', drop(client));
    upstream.on('close', drop(upstream));
    client.on('error', () => client.destroy());
    upstream.on('error', () => {
      upstream.destroy();
      client.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`slimsplit shape: cannot listen on ${o.listen.host ?? '127.0.0.1'}:${o.listen.port}: ${e.code ?? e.message}`)));
    server.listen(o.listen.port, o.listen.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.listen.port;
  return {
    port,
    shaper,
    get upBytes() {
      return upBytes;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
