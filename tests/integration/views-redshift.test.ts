import { randomUUID } from 'node:crypto';
import type { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBatchActivities, type BatchDeps } from '../../activities/batch';
import type { StreamRecord } from '../../adapters/kinesis';
import { inTransaction } from '../../adapters/postgres';
import { formatTstamp, toEnrichedTsv } from '../../codecs/enriched-tsv';
import { makeLogger } from '../../observability/logger';
import { buildServingApp } from '../../serving/app';
import { applyViewDelta, realtimeViewsProcessor } from '../../speed/realtime-views';
import type { BatchViewsStore } from '../../views/batch-views-store';
import { makeBatchViewsStore } from '../../views/make-batch-views-store';
import { floorTo, viewDelta, viewEventOf, type ViewEvent } from '../../views/definitions';
import type { WarehouseLoader } from '../../warehouse/loader';
import { executeStatement, fetchRows, makeRedshiftDataClient, type RedshiftTarget, redshiftTarget } from '../../warehouse/redshift-data';
import { type RedshiftLocal, redshiftLocalFromConfig } from '../../warehouse/redshift-local/server';
import { runActivity } from '../helpers/speed';
import { useStandins } from '../helpers/rig';

// warehouse.kind=redshift after the load: the views step recomputes the batch views and moves the
// watermark in Redshift (the local Data API endpoint, strict: PostgreSQL-only SQL is refused),
// then retires the realtime rows in the sluice PostgreSQL; the serving API merges Redshift's batch
// views with PostgreSQL's realtime views. Every Redshift read and write goes through the official
// @aws-sdk/client-redshift-data client.

const rig = useStandins({ postgres: true, env: { SLUICE_WAREHOUSE__KIND: 'redshift', SLUICE_WAREHOUSE__REDSHIFT__POLL_MS: '50' } });
let endpoint: RedshiftLocal;
let client: RedshiftDataClient;
let target: RedshiftTarget;
let views: BatchViewsStore;
const log = makeLogger('test', 'silent');

beforeAll(async () => {
  endpoint = await redshiftLocalFromConfig(rig.config, makeLogger('test-redshift-local', 'warn'), { strict: true });
  client = makeRedshiftDataClient(rig.config);
  target = redshiftTarget(rig.config);
  views = makeBatchViewsStore(rig.config, rig.pool, log);
});

afterAll(async () => {
  await views?.close();
  client?.destroy();
  await endpoint?.close();
});

const redshift = async (sql: string, params?: { name: string; value: string }[]) => fetchRows(client, (await executeStatement(client, target, sql, params, { pollMs: 25 })).Id!);

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const MIN = 60_000;
const HOUR = 3_600_000;
const STREAM = 'sluice-enriched';
const SHARD = 'shardId-000000000000';
const at = (ms: number) => new Date(ms).toISOString();

interface TestEvent { event_id: string; ms: number; event: string; event_name: string; domain_userid: string; network_userid: string; domain_sessionid: string; event_fingerprint: string }

// Three hours of events; the batch has loaded the first two (its window), the speed layer has all three.
const corpus: TestEvent[] = [];
for (let i = 0; i < 240; i++) {
  const name = ['page_view', 'page_view', 'link_click', 'add_to_cart'][i % 4];
  corpus.push({
    event_id: randomUUID(),
    ms: T0 + Math.floor((i * 3 * HOUR) / 240) + (i % 7) * 1_000,
    event: name === 'page_view' ? 'page_view' : 'unstruct',
    // Every tenth event has only a network_userid; every sixth no session.
    event_name: i % 8 === 3 ? '' : name,
    domain_userid: i % 10 === 0 ? '' : `user-${i % 7}`,
    network_userid: i % 10 === 0 ? `net-${i % 3}` : '',
    domain_sessionid: i % 6 === 0 ? '' : `session-${i % 5}`,
    event_fingerprint: randomUUID().replace(/-/g, ''),
  });
}
const loaded = corpus.filter((e) => e.ms < T0 + 2 * HOUR);
const batchWindow = { from: T0, to: T0 + 2 * HOUR - 1 };
const WATERMARK = T0 + 90 * MIN; // mid-hour: the second hour stays realtime
const LATENESS = 2_000;

const fields = (e: TestEvent) => ({
  app_id: 'views-rs', platform: 'web', event_id: e.event_id, collector_tstamp: formatTstamp(e.ms), event: e.event, event_name: e.event_name,
  domain_userid: e.domain_userid, network_userid: e.network_userid, domain_sessionid: e.domain_sessionid, event_fingerprint: e.event_fingerprint,
  v_collector: 'c', v_etl: 'e',
});
const viewEvent = (e: TestEvent): ViewEvent => viewEventOf(fields(e), e.ms);

let seq = 49_000_000_000_000_000_000_000_000_000_000_000_000_000_000n;
function record(e: TestEvent): StreamRecord {
  seq += 7n;
  return { sequenceNumber: seq.toString(), partitionKey: 'pk', data: Buffer.from(toEnrichedTsv(fields(e))), arrivalMs: Date.now() };
}

/** Inserts events into Redshift's atomic.events with one parameterised multi-row INSERT per chunk. */
async function loadIntoRedshift(events: TestEvent[]): Promise<void> {
  const cols = Object.keys(fields(events[0]));
  for (let i = 0; i < events.length; i += 40) {
    const chunk = events.slice(i, i + 40);
    const params: { name: string; value: string }[] = [];
    const rows = chunk.map((e, r) => {
      const f = fields(e) as Record<string, string>;
      return `(${cols.map((c) => {
        params.push({ name: `${c}_${r}`, value: f[c] });
        return c === 'collector_tstamp' ? `CAST(:${c}_${r} AS TIMESTAMP)` : `:${c}_${r}`;
      }).join(', ')})`;
    });
    // The Data API refuses an empty parameter value: empty fields go in as '' literals.
    const sql = `INSERT INTO "atomic"."events" (${cols.map((c) => `"${c}"`).join(', ')}) VALUES ${rows.join(', ')}`;
    const empty = new Set(params.filter((p) => p.value === '').map((p) => p.name));
    const text = empty.size ? sql.replace(/:(\w+)/g, (m, n: string) => (empty.has(n) ? "''" : m)) : sql;
    await executeStatement(client, target, text, params.filter((p) => !empty.has(p.name)), { pollMs: 25 });
  }
}

function expectedBatchRows(events: TestEvent[]) {
  const { counts, members } = viewDelta(events.map(viewEvent));
  const ev = counts.map((c) => [c.grain, at(c.bucket), c.eventName, c.count]);
  const uniques = new Map<string, [string, string, number, number]>();
  for (const c of counts) uniques.set(`${c.grain}|${c.bucket}`, [c.grain, at(c.bucket), 0, 0]);
  for (const m of members) uniques.get(`${m.grain}|${m.bucket}`)![m.kind === 'user' ? 2 : 3]++;
  const order = (a: unknown[], b: unknown[]) => JSON.stringify(a).localeCompare(JSON.stringify(b));
  return { events: ev.sort(order), uniques: [...uniques.values()].sort(order) };
}

async function redshiftBatchRows() {
  const order = (a: unknown[], b: unknown[]) => JSON.stringify(a).localeCompare(JSON.stringify(b));
  const ts = (v: unknown) => at(Date.parse(`${String(v).replace(' ', 'T')}Z`));
  const events = await redshift('SELECT "grain", "bucket", "event_name", "events", "run_id" FROM "sluice"."batch_view_events"');
  const uniques = await redshift('SELECT "grain", "bucket", "users", "sessions" FROM "sluice"."batch_view_uniques"');
  return {
    events: events.map((r) => [r.grain, ts(r.bucket), r.event_name, Number(r.events)]).sort(order),
    uniques: uniques.map((r) => [r.grain, ts(r.bucket), Number(r.users), Number(r.sessions)]).sort(order),
    runIds: [...new Set(events.map((r) => r.run_id))],
  };
}

const activities = () => createBatchActivities({
  pool: rig.pool, latenessMs: LATENESS, views, loader: { dialect: 'redshift' } as unknown as WarehouseLoader,
} as unknown as BatchDeps);

describe('batch views on Redshift (local Data API endpoint)', () => {
  beforeAll(async () => {
    // The speed layer saw every event (PostgreSQL); the batch run loaded two hours into Redshift.
    const proc = realtimeViewsProcessor(rig.pool);
    let after: string | undefined;
    for (let i = 0; i < corpus.length; i += 60) after = await proc.process(corpus.slice(i, i + 60).map(record), { stream: STREAM, shardId: SHARD, after }, {});
    await views.readWatermark(); // creates the Redshift tables (atomic.events among them)
    await loadIntoRedshift(loaded);
  });

  it('recomputes the views and moves the watermark in Redshift, then retires realtime rows in PostgreSQL', async () => {
    expect(views.warehouse).toBe('redshift');
    expect(await views.countEvents({ appId: 'views-rs' })).toBe(loaded.length);
    expect(await views.countEvents({ from: T0, to: T0 + HOUR })).toBe(corpus.filter((e) => e.ms < T0 + HOUR).length);
    expect(await views.readWatermark()).toBeNull();

    const completeThroughMs = [WATERMARK + LATENESS + 30_000, WATERMARK + LATENESS + 45_000];
    const result = await runActivity(activities().computeBatchViews, { runId: 'run-rs-1', window: batchWindow, completeThroughMs });
    const expected = expectedBatchRows(loaded);
    expect(result).toEqual({ watermark: WATERMARK, rows: expected.events.length + expected.uniques.length });

    // In Redshift: the views of the window's buckets and the one watermark row.
    const rows = await redshiftBatchRows();
    expect(rows.events).toEqual(expected.events);
    expect(rows.uniques).toEqual(expected.uniques);
    expect(rows.runIds).toEqual(['run-rs-1']);
    expect(await redshift('SELECT "id", "watermark", "run_id" FROM "sluice"."batch_watermark"')).toEqual([{ id: 1, watermark: formatTstamp(WATERMARK).replace('.000', ''), run_id: 'run-rs-1' }]);

    // Nothing went to PostgreSQL's batch tables; its realtime rows below the watermark are retired.
    for (const t of ['batch_view_events', 'batch_view_uniques', 'batch_watermark']) {
      expect((await rig.pool.query(`SELECT count(*)::int AS n FROM "sluice"."${t}"`)).rows[0].n, t).toBe(0);
    }
    const min = async (grain: string) => (await rig.pool.query(`SELECT min("bucket") AS m FROM "sluice"."realtime_view_events" WHERE "grain" = $1`, [grain])).rows[0].m.getTime();
    expect(await min('minute')).toBe(floorTo('minute', corpus.find((e) => e.ms >= WATERMARK)!.ms));
    expect(await min('hour')).toBe(T0 + HOUR);

    // A retried attempt (same run) and a run whose sinks lag behind change nothing.
    await runActivity(activities().computeBatchViews, { runId: 'run-rs-1', window: batchWindow, completeThroughMs });
    expect(await runActivity(activities().computeBatchViews, { runId: 'run-rs-2', window: {}, completeThroughMs: [T0 + 10 * MIN] })).toEqual({ watermark: WATERMARK, rows: 0 });
    expect(await redshiftBatchRows()).toEqual(rows);
    expect(await views.readWatermark()).toBe(WATERMARK);
  });

  it('serves merged answers: Redshift batch views up to the watermark, PostgreSQL realtime views after it', async () => {
    const app = buildServingApp(rig.pool, log, { warehouse: views });
    const get = async (url: string) => {
      const res = await app.inject({ url });
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    };
    const q = `from=${at(T0)}&to=${at(T0 + 3 * HOUR)}`;
    const beforeWm = corpus.filter((e) => e.ms < WATERMARK).length;

    const minutes = await get(`/v1/series?metric=events&grain=minute&${q}`);
    expect(minutes.watermark).toBe(at(WATERMARK));
    expect(minutes.totals).toEqual({ batch: beforeWm, realtime: corpus.length - beforeWm, all: corpus.length });
    for (const p of minutes.points) expect(p.source).toBe(Date.parse(p.bucket) < WATERMARK ? 'batch' : 'realtime');
    const perMinute = new Map<string, number>();
    for (const e of corpus) perMinute.set(at(floorTo('minute', e.ms)), (perMinute.get(at(floorTo('minute', e.ms))) ?? 0) + 1);
    expect(minutes.points.map((p: { bucket: string; value: number }) => [p.bucket, p.value])).toEqual([...perMinute.entries()]);

    // Distinct users per hour: the first hour from Redshift, the straddling and the last from realtime.
    const users = await get(`/v1/series?metric=unique_users&grain=hour&${q}`);
    const hourUsers = [0, 1, 2].map((h) => new Set(corpus.filter((e) => floorTo('hour', e.ms) === T0 + h * HOUR).map((e) => viewEvent(e).user).filter(Boolean)).size);
    expect(users.points.map((p: { source: string; value: number }) => [p.source, p.value])).toEqual([['batch', hourUsers[0]], ['realtime', hourUsers[1]], ['realtime', hourUsers[2]]]);
    const pageViews = await get(`/v1/series?metric=page_views&grain=hour&${q}`);
    expect(pageViews.totals.all).toBe(corpus.filter((e) => e.event_name === 'page_view').length);

    const breakdown = await get(`/v1/breakdown/events?grain=hour&${q}`);
    const names = [...new Set(corpus.map((e) => viewEvent(e).eventName))];
    const expected = names.map((name) => {
      const of = corpus.filter((e) => viewEvent(e).eventName === name);
      const batch = of.filter((e) => e.ms < T0 + HOUR).length;
      return { eventName: name, events: of.length, batch, realtime: of.length - batch };
    }).sort((a, b) => b.events - a.events || a.eventName.localeCompare(b.eventName));
    expect(breakdown.rows).toEqual(expected);

    const counts = await get(`/v1/counts/minutes?${q}`);
    expect(counts.totals).toEqual(minutes.totals);
    await app.close();
  });

  it('a crash between the Redshift commit and the retirement leaves realtime rows the merge ignores; the next views step retires them', async () => {
    // Realtime rows below the watermark again, as if the retirement had not run.
    const stale = corpus.filter((e) => e.ms < T0 + 30 * MIN).map(viewEvent);
    await inTransaction(rig.pool, (c) => applyViewDelta(c, stale));
    const app = buildServingApp(rig.pool, log, { warehouse: views });
    const series = (await app.inject({ url: `/v1/series?metric=events&grain=minute&from=${at(T0)}&to=${at(T0 + 3 * HOUR)}` })).json();
    expect(series.totals.all).toBe(corpus.length);
    expect(series.points.filter((p: { bucket: string; source: string }) => Date.parse(p.bucket) < WATERMARK && p.source !== 'batch')).toEqual([]);
    await app.close();

    await runActivity(activities().computeBatchViews, { runId: 'run-rs-3', window: {}, completeThroughMs: [] });
    const { rows } = await rig.pool.query(`SELECT count(*)::int AS n FROM "sluice"."realtime_view_events" WHERE "grain" = 'minute' AND "bucket" < $1`, [at(WATERMARK)]);
    expect(rows[0].n).toBe(0);
  });
});
