import { ConfigError, loadConfig, type SluiceConfig } from '../../config';
import { makeLogger } from '../../observability/logger';
import { redshiftLocalFromConfig } from './server';

// Process entry of the local Redshift Data API endpoint (`tsx warehouse/redshift-local/main.ts`;
// `sluice up` starts it when warehouse.kind=redshift and warehouse.redshift.mode=local). Listens on
// 127.0.0.1:warehouse.redshift.localPort. Statements with PostgreSQL-only SQL are refused unless
// started with --no-strict.

let config: SluiceConfig;
try {
  config = loadConfig();
} catch (err) {
  process.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`);
  process.exit(2);
}
const log = makeLogger('redshift-local', config.log.level);
const endpoint = await redshiftLocalFromConfig(config, log, { host: '127.0.0.1', strict: !process.argv.includes('--no-strict') }).catch((err: Error) => {
  log.error({ err: err.message, port: config.warehouse.redshift.localPort }, 'cannot start the Redshift Data API endpoint');
  process.exit(1);
});

const shutdown = async () => {
  await endpoint.close();
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
