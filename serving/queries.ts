import type { Pool } from '../adapters/postgres';
import { mergeAtWatermark, type MergedSeries, type MinuteCount } from '../views/minute-counts';

// Reads both views and merges them at the watermark; the merge itself is the pure function.

export async function mergedMinuteCounts(pool: Pool, range: { from: number; to: number }): Promise<MergedSeries> {
  const params = [new Date(range.from), new Date(range.to)];
  const [batch, realtime, wm] = await Promise.all([
    pool.query('SELECT "minute", "event_count" FROM "sluice"."batch_minute_counts" WHERE "minute" >= $1 AND "minute" < $2', params),
    pool.query('SELECT "minute", "event_count" FROM "sluice"."realtime_minute_counts" WHERE "minute" >= $1 AND "minute" < $2', params),
    pool.query('SELECT "watermark" FROM "sluice"."batch_watermark" WHERE "id" = 1'),
  ]);
  const rows = (r: { rows: { minute: Date; event_count: number }[] }): MinuteCount[] =>
    r.rows.map((x) => ({ minute: x.minute.getTime(), count: Number(x.event_count) }));
  const watermark = wm.rowCount ? (wm.rows[0].watermark as Date).getTime() : null;
  return mergeAtWatermark(rows(batch), rows(realtime), watermark, range);
}
