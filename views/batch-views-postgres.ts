import { inTransaction, type Pool, type PoolClient } from '../adapters/postgres';
import { retireRealtimeRows } from '../speed/realtime-views';
import { recomputeBatchViews } from './batch-views';
import type { BatchViewsStore, EventCountFilter } from './batch-views-store';
import type { Grain, Metric, ViewValue } from './definitions';
import { nextWatermark } from './minute-counts';

// The batch views in PostgreSQL (warehouse.kind = postgres): the same database as the realtime
// views, so recompute, watermark and retirement share one transaction.

const iso = (ms: number) => new Date(ms).toISOString();

/** Runs `fn` in a transaction whose running statement is cancelled when `signal` aborts. */
export async function inCancellableTransaction<T>(pool: Pool, signal: AbortSignal | undefined, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(pool, async (client) => {
    const pid = (client as unknown as { processID?: number }).processID;
    const cancel = () => void pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => undefined);
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      return await fn(client);
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
  });
}

/** PostgreSQL's range condition of every view read: $1 grain, $2/$3 the bucket range. */
export const VIEW_RANGE = `"grain" = $1 AND "bucket" >= $2 AND "bucket" < $3`;

/** Event counts of one layer's views (`batch` or `realtime`), per bucket (key '') or per event name (byEvent). */
export function viewEventsSql(layer: 'batch' | 'realtime', metric: 'events' | 'page_views', byEvent: boolean): string {
  const key = byEvent ? '"event_name"' : `''`;
  const only = metric === 'page_views' ? ` AND "event_name" = 'page_view'` : '';
  return `SELECT "bucket", ${key} AS "key", sum("events") AS "value" FROM "sluice"."${layer}_view_events"
          WHERE ${VIEW_RANGE}${only} GROUP BY 1, 2`;
}

/** The SQL for the batch values of a metric, per bucket (key '') or per event name (byEvent). */
export function batchValuesSqlPostgres(metric: Metric, byEvent: boolean): string {
  if (metric === 'events' || metric === 'page_views') return viewEventsSql('batch', metric, byEvent);
  const column = metric === 'unique_users' ? '"users"' : '"sessions"';
  return `SELECT "bucket", '' AS "key", ${column} AS "value" FROM "sluice"."batch_view_uniques" WHERE ${VIEW_RANGE}`;
}

type Row = { bucket: Date; key: string; value: number };
const values = (rows: Row[]): ViewValue[] => rows.map((r) => ({ bucket: r.bucket.getTime(), key: r.key, value: Number(r.value) }));

export function postgresBatchViewsStore(pool: Pool): BatchViewsStore {
  const readWatermark = async (): Promise<number | null> => {
    const wm = await pool.query('SELECT "watermark" FROM "sluice"."batch_watermark" WHERE "id" = 1');
    return wm.rowCount ? (wm.rows[0].watermark as Date).getTime() : null;
  };

  return {
    warehouse: 'postgres',

    computeViews({ runId, window, completeThroughMs, latenessMs }, opts = {}) {
      return inCancellableTransaction(pool, opts.signal, async (client) => {
        await client.query('LOCK TABLE "sluice"."batch_watermark" IN EXCLUSIVE MODE');
        const rows = window.from !== undefined && window.to !== undefined
          ? await recomputeBatchViews(client, { from: window.from, to: window.to }, runId)
          : 0;
        const prev = await client.query('SELECT "watermark" FROM "sluice"."batch_watermark" WHERE "id" = 1');
        const previous = prev.rowCount ? (prev.rows[0].watermark as Date).getTime() : null;
        const watermark = nextWatermark(previous, completeThroughMs, latenessMs);
        if (watermark !== null && watermark !== previous) {
          await client.query(
            `INSERT INTO "sluice"."batch_watermark" ("id", "watermark", "run_id") VALUES (1, $1, $2)
             ON CONFLICT ("id") DO UPDATE SET "watermark" = EXCLUDED."watermark", "run_id" = EXCLUDED."run_id", "updated_at" = now()`,
            [new Date(watermark), runId],
          );
          // The batch views answer everything before the watermark now: retire those realtime rows.
          await retireRealtimeRows(client, watermark);
        }
        return { watermark, rows };
      });
    },

    readWatermark,

    async readBatch(metric: Metric, grain: Grain, range, byEvent) {
      const [batch, watermark] = await Promise.all([
        pool.query<Row>(batchValuesSqlPostgres(metric, byEvent), [grain, iso(range.from), iso(range.to)]),
        readWatermark(),
      ]);
      return { watermark, values: values(batch.rows) };
    },

    async countEvents(filter: EventCountFilter) {
      const conds: string[] = [];
      const params: unknown[] = [];
      const add = (sql: string, value: unknown) => {
        params.push(value);
        conds.push(`${sql} $${params.length}`);
      };
      if (filter.appId !== undefined) add('"app_id" =', filter.appId);
      if (filter.from !== undefined) add('"collector_tstamp" >=', iso(filter.from));
      if (filter.to !== undefined) add('"collector_tstamp" <', iso(filter.to));
      const where = conds.length ? ` WHERE ${conds.join(' AND ')}` : '';
      const { rows } = await pool.query(`SELECT count(*) AS "n" FROM "atomic"."events"${where}`, params);
      return Number(rows[0].n);
    },

    async close() {},
  };
}
