import fs from 'node:fs';
import type { Client, Connection } from '@temporalio/client';
import { makeS3Client } from '../../adapters/aws-clients';
import { s3ObjectStore, type ObjectStore } from '../../adapters/object-store';
import { makePool, type Pool } from '../../adapters/postgres';
import type { SluiceConfig } from '../../config';
import { makeLogger } from '../../observability/logger';
import { Stack } from '../../stack/stack';
import { connectTemporal } from '../../workers/wiring';
import { testConfig } from './standins';

// The whole stack on fresh ports for an end-to-end test file, with the clients its checks use.

export interface E2eStack {
  config: SluiceConfig;
  stack: Stack;
  pool: Pool;
  store: ObjectStore;
  temporal: { client: Client; connection: Connection };
  /** Stops everything and removes the data dir. */
  stop(): Promise<void>;
}

export async function startE2eStack(name: string, overrides: Record<string, string> = {}, poolSize = 2): Promise<E2eStack> {
  const config = testConfig(overrides);
  const stack = new Stack(config, makeLogger(name, 'warn'));
  await stack.start();
  const pool = makePool(config, poolSize);
  const s3 = makeS3Client(config);
  const temporal = await connectTemporal(config);
  return {
    config,
    stack,
    pool,
    store: s3ObjectStore(s3, config.s3.bucket),
    temporal,
    async stop() {
      await temporal.connection.close();
      s3.destroy();
      await pool.end();
      await stack.stop();
      fs.rmSync(config.dataDir, { recursive: true, force: true });
    },
  };
}
