import { describe, expect, it } from 'vitest';
import type { StreamRecord } from '../../adapters/kinesis';
import { genericError, processorFor, sizeViolation, trackerProtocolViolations } from '../../enrich/bad-rows';
import { makeLogger } from '../../observability/logger';
import { buildServingApp } from '../../serving/app';
import { StaleCheckpointError } from '../../speed/processor';
import { badRowsSinkProcessor, describeBadRow } from '../../speed/bad-rows-sink';
import { useStandins } from '../helpers/rig';

// The bad-rows sink against real s3rver and PostgreSQL, and its search through the serving API.

const rig = useStandins({ postgres: true, s3: true });

const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);
const processor = processorFor('sluice-enrich-0.1.0');
const rows = [
  genericError(processor, T0, 'payload-1', ['boom: 100% broken_thing']),
  sizeViolation(processor, T0 + 1_000, 'x'.repeat(100), 1_000_000, 2_000_000, 'A record must fit in 1 MB'),
  trackerProtocolViolations(processor, T0 + 2_000, { vendor: 'com.snowplowanalytics.snowplow', version: 'tp2', querystring: [], contentType: null, body: null, collector: 'c', encoding: 'UTF-8', hostname: null, timestamp: null, ipAddress: null, useragent: null, refererUri: null, headers: [], networkUserId: null } as never, [{ field: 'eid', value: 'not-a-uuid', expectation: 'not a valid UUID' }]),
];

let seq = 1000n;
const record = (data: string, arrivalMs: number): StreamRecord => ({ sequenceNumber: String((seq += 3n)), partitionKey: 'pk', data: Buffer.from(data), arrivalMs });

describe('describeBadRow', () => {
  it('reads type, schema, processor, failure time and a summary; keeps non-JSON whole', () => {
    const d = describeBadRow(record(JSON.stringify(rows[1]), T0));
    expect(d).toMatchObject({ type: 'size_violation', schema: rows[1].schema, processor: 'sluice-enrich 0.1.0', failureTstamp: T0 + 1_000 });
    expect(d.summary).toContain('1 MB');
    const junk = describeBadRow(record('\u0000not json', T0));
    expect(junk).toMatchObject({ type: 'unparsable', schema: null });
    expect(Buffer.from((junk.row as { base64: string }).base64, 'base64').toString()).toBe('\u0000not json');
  });
});

describe('bad-rows sink', () => {
  it('stores each record once in the table and in files, and the API searches them', async () => {
    const sink = badRowsSinkProcessor(rig.store, rig.pool, { maxRecords: 10, maxBytes: 1 << 20, maxAgeMs: 1_000 });
    const records = [...rows.map((r, i) => record(JSON.stringify(r), T0 + i * 1_000)), record('not json at all', T0 + 5_000)];
    const ctx = { stream: 'sluice-bad', shardId: 'shardId-000000000000' };
    expect(await sink.process(records, ctx, {})).toBe(records[3].sequenceNumber);
    // A repeated (stale) attempt of the same records finds the checkpoint moved: nothing new.
    await expect(sink.process(records, ctx, {})).rejects.toThrow(StaleCheckpointError);
    const { rows: stored } = await rig.pool.query('SELECT "type" FROM "sluice"."bad_rows" ORDER BY "received_at"');
    expect(stored.map((r) => r.type)).toEqual(['generic_error', 'size_violation', 'tracker_protocol_violations', 'unparsable']);
    const files = await rig.store.list('bad/in/');
    expect(files).toHaveLength(1);
    const lines = (await rig.store.get(files[0])).toString().trim().split('\n');
    expect(lines).toEqual(records.map((r) => r.data.toString()));

    const app = buildServingApp(rig.pool, makeLogger('test', 'silent'));
    const search = async (qs: string) => {
      const res = await app.inject({ url: `/v1/badrows?${qs}` });
      expect(res.statusCode).toBe(200);
      return res.json() as { counts: { type: string; count: number }[]; rows: { type: string; summary: string }[] };
    };
    const all = await search('');
    expect(all.rows).toHaveLength(4);
    expect(all.counts).toContainEqual({ type: 'size_violation', count: 1 });
    expect((await search('type=tracker_protocol_violations')).rows.map((r) => r.type)).toEqual(['tracker_protocol_violations']);
    // Text search treats LIKE wildcards in the user's text literally.
    expect((await search(`q=${encodeURIComponent('100% broken_thing')}`)).rows.map((r) => r.type)).toEqual(['generic_error']);
    expect((await search(`q=${encodeURIComponent('%')}`)).rows).toHaveLength(1);
    expect((await search('q=not-a-uuid')).rows.map((r) => r.type)).toEqual(['tracker_protocol_violations']);
    const window = await search(`from=${new Date(T0 + 1_000).toISOString()}&to=${new Date(T0 + 3_000).toISOString()}`);
    expect(window.rows.map((r) => r.type)).toEqual(['tracker_protocol_violations', 'size_violation']);
    expect((await search(`schema=${encodeURIComponent(rows[0].schema)}`)).rows).toHaveLength(1);
    expect((await app.inject({ url: '/v1/badrows?type=x%27%3B%20drop' })).statusCode).toBe(400);
    expect((await app.inject({ url: '/v1/badrows?limit=100000' })).statusCode).toBe(400);
    await app.close();
  });
});

describe('the bad-rows sink and what PostgreSQL refuses (issue #16)', () => {
  it('stores rows holding NUL, lone surrogates and an escaped-looking surrogate pair; a row still refused is kept as unstorable', async () => {
    const p = processorFor('sluice-enrich-0.1.0');
    const at = Date.UTC(2026, 11, 1);
    const rows = [
      genericError(p, at, 'nul \u0000 inside', ['a NUL']),
      genericError(p, at, 'lone \ud800 high and \udc00 low', ['lone surrogates']),
      genericError(p, at, '\\ud83d\ude00', ['the text \\ud83d then a lone low surrogate']),
    ].map((r) => JSON.stringify(r));
    // A key PostgreSQL refuses: the replacer cleans values, not keys.
    rows.push(JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow.badrows/generic_error/jsonschema/1-0-0', data: { 'key\u0000': 1 } }));
    const stream = 'badrows-unsafe';
    const records: StreamRecord[] = rows.map((r, i) => ({ sequenceNumber: String(9000 + i), partitionKey: 'p', data: Buffer.from(r), arrivalMs: at }));
    const sink = badRowsSinkProcessor(rig.store, rig.pool, { maxRecords: 100, maxBytes: 1e9, maxAgeMs: 60_000 });
    await sink.process(records, { stream, shardId: 'shardId-000000000000' }, {});
    const { rows: stored } = await rig.pool.query(`SELECT "sequence_number", "type", "row" FROM "sluice"."bad_rows" WHERE "stream" = $1 ORDER BY "sequence_number"`, [stream]);
    expect(stored.map((r) => r.type)).toEqual(['generic_error', 'generic_error', 'generic_error', 'unstorable']);
    expect(stored[0].row.data.payload).toBe('nul \ufffd inside');
    expect(stored[1].row.data.payload).toBe('lone \ufffd high and \ufffd low');
    expect(stored[2].row.data.payload).toBe('\\ud83d\ufffd');
    expect(Buffer.from(stored[3].row.base64, 'base64').toString()).toBe(rows[3]);
  });
});
