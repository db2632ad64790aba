import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { inTransaction } from '../../adapters/postgres';
import type { StreamRecord } from '../../adapters/kinesis';
import { formatTstamp, toEnrichedTsv } from '../../codecs/enriched-tsv';
import { makeLogger } from '../../observability/logger';
import { buildServingApp } from '../../serving/app';
import { mergedSeries } from '../../serving/queries';
import { StaleCheckpointError } from '../../speed/processor';
import { realtimeViewsProcessor, retireRealtimeRows } from '../../speed/realtime-views';
import { recomputeBatchViews } from '../../views/batch-views';
import { METRICS } from '../../views/definitions';
import { useStandins } from '../helpers/rig';

// The realtime processor, the batch views and the serving API's merge, on a real PostgreSQL.

const rig = useStandins({ postgres: true });

beforeEach(async () => {
  await rig.pool.query(`TRUNCATE "atomic"."events", "sluice"."batch_view_events", "sluice"."batch_view_uniques", "sluice"."batch_watermark",
    "sluice"."realtime_view_events", "sluice"."realtime_view_members", "sluice"."realtime_seen_events", "sluice"."stream_checkpoints"`);
});

const STREAM = 'sluice-enriched';
const SHARD = 'shardId-000000000000';
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const MIN = 60_000;
let seq = 49_000_000_000_000_000_000_000_000_000_000_000_000_000_000n;

interface TestEvent { event_id: string; collector_tstamp: string; event: string; event_name: string; domain_userid: string; domain_sessionid: string; event_fingerprint: string }

function event(collectorMs: number, over: Partial<TestEvent> = {}): TestEvent {
  return {
    event_id: randomUUID(),
    collector_tstamp: formatTstamp(collectorMs),
    event: 'page_view',
    event_name: 'page_view',
    domain_userid: `user-${Math.floor(collectorMs / 7_000) % 5}`,
    domain_sessionid: `session-${Math.floor(collectorMs / 13_000) % 4}`,
    event_fingerprint: randomUUID().replace(/-/g, ''),
    ...over,
  };
}

function record(e: TestEvent): StreamRecord {
  seq += 7n;
  const tsv = toEnrichedTsv({ ...e, app_id: 'test', platform: 'web', v_collector: 'c', v_etl: 'e' });
  return { sequenceNumber: seq.toString(), partitionKey: 'pk', data: Buffer.from(tsv), arrivalMs: Date.now() };
}

async function insertAtomic(events: TestEvent[]): Promise<void> {
  for (const e of events) {
    await rig.pool.query(
      `INSERT INTO "atomic"."events" ("app_id", "platform", "event_id", "collector_tstamp", "event", "event_name", "domain_userid",
         "domain_sessionid", "event_fingerprint", "v_collector", "v_etl") VALUES ('test', 'web', $1, $2, $3, $4, $5, $6, $7, 'c', 'e')`,
      [e.event_id, e.collector_tstamp, e.event, e.event_name, e.domain_userid, e.domain_sessionid, e.event_fingerprint],
    );
  }
}

async function realtimeMinuteCounts(): Promise<Record<string, number>> {
  const { rows } = await rig.pool.query<{ bucket: Date; n: number }>(
    `SELECT "bucket", sum("events")::bigint AS n FROM "sluice"."realtime_view_events" WHERE "grain" = 'minute' GROUP BY 1 ORDER BY 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.bucket.toISOString(), r.n]));
}

describe('realtime views processor', () => {
  it('counts per minute, commits its checkpoint with the counts, and fences a stale attempt', async () => {
    const proc = realtimeViewsProcessor(rig.pool);
    expect(await proc.resume!(STREAM, SHARD)).toBeUndefined();
    const first = [T0 + 1_000, T0 + 59_999, T0 + MIN, T0 + 30_000, T0 + MIN + 45_500].map((t) => record(event(t)));
    const ctx = { stream: STREAM, shardId: SHARD, after: undefined };
    const committed = await proc.process(first, ctx, {});
    expect(committed).toBe(first[4].sequenceNumber);
    const expected = { [new Date(T0).toISOString()]: 3, [new Date(T0 + MIN).toISOString()]: 2 };
    expect(await realtimeMinuteCounts()).toEqual(expected);

    // The same batch again from the same (now stale) position: refused, nothing applied.
    await expect(proc.process(first, ctx, {})).rejects.toBeInstanceOf(StaleCheckpointError);
    await expect(proc.process([record(event(T0))], { ...ctx, after: first[2].sequenceNumber }, {})).rejects.toBeInstanceOf(StaleCheckpointError);
    expect(await realtimeMinuteCounts()).toEqual(expected);

    const second = [record(event(T0 + MIN + 1)), record(event(T0 + 2 * MIN))];
    const next = await proc.process(second, { ...ctx, after: committed }, {});
    expect(next).toBe(second[1].sequenceNumber);
    expect(await realtimeMinuteCounts()).toEqual({ ...expected, [new Date(T0 + MIN).toISOString()]: 3, [new Date(T0 + 2 * MIN).toISOString()]: 1 });
    expect(await proc.resume!(STREAM, SHARD)).toBe(next);
    expect(await proc.resume!(STREAM, 'shardId-000000000001')).toBeUndefined();
    expect(await proc.process([], { ...ctx, after: next }, {})).toBeUndefined();
  });

  it('counts an event the enriched stream carries twice once, even on another shard', async () => {
    const proc = realtimeViewsProcessor(rig.pool);
    const events = [event(T0 + 5_000), event(T0 + 6_000), event(T0 + 7_000)];
    const a = await proc.process(events.map(record), { stream: STREAM, shardId: SHARD }, {});
    // Stream enrich retried after a crash: the same events again, under new sequence numbers.
    await proc.process(events.map(record), { stream: STREAM, shardId: SHARD, after: a }, {});
    await proc.process([record(events[1]), record(event(T0 + 8_000))], { stream: STREAM, shardId: 'shardId-000000000001' }, {});
    expect(await realtimeMinuteCounts()).toEqual({ [new Date(T0).toISOString()]: 4 });
    // Same id, different fingerprint is a different event (the batch shredder gives it a new id).
    await proc.process([record({ ...events[0], event_fingerprint: 'other' })], { stream: STREAM, shardId: 'shardId-000000000002' }, {});
    expect(await realtimeMinuteCounts()).toEqual({ [new Date(T0).toISOString()]: 5 });
  });

  it('reports records that are not enriched events instead of failing the shard', async () => {
    let unparsable = 0;
    const proc = realtimeViewsProcessor(rig.pool, { onUnparsable: (n) => (unparsable += n) });
    const junk: StreamRecord = { sequenceNumber: '1', partitionKey: 'pk', data: Buffer.from('not\tan\tevent'), arrivalMs: 0 };
    const good = record(event(T0));
    await proc.process([junk, good], { stream: STREAM, shardId: SHARD }, {});
    expect(unparsable).toBe(1);
    expect(await realtimeMinuteCounts()).toEqual({ [new Date(T0).toISOString()]: 1 });
  });
});

describe('batch and realtime views agree, and the serving layer switches at the watermark', () => {
  // Three hours of events of a few types, users and sessions.
  const corpus: TestEvent[] = [];
  for (let i = 0; i < 400; i++) {
    const t = T0 + Math.floor((i * 3 * 3_600_000) / 400) + (i % 7) * 1_000;
    const name = ['page_view', 'page_view', 'link_click', 'add_to_cart'][i % 4];
    corpus.push(event(t, { event_name: name, event: name === 'page_view' ? 'page_view' : 'unstruct' }));
  }
  const range = { from: T0, to: T0 + 3 * 3_600_000 };

  async function loadBoth(): Promise<void> {
    const proc = realtimeViewsProcessor(rig.pool);
    let after: string | undefined;
    for (let i = 0; i < corpus.length; i += 50) after = await proc.process(corpus.slice(i, i + 50).map(record), { stream: STREAM, shardId: SHARD, after }, {});
    await insertAtomic(corpus);
    await inTransaction(rig.pool, (c) => recomputeBatchViews(c, { from: range.from, to: range.to - 1 }, 'run-1'));
  }

  it('gives equal values per bucket for every metric and grain', async () => {
    await loadBoth();
    for (const grain of ['minute', 'hour'] as const) {
      for (const metric of METRICS) {
        // No watermark: everything answered by realtime. Watermark past the end: everything by batch.
        const realtime = await mergedSeries(rig.pool, metric, grain, range);
        await rig.pool.query(`INSERT INTO "sluice"."batch_watermark" ("id", "watermark", "run_id") VALUES (1, $1, 'run-1')`, [new Date(range.to)]);
        const batch = await mergedSeries(rig.pool, metric, grain, range);
        await rig.pool.query('DELETE FROM "sluice"."batch_watermark"');
        expect(realtime.points.every((p) => p.source === 'realtime')).toBe(true);
        expect(batch.points.every((p) => p.source === 'batch')).toBe(true);
        expect(batch.points.map((p) => [p.bucket, p.value])).toEqual(realtime.points.map((p) => [p.bucket, p.value]));
        expect(batch.totals.all).toBeGreaterThan(0);
      }
    }
    const events = await mergedSeries(rig.pool, 'events', 'hour', range);
    expect(events.totals.all).toBe(400);
    const pageViews = await mergedSeries(rig.pool, 'page_views', 'hour', range);
    expect(pageViews.totals.all).toBe(200);
  });

  it('answers buckets before the watermark from batch, later ones from realtime, and retires realtime rows', async () => {
    await loadBoth();
    const app = buildServingApp(rig.pool, makeLogger('test', 'silent'));
    const get = async (url: string) => (await app.inject({ url })).json();
    const q = `from=${new Date(range.from).toISOString()}&to=${new Date(range.to).toISOString()}`;
    const before = await get(`/v1/series?metric=events&grain=minute&${q}`);
    expect(before.totals).toEqual({ batch: 0, realtime: 400, all: 400 });

    const watermark = T0 + 90 * MIN; // mid-hour: the second hour stays realtime until it ends
    await inTransaction(rig.pool, async (c) => {
      await c.query(`INSERT INTO "sluice"."batch_watermark" ("id", "watermark", "run_id") VALUES (1, $1, 'run-1')`, [new Date(watermark)]);
      await retireRealtimeRows(c, watermark);
    });
    const after = await get(`/v1/series?metric=events&grain=minute&${q}`);
    expect(after.watermark).toBe(new Date(watermark).toISOString());
    expect(after.totals.all).toBe(400);
    expect(after.points.map((p: { value: number }) => p.value)).toEqual(before.points.map((p: { value: number }) => p.value));
    for (const p of after.points) expect(p.source).toBe(Date.parse(p.bucket) + MIN <= watermark ? 'batch' : 'realtime');

    const hours = await get(`/v1/series?metric=unique_users&grain=hour&${q}`);
    expect(hours.points.map((p: { source: string }) => p.source)).toEqual(['batch', 'realtime', 'realtime']);
    // Realtime rows the batch now answers are gone; the straddling hour's are kept.
    const { rows } = await rig.pool.query(`SELECT min("bucket") AS m FROM "sluice"."realtime_view_events" WHERE "grain" = 'hour'`);
    expect(rows[0].m.getTime()).toBe(T0 + 3_600_000);

    const breakdown = await get(`/v1/breakdown/events?grain=hour&${q}`);
    // Expected from the corpus: the first hour (wholly before the watermark) is batch's.
    const expected = ['page_view', 'add_to_cart', 'link_click'].map((name) => {
      const of = corpus.filter((e) => e.event_name === name);
      const batch = of.filter((e) => Date.parse(`${e.collector_tstamp.replace(' ', 'T')}Z`) < T0 + 3_600_000).length;
      return { eventName: name, events: of.length, batch, realtime: of.length - batch };
    });
    expect(expected[0].batch).toBeGreaterThan(0);
    expect(breakdown.rows).toEqual(expected);
    const bad = await app.inject({ url: `/v1/series?metric=revenue&${q}` });
    expect(bad.statusCode).toBe(400);
    await app.close();
  });
});

describe('batch views recompute', () => {
  it('counts distinct members per hour, not per minute summed, and keeps buckets whose events have no user or session', async () => {
    const rows: [number, string, string, string, string, string][] = [
      // [collector ms, event, event_name, domain_userid, network_userid, domain_sessionid]
      [T0 + 1_000, 'page_view', 'page_view', 'u1', '', 's1'],
      [T0 + 2_000, 'page_view', 'page_view', 'u1', '', 's1'],
      [T0 + MIN + 1_000, 'unstruct', 'link_click', 'u1', '', 's2'],
      [T0 + MIN + 2_000, 'struct', '', '', 'n1', ''],
      [T0 + 2 * MIN + 5_000, 'page_ping', '', '', '', ''],
    ];
    for (const [t, ev, name, duid, nuid, sid] of rows) {
      await rig.pool.query(
        `INSERT INTO "atomic"."events" ("app_id", "platform", "event_id", "collector_tstamp", "event", "event_name", "domain_userid",
           "network_userid", "domain_sessionid", "v_collector", "v_etl") VALUES ('test', 'web', $1, $2, $3, $4, $5, $6, $7, 'c', 'e')`,
        [randomUUID(), formatTstamp(t), ev, name, duid, nuid, sid],
      );
    }
    const written = await inTransaction(rig.pool, (c) => recomputeBatchViews(c, { from: T0, to: T0 + 2 * MIN + 5_000 }, 'run-v'));
    const events = await rig.pool.query(`SELECT "grain", "bucket", "event_name", "events"::int AS "n" FROM "sluice"."batch_view_events" ORDER BY 1, 2, 3`);
    const uniques = await rig.pool.query(`SELECT "grain", "bucket", "users"::int AS "u", "sessions"::int AS "s" FROM "sluice"."batch_view_uniques" ORDER BY 1, 2`);
    const at = (ms: number) => new Date(ms).toISOString();
    expect(events.rows.map((r) => [r.grain, r.bucket.toISOString(), r.event_name, r.n])).toEqual([
      ['hour', at(T0), 'link_click', 1], ['hour', at(T0), 'page_ping', 1], ['hour', at(T0), 'page_view', 2], ['hour', at(T0), 'struct', 1],
      ['minute', at(T0), 'page_view', 2],
      ['minute', at(T0 + MIN), 'link_click', 1], ['minute', at(T0 + MIN), 'struct', 1],
      ['minute', at(T0 + 2 * MIN), 'page_ping', 1],
    ]);
    // u1 is in two minutes but one hour; n1 stands in for a missing domain_userid; the last
    // minute's only event has neither, and still has its row.
    expect(uniques.rows.map((r) => [r.grain, r.bucket.toISOString(), r.u, r.s])).toEqual([
      ['hour', at(T0), 2, 2],
      ['minute', at(T0), 1, 1],
      ['minute', at(T0 + MIN), 2, 1],
      ['minute', at(T0 + 2 * MIN), 0, 0],
    ]);
    expect(written).toBe(events.rowCount! + uniques.rowCount!);
  });
});
