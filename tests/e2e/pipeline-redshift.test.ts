import type { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRunId, runBatch } from '../../cli/batch';
import { fetchMergedCounts, waitFor, waitForRawSink } from '../../cli/probes';
import { sendTrackerEvents } from '../../cli/send-events';
import { executeStatement, fetchRows, makeRedshiftDataClient, redshiftTarget, type RedshiftTarget } from '../../warehouse/redshift-data';
import { startE2eStack, type E2eStack } from '../helpers/e2e-stack';

// The same exactly-once walk as the default pipeline test, with warehouse.kind=redshift: the
// dripfeed, the batch load, the batch views and the watermark go to Redshift through the Data API
// (the official client, against the local endpoint `sluice up` starts on the local PostgreSQL);
// the serving API merges Redshift's batch views with PostgreSQL's realtime views. Every count of
// the warehouse is read back through the Data API.

const DAY = 24 * 3600_000;
const quiet = () => {};

let e2e: E2eStack;
let redshift: RedshiftDataClient;
let target: RedshiftTarget;

beforeAll(async () => {
  e2e = await startE2eStack('e2e-redshift', { SLUICE_WAREHOUSE__KIND: 'redshift' }, 2);
  redshift = makeRedshiftDataClient(e2e.config);
  target = redshiftTarget(e2e.config);
});

afterAll(async () => {
  redshift?.destroy();
  await e2e?.stop();
});

async function warehouseRows(sql: string, params: { name: string; value: string }[] = []) {
  const d = await executeStatement(redshift, target, sql, params, { pollMs: 100 });
  return fetchRows(redshift, d.Id!);
}

async function countEvents(appId: string): Promise<{ rows: number; ids: number }> {
  const [r] = await warehouseRows('SELECT COUNT(*) AS "n", COUNT(DISTINCT "event_id") AS "ids" FROM "atomic"."events" WHERE "app_id" = :app', [{ name: 'app', value: appId }]);
  return { rows: Number(r.n), ids: Number(r.ids) };
}

const merged = () => {
  const now = Date.now();
  return fetchMergedCounts(e2e.stack.urls.serving, now - DAY, now + DAY);
};

describe('walking skeleton, warehouse.kind=redshift (local Data API endpoint)', () => {
  it('dripfeeds, loads, computes views and serves every tracker event exactly once through Redshift', async () => {
    const appId = 'e2e-redshift';
    const sent = await sendTrackerEvents({ collectorUrl: e2e.stack.urls.collector, appId, count: 120 });
    expect(sent.failedRequests).toBe(0);
    await waitFor('realtime views', async () => ((await merged()).totals.all >= 120 ? true : undefined), 90_000, 300);
    const before = await merged();
    expect(before.totals).toEqual({ batch: 0, realtime: 120, all: 120 });
    // The dripfeed has them in Redshift's atomic.events before any batch run, each once.
    await waitFor('the dripfeed into Redshift', async () => ((await countEvents(appId)).rows >= 120 ? true : undefined), 90_000, 500);
    expect(await countEvents(appId)).toEqual({ rows: 120, ids: 120 });
    // …and not in PostgreSQL's.
    const pgRows = await e2e.pool.query(`SELECT count(*)::int AS n FROM "atomic"."events"`).then((r) => r.rows[0].n as number, () => 0);
    expect(pgRows).toBe(0);

    // Past the next minute (and the lateness), so the batch's watermark covers every event's minute.
    const nextMinute = Math.floor(Date.now() / 60_000) * 60_000 + 60_000;
    await new Promise((r) => setTimeout(r, Math.max(0, nextMinute + e2e.config.batch.latenessMs + 500 - Date.now())));
    await waitForRawSink(e2e.config, nextMinute + e2e.config.batch.latenessMs);
    const { result } = await runBatch(e2e.temporal.client, e2e.config, newRunId(), quiet);
    expect(result.step).toBe('done');
    expect(result.loaded).toBe(120);
    // The batch won: the same events, once each.
    expect(await countEvents(appId)).toEqual({ rows: 120, ids: 120 });
    const shredded = await warehouseRows(`SELECT COUNT(*) AS "n" FROM "sluice"."load_manifest" WHERE "run_id" = :run`, [{ name: 'run', value: result.runId }]);
    expect(Number(shredded[0].n)).toBe(1);

    // Views and watermark are in Redshift, and the serving API answers from them.
    const [wm] = await warehouseRows('SELECT "watermark" FROM "sluice"."batch_watermark" WHERE "id" = 1');
    expect(wm?.watermark).toBeTruthy();
    const views = await warehouseRows(`SELECT SUM("events") AS "n" FROM "sluice"."batch_view_events" WHERE "grain" = 'minute'`);
    expect(Number(views[0].n)).toBeGreaterThan(0);
    const after = await merged();
    expect(after.totals.all).toBe(120);
    expect(after.watermark).not.toBeNull();
    // Every event is answered from Redshift's batch views now, none from the realtime views.
    expect(after.totals).toEqual({ batch: 120, realtime: 0, all: 120 });
    expect(after.points.map((p) => [p.minute, p.count])).toEqual(before.points.map((p) => [p.minute, p.count]));
    const watermark = Date.parse(after.watermark!);
    for (const p of after.points) expect(p.source).toBe(Date.parse(p.minute) + 60_000 <= watermark ? 'batch' : 'realtime');
  });
});
