import pg from 'pg';
import type { SluiceConfig } from '../config';

// PostgreSQL over the official client: the connection pool and its type parsers, transactions,
// and the plumbing of idempotent migrations. Which tables exist is the warehouse's business
// (warehouse/migrate.ts); nothing here names one.

// Timestamps are stored as UTC `timestamp` (as Snowplow does); read them back as UTC.
pg.types.setTypeParser(1114, (s: string) => new Date(`${s.replace(' ', 'T')}Z`));
// Dates sent as parameters are written in UTC, matching the `timestamp` columns.
(pg.defaults as { parseInputDatesAsUTC?: boolean }).parseInputDatesAsUTC = true;
// Counts are bigint; they fit in a double for any realistic view.
pg.types.setTypeParser(20, (s: string) => Number(s));

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export function makePool(config: SluiceConfig, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: config.warehouse.postgresUrl, max, connectionTimeoutMillis: 10_000 });
  // An idle client losing its connection (warehouse restarted) must not crash the process.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * Creates the database `url` names when it is missing, connecting as the same user to the
 * cluster's `postgres` database (a local cluster starts with only that one).
 */
export async function createDatabaseIfMissing(url: string): Promise<void> {
  const target = new URL(url);
  const database = decodeURIComponent(target.pathname.slice(1));
  const adminUrl = new URL(target);
  adminUrl.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
  } finally {
    await admin.end();
  }
}

/**
 * Runs `statements` in order on one connection to `url`, under the session advisory lock
 * `lockKey` so that processes starting at once migrate one after another.
 */
export async function runSerialisedStatements(url: string, statements: readonly string[], lockKey: number): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [lockKey]);
    for (const stmt of statements) await client.query(stmt);
    await client.query('SELECT pg_advisory_unlock($1)', [lockKey]);
  } finally {
    await client.end();
  }
}

/**
 * Runs `fn` in one transaction: ended with `end` (COMMIT, or a PREPARE TRANSACTION) if it
 * resolves, rolled back if it throws.
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, end = 'COMMIT'): Promise<T> {
  const client = await pool.connect();
  // A connection lost mid-transaction (warehouse restarted, backend terminated) fails the pending
  // query; the client's 'error' event would also be thrown, uncaught, without a listener.
  const onError = () => undefined;
  client.on('error', onError);
  let broken = false;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query(end);
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => void (broken = true));
    throw err;
  } finally {
    client.off('error', onError);
    // A client that cannot even roll back is discarded, not handed to the next caller.
    client.release(broken);
  }
}
