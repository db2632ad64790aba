import type { PoolClient } from 'pg';
import { GRAIN_MS, GRAINS, floorTo, type Grain } from './definitions';

// The batch views, recomputed from atomic.events for every bucket a run's window touches. The SQL
// is the same definition as views/definitions.ts (event name, user key, session key), so batch and
// realtime agree on any window both have seen completely.

export const EVENT_NAME = `COALESCE(NULLIF("event_name", ''), NULLIF("event", ''), 'unknown')`;
export const USER_KEY = `COALESCE(NULLIF("domain_userid", ''), NULLIF("network_userid", ''))`;
export const SESSION_KEY = `NULLIF("domain_sessionid", '')`;

// atomic.events rows are wide (~130 columns), so the window is read once, into per-minute
// aggregates: events per event name, and the distinct users and sessions as (minute, member)
// pairs. Every grain rolls up from them: counts add up, and a member of an hour is a member of
// one of its minutes. One scan with three hash aggregates instead of a sort per distinct count.
const MINUTES = 'pg_temp."sluice_view_minutes"';
// GROUPING(event name, user, session) of each grouping set: the bits of the keys it leaves out.
const SET = { events: 3, users: 5, sessions: 6 } as const;

const iso = (ms: number) => new Date(ms).toISOString();

/** Per grain, the buckets [from, to) overlapping the window [from, to] (both warehouses recompute these). */
export function viewRanges(window: { from: number; to: number }): { grain: Grain; from: number; to: number }[] {
  return GRAINS.map((grain) => ({ grain, from: floorTo(grain, window.from), to: floorTo(grain, window.to) + GRAIN_MS[grain] }));
}

/** Replaces the batch view rows of every bucket overlapping [from, to]; returns the rows written. */
export async function recomputeBatchViews(client: PoolClient, window: { from: number; to: number }, runId: string): Promise<number> {
  const ranges = viewRanges(window);
  const from = Math.min(...ranges.map((r) => r.from));
  const to = Math.max(...ranges.map((r) => r.to));
  // The pairs of a busy hour outgrow the default 4 MB of work_mem; this transaction only.
  await client.query(`SET LOCAL "work_mem" = '256MB'`);
  await client.query(`DROP TABLE IF EXISTS ${MINUTES}`);
  await client.query(
    `CREATE TEMPORARY TABLE "sluice_view_minutes" AS
     SELECT date_trunc('minute', "collector_tstamp") AS "minute", GROUPING(${EVENT_NAME}, ${USER_KEY}, ${SESSION_KEY}) AS "set",
            ${EVENT_NAME} AS "event_name", ${USER_KEY} AS "user_key", ${SESSION_KEY} AS "session_key", count(*) AS "events"
     FROM "atomic"."events" WHERE "collector_tstamp" >= $1 AND "collector_tstamp" < $2
     GROUP BY GROUPING SETS ((date_trunc('minute', "collector_tstamp"), ${EVENT_NAME}),
                             (date_trunc('minute', "collector_tstamp"), ${USER_KEY}),
                             (date_trunc('minute', "collector_tstamp"), ${SESSION_KEY}))`,
    [iso(from), iso(to)],
  );
  let written = 0;
  for (const r of ranges) {
    const params = [r.grain, iso(r.from), iso(r.to), runId];
    const range = `"grain" = $1 AND "bucket" >= $2 AND "bucket" < $3`;
    const source = `FROM ${MINUTES} WHERE "minute" >= $2 AND "minute" < $3`;
    await client.query(`DELETE FROM "sluice"."batch_view_events" WHERE ${range}`, params.slice(0, 3));
    await client.query(`DELETE FROM "sluice"."batch_view_uniques" WHERE ${range}`, params.slice(0, 3));
    const events = await client.query(
      `INSERT INTO "sluice"."batch_view_events" ("grain", "bucket", "event_name", "events", "run_id")
       SELECT $1, date_trunc($1, "minute"), "event_name", sum("events"), $4 ${source} AND "set" = ${SET.events} GROUP BY 2, 3`,
      params,
    );
    // Every bucket with events gets a row (members may be 0), as count(DISTINCT) over the events would.
    const uniques = await client.query(
      `INSERT INTO "sluice"."batch_view_uniques" ("grain", "bucket", "users", "sessions", "run_id")
       SELECT $1, date_trunc($1, "minute"),
              count(DISTINCT "user_key") FILTER (WHERE "set" = ${SET.users}),
              count(DISTINCT "session_key") FILTER (WHERE "set" = ${SET.sessions}), $4
       ${source} GROUP BY 2`,
      params,
    );
    written += (events.rowCount ?? 0) + (uniques.rowCount ?? 0);
  }
  // On an error the caller's transaction rolls the table back with everything else.
  await client.query(`DROP TABLE ${MINUTES}`);
  return written;
}
