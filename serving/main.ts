import { makePool } from '../adapters/postgres';
import { ConfigError, loadConfig, type SluiceConfig } from '../config';
import { serviceToken } from '../observability/access';
import { makeLogger } from '../observability/logger';
import { streamsStatus } from '../cli/streams';
import { makeBatchViewsStore } from '../views/make-batch-views-store';
import { connectTemporal } from '../workers/wiring';
import { buildServingApp } from './app';

let config: SluiceConfig;
let token: string | undefined;
try {
  config = loadConfig();
  // Off loopback without a token the API refuses to start: views and bad rows hold personal data.
  token = serviceToken(config, 'serving');
} catch (err) {
  process.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`);
  process.exit(2);
}
const log = makeLogger('serving', config.log.level);
const pool = makePool(config);
// Batch views and watermark from the warehouse (warehouse.kind); realtime views from `pool`.
let warehouse: ReturnType<typeof makeBatchViewsStore>;
try {
  warehouse = makeBatchViewsStore(config, pool, log);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(2);
}
// Shard status comes from the shard workflows' queries; the API answers 503 on /v1/streams while
// Temporal is unreachable and everything else keeps working.
const temporal = await connectTemporal(config).catch((err: Error) => {
  log.warn({ err: err.message }, 'Temporal unreachable: /v1/streams is unavailable');
  return undefined;
});
const app = buildServingApp(pool, log, {
  host: config.serving.host,
  token,
  warehouse,
  streamStatus: temporal ? () => streamsStatus(temporal.client, config) : undefined,
});

const shutdown = async () => {
  await app.close();
  await warehouse.close();
  await pool.end();
  await temporal?.connection.close();
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());

await app.listen({ host: config.serving.host, port: config.serving.port });
log.info({ url: `http://${config.serving.host}:${config.serving.port}` }, 'serving API listening');
