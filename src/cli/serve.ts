/**
 * `slimsplit serve`: the server side as a service (src/server/). Registered on the program by
 * src/cli/main.ts; runs until SIGTERM or SIGINT, then drains and returns (exit code 0).
 *
 *   slimsplit serve                                         # shipped model, 127.0.0.1:8080 + MQTT :1883
 *   slimsplit serve --model a.slim --model b.slim --workers 4 --host 0.0.0.0
 *   slimsplit serve --broker mqtt://broker:1883 --group edge  # one of N servers on a shared subscription
 */
import { cpus } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { SERVE_DEFAULTS } from '../server/defaults.js';

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

function int(name: string, min: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return Number(v);
  };
}

export function registerServe(program: Command, io: Io, defaultModel: string): Command {
  const D = SERVE_DEFAULTS;
  return program
    .command('serve')
    .description('decode packets from many devices over HTTP, WebSocket and MQTT (docs/DEPLOY.md)')
    .addOption(new Option('--model <file.slim>', 'a model to serve; repeat for several (full packets are routed by their model id)').argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]))
    .option('--host <addr>', 'address to listen on (0.0.0.0 to expose)', D.host)
    .option('--port <n>', 'HTTP and WebSocket port (0: any free port)', int('--port', 0), D.port)
    .option('--mqtt-port <n>', 'embedded MQTT broker port (0: any free port)', int('--mqtt-port', 0), D.mqttPort)
    .option('--no-mqtt', 'no MQTT at all')
    .option('--broker <url>', 'attach to an external MQTT 5 broker (mqtt://host:1883) instead of embedding one; frames come through a shared subscription')
    .option('--group <name>', 'shared-subscription group on the external broker', D.group)
    .option('--topic-prefix <prefix>', 'MQTT topic prefix', 'slimsplit/v1')
    .option('--workers <n>', 'decoder worker threads (default: one per core)', int('--workers', 1), cpus().length)
    .option('--max-queue <n>', 'frames waiting for a worker before new ones are refused', int('--max-queue', 1), D.maxQueue)
    .option('--max-inflight <n>', 'frames in flight per device before new ones are refused', int('--max-inflight', 1), D.maxInflight)
    .option('--max-body <bytes>', 'largest frame (envelope + packet) accepted', int('--max-body', 16), D.maxBody)
    .option('--max-connections <n>', 'connections per listener (HTTP/WebSocket, MQTT)', int('--max-connections', 1), D.maxConnections)
    .option('--drain-timeout <ms>', 'at SIGTERM/SIGINT, time to answer frames in flight before failing them', int('--drain-timeout', 0), D.drainTimeoutMs)
    .option('--top-k <n>', 'classes with scores in each result', int('--top-k', 1), D.topK)
    .option('--worker-depth <n>', 'frames handed to one decoder worker at a time (more keeps a worker fed, fewer lets a waiting frame go to whichever worker frees first)', int('--worker-depth', 1), D.workerDepth)
    .addHelpText('after', '\nExamples:\n  slimsplit serve\n  slimsplit serve --model weights/see-cifar10.slim --model weights/see-cifar10-d4.slim --workers 2\n  slimsplit serve --broker mqtt://127.0.0.1:1883 --group slimsplit --port 8081')
    .action(async (o) => {
      // loaded here, not at the top: the other commands start without the server's libraries
      const { startServer } = await import('../server/server.js');
      const srv = await startServer({
        models: o.model ?? [defaultModel],
        host: o.host,
        port: o.port,
        mqttPort: o.mqtt === false || o.broker ? null : o.mqttPort,
        broker: o.broker,
        group: o.group,
        topicPrefix: o.topicPrefix,
        workers: o.workers,
        maxQueue: o.maxQueue,
        maxInflight: o.maxInflight,
        maxBody: o.maxBody,
        maxConnections: o.maxConnections,
        drainTimeoutMs: o.drainTimeout,
        topK: o.topK,
        depth: o.workerDepth,
        log: io.err,
      });
      io.out(`${JSON.stringify({ listening: { http: srv.http, mqtt: srv.mqtt ?? null }, models: srv.models.models.map((m) => ({ name: m.name, id: m.idHex })), workers: srv.pool.size })}\n`);
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          io.err(`slimsplit: serve: ${sig}: draining (up to ${o.drainTimeout} ms)\n`);
          process.off('SIGTERM', onTerm);
          process.off('SIGINT', onInt);
          srv.close().then((cut) => {
            io.err(`slimsplit: serve: stopped${cut ? ` (${cut} frames answered drain-timeout)` : ''}\n`);
            resolve();
          });
        };
        const onTerm = () => stop('SIGTERM');
        const onInt = () => stop('SIGINT');
        process.on('SIGTERM', onTerm);
        process.on('SIGINT', onInt);
      });
    });
}
