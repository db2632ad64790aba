import pg from 'pg';
import type { ObjectStore } from '../../adapters/object-store';
import type { Logger } from '../../observability/logger';
import { quoteIdent } from '../sql';
import { runCopy } from './copy-from-s3';
import { type Statement, type StatementStore, type StoredResult, type SubStatement, TERMINAL } from './statements';

// Runs the endpoint's statements on the local PostgreSQL, after the submit has returned the Id (the
// client polls DescribeStatement). Each statement gets a session of its own, as on the Data API
// (temporary tables and locks end with it); a batch runs every Sql on that one connection inside
// one transaction, and a failure rolls all of it back. The Data API's `Database` is a PostgreSQL
// database of that name on the cluster of `postgresUrl`, created on first use.

export interface ExecutorOptions {
  postgresUrl: string;
  /** The object store of a COPY's bucket. */
  storeFor: (bucket: string) => ObjectStore;
  log: Logger;
  /** Statements running at once; more wait as SUBMITTED. */
  concurrency: number;
  /** Results bigger than this fail their statement (the Data API's limit is 100 MB). */
  maxResultBytes: number;
}

// Redshift sessions run in UTC and read backslash escapes in string literals.
const SESSION_OPTIONS = '-c TimeZone=UTC -c standard_conforming_strings=off -c escape_string_warning=off';
// Every value as PostgreSQL's text output: results.ts converts by type.
const RAW_TYPES = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

class StatementAborted extends Error {}

const dbUrl = (base: string, database: string) => {
  const u = new URL(base);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
};

export class Executor {
  private running = 0;
  private readonly queue: (() => void)[] = [];
  private readonly databases = new Map<string, Promise<void>>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly opts: ExecutorOptions, private readonly store: StatementStore) {}

  submit(s: Statement): void {
    const p = this.schedule(s).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  private async schedule(s: Statement): Promise<void> {
    if (this.running >= this.opts.concurrency) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.running++;
    try {
      await this.execute(s);
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }

  /** A connection for housekeeping: postgresUrl's database, or `postgres` while that does not exist yet. */
  private async admin(): Promise<pg.Client> {
    for (const url of [this.opts.postgresUrl, dbUrl(this.opts.postgresUrl, 'postgres')]) {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        return client;
      } catch (err) {
        if ((err as { code?: string }).code !== '3D000' || url !== this.opts.postgresUrl) throw err;
      }
    }
    throw new Error('unreachable');
  }

  /** Creates the database on first use (the name was validated at submit). */
  private ensureDatabase(database: string): Promise<void> {
    let p = this.databases.get(database);
    if (!p) {
      p = (async () => {
        const admin = await this.admin();
        try {
          const found = await admin.query('SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1', [database]);
          if (!found.rowCount) {
            await admin.query(`CREATE DATABASE ${quoteIdent(database)}`).catch((err: { code?: string }) => {
              // Another statement created it meanwhile.
              if (err.code !== '42P04' && err.code !== '23505') throw err;
            });
            this.opts.log.info({ database }, 'created database');
          }
        } finally {
          await admin.end().catch(() => undefined);
        }
      })();
      p.catch(() => this.databases.delete(database));
      this.databases.set(database, p);
    }
    return p;
  }

  private async connect(database: string): Promise<pg.Client> {
    await this.ensureDatabase(database);
    const client = new pg.Client({
      connectionString: dbUrl(this.opts.postgresUrl, database),
      connectionTimeoutMillis: 10_000,
      application_name: 'sluice-redshift-local',
      options: SESSION_OPTIONS,
    });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }

  private async execute(s: Statement): Promise<void> {
    if (TERMINAL.has(s.status)) return; // cancelled while it waited
    const started = Date.now();
    let client: pg.Client | undefined;
    // LOCK is valid only inside a transaction on PostgreSQL; on Redshift a lone statement is one.
    const transaction = s.isBatch || /^\s*LOCK\b/i.test(s.subs[0].sql);
    try {
      client = await this.connect(s.target.database);
      if (s.cancelRequested) throw new StatementAborted();
      s.pid = (client as unknown as { processID?: number }).processID;
      this.mark(s, 'STARTED');
      s.startedAt = started;
      if (transaction) await client.query('BEGIN');
      for (const sub of s.subs) {
        if (s.cancelRequested) throw new StatementAborted();
        await this.runSub(client, s, sub);
      }
      if (s.cancelRequested) throw new StatementAborted();
      if (transaction) await client.query('COMMIT');
      this.finish(s, 'FINISHED');
    } catch (err) {
      if (TERMINAL.has(s.status)) return; // cancelled before it started
      const aborted = err instanceof StatementAborted || s.cancelRequested || (err as { code?: string }).code === '57014';
      const detail = (err as { detail?: string }).detail;
      const message = aborted ? 'Query cancelled.' : `ERROR: ${(err as Error).message}${detail ? ` (${detail})` : ''}`;
      const failedAt = s.subs.findIndex((x) => !TERMINAL.has(x.status));
      s.subs.forEach((sub, i) => {
        if (TERMINAL.has(sub.status)) return;
        sub.status = i === failedAt && !aborted ? 'FAILED' : 'ABORTED';
        if (i === failedAt) sub.error = message;
        sub.updatedAt = sub.endedAt = Date.now();
      });
      if (transaction) await client?.query('ROLLBACK').catch(() => undefined);
      s.error = s.isBatch && failedAt >= 0 ? `Query #${failedAt + 1} failed with ${message}` : message;
      this.finish(s, aborted ? 'ABORTED' : 'FAILED');
    } finally {
      await client?.end().catch(() => undefined);
      this.opts.log.info(
        { statementId: s.id, database: s.target.database, statements: s.subs.length, status: s.status, durationMs: Date.now() - started, ...(s.error ? { error: s.error.slice(0, 500) } : {}) },
        'statement done',
      );
    }
  }

  private async runSub(client: pg.Client, s: Statement, sub: SubStatement): Promise<void> {
    sub.status = 'STARTED';
    sub.startedAt = sub.updatedAt = Date.now();
    s.updatedAt = sub.updatedAt;
    this.opts.log.debug({ statementId: s.id, sql: sub.sql.slice(0, 300) }, 'running');
    if (sub.run.kind === 'copy') {
      sub.resultRows = await runCopy(client, sub.run.spec, this.opts.storeFor(sub.run.spec.bucket), () => s.cancelRequested);
    } else {
      const out = await this.query(client, sub.run.sql, sub.run.values);
      for (const sql of sub.run.after) await this.query(client, sql, []);
      sub.hasResultSet = out.result !== undefined;
      sub.resultRows = out.rowCount;
      if (out.result) {
        sub.result = out.result;
        this.store.addResultBytes(out.result.bytes);
      }
    }
    sub.status = 'FINISHED';
    sub.endedAt = sub.updatedAt = Date.now();
  }

  /** One query, its rows kept as text up to maxResultBytes. */
  private query(client: pg.Client, text: string, values: string[]): Promise<{ rowCount: number; result?: StoredResult }> {
    return new Promise((resolve, reject) => {
      const rows: (string | null)[][] = [];
      let bytes = 0;
      const q = new pg.Query({ text, values, rowMode: 'array', types: RAW_TYPES } as pg.QueryConfig);
      q.on('row', (row: unknown) => {
        const r = row as (string | null)[];
        for (const v of r) bytes += (v?.length ?? 0) + 8;
        if (bytes <= this.opts.maxResultBytes) rows.push(r);
      });
      q.on('error', reject);
      q.on('end', (res) => {
        const r = res as unknown as pg.QueryResultBase;
        if (bytes > this.opts.maxResultBytes) return reject(new Error(`the query result exceeds ${this.opts.maxResultBytes} bytes`));
        const result = r.fields?.length ? { columns: r.fields.map((f) => ({ name: f.name, typeOid: f.dataTypeID })), rows, bytes } : undefined;
        resolve({ rowCount: r.rowCount ?? -1, result });
      });
      client.query(q);
    });
  }

  private mark(s: Statement, status: Statement['status']): void {
    s.status = status;
    s.updatedAt = Date.now();
  }

  private finish(s: Statement, status: Statement['status']): void {
    this.mark(s, status);
    s.endedAt = s.updatedAt;
    this.store.evict();
  }

  /** CancelStatement: false when the statement had already ended. */
  async cancel(s: Statement): Promise<boolean> {
    if (TERMINAL.has(s.status)) return false;
    s.cancelRequested = true;
    if (s.status === 'SUBMITTED') {
      s.subs.forEach((sub) => Object.assign(sub, { status: 'ABORTED', updatedAt: Date.now() }));
      s.error = 'Query cancelled.';
      this.finish(s, 'ABORTED');
      return true;
    }
    await this.cancelBackend(s);
    void this.keepCancelling(s);
    return true;
  }

  private async cancelBackend(s: Statement): Promise<void> {
    if (s.pid === undefined) return;
    const admin = await this.admin();
    try {
      await admin.query('SELECT pg_cancel_backend($1)', [s.pid]);
    } finally {
      await admin.end().catch(() => undefined);
    }
  }

  /** A cancel that reached the backend between two queries of the session is lost: send it again. */
  private async keepCancelling(s: Statement): Promise<void> {
    for (let i = 0; i < 20 && !TERMINAL.has(s.status); i++) {
      await new Promise((r) => setTimeout(r, 500));
      if (!TERMINAL.has(s.status)) await this.cancelBackend(s).catch(() => undefined);
    }
  }

  /** Cancels what runs and waits for it to end. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.store.all()) if (!TERMINAL.has(s.status)) await this.cancel(s).catch(() => undefined);
    await Promise.allSettled([...this.inFlight]);
  }
}
