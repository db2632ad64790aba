import type { Pool } from '../adapters/postgres';
import { postgresBatchViewsStore, VIEW_RANGE, viewEventsSql } from '../views/batch-views-postgres';
import type { BatchViewsStore } from '../views/batch-views-store';
import { breakdown, GRAIN_MS, mergeViews, type Grain, type MergedValue, type Metric, type ViewValue } from '../views/definitions';
import { isOwed, readOwedWindows, type OwedWindow } from '../views/owed-windows';

// Reads both layers' views and merges them at the batch watermark; the merge is the pure function
// in views/definitions.ts. The realtime views are in PostgreSQL (`pool`); the batch views and the
// watermark in the warehouse (`warehouse`: PostgreSQL on the same pool by default, or Redshift).
// Every query is parameterised; table and column names are constants.

export interface Range { from: number; to: number }
export interface SeriesAnswer {
  watermark: number | null;
  /** Points of a bucket whose batch is owed (a skipped load) carry `owed`. */
  points: (MergedValue & { owed?: true })[];
  /** Windows in the range whose batch load was skipped: answered by the realtime views until reprocessed. */
  owed: OwedWindow[];
  totals: { batch: number; realtime: number; all: number };
}

const iso = (ms: number) => new Date(ms).toISOString();

export async function readWatermark(pool: Pool, warehouse: BatchViewsStore = postgresBatchViewsStore(pool)): Promise<number | null> {
  return warehouse.readWatermark();
}

type Row = { bucket: Date; key: string; value: number };
const values = (rows: Row[]): ViewValue[] => rows.map((r) => ({ bucket: r.bucket.getTime(), key: r.key, value: Number(r.value) }));

/** The SQL for the realtime values of a metric, per bucket (key '') or per event name (byEvent). */
function realtimeSql(metric: Metric, byEvent: boolean): string {
  if (metric === 'events' || metric === 'page_views') return viewEventsSql('realtime', metric, byEvent);
  const kind = metric === 'unique_users' ? 'user' : 'session';
  return `SELECT "bucket", '' AS "key", count(*) AS "value" FROM "sluice"."realtime_view_members"
          WHERE ${VIEW_RANGE} AND "kind" = '${kind}' GROUP BY 1`;
}

async function merged(pool: Pool, warehouse: BatchViewsStore, metric: Metric, grain: Grain, range: Range, byEvent: boolean) {
  // Owed windows first: one cleared meanwhile by its reprocess was loaded in the same transaction,
  // so its batch values (read later) hold it. Then realtime, then the batch values with the
  // watermark. A views step moves the watermark before it retires realtime rows, so realtime rows
  // read already retired imply a watermark read afterwards that covers them (Redshift reads values
  // and watermark in one statement).
  const owed = (await readOwedWindows(pool)).filter((w) => w.from < range.to && w.to > range.from);
  const realtime = await pool.query<Row>(realtimeSql(metric, byEvent), [grain, iso(range.from), iso(range.to)]);
  const batch = await warehouse.readBatch(metric, grain, range, byEvent);
  const points: SeriesAnswer['points'] = mergeViews(batch.values, values(realtime.rows), batch.watermark, grain, range, owed);
  for (const p of points) if (isOwed(p.bucket, GRAIN_MS[grain], owed)) p.owed = true;
  return { watermark: batch.watermark, owed, points };
}

/** One metric over time: batch buckets up to the watermark, realtime after it. */
export async function mergedSeries(pool: Pool, metric: Metric, grain: Grain, range: Range, warehouse: BatchViewsStore = postgresBatchViewsStore(pool)): Promise<SeriesAnswer> {
  const { watermark, owed, points } = await merged(pool, warehouse, metric, grain, range, false);
  const totals = { batch: 0, realtime: 0, all: 0 };
  for (const p of points) {
    totals[p.source] += p.value;
    totals.all += p.value;
  }
  return { watermark, owed, points: points.filter((p) => p.value > 0), totals };
}

/** Events by type over the range, each bucket from the layer that answers it. */
export async function mergedEventBreakdown(pool: Pool, grain: Grain, range: Range, warehouse: BatchViewsStore = postgresBatchViewsStore(pool)) {
  const { watermark, owed, points } = await merged(pool, warehouse, 'events', grain, range, true);
  return { watermark, owed, rows: breakdown(points) };
}
