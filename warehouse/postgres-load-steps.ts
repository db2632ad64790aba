import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { ObjectStore } from '../adapters/object-store';
import type { PoolClient } from '../adapters/postgres';
import { partBytes } from '../batch/run-files';
import { ATOMIC_COLUMNS } from './atomic-events';
import { catalogSql, tablesFromCatalog, type CatalogRow } from './catalog';
import { ATOMIC_SCHEMA, tableColumns } from './ddl';
import type { LoadProgress, LoadRequest, RunOutputs } from './loader';
import { type LoadPlan, planLoad, type TableState } from './migration';
import type { ShredModel } from './shred-model';
import { qualified, quoteIdent } from './sql';

// The steps of a PostgreSQL load, each on a client inside the caller's transaction: the warehouse
// locks, the run's lock and manifest row, the DDL the run's schemas need, the COPYs fed from the
// object store, and the batch-wins delete. Both ways of loading a run compose them: one
// transaction (postgres-loader.ts) or two prepared branches (postgres-two-phase.ts); the
// dripfeed uses the locks, the COPY statements and readTables.

const DDL_LOCK = 'sluice:warehouse-ddl';
/** Every transaction that writes events takes it after its own fence (docs/warehouse.md, "Dripfeed and batch"). */
export const WRITE_LOCK = 'sluice:warehouse-write';

/** The warehouse write lock for the rest of the caller's transaction. */
export async function takeWriteLock(client: PoolClient): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [WRITE_LOCK]);
}

/** The DDL lock: schema changes of concurrent writers are planned one at a time (after the write lock). */
export async function takeDdlLock(client: PoolClient): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [DDL_LOCK]);
}

/** COPY FROM STDIN of atomic.events rows as the shred step writes them. */
export function atomicCopySql(table = qualified(ATOMIC_SCHEMA, 'events')): string {
  return `COPY ${table} (${ATOMIC_COLUMNS.map(quoteIdent).join(', ')}) FROM STDIN WITH (FORMAT text, NULL '')`;
}

/** COPY FROM STDIN of a schema version's shredded rows into its table. */
export function shreddedCopySql(table: string, model: ShredModel): string {
  const cols = tableColumns(model.columns, 'postgres').map((c) => quoteIdent(c.name)).join(', ');
  return `COPY ${qualified(ATOMIC_SCHEMA, table)} (${cols}) FROM STDIN WITH (FORMAT text)`;
}

/** The atomic schema's tables as the catalog describes them now. */
export async function readTables(client: PoolClient): Promise<Map<string, TableState>> {
  const catalog = await client.query<CatalogRow>(catalogSql('postgres'), [ATOMIC_SCHEMA]);
  return tablesFromCatalog(catalog.rows);
}

export class LoadCountMismatchError extends Error {
  override name = 'LoadCountMismatchError';
}

const COPY_CHUNK = 1 << 20;

async function copyObjects(client: PoolClient, store: ObjectStore, sql: string, keys: string[], onObject: () => void): Promise<number> {
  if (!keys.length) return 0;
  const copy = client.query(copyFrom(sql));
  async function* bodies() {
    // Fetch the next object while the current one streams into COPY.
    const fetch = (k: string) => {
      const p = store.get(k).then((body) => partBytes(k, body));
      p.catch(() => undefined);
      return p;
    };
    let next = fetch(keys[0]);
    for (let i = 0; i < keys.length; i++) {
      const body = await next;
      if (i + 1 < keys.length) next = fetch(keys[i + 1]);
      // One CopyData message per MiB: the backend parses while the next bytes arrive, instead of
      // receiving (and allocating) a whole part of ~150 MB before it parses a row.
      for (let at = 0; at < body.length; at += COPY_CHUNK) yield body.subarray(at, at + COPY_CHUNK);
      onObject();
    }
  }
  await pipeline(Readable.from(bodies()), copy);
  return copy.rowCount ?? 0;
}

/** Deletes a window's rows from atomic.events and every shredded table (reprocessing). */
export async function deleteWindowRows(client: PoolClient, window: { from?: number; to?: number }, tables: Iterable<string>): Promise<void> {
  if (window.from === undefined || window.to === undefined) throw new Error('replacing a window needs both from and to');
  const params = [new Date(window.from), new Date(window.to)];
  await client.query(`DELETE FROM ${qualified(ATOMIC_SCHEMA, 'events')} WHERE ${quoteIdent('collector_tstamp')} >= $1 AND ${quoteIdent('collector_tstamp')} < $2`, params);
  for (const t of tables) {
    await client.query(`DELETE FROM ${qualified(ATOMIC_SCHEMA, t)} WHERE ${quoteIdent('root_tstamp')} >= $1 AND ${quoteIdent('root_tstamp')} < $2`, params);
  }
}

const LOAD_KEYS = qualified('sluice', 'load_keys');
const OWN_KEYS = `k."txid" = txid_current()`;

/**
 * The batch wins, per event: deletes the rows already in the warehouse (dripfed, or loaded by an
 * earlier run) of every event this run loads, by (event_id, collector_tstamp) from the run's key
 * parts — from atomic.events when `atomic`, and from each of `tables` by (root_id, root_tstamp).
 * Skipped when atomic.events holds nothing in the run's window. Returns the atomic rows deleted.
 * The keys go through sluice.load_keys tagged with this transaction's id and are deleted again
 * before it ends. The caller holds the write lock.
 */
export async function replaceRunEvents(
  client: PoolClient, store: ObjectStore, outputs: RunOutputs, window: { from?: number; to?: number },
  what: { atomic: boolean; tables: Iterable<string> },
): Promise<number> {
  if (!outputs.keyParts.length || window.from === undefined || window.to === undefined) return 0;
  const inWindow = await client.query(
    `SELECT 1 FROM ${qualified(ATOMIC_SCHEMA, 'events')} WHERE ${quoteIdent('collector_tstamp')} >= $1 AND ${quoteIdent('collector_tstamp')} <= $2 LIMIT 1`,
    [new Date(window.from).toISOString(), new Date(window.to).toISOString()],
  );
  if (!inWindow.rowCount) return 0;
  await copyObjects(client, store, `COPY ${LOAD_KEYS} ("event_id", "collector_tstamp") FROM STDIN WITH (FORMAT text)`, outputs.keyParts, () => undefined);
  let deleted = 0;
  if (what.atomic) {
    const res = await client.query(
      `DELETE FROM ${qualified(ATOMIC_SCHEMA, 'events')} e USING ${LOAD_KEYS} k WHERE ${OWN_KEYS} AND e."event_id" = k."event_id" AND e."collector_tstamp" = k."collector_tstamp"`,
    );
    deleted = res.rowCount ?? 0;
  }
  for (const t of what.tables) {
    await client.query(`DELETE FROM ${qualified(ATOMIC_SCHEMA, t)} s USING ${LOAD_KEYS} k WHERE ${OWN_KEYS} AND s."root_id" = k."event_id" AND s."root_tstamp" = k."collector_tstamp"`);
  }
  await client.query(`DELETE FROM ${LOAD_KEYS} k WHERE ${OWN_KEYS}`);
  return deleted;
}

/** The manifest row of a run already loaded (its event count), or undefined. */
export async function manifestCount(client: PoolClient, runId: string): Promise<number | undefined> {
  const done = await client.query('SELECT "event_count" FROM "sluice"."load_manifest" WHERE "run_id" = $1', [runId]);
  return done.rowCount ? Number(done.rows[0].event_count) : undefined;
}

/** Takes the run's load lock (two attempts of a run may overlap: the second waits here) and reads its manifest row. */
export async function lockRun(client: PoolClient, runId: string): Promise<number | undefined> {
  await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`load:${runId}`]);
  return manifestCount(client, runId);
}

/** Creates or migrates the shredded tables the run's schemas need (one plan at a time across loads). */
export async function migrateTables(client: PoolClient, outputs: RunOutputs): Promise<{ plan: LoadPlan; existing: Map<string, TableState> }> {
  // Schema changes of concurrent loads (other runs, reprocessing, the dripfeed) are planned one at a time.
  await takeDdlLock(client);
  const existing = await readTables(client);
  const plan = planLoad('postgres', existing, outputs.types.map((t) => t.model));
  for (const sql of plan.inTransaction) await client.query(sql);
  return { plan, existing };
}

/** COPYs the run's atomic.events parts; the count must match what the shred step wrote. */
export async function copyAtomicEvents(client: PoolClient, store: ObjectStore, outputs: RunOutputs, beat: () => void): Promise<number> {
  const loaded = await copyObjects(client, store, atomicCopySql(), outputs.atomicKeys, beat);
  if (outputs.expectedAtomic !== undefined && loaded !== outputs.expectedAtomic) {
    throw new LoadCountMismatchError(`atomic.events: COPY loaded ${loaded} rows, the shred step wrote ${outputs.expectedAtomic}`);
  }
  return loaded;
}

/** COPYs every schema version's parts into its table; rows per table. */
export async function copyShreddedTables(client: PoolClient, store: ObjectStore, outputs: RunOutputs, plan: LoadPlan, beat: () => void): Promise<Record<string, number>> {
  const tables: Record<string, number> = {};
  for (const t of outputs.types) {
    const table = plan.targets.get(t.uri)!;
    const n = await copyObjects(client, store, shreddedCopySql(table, t.model), t.keys, beat);
    if (t.expected !== undefined && n !== t.expected) throw new LoadCountMismatchError(`${table} (${t.uri}): COPY loaded ${n} rows, the shred step wrote ${t.expected}`);
    tables[table] = (tables[table] ?? 0) + n;
  }
  return tables;
}

export async function insertManifest(client: PoolClient, req: LoadRequest, loaded: number): Promise<void> {
  await client.query(
    'INSERT INTO "sluice"."load_manifest" ("run_id", "event_count", "window_from", "window_to") VALUES ($1, $2, $3, $4)',
    [req.runId, loaded, req.window.from !== undefined ? new Date(req.window.from) : null, req.window.to !== undefined ? new Date(req.window.to) : null],
  );
}

/** Progress over every object the load COPYs. */
export function objectProgress(outputs: RunOutputs, onProgress: LoadProgress): () => void {
  const total = outputs.atomicKeys.length + outputs.types.reduce((n, t) => n + t.keys.length, 0);
  let objects = 0;
  return () => onProgress(++objects, total);
}
