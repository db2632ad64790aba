import { makePool } from '../adapters/postgres';
import { loadConfig } from '../config';
import { makeLogger } from '../observability/logger';
import { buildServingApp } from './app';

const config = loadConfig();
const log = makeLogger('serving', config.log.level);
const pool = makePool(config);
const app = buildServingApp(pool, log, { token: config.serving.token });

const shutdown = async () => {
  await app.close();
  await pool.end();
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());

await app.listen({ host: config.serving.host, port: config.serving.port });
log.info({ url: `http://${config.serving.host}:${config.serving.port}` }, 'serving API listening');
