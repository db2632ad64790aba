import type { Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { createSpeedActivities } from '../../activities/speed';
import { ensureStream, listShards, putRecords } from '../../adapters/kinesis';
import { makePool, type Pool } from '../../adapters/postgres';
import { runPrefix } from '../../batch/layout';
import { runShred } from '../../batch/shred-run';
import { type EnrichedEvent, formatTstamp, toEnrichedTsv } from '../../codecs/enriched-tsv';
import { pgCheckpointStore, readCheckpoint } from '../../speed/checkpoints';
import { postgresDripfeed } from '../../speed/dripfeed-postgres';
import { WAREHOUSE_PROCESSOR, warehouseDripfeedProcessor, type DripCommit } from '../../speed/warehouse-dripfeed';
import { parseSchemaUri } from '../../warehouse/iglu';
import { planLoad } from '../../warehouse/migration';
import { WRITE_LOCK } from '../../warehouse/postgres-load-steps';
import { postgresLoader } from '../../warehouse/postgres-loader';
import { shredModel } from '../../warehouse/shred-model';
import { recordingMetrics, startConsume, unpacedReads } from '../helpers/speed';
import { sleep, waitFor } from '../helpers/standins';
import { useStandins } from '../helpers/rig';

// The warehouse dripfeed (speed/warehouse-dripfeed.ts) on the real stand-ins: enriched records in
// kinesalite, read by the real consume activity, committed into the real PostgreSQL. Exactly once
// across a repeat, two overlapping attempts and a connection killed mid-flush; beside the batch
// (dripfeed after batch, batch after dripfeed, late events); tables created and migrated
// mid-stream; a schema the planner refuses as loader bad rows; a warehouse outage.

const rig = useStandins({ postgres: true, kinesis: true, s3: true, engineThreads: 2 });
let streamSeq = 0;

const SELF = 'http://iglucentral.com/schemas/com.snowplowanalytics.self-desc/schema/jsonschema/1-0-0#';
const schema = (name: string, version: string, properties: Record<string, object>, required: string[] = []) => ({
  $schema: SELF, self: { vendor: 'com.acme', name, format: 'jsonschema', version }, type: 'object', properties, required,
});
const SCHEMAS: Record<string, object> = {
  'iglu:com.acme/click/jsonschema/1-0-0': schema('click', '1-0-0', { target: { type: 'string', maxLength: 200 } }, ['target']),
  'iglu:com.acme/click/jsonschema/1-0-1': schema('click', '1-0-1', { target: { type: 'string', maxLength: 200 }, label: { type: 'string', maxLength: 50 } }, ['target']),
  'iglu:com.acme/click/jsonschema/2-0-0': schema('click', '2-0-0', { href: { type: 'string', maxLength: 200 } }, ['href']),
  'iglu:com.acme/blocked/jsonschema/1-0-0': schema('blocked', '1-0-0', { x: { type: 'integer' } }),
};
const lookup = async (uri: string) => SCHEMAS[uri];

const T0 = Date.UTC(2026, 10, 2, 10, 0, 0);
let idSeq = 0;
const newId = () => `d1f00000-0000-4000-8000-${String(++idSeq).padStart(12, '0')}`;

function line(id: string, at: number, entity?: { uri: string; data: object }, app = 'drip'): string {
  const e: EnrichedEvent = {
    app_id: app, platform: 'web', etl_tstamp: formatTstamp(at + 500), collector_tstamp: formatTstamp(at), event: entity ? 'unstruct' : 'page_view',
    event_id: id, v_collector: 'test-collector', v_etl: 'test-etl', event_fingerprint: `fp-${id}`,
    ...(entity ? { unstruct_event: JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0', data: { schema: entity.uri, data: entity.data } }) } : {}),
  };
  return toEnrichedTsv(e);
}

async function newStream(): Promise<{ stream: string; shardId: string }> {
  const stream = `drip-${process.pid}-${++streamSeq}`;
  await ensureStream(rig.kinesis, stream, 1);
  return { stream, shardId: (await listShards(rig.kinesis, stream))[0].shardId };
}

async function put(stream: string, lines: string[]): Promise<void> {
  for (let i = 0; i < lines.length; i += 100) {
    const chunk = lines.slice(i, i + 100).map((l) => ({ data: Buffer.from(l), partitionKey: 'pk' }));
    expect((await putRecords(rig.kinesis, stream, chunk)).failed).toEqual([]);
  }
}

function dripfeed(opts: { maxRecords?: number; lockTimeoutMs?: number; pool?: Pool } = {}) {
  const commits: DripCommit[] = [];
  const processor = warehouseDripfeedProcessor(
    postgresDripfeed(opts.pool ?? rig.pool, { lockTimeoutMs: opts.lockTimeoutMs ?? 30_000 }), lookup,
    { maxRecords: opts.maxRecords ?? 5_000, maxBytes: 8 << 20, maxAgeMs: 0 },
    { onCommit: (_shard, _records, c) => void commits.push(c) },
  );
  const metrics = recordingMetrics();
  const activities = createSpeedActivities({
    kinesis: rig.kinesis, reads: unpacedReads(rig.kinesis), temporal: undefined as unknown as Client, processors: { [WAREHOUSE_PROCESSOR]: processor }, checkpoints: pgCheckpointStore(rig.pool),
    startPosition: { type: 'TRIM_HORIZON' }, pollMs: 20, budgetMs: 2_500, maxRecords: 1_000_000, readLimit: 25, metrics,
  });
  return { activities, commits, metrics };
}

const consume = (d: ReturnType<typeof dripfeed>, stream: string, shardId: string) =>
  startConsume(d.activities, { stream, processor: WAREHOUSE_PROCESSOR, shardId }).result;

async function countWhere(table: string, column: string, ids: string[]): Promise<number> {
  const { rows } = await rig.pool.query(`SELECT count(*)::int AS n FROM ${table} WHERE "${column}" = ANY($1::char(36)[])`, [ids]);
  return rows[0].n as number;
}
const eventsOf = (ids: string[]) => countWhere('"atomic"."events"', 'event_id', ids);

/** Events that occur more than once in atomic.events among `ids`. */
async function doubled(ids: string[]): Promise<number> {
  const { rows } = await rig.pool.query(`SELECT count(*)::int AS n FROM (SELECT "event_id" FROM "atomic"."events" WHERE "event_id" = ANY($1::char(36)[]) GROUP BY 1 HAVING count(*) > 1) d`, [ids]);
  return rows[0].n as number;
}

describe('warehouse dripfeed (PostgreSQL)', () => {
  it('loads each event with its shredded rows once, and a repeat of the shard commits nothing again', async () => {
    const { stream, shardId } = await newStream();
    const ids = Array.from({ length: 60 }, newId);
    await put(stream, ids.map((id, i) => line(id, T0 + i * 1000, i % 2 ? { uri: 'iglu:com.acme/click/jsonschema/1-0-0', data: { target: `t${i}` } } : undefined)));
    const d = dripfeed({ maxRecords: 20 });
    const first = await consume(d, stream, shardId);
    expect(first.records).toBe(60);
    expect(await eventsOf(ids)).toBe(60);
    expect(await countWhere('"atomic"."com_acme_click_1"', 'root_id', ids)).toBe(30);
    expect(await readCheckpoint(rig.pool, { stream, processor: WAREHOUSE_PROCESSOR, shardId })).toBe(first.checkpoint);
    // The durable checkpoint wins: a new attempt reads nothing again.
    const again = await consume(dripfeed(), stream, shardId);
    expect(again.records).toBe(0);
    expect(await eventsOf(ids)).toBe(60);
    expect(await doubled(ids)).toBe(0);
  });

  it('holds every event once under two overlapping attempts of the same shard', async () => {
    const { stream, shardId } = await newStream();
    const ids = Array.from({ length: 200 }, newId);
    await put(stream, ids.map((id, i) => line(id, T0 + i * 100)));
    const a = dripfeed({ maxRecords: 25 });
    const b = dripfeed({ maxRecords: 25 });
    await Promise.all([consume(a, stream, shardId), consume(b, stream, shardId)]);
    expect(await eventsOf(ids)).toBe(200);
    expect(await doubled(ids)).toBe(0);
    // The attempts met: one of them found the checkpoint moved and continued from it.
    expect((a.metrics.failures['stale-checkpoint'] ?? 0) + (b.metrics.failures['stale-checkpoint'] ?? 0)).toBeGreaterThan(0);
  });

  it('applies nothing of a micro-batch whose connection is killed mid-flush, and the next attempt loads it once', async () => {
    const { stream, shardId } = await newStream();
    const ids = Array.from({ length: 40 }, newId);
    await put(stream, ids.map((id, i) => line(id, T0 + i * 100)));
    // Hold the write lock, so the attempt stops inside its transaction (checkpoint moved, rows not yet written).
    const holder = await rig.pool.connect();
    await holder.query('SELECT pg_advisory_lock(hashtext($1))', [WRITE_LOCK]);
    const victimPool = makePool(rig.config, 2);
    victimPool.on('error', () => undefined);
    const victim = dripfeed({ pool: victimPool });
    const attempt = consume(victim, stream, shardId);
    let pid = 0;
    await waitFor(async () => {
      const { rows } = await rig.pool.query(`SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%pg_advisory_xact_lock%' AND pid <> $1`, [(holder as unknown as { processID: number }).processID]);
      pid = rows[0]?.pid ?? 0;
      return pid !== 0;
    });
    await rig.pool.query('SELECT pg_terminate_backend($1)', [pid]);
    await expect(attempt).rejects.toThrow();
    await holder.query('SELECT pg_advisory_unlock(hashtext($1))', [WRITE_LOCK]);
    holder.release();
    await victimPool.end();
    expect(await eventsOf(ids)).toBe(0);
    expect(await readCheckpoint(rig.pool, { stream, processor: WAREHOUSE_PROCESSOR, shardId })).toBeUndefined();
    await consume(dripfeed(), stream, shardId);
    expect(await eventsOf(ids)).toBe(40);
    expect(await doubled(ids)).toBe(0);
  });

  describe('beside the batch', () => {
    let runSeq = 0;
    async function batchLoad(lines: string[], window: { from: number; to: number }) {
      const runId = `drip-${process.pid}-${++runSeq}`;
      await rig.store.put(`${runPrefix.enriched(runId)}part-00000.tsv`, `${lines.join('\n')}\n`);
      await runShred({ store: rig.store, engine: rig.engine, lookup }, { runId, inputPrefix: runPrefix.enriched(runId), buckets: 2, etlTstamp: T0 });
      return postgresLoader({ pool: rig.pool, store: rig.store }).loadRun({ runId, window });
    }
    const appOf = async (id: string) => (await rig.pool.query('SELECT "app_id" FROM "atomic"."events" WHERE "event_id" = $1', [id])).rows.map((r) => r.app_id as string);

    it('dripfeed after batch: events the batch loaded are not doubled; the rest are added', async () => {
      const { stream, shardId } = await newStream();
      const loaded = Array.from({ length: 10 }, newId);
      const fresh = Array.from({ length: 5 }, newId);
      await batchLoad(loaded.map((id, i) => line(id, T0 + i * 1000, undefined, 'batch')), { from: T0, to: T0 + 60_000 });
      await put(stream, [...loaded, ...fresh].map((id, i) => line(id, T0 + (i % 10) * 1000)));
      const d = dripfeed();
      await consume(d, stream, shardId);
      expect(await eventsOf([...loaded, ...fresh])).toBe(15);
      expect(await doubled([...loaded, ...fresh])).toBe(0);
      expect(await appOf(loaded[0])).toEqual(['batch']);
      expect(d.commits.reduce((n, c) => n + c.alreadyLoaded, 0)).toBe(10);
    });

    it('batch after dripfeed: the batch replaces the dripfed rows of its events; dripfed events it does not hold stay', async () => {
      const { stream, shardId } = await newStream();
      const both = Array.from({ length: 8 }, newId);
      const dripOnly = Array.from({ length: 4 }, newId);
      const click = (i: number) => ({ uri: 'iglu:com.acme/click/jsonschema/1-0-0', data: { target: `drip-${i}` } });
      await put(stream, [...both, ...dripOnly].map((id, i) => line(id, T0 + 120_000 + i * 1000, click(i))));
      await consume(dripfeed(), stream, shardId);
      expect(await eventsOf([...both, ...dripOnly])).toBe(12);
      await batchLoad(both.map((id, i) => line(id, T0 + 120_000 + i * 1000, { uri: 'iglu:com.acme/click/jsonschema/1-0-0', data: { target: `batch-${i}` } }, 'batch')), { from: T0 + 120_000, to: T0 + 180_000 });
      expect(await eventsOf([...both, ...dripOnly])).toBe(12);
      expect(await doubled([...both, ...dripOnly])).toBe(0);
      expect(await appOf(both[0])).toEqual(['batch']);
      expect(await appOf(dripOnly[0])).toEqual(['drip']);
      const targets = await rig.pool.query(`SELECT "target" FROM "atomic"."com_acme_click_1" WHERE "root_id" = ANY($1::char(36)[]) ORDER BY 1`, [both]);
      expect(targets.rows.map((r) => r.target)).toEqual(both.map((_, i) => `batch-${i}`).sort());
    });

    it('late events for a window the batch closed: the ones it loaded are not doubled, new ones are added once', async () => {
      const { stream, shardId } = await newStream();
      const closed = Array.from({ length: 6 }, newId);
      await batchLoad(closed.map((id, i) => line(id, T0 + 240_000 + i * 1000, undefined, 'batch')), { from: T0 + 240_000, to: T0 + 300_000 });
      const late = newId();
      // Arriving hours later, for the closed window; a replay of the stream repeats them once more.
      await put(stream, [...closed, late, ...closed, late].map((id, i) => line(id, T0 + 240_000 + (i % 7) * 1000)));
      await consume(dripfeed({ maxRecords: 7 }), stream, shardId);
      expect(await eventsOf([...closed, late])).toBe(7);
      expect(await doubled([...closed, late])).toBe(0);
    });
  });

  it('creates a new schema\'s table, adds an addition\'s column and gives a new model its own table, mid-stream', async () => {
    const { stream, shardId } = await newStream();
    const v1 = Array.from({ length: 10 }, newId);
    const v101 = Array.from({ length: 10 }, newId);
    const v2 = Array.from({ length: 10 }, newId);
    await rig.pool.query('DROP TABLE IF EXISTS "atomic"."com_acme_click_1", "atomic"."com_acme_click_2" CASCADE');
    const d = dripfeed({ maxRecords: 10 });
    await put(stream, v1.map((id, i) => line(id, T0 + i, { uri: 'iglu:com.acme/click/jsonschema/1-0-0', data: { target: `a${i}` } })));
    const run = consume(d, stream, shardId);
    await sleep(500);
    await put(stream, v101.map((id, i) => line(id, T0 + i, { uri: 'iglu:com.acme/click/jsonschema/1-0-1', data: { target: `b${i}`, label: `l${i}` } })));
    await sleep(500);
    await put(stream, v2.map((id, i) => line(id, T0 + i, { uri: 'iglu:com.acme/click/jsonschema/2-0-0', data: { href: `h${i}` } })));
    await run;
    await consume(d, stream, shardId); // whatever the first attempt's budget left
    expect(await eventsOf([...v1, ...v101, ...v2])).toBe(30);
    expect(await countWhere('"atomic"."com_acme_click_1"', 'root_id', [...v1, ...v101])).toBe(20);
    const labels = await rig.pool.query(`SELECT count("label")::int AS n FROM "atomic"."com_acme_click_1" WHERE "root_id" = ANY($1::char(36)[])`, [v101]);
    expect(labels.rows[0].n).toBe(10);
    expect(await countWhere('"atomic"."com_acme_click_2"', 'root_id', v2)).toBe(10);
    const comment = await rig.pool.query(`SELECT obj_description('"atomic"."com_acme_click_1"'::regclass) AS c`);
    expect(comment.rows[0].c).toBe('iglu:com.acme/click/jsonschema/1-0-1');
    expect(d.commits.flatMap((c) => c.actions.map((a) => a.kind))).toEqual(expect.arrayContaining(['create', 'add-column', 'comment']));
  });

  it('turns the events of a schema the planner refuses into loader bad rows, and keeps moving', async () => {
    const { stream, shardId } = await newStream();
    // Both names the planner could give com.acme/blocked belong to tables without an Iglu comment.
    await rig.pool.query('CREATE TABLE IF NOT EXISTS "atomic"."com_acme_blocked_1" ("x" int)');
    // The planner's second choice (a hashed name), asked of the planner itself.
    const key = parseSchemaUri('iglu:com.acme/blocked/jsonschema/1-0-0');
    const plan = planLoad('postgres', new Map([['com_acme_blocked_1', { name: 'com_acme_blocked_1', columns: [] }]]), [shredModel(key, SCHEMAS['iglu:com.acme/blocked/jsonschema/1-0-0'])]);
    const alternative = [...plan.targets.values()][0];
    await rig.pool.query(`CREATE TABLE IF NOT EXISTS "atomic"."${alternative}" ("x" int)`);

    const good = Array.from({ length: 5 }, newId);
    const blocked = Array.from({ length: 3 }, newId);
    await put(stream, [
      ...good.map((id, i) => line(id, T0 + i)),
      ...blocked.map((id, i) => line(id, T0 + i, { uri: 'iglu:com.acme/blocked/jsonschema/1-0-0', data: { x: i } })),
    ]);
    const result = await consume(dripfeed(), stream, shardId);
    expect(result.records).toBe(8);
    expect(await eventsOf(good)).toBe(5);
    expect(await eventsOf(blocked)).toBe(0);
    const bad = await rig.pool.query(`SELECT "type", "summary" FROM "sluice"."bad_rows" WHERE "stream" = $1`, [stream]);
    expect(bad.rows).toHaveLength(3);
    expect(new Set(bad.rows.map((r) => r.type))).toEqual(new Set(['loader_iglu_error']));
    expect(bad.rows[0].summary).toContain('com.acme/blocked');
  });

  it('rides out a warehouse outage: attempts fail while PostgreSQL is down, then it catches up with every event once', async () => {
    const { stream, shardId } = await newStream();
    const before = Array.from({ length: 20 }, newId);
    const during = Array.from({ length: 30 }, newId);
    await put(stream, before.map((id, i) => line(id, T0 + i)));
    await consume(dripfeed(), stream, shardId);
    await rig.procs.postgres.stop();
    try {
      await put(stream, during.map((id, i) => line(id, T0 + i)));
      const outagePool = makePool(rig.config, 2);
      outagePool.on('error', () => undefined);
      await expect(consume(dripfeed({ pool: outagePool }), stream, shardId)).rejects.toThrow();
      await outagePool.end().catch(() => undefined);
    } finally {
      await rig.procs.postgres.start();
    }
    await waitFor(async () => rig.pool.query('SELECT 1').then(() => true, () => false), 30_000, 200);
    await consume(dripfeed(), stream, shardId);
    expect(await eventsOf([...before, ...during])).toBe(50);
    expect(await doubled([...before, ...during])).toBe(0);
  });
});
