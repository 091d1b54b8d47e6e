/**
 * The live view's routes: GET / (the page), GET /live/events (Server-Sent Events: one 'snapshot'
 * then 'frames' batches) and GET /live/state (the window as JSON). SSE rather than a WebSocket:
 * the feed only flows server -> browser, EventSource reconnects by itself, and it needs no library
 * on either side.
 *
 *   const feed = new LiveFeed(stats);
 *   if (feed.route(req, res, url)) return;     // in the HTTP request handler
 *   feed.close();                              // at shutdown: ends every open stream
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LiveBatch, LiveStats } from './stats.js';
import { LIVE_PAGE } from './page.js';

/** New points reach the browsers at most this often, batched. */
const FLUSH_MS = 250;

export class LiveFeed {
  private readonly streams = new Set<ServerResponse>();

  constructor(readonly stats: LiveStats) {}

  /** Answers the request if it is one of the live view's; false otherwise. */
  route(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    if (req.method !== 'GET') return false;
    if (url.pathname === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(LIVE_PAGE), 'Cache-Control': 'no-cache' });
      res.end(LIVE_PAGE);
      return true;
    }
    if (url.pathname === '/live/state') {
      const s = JSON.stringify({ windowMs: this.stats.windowMs, now: Date.now(), devices: this.stats.snapshot() });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(s) });
      res.end(s);
      return true;
    }
    if (url.pathname === '/live/events') {
      this.stream(req, res);
      return true;
    }
    return false;
  }

  private stream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    const send = (event: string, data: unknown): void => {
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    send('snapshot', { windowMs: this.stats.windowMs, now: Date.now(), devices: this.stats.snapshot() });
    let pending: LiveBatch | undefined;
    const off = this.stats.subscribe((b) => {
      pending ??= {};
      for (const [d, pts] of Object.entries(b)) (pending[d] ??= []).push(...pts);
    });
    // the timer also sends a heartbeat so that proxies keep an idle stream open
    let beat = 0;
    const timer = setInterval(() => {
      if (pending) {
        send('frames', { now: Date.now(), devices: pending });
        pending = undefined;
      } else if (++beat % 60 === 0) res.write(': idle\n\n');
    }, FLUSH_MS);
    const end = (): void => {
      clearInterval(timer);
      off();
      this.streams.delete(res);
    };
    this.streams.add(res);
    req.on('close', end);
    res.on('close', end);
  }

  /** Ends every open stream (shutdown: the browsers' EventSource will retry elsewhere or later). */
  close(): void {
    for (const res of [...this.streams]) res.end();
  }
}
