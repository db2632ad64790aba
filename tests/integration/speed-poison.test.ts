import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { beforeEach, describe, expect, it } from 'vitest';
import { createSpeedActivities } from '../../activities/speed';
import { ensureStream, listShards, putRecords, type StreamRecord } from '../../adapters/kinesis';
import { formatTstamp, toEnrichedTsv } from '../../codecs/enriched-tsv';
import { pgCheckpointStore, withDurableCheckpoint } from '../../speed/checkpoints';
import { isRecordError, isolatePoison } from '../../speed/poison';
import type { ShardProcessor } from '../../speed/processor';
import { realtimeViewsProcessor } from '../../speed/realtime-views';
import { streamEnrichProcessor } from '../../speed/stream-enrich';
import { encodeCollectorPayload } from '../../codecs/collector-payload';
import { readStreamRecords } from '../helpers/kinesis';
import { recordingMetrics, startConsume, unpacedReads } from '../helpers/speed';
import { useStandins } from '../helpers/rig';

// Poison records on a live shard (issue #16): a record that makes the realtime-views processor
// throw for a reason tied to its content is retried on its own a bounded number of times, then
// committed as a bad row with the checkpoint; the shard's other records reach the views exactly
// once. An infrastructure failure is never skipped. Real kinesalite and PostgreSQL; the fault is
// injected into the real processor (the record's content is what makes it throw).

const rig = useStandins({ kinesis: true, postgres: true });
let streamSeq = 0;

beforeEach(async () => {
  await rig.pool.query(`TRUNCATE "sluice"."realtime_view_events", "sluice"."realtime_view_members", "sluice"."realtime_seen_events",
    "sluice"."stream_checkpoints", "sluice"."bad_rows"`);
});

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);
const POISON = 'poison-marker';

function enrichedLine(i: number, appId = 'shop'): string {
  return toEnrichedTsv({
    app_id: appId, platform: 'web', collector_tstamp: formatTstamp(T0 + i * 1000), event: 'page_view', event_name: 'page_view',
    event_id: randomUUID(), event_fingerprint: randomUUID().replace(/-/g, ''), domain_userid: `u${i % 3}`, v_collector: 'c', v_etl: 'e',
  });
}

/** The real processor, made to throw a TypeError on records whose content carries the marker (as a parser bug would). */
function poisonable(inner: ShardProcessor, failures: { n: number }): ShardProcessor {
  return {
    ...inner,
    async process(records, ctx, idle) {
      if (records.some((r) => r.data.includes(POISON))) {
        failures.n += 1;
        throw new TypeError("Cannot read properties of undefined (reading 'minute')");
      }
      return inner.process(records, ctx, idle);
    },
  };
}

async function streamWith(lines: string[]): Promise<{ stream: string; shardId: string }> {
  const stream = `poison-${process.pid}-${++streamSeq}`;
  await ensureStream(rig.kinesis, stream, 1);
  const { failed } = await putRecords(rig.kinesis, stream, lines.map((l) => ({ data: Buffer.from(l), partitionKey: 'pk' })));
  expect(failed).toEqual([]);
  return { stream, shardId: (await listShards(rig.kinesis, stream))[0].shardId };
}

function activities(processor: ShardProcessor, metrics = recordingMetrics()) {
  return createSpeedActivities({
    kinesis: rig.kinesis, reads: unpacedReads(rig.kinesis), temporal: undefined as unknown as Client, processors: { [processor.name]: processor },
    checkpoints: pgCheckpointStore(rig.pool), startPosition: { type: 'TRIM_HORIZON' },
    pollMs: 20, idlePollMs: 50, budgetMs: 2_500, maxRecords: 1_000_000, readLimit: 100, poisonAttempts: 3, metrics,
  });
}

const countedEvents = async () => Number((await rig.pool.query(`SELECT coalesce(sum("events"), 0) AS n FROM "sluice"."realtime_view_events" WHERE "grain" = 'minute'`)).rows[0].n);

describe('a poison record on a live shard', () => {
  it('is skipped as one bad row after its attempts; every other record is counted exactly once', async () => {
    const lines = Array.from({ length: 40 }, (_, i) => enrichedLine(i));
    lines.splice(17, 0, `${enrichedLine(99)}\t${POISON}`);
    const { stream, shardId } = await streamWith(lines);
    const failures = { n: 0 };
    const metrics = recordingMetrics();
    const processor = poisonable(realtimeViewsProcessor(rig.pool), failures);

    const first = await startConsume(activities(processor, metrics), { stream, processor: processor.name, shardId }).result;
    expect(await countedEvents()).toBe(40);
    // The batch it arrived in, then the record alone three times.
    expect(failures.n).toBe(4);
    expect(metrics.failures['poison-record']).toBe(1);

    const { rows } = await rig.pool.query(`SELECT "stream", "shard_id", "sequence_number", "type", "row" FROM "sluice"."bad_rows"`);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ stream, shard_id: shardId, type: 'generic_error' });
    expect(rows[0].row.data.failure.errors[0]).toMatch(/realtime-views gave up on record \d+ .* after 3 attempts: TypeError: Cannot read properties/);
    expect(rows[0].row.data.payload).toContain(POISON);

    // The checkpoint is past the last record; a second attempt from it applies nothing again.
    const { rows: cp } = await rig.pool.query(`SELECT "sequence_number" FROM "sluice"."stream_checkpoints" WHERE "stream" = $1`, [stream]);
    expect(cp[0].sequence_number).toBe(first.checkpoint);
    await startConsume(activities(processor), { stream, processor: processor.name, shardId, checkpoint: first.checkpoint }).result;
    expect(await countedEvents()).toBe(40);
    expect((await rig.pool.query(`SELECT count(*)::int AS n FROM "sluice"."bad_rows"`)).rows[0].n).toBe(1);
  });

  it('an infrastructure failure is not skipped: the activity fails and nothing is marked bad', async () => {
    const { stream, shardId } = await streamWith(Array.from({ length: 5 }, (_, i) => enrichedLine(i)));
    const inner = realtimeViewsProcessor(rig.pool);
    const processor: ShardProcessor = {
      ...inner,
      async process() {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      },
    };
    await expect(startConsume(activities(processor), { stream, processor: processor.name, shardId }).result).rejects.toThrow(/ECONNREFUSED/);
    expect((await rig.pool.query(`SELECT count(*)::int AS n FROM "sluice"."bad_rows"`)).rows[0].n).toBe(0);
    expect(await countedEvents()).toBe(0);
  });
});

describe('hostile records through stream enrich on a live shard', () => {
  it('deep JSON (webhook body, tp2 body, ue_pr) and huge exponents become bad rows; the good events around them flow', async () => {
    const deepObject = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
    const base = { schema: 'iglu:com.snowplowanalytics.snowplow/CollectorPayload/thrift/1-0-0', ipAddress: '203.0.113.9', encoding: 'UTF-8', collector: 'c', timestamp: T0 };
    const good = (i: number) => ({ ...base, path: '/i', querystring: `e=pv&p=web&tv=js&eid=${randomUUID()}&url=${encodeURIComponent(`https://a.test/${i}`)}` });
    const hostile = [
      { ...base, path: '/com.snowplowanalytics.iglu/v1', contentType: 'application/json', body: deepObject(5_000) },
      { ...base, path: '/com.snowplowanalytics.snowplow/tp2', contentType: 'application/json', body: '['.repeat(5_000) + ']'.repeat(5_000) },
      { ...base, path: '/i', querystring: `e=ue&p=web&tv=js&ue_pr=${encodeURIComponent(deepObject(5_000))}` },
      { ...base, path: '/i', querystring: 'e=se&p=web&tv=js&se_ca=c&se_ac=a&se_va=1e99999999' },
    ];
    const payloads = [good(0), ...hostile.flatMap((h, i) => [h, good(i + 1)])];
    const raw = `raw-${process.pid}-${++streamSeq}`;
    const enriched = `${raw}-enriched`;
    const bad = `${raw}-bad`;
    await Promise.all([ensureStream(rig.kinesis, raw, 1), ensureStream(rig.kinesis, enriched, 1), ensureStream(rig.kinesis, bad, 1)]);
    expect((await putRecords(rig.kinesis, raw, payloads.map((p) => ({ data: encodeCollectorPayload(p), partitionKey: 'pk' })))).failed).toEqual([]);
    const shardId = (await listShards(rig.kinesis, raw))[0].shardId;
    const processor = streamEnrichProcessor(rig.kinesis, { enriched, bad });
    const result = await startConsume(activities(processor), { stream: raw, processor: processor.name, shardId }).result;

    expect(result.records).toBe(payloads.length);
    const goodLines = (await readStreamRecords(rig.kinesis, enriched)).map((b) => b.toString());
    const badRows = (await readStreamRecords(rig.kinesis, bad)).map((b) => JSON.parse(b.toString()) as { schema: string });
    expect(goodLines).toHaveLength(5);
    expect(badRows).toHaveLength(4);
    expect(badRows.map((r) => r.schema.split('/')[1]).sort()).toEqual(['adapter_failures', 'tracker_protocol_violations', 'tracker_protocol_violations', 'tracker_protocol_violations']);
  });
});

describe('a poison record in stream enrich (durable checkpoint, as the workers wire it)', () => {
  it('becomes one bad row on the bad stream; the checkpoint moves past it and a repeat adds nothing', async () => {
    const base = { schema: 'iglu:com.snowplowanalytics.snowplow/CollectorPayload/thrift/1-0-0', ipAddress: '203.0.113.9', encoding: 'UTF-8', collector: 'c', timestamp: T0 };
    const payload = (url: string) => ({ ...base, path: '/i', querystring: `e=pv&p=web&tv=js&url=${encodeURIComponent(url)}` });
    const payloads = [...Array.from({ length: 6 }, (_, i) => payload(`https://a.test/${i}`)), payload(`https://a.test/${POISON}`), payload('https://a.test/last')];
    const raw = `raw-${process.pid}-${++streamSeq}`;
    const [enriched, bad] = [`${raw}-enriched`, `${raw}-bad`];
    await Promise.all([ensureStream(rig.kinesis, raw, 1), ensureStream(rig.kinesis, enriched, 1), ensureStream(rig.kinesis, bad, 1)]);
    expect((await putRecords(rig.kinesis, raw, payloads.map((p) => ({ data: encodeCollectorPayload(p), partitionKey: 'pk' })))).failed).toEqual([]);
    const shardId = (await listShards(rig.kinesis, raw))[0].shardId;
    const failures = { n: 0 };
    const processor = withDurableCheckpoint(poisonable(streamEnrichProcessor(rig.kinesis, { enriched, bad }), failures), pgCheckpointStore(rig.pool));

    const first = await startConsume(activities(processor), { stream: raw, processor: processor.name, shardId }).result;
    expect(failures.n).toBeGreaterThanOrEqual(3);
    const badRows = (await readStreamRecords(rig.kinesis, bad)).map((b) => JSON.parse(b.toString()) as { schema: string; data: { failure: { errors: string[] } } });
    expect(badRows).toHaveLength(1);
    expect(badRows[0].data.failure.errors[0]).toMatch(/enrich gave up on record .* after 3 attempts: TypeError/);
    expect(await readStreamRecords(rig.kinesis, enriched)).toHaveLength(7);
    const durable = await pgCheckpointStore(rig.pool).read({ stream: raw, processor: processor.name, shardId });
    expect(durable).toBe(first.checkpoint);

    await startConsume(activities(processor), { stream: raw, processor: processor.name, shardId, checkpoint: first.checkpoint }).result;
    expect(await readStreamRecords(rig.kinesis, bad)).toHaveLength(1);
    expect(await readStreamRecords(rig.kinesis, enriched)).toHaveLength(7);
  });
});

describe('isRecordError', () => {
  it('tells record-tied failures from infrastructure ones', () => {
    expect(isRecordError(new RangeError('Maximum call stack size exceeded'))).toBe(true);
    expect(isRecordError(new TypeError('x is undefined'))).toBe(true);
    expect(isRecordError(Object.assign(new Error('invalid input syntax for type json'), { code: '22P02', severity: 'ERROR' }))).toBe(true);
    expect(isRecordError(Object.assign(new Error('terminating connection'), { code: '57P01', severity: 'FATAL' }))).toBe(false);
    expect(isRecordError(Object.assign(new TypeError('fetch failed'), { cause: new Error('ECONNREFUSED') }))).toBe(false);
    expect(isRecordError(new Error('3 records refused by raw after retries'))).toBe(false);
  });

  it('isolatePoison propagates an infrastructure error met while isolating, keeping what was committed', async () => {
    const recs: StreamRecord[] = ['1', '2', '3'].map((s) => ({ sequenceNumber: s, partitionKey: 'p', data: Buffer.from(s), arrivalMs: 0 }));
    const committed: string[] = [];
    const run = async ([r]: StreamRecord[]) => {
      if (r.sequenceNumber === '3') throw new Error('socket hang up');
      committed.push(r.sequenceNumber);
      return r.sequenceNumber;
    };
    await expect(isolatePoison(recs, undefined, { run, skip: async (r) => r.sequenceNumber }, { maxAttempts: 2, processor: 'p' })).rejects.toThrow('socket hang up');
    expect(committed).toEqual(['1', '2']);
  });
});
