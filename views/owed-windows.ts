import type { Pool, PoolClient } from '../adapters/postgres';

// Owed windows: a batch run whose load an operator skipped leaves its window owed. Until a
// reprocess loads it, the merge answers the buckets it touches from the realtime views (even below
// the watermark) and the views step never retires their realtime rows; the reprocess that loads
// the window clears it in the transaction that replaces the window. Kept in PostgreSQL, beside the
// realtime views whatever the warehouse, since both the retirement and the merge read it.

export interface OwedWindow {
  runId: string;
  /** Epoch ms, inclusive. */
  from: number;
  /** Epoch ms, exclusive. */
  to: number;
  reason: string;
}

const TABLE = '"sluice"."owed_windows"';

/** SQL condition: the bucket [bucket, bucket + grain) of a row overlaps no owed window. */
export const NOT_OWED_BUCKET = `NOT EXISTS (SELECT 1 FROM ${TABLE} "o"
  WHERE "o"."window_from" < "bucket" + CASE "grain" WHEN 'minute' THEN interval '1 minute' ELSE interval '1 hour' END
    AND "o"."window_to" > "bucket")`;

/** Whether the bucket [bucket, bucket + size) overlaps an owed window. Pure. */
export function isOwed(bucket: number, sizeMs: number, owed: readonly { from: number; to: number }[]): boolean {
  return owed.some((w) => w.from < bucket + sizeMs && w.to > bucket);
}

type Queryable = Pool | PoolClient;

export async function readOwedWindows(db: Queryable): Promise<OwedWindow[]> {
  const { rows } = await db.query<{ run_id: string; window_from: Date; window_to: Date; reason: string }>(
    `SELECT "run_id", "window_from", "window_to", "reason" FROM ${TABLE} ORDER BY "window_from", "run_id"`,
  );
  return rows.map((r) => ({ runId: r.run_id, from: r.window_from.getTime(), to: r.window_to.getTime(), reason: r.reason }));
}

/** Idempotent per run: a retried activity records the same window once. */
export async function recordOwedWindow(db: Queryable, w: OwedWindow): Promise<void> {
  await db.query(
    `INSERT INTO ${TABLE} ("run_id", "window_from", "window_to", "reason") VALUES ($1, $2, $3, $4)
     ON CONFLICT ("run_id") DO UPDATE SET "window_from" = EXCLUDED."window_from", "window_to" = EXCLUDED."window_to", "reason" = EXCLUDED."reason"`,
    [w.runId, new Date(w.from).toISOString(), new Date(w.to).toISOString(), w.reason],
  );
}

/** Clears the owed windows that `window` covers entirely (the reprocess loaded them); returns their run ids. */
export async function clearOwedWithin(client: PoolClient, window: { from: number; to: number }): Promise<string[]> {
  const { rows } = await client.query<{ run_id: string }>(
    `DELETE FROM ${TABLE} WHERE "window_from" >= $1 AND "window_to" <= $2 RETURNING "run_id"`,
    [new Date(window.from).toISOString(), new Date(window.to).toISOString()],
  );
  return rows.map((r) => r.run_id).sort();
}
