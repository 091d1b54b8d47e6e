/**
 * The live view (GET /): LiveStats' arithmetic, and the page in Debian's headless Chromium while a
 * simulated device streams over WebSocket: the page must show that device, its mode, its mode
 * change and its deadline miss, fed live (the page is open before the first frame).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LiveStats } from '../../src/server/live/stats.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { connect } from '../../src/device/client.js';
import { Model } from '../../src/model/model.js';
import { tinySplitBlob } from './tiny-split.js';

const CHROMIUM = '/usr/bin/chromium';

describe('LiveStats', () => {
  it('estimates uplink from bytes and capture->arrival, judges misses and keeps a window', () => {
    const s = new LiveStats({ windowMs: 1000, maxPoints: 3 });
    const seen: unknown[] = [];
    s.subscribe((b) => seen.push(b));
    const base = { device: 'd', mode: '2,4', bytes: 125, captureMs: 10_000, dueMs: Infinity, outcome: 'ok' };
    s.record({ ...base, receivedMs: 10_010, answeredMs: 10_012 }); // 1000 bits in 10 ms = 100 kbit/s
    s.record({ ...base, captureMs: 0, receivedMs: 10_100, answeredMs: 10_101 }); // no clock: no estimate
    s.record({ ...base, dueMs: 10_200, receivedMs: 10_150, answeredMs: 10_250 }); // answered after its due time
    s.record({ ...base, outcome: 'late', receivedMs: 10_300, answeredMs: 10_300 });
    expect(seen).toHaveLength(4);
    expect(seen[0]).toEqual({ d: [[10_012, '2,4', 125, 'ok', 100, 0]] });
    const snap = s.snapshot(10_400).d;
    expect(snap.map((p) => p[0])).toEqual([10_101, 10_250, 10_300]); // maxPoints 3
    expect(snap.map((p) => p[4])).toEqual([null, 6.7, 3.3]);
    expect(snap.map((p) => p[5])).toEqual([0, 1, 1]);
    expect(s.snapshot(11_200).d.map((p) => p[0])).toEqual([10_250, 10_300]); // older than 1 s: gone
  });
});

describe.skipIf(!existsSync(CHROMIUM))('live page in headless Chromium', () => {
  let dir: string;
  let srv: RunningServer;
  let model: Model;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'slimsplit-live-'));
    const bytes = tinySplitBlob();
    writeFileSync(join(dir, 'tiny-split.slim'), bytes);
    model = new Model(bytes);
    srv = await startServer({ models: [join(dir, 'tiny-split.slim')], host: '127.0.0.1', port: 0, mqttPort: null, workers: 1, processMetrics: false });
  });

  afterAll(async () => {
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows a streaming device, its mode changes and its misses', async () => {
    const { chromium } = await import('playwright-core');
    // a fresh profile per run (playwright passes it as --user-data-dir)
    const browser = await chromium.launchPersistentContext(mkdtempSync(join(dir, 'chromium-')), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const session = await connect(`ws://127.0.0.1:${srv.http.port}`, { model, transport: 'ws', device: 'cam-7' });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`http://127.0.0.1:${srv.http.port}/`);
      await page.waitForFunction(() => document.getElementById('status')?.textContent?.includes('0 devices'));
      expect(await page.locator('section[data-device]').count()).toBe(0);

      const modes = model.modes();
      const lo = modes[0];
      const hi = modes[modes.length - 1];
      const name = (m: { members?: number; bits?: number }) => `${m.members ?? 1},${m.bits ?? 8}`;
      expect(name(lo)).not.toBe(name(hi));
      const image = { data: new Uint8Array(3 * 9 * 10).map((_, i) => (i * 37) & 255), width: 10, height: 9, channels: 3 as const };
      const sizes: number[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await session.send(image, { mode: lo, deadlineMs: 5000 });
        expect(r.result.outcome).toBe('ok');
        sizes.push(session.lastBytes);
      }
      const panel = page.locator('section[data-device="cam-7"]');
      await panel.waitFor();
      await expect.poll(() => panel.getAttribute('data-mode'), { timeout: 5000 }).toBe(name(lo));

      for (let i = 0; i < 6; i++) {
        const r = await session.send(image, { mode: hi, deadlineMs: 5000 });
        expect(r.result.outcome).toBe('ok');
        sizes.push(session.lastBytes);
      }
      // captured a second ago with a 1 ms deadline: the server answers 'late', the page counts a miss
      const late = await session.send(image, { mode: hi, deadlineMs: 1, capturedAt: performance.now() - 1000 });
      expect(late.result.outcome).toBe('late');
      sizes.push(session.lastBytes);

      await expect.poll(() => panel.getAttribute('data-frames'), { timeout: 5000 }).toBe('13');
      expect(await panel.getAttribute('data-mode')).toBe(name(hi));
      expect((await panel.getAttribute('data-modes'))!.split(';').sort()).toEqual([name(lo), name(hi)].sort());
      expect(await panel.getAttribute('data-misses')).toBe('1');
      // the plots hold what was sent: the mode line steps once, the bytes plot has a dot per frame
      const modePath = await panel.locator('svg[data-plot="mode"] path').getAttribute('d');
      expect(modePath!.match(/V/g)!.length).toBe(12);
      const ys = [...modePath!.matchAll(/V([\d.]+)/g)].map((m) => Number(m[1]));
      expect(new Set(ys).size).toBe(2);
      const dots = await panel.locator('svg[data-plot="bytes"] path').getAttribute('d');
      expect(dots!.match(/M/g)!.length).toBe(13);
      expect(await panel.locator('svg[data-plot="miss"] rect').count()).toBe(1);
      const info = await panel.locator('h2 span').textContent();
      expect(info).toContain(`mode ${name(hi)}`);
      expect(info).toContain(`${sizes[12]} B`);
      expect(errors).toEqual([]);
    } finally {
      await session.close();
      await browser.close();
    }
  }, 60_000);
});
