import type { Pool } from '../adapters/postgres';
import type { SluiceConfig } from '../config';
import type { Logger } from '../observability/logger';
import { postgresBatchViewsStore } from './batch-views-postgres';
import { redshiftBatchViewsStoreFromConfig } from './batch-views-redshift';
import type { BatchViewsStore } from './batch-views-store';

/** The store for `warehouse.kind`; `pool` is the sluice PostgreSQL (realtime views, and the warehouse when kind = postgres). */
export function makeBatchViewsStore(config: SluiceConfig, pool: Pool, log: Logger): BatchViewsStore {
  return config.warehouse.kind === 'redshift' ? redshiftBatchViewsStoreFromConfig(config, pool, log) : postgresBatchViewsStore(pool);
}
