import { execFileSync } from 'node:child_process';
import type { Client, Connection, WorkflowHandle } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../adapters/object-store';
import type { Pool } from '../../adapters/postgres';
import { writeRawFiles } from '../../bench/raw-files';
import { newRunId, runBatch } from '../../cli/batch';
import { waitFor, waitForRawSink } from '../../cli/probes';
import { followReprocess, operatorHandle, requestReprocess } from '../../cli/operator';
import { findTemporalCli } from '../../stack/standins';
import { statusQuery } from '../../workflows/operator';
import { runCommand } from '../../cli/runs';
import { sendTrackerEvents } from '../../cli/send-events';
import type { SluiceConfig } from '../../config';
import type { Stack } from '../../stack/stack';
import { workflowIds } from '../../temporal.config';
import { quoteIdent } from '../../warehouse/sql';
import { batchRunWorkflow, progressQuery } from '../../workflows/batch-run';
import { startE2eStack, type E2eStack } from '../helpers/e2e-stack';

// The batch layer end to end on one Stack of real stand-ins: tracker events through a batch run
// field for field (atomic.events, shredded tables, batch views against realtime views); the
// worker killed in every step, the warehouse stopped during load (the run parks until an
// operator's retry), a step retried twice; and a window reprocessed twice.

const quiet = () => {};
const STARTED = proto.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
const SP = 'com_snowplowanalytics_snowplow';
const LINK_CLICK = `${SP}_link_click_1`;
const WEB_PAGE = `${SP}_web_page_1`;
const CLIENT_SESSION = `${SP}_client_session_1`;

let config: SluiceConfig;
let stack: Stack;
let pool: Pool;
let store: ObjectStore;
let temporal: { client: Client; connection: Connection };

let e2e: E2eStack | undefined;

beforeAll(async () => {
  e2e = await startE2eStack('e2e-batch', {}, 4);
  ({ config, stack, pool, store, temporal } = e2e);
});

afterAll(async () => {
  await e2e?.stop();
});

type Row = Record<string, unknown>;
const q = async (sql: string, params: unknown[] = []): Promise<Row[]> => (await pool.query(sql, params)).rows;
const ms = (v: unknown) => (v as Date).getTime();

async function countEvents(appId: string): Promise<{ rows: number; ids: number }> {
  const [r] = await q('SELECT count(*) AS n, count(DISTINCT "event_id") AS ids FROM "atomic"."events" WHERE "app_id" = $1', [appId]);
  return { rows: Number(r.n), ids: Number(r.ids) };
}

/** The shredded tables: those whose comment holds an Iglu URI. */
async function shreddedTables(): Promise<string[]> {
  const rows = await q(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'atomic' AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') LIKE 'iglu:%' ORDER BY 1`,
  );
  return rows.map((r) => String(r.name));
}

/** Rows and distinct root ids per shredded table, for the events of one app. */
async function shreddedCounts(appId: string): Promise<Record<string, { rows: number; ids: number }>> {
  const out: Record<string, { rows: number; ids: number }> = {};
  for (const t of await shreddedTables()) {
    const [r] = await q(
      `SELECT count(*) AS n, count(DISTINCT "root_id") AS ids FROM "atomic".${quoteIdent(t)}
       WHERE "root_id" IN (SELECT "event_id" FROM "atomic"."events" WHERE "app_id" = $1)`,
      [appId],
    );
    if (Number(r.n) > 0) out[t] = { rows: Number(r.n), ids: Number(r.ids) };
  }
  return out;
}

/**
 * Every event of `appId` exactly once in atomic.events and in the shredded tables. The direct raw
 * files (bench/batch.ts) carry per 10 events 2 link clicks, 4 web_page and 2 client_session contexts.
 */
async function expectExactlyOnce(appId: string, events: number): Promise<void> {
  expect(await countEvents(appId)).toEqual({ rows: events, ids: events });
  const shredded = await shreddedCounts(appId);
  for (const [table, c] of Object.entries(shredded)) expect(c.rows, `${table}: one row per entity`).toBe(c.ids);
  expect(shredded[LINK_CLICK]).toEqual({ rows: events / 5, ids: events / 5 });
  expect(shredded[WEB_PAGE]).toEqual({ rows: (2 * events) / 5, ids: (2 * events) / 5 });
  expect(shredded[CLIENT_SESSION]).toEqual({ rows: events / 5, ids: events / 5 });
}

function startRun(runId: string): Promise<WorkflowHandle<typeof batchRunWorkflow>> {
  return temporal.client.workflow.start(batchRunWorkflow, {
    workflowId: workflowIds.batchRun(runId),
    taskQueue: config.temporal.taskQueues.batch,
    args: [{ runId }],
  });
}

/** Waits until `activity` runs (STARTED) in attempt `attempt` (and, if asked, has heartbeated). */
async function waitForActivity(handle: WorkflowHandle, activity: string, opts: { attempt?: number; heartbeat?: boolean } = {}): Promise<void> {
  await waitFor(
    `${activity} attempt ${opts.attempt ?? 1} to run`,
    async () => {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      return pending.some(
        (a) => a.activityType?.name === activity && a.state === STARTED && (a.attempt ?? 1) >= (opts.attempt ?? 1)
          && (!opts.heartbeat || (a.heartbeatDetails?.payloads?.length ?? 0) > 0),
      ) ? true : undefined;
    },
    120_000,
    15,
  );
}

/** The attempt in which each completed activity of the run finished, by activity name. */
async function completedAttempts(handle: WorkflowHandle): Promise<Record<string, number[]>> {
  const events = (await handle.fetchHistory()).events ?? [];
  const byId = new Map(events.map((e) => [e.eventId?.toString(), e]));
  const out: Record<string, number[]> = {};
  for (const e of events) {
    const done = e.activityTaskCompletedEventAttributes;
    if (!done) continue;
    const name = byId.get(done.scheduledEventId?.toString())?.activityTaskScheduledEventAttributes?.activityType?.name ?? '?';
    const attempt = byId.get(done.startedEventId?.toString())?.activityTaskStartedEventAttributes?.attempt ?? 0;
    (out[name] ??= []).push(attempt);
  }
  return out;
}

const killWorkers = () => stack.processes.get('workers')!.kill('SIGKILL'); // the supervisor starts it again

// Snapshots for comparing warehouse states: every column but the load-time ones, in a fixed order.
const snapshotSql = (from: string, time: string) =>
  `SELECT (to_jsonb(t) - 'etl_tstamp' - 'load_tstamp')::text AS r FROM ${from} t WHERE ${quoteIdent(time)} >= $1 AND ${quoteIdent(time)} < $2 ORDER BY 1`;

async function warehouseSnapshot(window: { from: number; to: number }): Promise<Record<string, string[]>> {
  const params = [new Date(window.from), new Date(window.to)];
  const out: Record<string, string[]> = {};
  out.events = (await q(snapshotSql('"atomic"."events"', 'collector_tstamp'), params)).map((r) => String(r.r));
  for (const t of await shreddedTables()) out[t] = (await q(snapshotSql(`"atomic".${quoteIdent(t)}`, 'root_tstamp'), params)).map((r) => String(r.r));
  const hourFrom = new Date(Math.floor(window.from / 3_600_000) * 3_600_000);
  const views = `WHERE ("grain" = 'minute' AND "bucket" >= $1 AND "bucket" < $2) OR ("grain" = 'hour' AND "bucket" >= $3 AND "bucket" < $2)`;
  out.batch_view_events = (await q(`SELECT concat_ws('|', "grain", "bucket", "event_name", "events") AS r FROM "sluice"."batch_view_events" ${views} ORDER BY 1`, [...params, hourFrom])).map((r) => String(r.r));
  out.batch_view_uniques = (await q(`SELECT concat_ws('|', "grain", "bucket", "users", "sessions") AS r FROM "sluice"."batch_view_uniques" ${views} ORDER BY 1`, [...params, hourFrom])).map((r) => String(r.r));
  return out;
}

/** The window as the operator takes it: ISO times, `to` not in the future. */
const isoWindow = (w: { from: number; to: number }) => ({ from: new Date(w.from).toISOString(), to: new Date(Math.min(w.to, Date.now() - 1_000)).toISOString() });

const APP = 'bl-fields';
const TRACKED = 3_000;
let trackedWindow: { from: number; to: number } | undefined;

describe('batch layer', () => {
  it('loads tracker events field for field into atomic.events, the shredded tables and the batch views', async () => {
    const startedAt = Date.now();
    const sent: Row[] = [];
    const res = await sendTrackerEvents({ collectorUrl: stack.urls.collector, appId: APP, count: TRACKED, users: 40, onSent: (p) => sent.push(...p) });
    expect(res.failedRequests).toBe(0);
    expect(sent.length).toBe(TRACKED);
    // The speed layer has them all, so they are in the raw stream; then the raw sink is past them.
    await waitFor('the realtime views', async () => {
      const [r] = await q(`SELECT coalesce(sum("events"), 0) AS n FROM "sluice"."realtime_view_events" WHERE "grain" = 'minute'`);
      return Number(r.n) >= TRACKED ? true : undefined;
    }, 120_000, 300);
    await waitForRawSink(config, Date.now());
    // Read the realtime views before the batch watermark retires them.
    const realtimeEvents = await q(`SELECT "grain", "bucket", "event_name", "events" FROM "sluice"."realtime_view_events" ORDER BY 1, 2, 3`);
    const realtimeUniques = await q(
      `SELECT "grain", "bucket", count(*) FILTER (WHERE "kind" = 'user') AS "users", count(*) FILTER (WHERE "kind" = 'session') AS "sessions"
       FROM "sluice"."realtime_view_members" GROUP BY 1, 2 ORDER BY 1, 2`,
    );
    const batchStartedAt = Date.now();

    const { result, workflowId } = await runBatch(temporal.client, config, newRunId(), quiet);
    expect(result).toMatchObject({ step: 'done', status: 'completed', loaded: TRACKED, enriched: { good: TRACKED, bad: 0 } });
    expect(result.shredded?.tables).toMatchObject({
      'iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1': TRACKED / 3,
      'iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0': TRACKED / 3,
    });
    // What the Temporal UI lists next to the run.
    const memo = (await temporal.client.workflow.getHandle(workflowId).describe()).memo as Row;
    expect(memo).toMatchObject({ runId: result.runId, step: 'done', status: 'completed', window: { from: result.window!.from, to: result.window!.to } });

    // atomic.events, field for field against the tracker's own payloads.
    const rows = new Map((await q('SELECT * FROM "atomic"."events" WHERE "app_id" = $1', [APP])).map((r) => [String(r.event_id), r]));
    expect(rows.size).toBe(TRACKED);
    const eventType: Record<string, string> = { pv: 'page_view', se: 'struct', ue: 'unstruct' };
    const eventName: Record<string, [string, string, string]> = {
      pv: ['com.snowplowanalytics.snowplow', 'page_view', '1-0-0'],
      se: ['com.google.analytics', 'event', '1-0-0'],
      ue: ['com.snowplowanalytics.snowplow', 'link_click', '1-0-1'],
    };
    for (const p of sent) {
      const r = rows.get(String(p.eid));
      expect(r, `event ${p.eid}`).toBeDefined();
      const e = String(p.e);
      expect(r).toMatchObject({
        event: eventType[e], app_id: APP, platform: 'web', name_tracker: p.tna, v_tracker: p.tv,
        user_id: p.uid, domain_userid: p.duid, domain_sessionid: p.sid, domain_sessionidx: Number(p.vid),
        br_lang: 'en-GB', dvce_screenwidth: 1920, dvce_screenheight: 1080, user_ipaddress: '127.0.0.1',
        event_vendor: eventName[e][0], event_name: eventName[e][1], event_format: 'jsonschema', event_version: eventName[e][2],
      });
      expect(ms(r!.dvce_created_tstamp)).toBe(Number(p.dtm));
      const collector = ms(r!.collector_tstamp);
      expect(collector).toBeGreaterThanOrEqual(startedAt);
      expect(collector).toBeLessThanOrEqual(batchStartedAt);
      expect(collector).toBeGreaterThanOrEqual(Number(p.dtm));
      expect(ms(r!.dvce_sent_tstamp)).toBeGreaterThanOrEqual(Number(p.dtm));
      expect(ms(r!.etl_tstamp)).toBeGreaterThanOrEqual(batchStartedAt);
      expect(r!.v_collector).toMatch(/\S/);
      expect(r!.v_etl).toMatch(/\S/);
      expect(r!.event_fingerprint).toMatch(/\S/);
      if (e === 'pv') {
        const url = new URL(String(p.url));
        expect(r).toMatchObject({
          page_url: p.url, page_title: p.page, page_urlscheme: 'https', page_urlhost: url.hostname, page_urlport: 443,
          page_urlpath: url.pathname, page_urlquery: url.search.slice(1), page_urlfragment: null, mkt_source: 'demo',
          page_referrer: p.refr, refr_urlscheme: 'https', refr_urlhost: 'www.google.com', refr_urlpath: '/', refr_medium: 'search', refr_source: 'Google',
          se_category: null,
        });
      } else if (e === 'se') {
        expect(r).toMatchObject({ se_category: p.se_ca, se_action: p.se_ac, se_label: p.se_la, se_value: Number(p.se_va), page_url: null });
      } else {
        expect(r).toMatchObject({ se_category: null, page_url: null });
      }
    }

    // Shredded tables: one row per self-describing event and per context, as sent.
    const decode = (b64: unknown) => JSON.parse(Buffer.from(String(b64), 'base64url').toString('utf8'));
    const links = new Map((await q(`SELECT * FROM "atomic".${quoteIdent(LINK_CLICK)} WHERE "root_id" = ANY($1)`, [[...rows.keys()]])).map((r) => [String(r.root_id), r]));
    const pages = await q(`SELECT * FROM "atomic".${quoteIdent(WEB_PAGE)} WHERE "root_id" = ANY($1)`, [[...rows.keys()]]);
    const clicks = sent.filter((p) => p.e === 'ue');
    expect(links.size).toBe(clicks.length);
    expect(pages.length).toBe(clicks.length);
    const pageByRoot = new Map(pages.map((r) => [String(r.root_id), r]));
    for (const p of clicks) {
      const event = rows.get(String(p.eid))!;
      const common = { root_id: p.eid, ref_root: 'events', ref_parent: 'events', schema_vendor: 'com.snowplowanalytics.snowplow', schema_format: 'jsonschema' };
      const link = decode(p.ue_px).data.data;
      const l = links.get(String(p.eid));
      expect(l).toMatchObject({ ...common, schema_name: 'link_click', schema_version: '1-0-1', ref_tree: '["events","link_click"]', target_url: link.targetUrl, element_id: link.elementId });
      expect(l!.element_classes).toEqual(link.elementClasses); // a JSONB column
      expect(ms(l!.root_tstamp)).toBe(ms(event.collector_tstamp));
      const page = decode(p.cx).data[0].data;
      const w = pageByRoot.get(String(p.eid));
      expect(w).toMatchObject({ ...common, schema_name: 'web_page', schema_version: '1-0-0', ref_tree: '["events","web_page"]', id: page.id });
      expect(ms(w!.root_tstamp)).toBe(ms(event.collector_tstamp));
    }

    // Batch views: equal to SQL over atomic.events and to the realtime views of the same buckets.
    const batchEvents = await q(`SELECT "grain", "bucket", "event_name", "events" FROM "sluice"."batch_view_events" ORDER BY 1, 2, 3`);
    const sqlEvents = await q(
      `SELECT g AS "grain", date_trunc(g, "collector_tstamp") AS "bucket", COALESCE(NULLIF("event_name", ''), NULLIF("event", ''), 'unknown') AS "event_name", count(*) AS "events"
       FROM "atomic"."events", unnest(ARRAY['hour', 'minute']) AS g GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    );
    expect(batchEvents).toEqual(sqlEvents);
    expect(batchEvents).toEqual(realtimeEvents);
    expect(batchEvents.filter((r) => r.grain === 'minute').reduce((n, r) => n + Number(r.events), 0)).toBe(TRACKED);
    const batchUniques = await q(`SELECT "grain", "bucket", "users", "sessions" FROM "sluice"."batch_view_uniques" ORDER BY 1, 2`);
    const sqlUniques = await q(
      `SELECT g AS "grain", date_trunc(g, "collector_tstamp") AS "bucket", count(DISTINCT "domain_userid") AS "users", count(DISTINCT "domain_sessionid") AS "sessions"
       FROM "atomic"."events", unnest(ARRAY['hour', 'minute']) AS g GROUP BY 1, 2 ORDER BY 1, 2`,
    );
    expect(batchUniques).toEqual(sqlUniques);
    expect(batchUniques).toEqual(realtimeUniques);
    expect(batchUniques.some((r) => Number(r.users) > 1 && Number(r.sessions) > Number(r.users))).toBe(true);

    // Inputs and outputs archived by run; raw/in empty.
    expect(await store.list('raw/in/')).toEqual([]);
    for (const area of ['raw', 'enriched', 'shredded']) expect((await store.list(`archive/${area}/run=${result.runId}/`)).length).toBeGreaterThan(0);
    const times = await q('SELECT min("collector_tstamp") AS a, max("collector_tstamp") AS b FROM "atomic"."events" WHERE "app_id" = $1', [APP]);
    trackedWindow = { from: Math.floor(ms(times[0].a) / 60_000) * 60_000, to: Math.floor(ms(times[0].b) / 60_000) * 60_000 + 60_000 };
  });

  // Each fault run gets its own raw files (sized so the step lasts long enough to be caught) and
  // app id. `kills` = how many attempts of the step are killed; `heartbeat` = kill only once the
  // step has reported progress (the load: after its first COPY); `holdLock` = the views step is
  // held on the watermark lock while the worker dies (it takes milliseconds otherwise).
  const faults = [
    { step: 'stage', activity: 'stageRawFiles', files: 80, perFile: 50 },
    { step: 'enrich', activity: 'enrichRawFiles', files: 8, perFile: 500 },
    { step: 'shred (killed twice: retried twice)', activity: 'shredEnriched', files: 8, perFile: 500, kills: 2 },
    { step: 'load', activity: 'loadWarehouse', files: 8, perFile: 5_000, heartbeat: true },
    { step: 'views', activity: 'computeBatchViews', files: 8, perFile: 500, holdLock: true },
    { step: 'archive', activity: 'archiveRun', files: 24, perFile: 200 },
  ];
  for (const f of faults) {
    it(`holds every event exactly once after the worker is killed during ${f.step}`, async () => {
      const appId = `fault-${f.activity}`;
      const events = f.files * f.perFile;
      const now = Date.now();
      await writeRawFiles(store, { stream: config.kinesis.streams.raw, appId, events, eventsPerFile: f.perFile, fromMs: now - 30_000, toMs: now });
      const lock = f.holdLock ? await pool.connect() : undefined;
      try {
        if (lock) {
          await lock.query('BEGIN');
          await lock.query('LOCK TABLE "sluice"."batch_watermark" IN EXCLUSIVE MODE');
        }
        const handle = await startRun(`fault-${f.activity}-${now}`);
        const kills = f.kills ?? 1;
        for (let attempt = 1; attempt <= kills; attempt++) {
          await waitForActivity(handle, f.activity, { attempt, heartbeat: f.heartbeat });
          killWorkers();
        }
        if (lock) {
          await waitForActivity(handle, f.activity, { attempt: kills + 1 });
          await lock.query('COMMIT');
        }
        const result = await handle.result();
        expect(result).toMatchObject({ status: 'completed', step: 'done', loaded: events });
        expect((await completedAttempts(handle))[f.activity]).toEqual([kills + 1]);
        await expectExactlyOnce(appId, events);
      } finally {
        if (lock) {
          await lock.query('ROLLBACK').catch(() => undefined);
          lock.release();
        }
      }
    }, 240_000);
  }

  it('parks a run whose load fails while the warehouse is down, and finishes it on the operator\'s retry', async () => {
    const appId = 'fault-warehouse';
    const events = 4_000;
    const now = Date.now();
    await writeRawFiles(store, { stream: config.kinesis.streams.raw, appId, events, eventsPerFile: 500, fromMs: now - 30_000, toMs: now });
    const runId = `fault-warehouse-${now}`;
    const handle = await startRun(runId);
    await waitForActivity(handle, 'shredEnriched');
    const postgres = stack.processes.get('postgres')!;
    await postgres.stop();
    try {
      const parked = await waitFor('the run to park', async () => {
        const p = await handle.query(progressQuery);
        return p.status === 'awaiting-operator' ? p : undefined;
      }, 180_000, 500);
      expect(parked).toMatchObject({ step: 'load', status: 'awaiting-operator' });
      expect(parked.reason).toMatch(/\S/);
      expect((await handle.describe()).memo).toMatchObject({ status: 'awaiting-operator', step: 'load' });
      // The load's retry policy ran out before parking: every attempt of it failed.
      const failedAttempts = ((await handle.fetchHistory()).events ?? []).filter((e) => e.activityTaskFailedEventAttributes || e.activityTaskTimedOutEventAttributes);
      expect(failedAttempts.length).toBe(1);
    } finally {
      await postgres.start();
    }
    const lines: string[] = [];
    await runCommand(temporal.client, 'retry', runId, undefined, (l) => lines.push(l));
    expect(lines.join('\n')).toContain(`sent retry to ${workflowIds.batchRun(runId)}`);
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'completed', step: 'done', loaded: events });
    expect(result.reason).toBeUndefined();
    await expectExactlyOnce(appId, events);
  }, 300_000);

  it('leaves the warehouse identical to the original load after reprocessing a window twice', async () => {
    expect(trackedWindow).toBeDefined();
    const window = trackedWindow!;
    const before = await warehouseSnapshot(window);
    expect(before.events.length).toBeGreaterThanOrEqual(TRACKED);
    expect(before[LINK_CLICK].length).toBeGreaterThan(0);

    // Through the operator's update, as `sluice reprocess` does; the second request comes after
    // the first finished, so it is a reprocess of its own, not joined to the first.
    const body = { ...isoWindow(window), reason: 'e2e: twice' };
    const first = await requestReprocess(temporal.client, config, body);
    const r1 = await followReprocess(temporal.client, first.id, () => undefined);
    const once = await warehouseSnapshot(window);
    const second = await requestReprocess(temporal.client, config, body);
    const r2 = await followReprocess(temporal.client, second.id, () => undefined);
    const twice = await warehouseSnapshot(window);

    expect(second.id).not.toBe(first.id);
    expect(r1).toMatchObject({ outcome: 'completed', loaded: before.events.length });
    expect(r2).toMatchObject({ outcome: 'completed', loaded: before.events.length });
    expect(Object.keys(once).sort()).toEqual(Object.keys(before).sort());
    for (const key of Object.keys(before)) {
      expect(once[key], `${key} after one reprocess`).toEqual(before[key]);
      expect(twice[key], `${key} after two`).toEqual(before[key]);
    }
    // Still no event twice anywhere, and the views agree with atomic.events.
    const [dupes] = await q('SELECT count(*) - count(DISTINCT "event_id") AS n FROM "atomic"."events"');
    expect(Number(dupes.n)).toBe(0);
    const [mismatch] = await q(
      `SELECT count(*) AS n FROM (SELECT "bucket", "event_name", "events" FROM "sluice"."batch_view_events" WHERE "grain" = 'minute') v FULL JOIN (
         SELECT date_trunc('minute', "collector_tstamp") AS "bucket", COALESCE(NULLIF("event_name", ''), NULLIF("event", ''), 'unknown') AS "event_name", count(*) AS "events"
         FROM "atomic"."events" GROUP BY 1, 2) a ON v."bucket" = a."bucket" AND v."event_name" = a."event_name"
       WHERE v."events" IS DISTINCT FROM a."events"`,
    );
    expect(Number(mismatch.n)).toBe(0);
  }, 300_000);
  it('reprocesses a window asked with the real temporal CLI, by update and by signal, each event once after each', async () => {
    const window = trackedWindow!;
    const before = await warehouseSnapshot(window);
    const cli = (...args: string[]) =>
      execFileSync(findTemporalCli(), ['workflow', ...args, '--address', config.temporal.address, '--namespace', config.temporal.namespace, '--workflow-id', workflowIds.operator()], { encoding: 'utf8' });
    const range = [new Date(window.from), new Date(window.to), APP];
    const inWindow = `"collector_tstamp" >= $1 AND "collector_tstamp" < $2 AND "app_id" = $3`;

    // A bad load lost rows of the window: the update's reprocess puts them back.
    await q(`DELETE FROM "atomic"."events" WHERE "event_id" IN (SELECT "event_id" FROM "atomic"."events" WHERE ${inWindow} ORDER BY "event_id" LIMIT 25)`, range);
    expect((await warehouseSnapshot(window)).events.length).toBe(before.events.length - 25);
    const updated = cli('update', 'execute', '--name', 'reprocess', '--input', JSON.stringify({ ...isoWindow(window), reason: 'temporal CLI update' }));
    // The update's answer ({id, joined, window}) as the CLI prints it.
    const id = /\b(rp-\d{8}T\d{6}-\d+)\b/.exec(updated)?.[1];
    expect(id, updated).toBeDefined();
    expect(await followReprocess(temporal.client, id!, quiet)).toMatchObject({ outcome: 'completed', loaded: before.events.length });
    expect(await warehouseSnapshot(window)).toEqual(before);

    // A bad load doubled rows of the window: the signal's reprocess (the UI's form) leaves each once.
    await q(`INSERT INTO "atomic"."events" SELECT * FROM "atomic"."events" WHERE ${inWindow} ORDER BY "event_id" LIMIT 25`, range);
    const done = (await operatorHandle(temporal.client).query(statusQuery)).recent.length;
    cli('signal', '--name', 'reprocess', '--input', JSON.stringify({ ...isoWindow(window), reason: 'temporal CLI signal' }));
    await waitFor('the signalled reprocess', async () => {
      const s = await operatorHandle(temporal.client).query(statusQuery);
      return s.recent.length > done && s.running === null ? s : undefined;
    }, 180_000);
    const s = await operatorHandle(temporal.client).query(statusQuery);
    expect(s.recent.at(-1)).toMatchObject({ kind: 'reprocess', outcome: 'completed', loaded: before.events.length });
    expect(s.lastFailures).toEqual([]);
    expect(await warehouseSnapshot(window)).toEqual(before);
    const [dupes] = await q('SELECT count(*) - count(DISTINCT "event_id") AS n FROM "atomic"."events"');
    expect(Number(dupes.n)).toBe(0);
    // One child reprocess run per request: nothing replaced the window twice.
    const children = execFileSync(findTemporalCli(), ['workflow', 'list', '--address', config.temporal.address, '--query', `WorkflowType = 'reprocessWorkflow'`], { encoding: 'utf8' });
    for (const job of [id!, s.recent.at(-1)!.id]) expect(children.split(job).length - 1, children).toBe(1);
  }, 300_000);
});
