import type { ObjectStore } from '../adapters/object-store';
import { inTransaction, type Pool, type PoolClient } from '../adapters/postgres';
import { assertRunId } from '../batch/layout';
import { shreddedTableNames } from './catalog';
import { readRunOutputs, type LoadProgress, type LoadRequest, type LoadResult, type WarehouseLoader } from './loader';
import {
  copyAtomicEvents, copyShreddedTables, deleteWindowRows, insertManifest, lockRun, migrateTables, objectProgress,
  replaceRunEvents, takeWriteLock,
} from './postgres-load-steps';
import { preparedTransactionsEnabled, twoPhaseLoad } from './postgres-two-phase';

// The PostgreSQL loader: one transaction per run holding a per-run advisory lock, the manifest
// check, the DDL the run's schemas need, a COPY FROM STDIN per table fed object by object from
// the object store (gzipped parts unzipped on the way), and the manifest row. Row counts are
// checked against what the shred step wrote; a mismatch rolls everything back. Where the server
// allows prepared transactions, a batch run's load is that same transaction split over two
// connections and committed with two-phase commit (postgres-two-phase.ts). The steps both compose
// are in postgres-load-steps.ts.

// speed/dripfeed-postgres.ts still imports these from here; the rest of the tree imports
// postgres-load-steps.ts. (Drop this once the dripfeed does too.)
export { atomicCopySql, readTables, shreddedCopySql, takeDdlLock, takeWriteLock } from './postgres-load-steps';

export interface PostgresLoader extends WarehouseLoader {
  /** The same load on a client the caller holds inside its own transaction (e.g. with views). */
  loadRunWith(client: PoolClient, req: LoadRequest, onProgress?: LoadProgress): Promise<LoadResult>;
}

export function postgresLoader(deps: { pool: Pool; store: ObjectStore }): PostgresLoader {
  let twoPhase: boolean | undefined;
  const loader: PostgresLoader = {
    dialect: 'postgres',

    async loadRun(req, onProgress) {
      // With prepared transactions available, atomic.events and the shredded tables load on two
      // connections at once, committed together (warehouse/postgres-two-phase.ts).
      // (A warehouse that is down fails this query like any load; it is asked again next time.)
      twoPhase ??= await preparedTransactionsEnabled(deps.pool);
      if (!req.replaceWindow && twoPhase) return twoPhaseLoad(deps, req, onProgress);
      return inTransaction(deps.pool, (client) => loader.loadRunWith(client, req, onProgress));
    },

    async loadRunWith(client, req, onProgress = () => undefined) {
      const runId = assertRunId(req.runId);
      const already = await lockRun(client, runId);
      if (already !== undefined) return { loaded: already, alreadyLoaded: true, tables: {}, actions: [] };
      await takeWriteLock(client);
      const outputs = await readRunOutputs(deps.store, runId);
      const { plan, existing } = await migrateTables(client, outputs);
      const shredded = shreddedTableNames(existing);
      if (req.replaceWindow) await deleteWindowRows(client, req.window, shredded);
      await replaceRunEvents(client, deps.store, outputs, req.window, { atomic: true, tables: shredded });
      const beat = objectProgress(outputs, onProgress);
      const loaded = await copyAtomicEvents(client, deps.store, outputs, beat);
      const tables = { events: loaded, ...(await copyShreddedTables(client, deps.store, outputs, plan, beat)) };
      await insertManifest(client, req, loaded);
      return { loaded, alreadyLoaded: false, tables, actions: plan.actions };
    },
  };
  return loader;
}
