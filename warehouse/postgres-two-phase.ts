import type { ObjectStore } from '../adapters/object-store';
import { inTransaction, type Pool, type PoolClient } from '../adapters/postgres';
import { assertRunId } from '../batch/layout';
import { shreddedTableNames } from './catalog';
import { readRunOutputs, type LoadProgress, type LoadRequest, type LoadResult } from './loader';
import {
  copyAtomicEvents, copyShreddedTables, insertManifest, lockRun, manifestCount, migrateTables, objectProgress, replaceRunEvents,
  WRITE_LOCK,
} from './postgres-load-steps';
import { quoteLiteral } from './sql';

// A batch run's load as one transaction split over two connections, so PostgreSQL COPYs
// atomic.events on one core while the shredded tables (their DDL included) load on another:
//   branch `events`    the run lock, the manifest check, COPY atomic.events, the manifest row;
//   branch `shredded`  the DDL lock and plan, the DDL, COPY into each shredded table.
// (Letting the shredded branch COPY the atomic.events parts left once its tables are done measured
// slower in the 1M-event bench, though two COPYs into atomic.events alone load 1.5× the rows a
// second of one: the cores are already busy during the load. docs/batch.md, third session.)
// Each branch ends in PREPARE TRANSACTION; only when both are prepared are they committed, events
// first. A coordinator connection holds a session lock per run for the whole protocol, so a new
// attempt (or any other load) can tell a live load from a dead one, and finishes a dead one's
// prepared branches by the rule in resolveRun. Needs max_prepared_transactions ≥ 2.

const GID_PREFIX = 'sluice-load:';
const gid = (runId: string, branch: 'events' | 'shredded') => `${GID_PREFIX}${runId}:${branch}`;
const coordinatorLock = (runId: string) => `load-2pc:${runId}`;

/** Whether the server keeps prepared transactions (max_prepared_transactions > 0). */
export async function preparedTransactionsEnabled(pool: Pool): Promise<boolean> {
  const r = await pool.query<{ max_prepared_transactions: string }>('SHOW max_prepared_transactions');
  return Number(r.rows[0]?.max_prepared_transactions ?? 0) >= 2;
}

/**
 * Finishes what a dead load of `runId` left prepared. The events branch is always committed
 * first, and only once both are prepared, so:
 *  - both prepared: the load had decided to commit → commit both;
 *  - only events prepared: shredded never prepared → roll events back;
 *  - only shredded prepared: commit it if events committed (the manifest row exists), else roll it back.
 * The caller holds the run's coordinator lock.
 */
export async function resolveRun(client: PoolClient, runId: string): Promise<'committed' | 'rolled-back' | 'none'> {
  const { rows } = await client.query<{ gid: string }>(
    'SELECT "gid" FROM pg_prepared_xacts WHERE "database" = current_database() AND "gid" = ANY($1::text[])',
    [[gid(runId, 'events'), gid(runId, 'shredded')]],
  );
  const prepared = new Set(rows.map((r) => r.gid));
  const events = prepared.has(gid(runId, 'events'));
  const shredded = prepared.has(gid(runId, 'shredded'));
  if (!events && !shredded) return 'none';
  const commit = events ? shredded : (await manifestCount(client, runId)) !== undefined;
  for (const g of [gid(runId, 'events'), gid(runId, 'shredded')].filter((g) => prepared.has(g))) {
    await client.query(`${commit ? 'COMMIT' : 'ROLLBACK'} PREPARED ${quoteLiteral(g)}`);
  }
  return commit ? 'committed' : 'rolled-back';
}

/**
 * Resolves the prepared loads of every run whose coordinator is gone (its session lock is free):
 * a prepared shredded branch holds the DDL lock, so one abandoned load would stall all others.
 */
export async function resolveAbandoned(client: PoolClient): Promise<string[]> {
  const { rows } = await client.query<{ gid: string }>(
    'SELECT "gid" FROM pg_prepared_xacts WHERE "database" = current_database() AND starts_with("gid", $1)',
    [GID_PREFIX],
  );
  const runs = [...new Set(rows.map((r) => r.gid.slice(GID_PREFIX.length, r.gid.lastIndexOf(':'))))];
  const resolved: string[] = [];
  for (const runId of runs) {
    const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS "ok"', [coordinatorLock(runId)]);
    if (!got.rows[0].ok) continue; // its coordinator is alive
    try {
      if ((await resolveRun(client, runId)) !== 'none') resolved.push(runId);
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [coordinatorLock(runId)]);
    }
  }
  return resolved;
}

class AlreadyLoaded extends Error {
  constructor(readonly count: number) {
    super('already loaded');
  }
}

/** Runs `work` in a transaction on its own connection and prepares it under `id`; rolls back on failure. */
function prepareBranch<T>(pool: Pool, id: string, onConnect: (pid: number) => void, work: (client: PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(pool, (client) => {
    onConnect((client as unknown as { processID: number }).processID);
    return work(client);
  }, `PREPARE TRANSACTION ${quoteLiteral(id)}`);
}

/** Fault injection for tests: stop the protocol at a point as a crashed worker would. */
export interface TwoPhaseFaults {
  stopAt?: 'both-prepared' | 'events-committed';
}

export class InjectedStop extends Error {
  override name = 'InjectedStop';
}

export async function twoPhaseLoad(deps: { pool: Pool; store: ObjectStore }, req: LoadRequest, onProgress: LoadProgress = () => undefined, faults: TwoPhaseFaults = {}): Promise<LoadResult> {
  const runId = assertRunId(req.runId);
  const coordinator = await deps.pool.connect();
  // A lost connection fails the pending query; unheard, the client's 'error' event would crash the worker.
  const onError = () => undefined;
  coordinator.on('error', onError);
  let locked = false;
  let writeLocked = false;
  try {
    // Another attempt of this run still coordinating: wait for it (then find its manifest row).
    await coordinator.query('SELECT pg_advisory_lock(hashtext($1))', [coordinatorLock(runId)]);
    locked = true;
    await resolveRun(coordinator, runId);
    await resolveAbandoned(coordinator);
    const already = await manifestCount(coordinator, runId);
    if (already !== undefined) return { loaded: already, alreadyLoaded: true, tables: {}, actions: [] };
    // The warehouse write lock for the whole protocol, on the coordinator (docs/warehouse.md):
    // a dripfeed waits here, never between the two branches.
    await coordinator.query('SELECT pg_advisory_lock(hashtext($1))', [WRITE_LOCK]);
    writeLocked = true;

    const outputs = await readRunOutputs(deps.store, runId);
    const beat = objectProgress(outputs, onProgress);
    // A failing branch cancels the other's running statement instead of waiting for its COPY to end.
    const pids: Partial<Record<'events' | 'shredded', number>> = {};
    const cancel = (branch: 'events' | 'shredded') => {
      const pid = pids[branch];
      if (pid !== undefined) void deps.pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => undefined);
    };
    const events = prepareBranch(deps.pool, gid(runId, 'events'), (pid) => (pids.events = pid), async (client) => {
      const again = await lockRun(client, runId);
      if (again !== undefined) throw new AlreadyLoaded(again);
      await replaceRunEvents(client, deps.store, outputs, req.window, { atomic: true, tables: [] });
      const loaded = await copyAtomicEvents(client, deps.store, outputs, beat);
      await insertManifest(client, req, loaded);
      return loaded;
    }).catch((err) => {
      cancel('shredded');
      throw err;
    });
    const shredded = prepareBranch(deps.pool, gid(runId, 'shredded'), (pid) => (pids.shredded = pid), async (client) => {
      const { plan, existing } = await migrateTables(client, outputs);
      await replaceRunEvents(client, deps.store, outputs, req.window, { atomic: false, tables: shreddedTableNames(existing) });
      return { plan, tables: await copyShreddedTables(client, deps.store, outputs, plan, beat) };
    }).catch((err) => {
      cancel('events');
      throw err;
    });
    const [e, s] = await Promise.allSettled([events, shredded]);
    if (e.status === 'rejected' || s.status === 'rejected') {
      // Whichever branch got prepared is rolled back; the first real error is reported.
      for (const [r, branch] of [[e, 'events'], [s, 'shredded']] as const) {
        if (r.status === 'fulfilled') await coordinator.query(`ROLLBACK PREPARED ${quoteLiteral(gid(runId, branch))}`);
      }
      const reasons = [e, s].filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
      const already = reasons.find((r): r is AlreadyLoaded => r instanceof AlreadyLoaded);
      if (already) return { loaded: already.count, alreadyLoaded: true, tables: {}, actions: [] };
      throw reasons.find((r) => !/canceling statement due to user request/.test(r.message)) ?? reasons[0];
    }
    if (faults.stopAt === 'both-prepared') throw new InjectedStop(faults.stopAt);
    await coordinator.query(`COMMIT PREPARED ${quoteLiteral(gid(runId, 'events'))}`);
    if (faults.stopAt === 'events-committed') throw new InjectedStop(faults.stopAt);
    await coordinator.query(`COMMIT PREPARED ${quoteLiteral(gid(runId, 'shredded'))}`);
    return { loaded: e.value, alreadyLoaded: false, tables: { events: e.value, ...s.value.tables }, actions: s.value.plan.actions };
  } finally {
    if (writeLocked) await coordinator.query('SELECT pg_advisory_unlock(hashtext($1))', [WRITE_LOCK]).catch(() => undefined);
    if (locked) await coordinator.query('SELECT pg_advisory_unlock(hashtext($1))', [coordinatorLock(runId)]).catch(() => undefined);
    coordinator.off('error', onError);
    // Session locks die with the session: a coordinator whose unlock may have failed is not reused.
    coordinator.release(true);
  }
}
