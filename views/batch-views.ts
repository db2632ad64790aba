import type { PoolClient } from 'pg';
import { GRAIN_MS, GRAINS, floorTo } from './definitions';

// The batch views, recomputed from atomic.events for every bucket a run's window touches. The SQL
// is the same definition as views/definitions.ts (event name, user key, session key), so batch and
// realtime agree on any window both have seen completely.

const EVENT_NAME = `COALESCE(NULLIF("event_name", ''), NULLIF("event", ''), 'unknown')`;
const USER_KEY = `COALESCE(NULLIF("domain_userid", ''), NULLIF("network_userid", ''))`;
const SESSION_KEY = `NULLIF("domain_sessionid", '')`;

// atomic.events rows are wide (~130 columns): the window is read once into this narrow session
// table, and every grain's aggregates come from it.
const SOURCE = 'pg_temp."sluice_view_source"';

const iso = (ms: number) => new Date(ms).toISOString();

/** Replaces the batch view rows of every bucket overlapping [from, to]; returns the rows written. */
export async function recomputeBatchViews(client: PoolClient, window: { from: number; to: number }, runId: string): Promise<number> {
  const ranges = GRAINS.map((grain) => ({ grain, from: floorTo(grain, window.from), to: floorTo(grain, window.to) + GRAIN_MS[grain] }));
  const from = Math.min(...ranges.map((r) => r.from));
  const to = Math.max(...ranges.map((r) => r.to));
  await client.query(`DROP TABLE IF EXISTS ${SOURCE}`);
  await client.query(
    `CREATE TEMPORARY TABLE "sluice_view_source" AS
     SELECT "collector_tstamp" AS "t", ${EVENT_NAME} AS "event_name", ${USER_KEY} AS "user_key", ${SESSION_KEY} AS "session_key"
     FROM "atomic"."events" WHERE "collector_tstamp" >= $1 AND "collector_tstamp" < $2`,
    [iso(from), iso(to)],
  );
  let written = 0;
  for (const r of ranges) {
    const params = [r.grain, iso(r.from), iso(r.to), runId];
    const range = `"grain" = $1 AND "bucket" >= $2 AND "bucket" < $3`;
    const source = `FROM ${SOURCE} WHERE "t" >= $2 AND "t" < $3`;
    await client.query(`DELETE FROM "sluice"."batch_view_events" WHERE ${range}`, params.slice(0, 3));
    await client.query(`DELETE FROM "sluice"."batch_view_uniques" WHERE ${range}`, params.slice(0, 3));
    const events = await client.query(
      `INSERT INTO "sluice"."batch_view_events" ("grain", "bucket", "event_name", "events", "run_id")
       SELECT $1, date_trunc($1, "t"), "event_name", count(*), $4 ${source} GROUP BY 2, 3`,
      params,
    );
    const uniques = await client.query(
      `INSERT INTO "sluice"."batch_view_uniques" ("grain", "bucket", "users", "sessions", "run_id")
       SELECT $1, date_trunc($1, "t"), count(DISTINCT "user_key"), count(DISTINCT "session_key"), $4 ${source} GROUP BY 2`,
      params,
    );
    written += (events.rowCount ?? 0) + (uniques.rowCount ?? 0);
  }
  // On an error the caller's transaction rolls the table back with everything else.
  await client.query(`DROP TABLE ${SOURCE}`);
  return written;
}
