import type { Pool } from '../adapters/postgres';
import { postgresBatchViewsStore, VIEW_RANGE, viewEventsSql } from '../views/batch-views-postgres';
import type { BatchViewsStore } from '../views/batch-views-store';
import { breakdown, mergeViews, type Grain, type MergedValue, type Metric, type ViewValue } from '../views/definitions';

// Reads both layers' views and merges them at the batch watermark; the merge is the pure function
// in views/definitions.ts. The realtime views are in PostgreSQL (`pool`); the batch views and the
// watermark in the warehouse (`warehouse`: PostgreSQL on the same pool by default, or Redshift).
// Every query is parameterised; table and column names are constants.

export interface Range { from: number; to: number }
export interface SeriesAnswer {
  watermark: number | null;
  points: MergedValue[];
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

async function merged(pool: Pool, warehouse: BatchViewsStore, metric: Metric, grain: Grain, range: Range, byEvent: boolean): Promise<{ watermark: number | null; points: MergedValue[] }> {
  // Realtime first, then the batch values with the watermark. A views step moves the watermark
  // before it retires realtime rows, so realtime rows read already retired imply a watermark read
  // afterwards that covers them (Redshift reads values and watermark in one statement).
  const realtime = await pool.query<Row>(realtimeSql(metric, byEvent), [grain, iso(range.from), iso(range.to)]);
  const batch = await warehouse.readBatch(metric, grain, range, byEvent);
  return { watermark: batch.watermark, points: mergeViews(batch.values, values(realtime.rows), batch.watermark, grain, range) };
}

/** One metric over time: batch buckets up to the watermark, realtime after it. */
export async function mergedSeries(pool: Pool, metric: Metric, grain: Grain, range: Range, warehouse: BatchViewsStore = postgresBatchViewsStore(pool)): Promise<SeriesAnswer> {
  const { watermark, points } = await merged(pool, warehouse, metric, grain, range, false);
  const totals = { batch: 0, realtime: 0, all: 0 };
  for (const p of points) {
    totals[p.source] += p.value;
    totals.all += p.value;
  }
  return { watermark, points: points.filter((p) => p.value > 0), totals };
}

/** Events by type over the range, each bucket from the layer that answers it. */
export async function mergedEventBreakdown(pool: Pool, grain: Grain, range: Range, warehouse: BatchViewsStore = postgresBatchViewsStore(pool)) {
  const { watermark, points } = await merged(pool, warehouse, 'events', grain, range, true);
  return { watermark, rows: breakdown(points) };
}
