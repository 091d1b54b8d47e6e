/**
 * `slimsplit shape`: the trace-driven uplink as a TCP proxy (src/device/proxy.ts), so an unmodified
 * client's uplink to `slimsplit serve` (or any TCP server) follows a real trace. Registered on the
 * program by src/cli/main.ts; runs until SIGINT or SIGTERM.
 *
 *   slimsplit serve --port 8080 &
 *   slimsplit shape --trace ../shared/traces/ATT-LTE-driving.up --scale 1/10 --delay 20 --listen 9090 --to 127.0.0.1:8080
 *   # the client talks to :9090 instead of :8080
 */
import { Command, InvalidArgumentError } from 'commander';
import { TraceLink } from '../device/link.js';
import { readTrace, meanMbps } from '../device/trace.js';
import { startShapingProxy } from '../device/proxy.js';
import type { Io } from './common.js';

function hostPort(flag: string, needHost: boolean) {
  return (v: string): { host?: string; port: number } => {
    const m = /^(?:(.+):)?(\d+)$/.exec(v);
    const port = m ? Number(m[2]) : NaN;
    if (!m || !(port >= (needHost ? 1 : 0) && port < 65536) || (needHost && !m[1])) throw new InvalidArgumentError(`${flag} needs ${needHost ? 'host:port' : '[host:]port'} (port ${needHost ? 1 : 0}..65535), got '${v}'`);
    return { host: m[1], port };
  };
}

function scale(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(?:\/(\d+(?:\.\d+)?))?$/.exec(v);
  const k = m ? Number(m[1]) / (m[2] ? Number(m[2]) : 1) : NaN;
  if (!(k > 0)) throw new InvalidArgumentError(`--scale needs a factor > 0 like 0.1 or 1/10, got '${v}'`);
  return k;
}

export function registerShape(program: Command, io: Io): Command {
  return program
    .command('shape')
    .description("a TCP proxy whose client-to-server direction follows an uplink trace (mahimahi *.up or Mbit/s per second), so an unmodified client's uplink is shaped")
    .requiredOption('--trace <file>', 'uplink trace (../shared/traces)')
    .requiredOption('--to <host:port>', 'the server the proxy forwards to', hostPort('--to', true))
    .option('--listen <[host:]port>', 'where the proxy listens (default 127.0.0.1, port 0: any free one)', hostPort('--listen', false), { port: 0 })
    .option('--scale <k>', "multiplies the trace's capacity (0.1 or 1/10)", scale, 1)
    .option('--delay <ms>', 'fixed one-way delay added to the uplink', (v: string) => {
      const n = Number(v);
      if (!(n >= 0) || !Number.isFinite(n)) throw new InvalidArgumentError('--delay must be a number of ms >= 0');
      return n;
    }, 0)
    .action(async (o: { trace: string; to: { host?: string; port: number }; listen: { host?: string; port: number }; scale: number; delay: number }) => {
      const trace = readTrace(o.trace);
      const proxy = await startShapingProxy({ link: new TraceLink(trace, { scale: o.scale, delayMs: o.delay }), listen: o.listen, to: o.to });
      io.out(`slimsplit shape: ${o.listen.host ?? '127.0.0.1'}:${proxy.port} -> ${o.to.host}:${o.to.port}, uplink ${trace.name} x ${o.scale} (mean ${(meanMbps(trace) * o.scale).toFixed(3)} Mbit/s) + ${o.delay} ms\n`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await proxy.close();
      io.out(`slimsplit shape: ${proxy.upBytes} bytes went up\n`);
    });
}
