/** `slimsplit serve`'s defaults, apart from the server so that the CLI can show them without loading it. */
export const SERVE_DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  mqttPort: 1883,
  group: 'slimsplit',
  maxQueue: 4096,
  maxInflight: 64,
  maxBody: 65536,
  maxConnections: 10_000,
  drainTimeoutMs: 10_000,
  topK: 3,
  workerDepth: 2,
};
