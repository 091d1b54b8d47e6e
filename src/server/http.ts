/**
 * HTTP and WebSocket on one port: POST /v1/frames, the WebSocket endpoint /v1/ws, and the
 * operations endpoints /healthz, /readyz and /metrics. Routes: docs/DEPLOY.md.
 *
 *   const web = new WebFront(frames, { maxConnections: 1024, maxWsBuffer: 1 << 20 }, ready, metrics);
 *   await web.listen(8080, '127.0.0.1');
 *   await web.stopAccepting(); ... await web.close();
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket, AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { DEVICE_ID_RE } from './envelope.js';
import { httpStatusOf, type FrameResult } from './result.js';
import type { FrameService } from './frames.js';
import type { ServerMetrics } from './metrics.js';
import type { LiveFeed } from './live/feed.js';

export interface WebOptions {
  maxConnections: number;
  /** bytes of results queued on a WebSocket that is not reading them before it is dropped */
  maxWsBuffer: number;
}

export interface Readiness {
  ready: boolean;
  [k: string]: unknown;
}

export class WebFront {
  readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<Socket>();
  private readonly clients = new Set<WebSocket>();
  private stopping = false;

  constructor(
    private readonly frames: FrameService,
    private readonly opts: WebOptions,
    private readonly readiness: () => Readiness,
    private readonly metrics: ServerMetrics,
    private readonly live?: LiveFeed,
  ) {
    this.server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => this.request(req, res));
    // ws checks the message size itself; a frame over --max-body but under this gets a per-frame
    // 'too-large' answer, a larger one closes the connection with 1009 (message too big)
    this.wss = new WebSocketServer({ noServer: true, maxPayload: Math.max(4 * frames.limits.maxBody, 1 << 20), perMessageDeflate: false });
    this.server.on('connection', (s: Socket) => {
      if (this.stopping || this.sockets.size >= opts.maxConnections) {
        this.metrics.refusedConnections.inc({ transport: 'http' });
        const body = JSON.stringify({ v: 1, device: null, seq: null, outcome: 'refused', error: this.stopping ? { code: 'draining', message: 'the server is shutting down' } : { code: 'connections', message: `the server has ${this.sockets.size} connections, its limit (--max-connections)` } });
        s.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
        s.destroySoon?.();
        return;
      }
      this.sockets.add(s);
      this.metrics.connections.inc({ transport: 'http' });
      s.on('close', () => {
        this.sockets.delete(s);
        this.metrics.connections.dec({ transport: (s as Socket & { wsUpgraded?: boolean }).wsUpgraded ? 'ws' : 'http' });
      });
    });
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket as Socket, head));
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const fail = (e: NodeJS.ErrnoException): void => reject(listenError('HTTP/WebSocket', host, port, '--port', e));
      this.server.once('error', fail);
      this.server.listen(port, host, () => {
        this.server.off('error', fail);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  private request(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const json = (status: number, body: unknown): void => {
      const s = JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(s) });
      res.end(s);
    };
    if (this.live?.route(req, res, url)) return;
    if (req.method === 'GET' && url.pathname === '/healthz') return json(200, { status: 'ok' });
    if (req.method === 'GET' && url.pathname === '/readyz') {
      const r = this.readiness();
      return json(r.ready ? 200 : 503, r);
    }
    if (req.method === 'GET' && url.pathname === '/metrics') {
      this.metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': this.metrics.registry.contentType });
          res.end(text);
        },
        (e: Error) => json(500, { error: e.message }),
      );
      return;
    }
    if (url.pathname === '/v1/frames') {
      if (req.method !== 'POST') {
        res.setHeader('Allow', 'POST');
        return json(405, { error: `use POST to send a frame to ${url.pathname}` });
      }
      return this.postFrame(req, res, url);
    }
    json(404, { error: `no route ${req.method} ${url.pathname}; frames go to POST /v1/frames, WebSocket /v1/ws; operations: /healthz /readyz /metrics; live view: /` });
  }

  private postFrame(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const send = (r: FrameResult): void => {
      if (res.writableEnded || res.destroyed) return;
      const s = JSON.stringify(r);
      res.writeHead(httpStatusOf(r), { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(s) });
      res.end(s);
    };
    const device = url.searchParams.get('device') ?? undefined;
    const model = url.searchParams.get('model') ?? undefined;
    if (device !== undefined && !DEVICE_ID_RE.test(device)) {
      return send({ v: 1, device: null, seq: null, outcome: 'malformed', error: { code: 'no-device', message: `?device=${JSON.stringify(device)} is not a device id (1-64 of A-Z a-z 0-9 _ . -)` } });
    }
    const max = this.frames.limits.maxBody;
    const declared = Number(req.headers['content-length'] ?? NaN);
    const tooLarge = (n: string): void => {
      // the rest of the body is not read: the connection cannot carry another request
      res.setHeader('Connection', 'close');
      send({ v: 1, device: device ?? null, seq: null, outcome: 'refused', error: { code: 'too-large', message: `frame of ${n} bytes exceeds the server's limit of ${max} (--max-body)` } });
      this.frames.metrics.frame('unknown', 'unknown', 'http', 'refused');
      req.resume();
    };
    if (declared > max) return tooLarge(String(declared));
    const chunks: Buffer[] = [];
    let n = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      n += c.length;
      if (n > max) {
        over = true;
        tooLarge(`more than ${max}`);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (over) return;
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, n);
      this.frames.handle(body, { transport: 'http', device, model }, send);
    });
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const refuse = (status: string, message: string): void => {
      socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${message}\n`);
    };
    if (url.pathname !== '/v1/ws') return refuse('404 Not Found', `no WebSocket endpoint ${url.pathname}; use /v1/ws?device=<id>`);
    const device = url.searchParams.get('device') ?? undefined;
    const model = url.searchParams.get('model') ?? undefined;
    if (device !== undefined && !DEVICE_ID_RE.test(device)) return refuse('400 Bad Request', `?device=${JSON.stringify(device)} is not a device id (1-64 of A-Z a-z 0-9 _ . -)`);
    if (this.stopping) return refuse('503 Service Unavailable', 'the server is shutting down');
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      (socket as Socket & { wsUpgraded?: boolean }).wsUpgraded = true;
      this.metrics.connections.dec({ transport: 'http' });
      this.metrics.connections.inc({ transport: 'ws' });
      this.clients.add(ws);
      ws.on('close', () => this.clients.delete(ws));
      ws.on('error', () => ws.terminate());
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        const bytes = isBinary ? data : Buffer.from(data);
        this.frames.handle(bytes, { transport: 'ws', device, model }, (r) => {
          if (ws.readyState !== ws.OPEN) return;
          // a client that does not read its results is dropped rather than buffered without bound
          if (ws.bufferedAmount > this.opts.maxWsBuffer) {
            ws.terminate();
            return;
          }
          ws.send(JSON.stringify(r));
        });
      });
    });
  }

  /** Stops taking connections and frames (shutdown, first step). */
  stopAccepting(): void {
    this.stopping = true;
    this.live?.close();
    this.server.close();
  }

  /** Closes every connection once answers are flushed. */
  async close(): Promise<void> {
    this.stopping = true;
    for (const ws of this.clients) ws.close(1001, 'server shutting down');
    this.server.closeIdleConnections();
    const t0 = Date.now();
    while ((this.clients.size > 0 || this.sockets.size > 0) && Date.now() - t0 < 2000) {
      this.server.closeIdleConnections();
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const ws of this.clients) ws.terminate();
    for (const s of this.sockets) s.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }
}

/** A listen failure that says which listener, where, and which option moves it. */
export function listenError(what: string, host: string, port: number, option: string, e: NodeJS.ErrnoException): Error {
  const why = e.code === 'EADDRINUSE' ? 'the port is in use (another server or broker?)' : e.code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)' : e.code === 'EADDRNOTAVAIL' ? 'no such local address' : e.message;
  return new Error(`slimsplit: serve: cannot listen for ${what} on ${host}:${port}: ${why}; choose another with ${option}`);
}
