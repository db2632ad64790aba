import type { ObjectStore } from '../adapters/object-store';
import type { Pool } from '../adapters/postgres';
import type { SluiceConfig } from '../config';
import type { WarehouseLoader } from './loader';
import { postgresLoader } from './postgres-loader';
import { redshiftLoaderFromConfig } from './redshift-loader';

/** The loader for `warehouse.kind`: PostgreSQL (the pool) or Redshift (the Data API). */
export function makeWarehouseLoader(config: SluiceConfig, deps: { pool: Pool; store: ObjectStore }, signal?: AbortSignal): WarehouseLoader {
  return config.warehouse.kind === 'redshift' ? redshiftLoaderFromConfig(config, deps.store, signal) : postgresLoader(deps);
}
