import type { Pool } from '../adapters/postgres';
import { breakdown, mergeViews, type Grain, type MergedValue, type Metric, type ViewValue } from '../views/definitions';

// Reads both layers' views and merges them at the batch watermark; the merge is the pure function
// in views/definitions.ts. Every query is parameterised; table and column names are constants.

export interface Range { from: number; to: number }
export interface SeriesAnswer {
  watermark: number | null;
  points: MergedValue[];
  totals: { batch: number; realtime: number; all: number };
}

const iso = (ms: number) => new Date(ms).toISOString();

export async function readWatermark(pool: Pool): Promise<number | null> {
  const wm = await pool.query('SELECT "watermark" FROM "sluice"."batch_watermark" WHERE "id" = 1');
  return wm.rowCount ? (wm.rows[0].watermark as Date).getTime() : null;
}

type Row = { bucket: Date; key: string; value: number };
const values = (rows: Row[]): ViewValue[] => rows.map((r) => ({ bucket: r.bucket.getTime(), key: r.key, value: Number(r.value) }));

/** The SQL for one layer's values of a metric, per bucket (key '') or per event name (byEvent). */
function layerSql(layer: 'batch' | 'realtime', metric: Metric, byEvent: boolean): string {
  const range = `"grain" = $1 AND "bucket" >= $2 AND "bucket" < $3`;
  if (metric === 'events' || metric === 'page_views') {
    const key = byEvent ? '"event_name"' : `''`;
    const only = metric === 'page_views' ? ` AND "event_name" = 'page_view'` : '';
    return `SELECT "bucket", ${key} AS "key", sum("events") AS "value" FROM "sluice"."${layer}_view_events"
            WHERE ${range}${only} GROUP BY 1, 2`;
  }
  if (layer === 'batch') {
    const column = metric === 'unique_users' ? '"users"' : '"sessions"';
    return `SELECT "bucket", '' AS "key", ${column} AS "value" FROM "sluice"."batch_view_uniques" WHERE ${range}`;
  }
  const kind = metric === 'unique_users' ? 'user' : 'session';
  return `SELECT "bucket", '' AS "key", count(*) AS "value" FROM "sluice"."realtime_view_members"
          WHERE ${range} AND "kind" = '${kind}' GROUP BY 1`;
}

async function merged(pool: Pool, metric: Metric, grain: Grain, range: Range, byEvent: boolean): Promise<{ watermark: number | null; points: MergedValue[] }> {
  const params = [grain, iso(range.from), iso(range.to)];
  const [batch, realtime, watermark] = await Promise.all([
    pool.query<Row>(layerSql('batch', metric, byEvent), params),
    pool.query<Row>(layerSql('realtime', metric, byEvent), params),
    readWatermark(pool),
  ]);
  return { watermark, points: mergeViews(values(batch.rows), values(realtime.rows), watermark, grain, range) };
}

/** One metric over time: batch buckets up to the watermark, realtime after it. */
export async function mergedSeries(pool: Pool, metric: Metric, grain: Grain, range: Range): Promise<SeriesAnswer> {
  const { watermark, points } = await merged(pool, metric, grain, range, false);
  const totals = { batch: 0, realtime: 0, all: 0 };
  for (const p of points) {
    totals[p.source] += p.value;
    totals.all += p.value;
  }
  return { watermark, points: points.filter((p) => p.value > 0), totals };
}

/** Events by type over the range, each bucket from the layer that answers it. */
export async function mergedEventBreakdown(pool: Pool, grain: Grain, range: Range) {
  const { watermark, points } = await merged(pool, 'events', grain, range, true);
  return { watermark, rows: breakdown(points) };
}
