import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { inTransaction, type Pool, type PoolClient } from '../adapters/postgres';
import { ATOMIC_SCHEMA } from '../warehouse/ddl';
import { planLoadPlacing, type LoadPlan } from '../warehouse/migration';
import { atomicCopySql, readTables, shreddedCopySql, takeDdlLock, takeWriteLock } from '../warehouse/postgres-loader';
import type { ShredModel } from '../warehouse/shred-model';
import { qualified, quoteIdent } from '../warehouse/sql';
import { insertBadRows } from './bad-rows-sink';
import { advanceCheckpointIn, readCheckpoint } from './checkpoints';
import { badRowInputs, refuseSchemas, rowsByType, type DripEvent } from './dripfeed-shred';
import { WAREHOUSE_PROCESSOR, type DripCommit, type DripfeedWarehouse } from './warehouse-dripfeed';

// The dripfeed into PostgreSQL: one transaction per micro-batch, in the documented lock order
// (docs/warehouse.md): the shard's checkpoint compared-and-set first (the fence: an overlapping
// attempt waits on the row, then finds it moved and applies nothing), the warehouse write lock
// (batch loads and other shards wait for each other), the DDL lock only when the planner wants
// DDL (catalog re-read under it), then the rows: events the warehouse does not hold yet, their
// shredded rows, and the bad rows. lock_timeout bounds every wait; a timeout fails the attempt,
// which is retried with backoff.

async function copyRows(client: PoolClient, sql: string, rows: string[]): Promise<void> {
  if (rows.length === 0) return;
  const body = Buffer.from(`${rows.join('\n')}\n`);
  await pipeline(Readable.from([body]), client.query(copyFrom(sql)));
}

const identity = (eventId: string, tstampMs: number) => `${eventId}|${tstampMs}`;

/** The micro-batch's events the warehouse holds already, by (event_id, collector_tstamp). The caller holds the write lock. */
async function presentEvents(client: PoolClient, events: DripEvent[]): Promise<Set<string>> {
  if (events.length === 0) return new Set();
  const { rows } = await client.query<{ event_id: string; ms: string }>(
    `SELECT ${quoteIdent('event_id')}, floor(extract(epoch FROM ${quoteIdent('collector_tstamp')}) * 1000)::bigint AS "ms"
     FROM ${qualified(ATOMIC_SCHEMA, 'events')} WHERE ${quoteIdent('event_id')} = ANY($1::char(36)[])`,
    [[...new Set(events.map((e) => e.event.eventId))]],
  );
  return new Set(rows.map((r) => identity(r.event_id, Number(r.ms))));
}

/** The tables for the micro-batch's schemas: created or migrated under the DDL lock when the planner wants DDL. */
async function placeSchemas(client: PoolClient, models: Map<string, ShredModel>): Promise<{ plan: LoadPlan; refused: Map<string, string> }> {
  const wanted = [...models.values()];
  if (wanted.length === 0) return { plan: { targets: new Map(), inTransaction: [], beforeTransaction: [], actions: [] }, refused: new Map() };
  let placed = planLoadPlacing('postgres', await readTables(client), wanted);
  if (placed.plan.inTransaction.length === 0) return placed;
  // A batch load may be migrating the same tables: plan again on what the catalog holds under the lock.
  await takeDdlLock(client);
  placed = planLoadPlacing('postgres', await readTables(client), wanted);
  for (const sql of placed.plan.inTransaction) await client.query(sql);
  return placed;
}

export function postgresDripfeed(pool: Pool, opts: { lockTimeoutMs: number }): DripfeedWarehouse {
  const keyOf = (stream: string, shardId: string) => ({ stream, processor: WAREHOUSE_PROCESSOR, shardId });
  return {
    checkpoint: (stream, shardId) => readCheckpoint(pool, keyOf(stream, shardId)),

    commit: ({ stream, shardId, expected, next, shred }) =>
      inTransaction(pool, async (client): Promise<DripCommit> => {
        await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(opts.lockTimeoutMs))}`);
        await advanceCheckpointIn(client, keyOf(stream, shardId), expected, next);
        await takeWriteLock(client);
        const { plan, refused } = await placeSchemas(client, shred.models);
        const events = refuseSchemas(shred, refused);
        const present = await presentEvents(client, events);
        const fresh = events.filter((e) => !present.has(identity(e.event.eventId, e.event.tstampMs)));
        await copyRows(client, atomicCopySql(), fresh.map((e) => e.event.atomic));
        for (const [uri, rows] of rowsByType(fresh)) await copyRows(client, shreddedCopySql(plan.targets.get(uri)!, shred.models.get(uri)!), rows);
        if (shred.bad.length > 0) {
          await insertBadRows(client, stream, shardId, badRowInputs(shred.bad), true);
        }
        return { inserted: fresh.length, alreadyLoaded: events.length - fresh.length, bad: shred.bad.length, actions: plan.actions };
      }),
  };
}
