import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import { makeKinesisClient } from '../../adapters/aws-clients';
import type { ObjectStore } from '../../adapters/object-store';
import { makePool, type Pool } from '../../adapters/postgres';
import type { SluiceConfig } from '../../config';
import type { BatchEngine } from '../../engine/engine';
import { localEngine } from '../../engine/local';
import type { ManagedProcess } from '../../stack/processes';
import { kinesaliteSpec, postgresSpec, s3Spec, temporalSpec } from '../../stack/standins';
import { migrateWarehouse } from '../../warehouse/migrate';
import { bucketStore, startStandin, teardown, testConfig } from './standins';

// One test file's stand-ins, started in its beforeAll and stopped in its afterAll: the setup the
// integration tests each wrote out (start the stand-ins side by side, migrate the warehouse, open
// the pool, the clients and a local engine; then the same in reverse). vitest runs afterAll hooks
// in reverse order, so a file's own afterAll (closing a server, a Temporal worker) runs before
// this teardown.

export interface StandinsWanted {
  postgres?: boolean;
  s3?: boolean;
  kinesis?: boolean;
  temporal?: boolean;
  /** Extra SLUICE_* entries for testConfig. */
  env?: Record<string, string>;
  /** Connections of the warehouse pool (makePool's default when unset). */
  poolSize?: number;
  /** Threads of a local batch engine on the config (none when unset). */
  engineThreads?: number;
}

/** Filled in by the beforeAll hook: read it inside tests and hooks, not at import time. */
export interface StandinRig {
  config: SluiceConfig;
  /** The stand-ins asked for (the others are undefined), e.g. to stop one for an outage. */
  procs: Record<'postgres' | 's3' | 'kinesis' | 'temporal', ManagedProcess>;
  /** A pool on the migrated warehouse (with postgres). */
  pool: Pool;
  /** The object store on the config's bucket, and its client (with s3). */
  store: ObjectStore;
  s3: S3Client;
  /** A client on kinesalite (with kinesis). */
  kinesis: KinesisClient;
  /** The local batch engine (with engineThreads). */
  engine: BatchEngine;
}

export function useStandins(wanted: StandinsWanted): StandinRig {
  const rig = { procs: {} as StandinRig['procs'] } as StandinRig;
  beforeAll(async () => {
    rig.config = testConfig(wanted.env);
    const specs = {
      postgres: wanted.postgres && postgresSpec(rig.config),
      s3: wanted.s3 && s3Spec(rig.config),
      kinesis: wanted.kinesis && kinesaliteSpec(rig.config),
      temporal: wanted.temporal && temporalSpec(rig.config),
    };
    await Promise.all(Object.entries(specs).map(async ([name, spec]) => {
      if (spec) rig.procs[name as keyof typeof specs] = await startStandin(spec, rig.config);
    }));
    if (wanted.postgres) {
      await migrateWarehouse(rig.config);
      rig.pool = makePool(rig.config, wanted.poolSize);
    }
    if (wanted.s3) ({ client: rig.s3, store: rig.store } = await bucketStore(rig.config));
    if (wanted.kinesis) rig.kinesis = makeKinesisClient(rig.config);
    if (wanted.engineThreads) rig.engine = localEngine(rig.config, wanted.engineThreads);
  });
  afterAll(async () => {
    await rig.engine?.close();
    rig.kinesis?.destroy();
    rig.s3?.destroy();
    await rig.pool?.end();
    const { postgres, s3, kinesis, temporal } = rig.procs;
    await teardown(rig.config, postgres, s3, kinesis, temporal);
  });
  return rig;
}
