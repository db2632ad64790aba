import type { PoolClient } from 'pg';
import { GRAIN_MS, GRAINS, floorTo } from './definitions';

// The batch views, recomputed from atomic.events for every bucket a run's window touches. The SQL
// is the same definition as views/definitions.ts (event name, user key, session key), so batch and
// realtime agree on any window both have seen completely.

const EVENT_NAME = `COALESCE(NULLIF("event_name", ''), NULLIF("event", ''), 'unknown')`;
const USER_KEY = `COALESCE(NULLIF("domain_userid", ''), NULLIF("network_userid", ''))`;
const SESSION_KEY = `NULLIF("domain_sessionid", '')`;

const iso = (ms: number) => new Date(ms).toISOString();

/** Replaces the batch view rows of every bucket overlapping [from, to]; returns the rows written. */
export async function recomputeBatchViews(client: PoolClient, window: { from: number; to: number }, runId: string): Promise<number> {
  let written = 0;
  for (const grain of GRAINS) {
    const params = [grain, iso(floorTo(grain, window.from)), iso(floorTo(grain, window.to) + GRAIN_MS[grain]), runId];
    const range = `"grain" = $1 AND "bucket" >= $2 AND "bucket" < $3`;
    const source = `FROM "atomic"."events" WHERE "collector_tstamp" >= $2 AND "collector_tstamp" < $3`;
    await client.query(`DELETE FROM "sluice"."batch_view_events" WHERE ${range}`, params.slice(0, 3));
    await client.query(`DELETE FROM "sluice"."batch_view_uniques" WHERE ${range}`, params.slice(0, 3));
    const events = await client.query(
      `INSERT INTO "sluice"."batch_view_events" ("grain", "bucket", "event_name", "events", "run_id")
       SELECT $1, date_trunc($1, "collector_tstamp"), ${EVENT_NAME}, count(*), $4 ${source} GROUP BY 2, 3`,
      params,
    );
    const uniques = await client.query(
      `INSERT INTO "sluice"."batch_view_uniques" ("grain", "bucket", "users", "sessions", "run_id")
       SELECT $1, date_trunc($1, "collector_tstamp"), count(DISTINCT ${USER_KEY}), count(DISTINCT ${SESSION_KEY}), $4 ${source} GROUP BY 2`,
      params,
    );
    written += (events.rowCount ?? 0) + (uniques.rowCount ?? 0);
  }
  return written;
}
