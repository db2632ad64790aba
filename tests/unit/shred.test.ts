import { describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../adapters/object-store';
import { memoryStore } from '../helpers/memory-store';
import { type EnrichedEvent, parseEnrichedTsv, toEnrichedTsv } from '../../codecs/enriched-tsv';
import { dedupe, DUPLICATE_SCHEMA_URI, syntheticEventId } from '../../batch/dedupe';
import type { TaskInput } from '../../engine/job-types';
import { enrichedBucketPrefix, runPrefix, shredBucketPrefix } from '../../batch/layout';
import { gzipLines, PART_EXTENSION, partLines, partText } from '../../batch/run-files';
import { atomicRow } from '../../batch/shred-atomic';
import { entitiesOf, schemaUrisIn } from '../../batch/shred-event';
import { bucketOf, putRouted, routeEnrichedLines, shredMapTask, shredReduceTask } from '../../batch/shred-jobs';
import { bucketsForRawBytes, groupRawFiles, runShred, snapshotSchemas, writeEnrichedLayout } from '../../batch/shred-run';
import { COPY_NULL, normaliseTimestamp, renderValue, valueAt } from '../../batch/shred-values';
import type { BatchEngine } from '../../engine/engine';
import { ATOMIC_COLUMNS } from '../../warehouse/atomic-events';
import { inProcessEngine } from '../helpers/in-process-engine';


const ID = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

function event(n: number, extra: EnrichedEvent = {}): EnrichedEvent {
  return {
    app_id: 'shop', platform: 'web', collector_tstamp: '2026-03-01 10:00:00.123', event: 'unstruct',
    event_id: ID(n), v_collector: 'c', v_etl: 'e', event_fingerprint: `fp${n}`, ...extra,
  };
}

const contexts = (...items: unknown[]) => JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1', data: items });
const unstruct = (item: unknown) => JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0', data: item });

const CLICK = 'iglu:com.acme/link_click/jsonschema/1-0-0';
const clickSchema = {
  self: { vendor: 'com.acme', name: 'link_click', format: 'jsonschema', version: '1-0-0' },
  type: 'object',
  properties: { targetUrl: { type: 'string', maxLength: 200 }, clicks: { type: 'integer', minimum: 0, maximum: 100 } },
  required: ['targetUrl'],
};

describe('dedupe', () => {
  it('keeps the first natural duplicate and re-identifies synthetic ones deterministically', () => {
    const r = dedupe([
      { eventId: 'a', fingerprint: 'x', item: 1 },
      { eventId: 'a', fingerprint: 'x', item: 2 },
      { eventId: 'b', fingerprint: 'x', item: 3 },
      { eventId: 'b', fingerprint: 'y', item: 4 },
      { eventId: 'b', fingerprint: 'x', item: 5 },
      { eventId: 'c', fingerprint: 'z', item: 6 },
    ]);
    expect(r.natural).toBe(2);
    expect(r.synthetic).toBe(2);
    expect(r.kept).toEqual([
      { item: 1, eventId: 'a' },
      { item: 3, eventId: syntheticEventId('b', 'x'), originalEventId: 'b' },
      { item: 4, eventId: syntheticEventId('b', 'y'), originalEventId: 'b' },
      { item: 6, eventId: 'c' },
    ]);
    expect(syntheticEventId('b', 'x')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(syntheticEventId('b', 'x')).not.toBe(syntheticEventId('b', 'y'));
  });
});

describe('atomic rows', () => {
  it('has the 128 columns in order, empty = NULL, backslashes escaped', () => {
    const r = atomicRow(event(1, { page_title: 'a\\b', txn_id: '42', br_cookies: '1', tr_total: '12.50' }), { truncated: 0 });
    if (!('row' in r)) throw new Error(JSON.stringify(r.errors));
    const cols = r.row.split('\t');
    expect(cols).toHaveLength(ATOMIC_COLUMNS.length);
    expect(cols[ATOMIC_COLUMNS.indexOf('page_title')]).toBe('a\\\\b');
    expect(cols[ATOMIC_COLUMNS.indexOf('txn_id')]).toBe('42');
    expect(cols[ATOMIC_COLUMNS.indexOf('user_id')]).toBe('');
  });

  it('reports values that do not fit their column instead of failing the load', () => {
    const r = atomicRow(event(1, { txn_id: 'abc', dvce_created_tstamp: 'yesterday', br_cookies: 'maybe', v_etl: '' }), { truncated: 0 });
    expect('errors' in r && r.errors.map((e) => e.key)).toEqual(['dvce_created_tstamp', 'txn_id', 'v_etl', 'br_cookies']);
    expect('errors' in atomicRow(event(1, { event_id: 'not-a-uuid' }), { truncated: 0 })).toBe(true);
  });

  it('cuts strings to the column length and counts it', () => {
    const stats = { truncated: 0 };
    const r = atomicRow(event(1, { geo_country: 'GBR', page_url: `http://x/${'é'.repeat(5000)}` }), stats);
    if (!('row' in r)) throw new Error('expected a row');
    const cols = r.row.split('\t');
    expect(cols[ATOMIC_COLUMNS.indexOf('geo_country')]).toBe('GB');
    expect(Array.from(cols[ATOMIC_COLUMNS.indexOf('page_url')])).toHaveLength(4096);
    expect(stats.truncated).toBe(2);
  });
});

describe('values', () => {
  const s = { truncated: 0 };
  it('normalises date-times to UTC with up to microseconds', () => {
    expect(normaliseTimestamp('2026-03-01T10:00:00Z')).toBe('2026-03-01 10:00:00');
    expect(normaliseTimestamp('2026-03-01T10:00:00.120+02:00')).toBe('2026-03-01 08:00:00.12');
    expect(normaliseTimestamp('2026-03-01T23:30:00.1234567-01:30')).toBe('2026-03-02 01:00:00.123456');
    expect(normaliseTimestamp('2026-02-30T00:00:00Z')).toBeUndefined();
    expect(normaliseTimestamp('tomorrow')).toBeUndefined();
  });

  it('renders each type, escapes tabs/newlines/backslashes, replaces NUL, refuses what does not fit', () => {
    expect(renderValue('c', { kind: 'varchar', size: 10 }, 'a\tb\nc\\', s)).toBe('a\\\tb\\\nc\\\\');
    expect(renderValue('c', { kind: 'varchar', size: 10 }, 12, s)).toBe('12');
    expect(renderValue('c', { kind: 'json' }, ['a', { b: 'x\u0000y' }], s)).toBe('["a",{"b":"x\uFFFDy"}]');
    expect(renderValue('c', { kind: 'boolean' }, false, s)).toBe('false');
    expect(renderValue('c', { kind: 'decimal', precision: 36, scale: 2 }, 1e-7, s)).toBe('0.00');
    expect(renderValue('c', { kind: 'smallint' }, null, s)).toBe(COPY_NULL);
    expect(() => renderValue('c', { kind: 'smallint' }, 40000, s)).toThrow(/SMALLINT/);
    expect(() => renderValue('c', { kind: 'int' }, 1.5, s)).toThrow();
    expect(() => renderValue('c', { kind: 'boolean' }, 'true', s)).toThrow();
    expect(() => renderValue('c', { kind: 'timestamp' }, 'nope', s)).toThrow();
  });

  it('reads own properties only', () => {
    expect(valueAt({ a: { b: 1 } }, ['a', 'b'])).toBe(1);
    expect(valueAt({}, ['__proto__'])).toBeUndefined();
    expect(valueAt({}, ['constructor'])).toBeUndefined();
    expect(valueAt(JSON.parse('{"__proto__": 5}'), ['__proto__'])).toBe(5);
  });
});

describe('entities', () => {
  it('collects contexts, the unstruct event and derived contexts; reports bad ones', () => {
    const e = event(1, {
      contexts: contexts({ schema: 'iglu:com.acme/a/jsonschema/1-0-0', data: { x: 1 } }, { schema: 'iglu:bad uri', data: {} }),
      unstruct_event: unstruct({ schema: CLICK, data: { targetUrl: 'u' } }),
      derived_contexts: '{not json',
    });
    const { entities, problems } = entitiesOf(e);
    expect(entities.map((x) => [x.field, x.uri])).toEqual([['contexts', 'iglu:com.acme/a/jsonschema/1-0-0'], ['unstruct_event', CLICK]]);
    expect(problems.map((p) => p.field)).toEqual(['contexts', 'derived_contexts']);
  });

  it('finds schema URIs cheaply, skipping wrappers and invalid keys', () => {
    const uris = new Set<string>();
    schemaUrisIn([
      // JSON may escape the slashes of a URI.
      '{"schema":"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1","data":[{"schema":"iglu:com.acme\\/a\\/jsonschema\\/1-0-0","data":{}}]}',
      contexts({ schema: 'iglu:x"y/a/jsonschema/1-0-0', data: {} }),
      unstruct({ schema: CLICK, data: {} }),
      undefined,
    ], uris);
    expect([...uris].sort()).toEqual(['iglu:com.acme/a/jsonschema/1-0-0', CLICK]);
  });

  it('buckets by event id, stably', () => {
    expect(bucketOf(ID(1), 8)).toBe(bucketOf(ID(1), 8));
    const seen = new Set(Array.from({ length: 200 }, (_, i) => bucketOf(ID(i), 8)));
    expect(seen.size).toBe(8);
  });
});

describe('shred-map / shred-reduce (in-memory store)', () => {
  const RUN = 'run-unit';
  const lookup = async (uri: string) => (uri === CLICK ? clickSchema : undefined);

  async function seed(store: ObjectStore) {
    const part0 = [
      toEnrichedTsv(event(1, { unstruct_event: unstruct({ schema: CLICK, data: { targetUrl: 'http://a', clicks: 3 } }) })),
      toEnrichedTsv(event(2, { event_fingerprint: 'A', unstruct_event: unstruct({ schema: CLICK, data: { targetUrl: 'http://b' } }) })),
      'not\ta\tvalid\tline',
    ];
    const part1 = [
      toEnrichedTsv(event(1, { unstruct_event: unstruct({ schema: CLICK, data: { targetUrl: 'http://a', clicks: 3 } }) })), // natural duplicate
      toEnrichedTsv(event(2, { event_fingerprint: 'B', unstruct_event: unstruct({ schema: CLICK, data: { targetUrl: 'http://c' } }) })), // synthetic
      toEnrichedTsv(event(3, { contexts: contexts({ schema: 'iglu:com.acme/unknown/jsonschema/1-0-0', data: {} }) })), // schema missing
      toEnrichedTsv(event(4, { unstruct_event: unstruct({ schema: CLICK, data: { targetUrl: 'http://d', clicks: 100000 } }) })), // does not fit SMALLINT
    ];
    await store.put(`enriched/good/run=${RUN}/part-00000.tsv`, `${part0.join('\n')}\n`);
    await store.put(`enriched/good/run=${RUN}/part-00001.tsv`, `${part1.join('\n')}\n`);
  }

  it('de-duplicates across parts, shreds per type, sends bad events to bad rows, and a retry rewrites the same objects', async () => {
    const store = memoryStore();
    await seed(store);
    const engine = inProcessEngine(store);
    const result = await runShred({ store, engine, lookup }, { runId: RUN, inputPrefix: `enriched/good/run=${RUN}/`, buckets: 4, etlTstamp: 0 });
    expect(result).toMatchObject({ files: 2, good: 3, bad: 3, duplicates: { natural: 1, synthetic: 2 }, missingSchemas: ['iglu:com.acme/unknown/jsonschema/1-0-0'] });
    expect(result.tables).toEqual({ [CLICK]: 3, [DUPLICATE_SCHEMA_URI]: 2 });

    const atomic = (await Promise.all((await store.list(runPrefix.shredded(RUN))).map(async (k) => partText(k, await store.get(k))))).join('');
    const ids = atomic.split('\n').filter(Boolean).map((l) => l.split('\t')[ATOMIC_COLUMNS.indexOf('event_id')]).sort();
    expect(ids).toEqual([ID(1), syntheticEventId(ID(2), 'A'), syntheticEventId(ID(2), 'B')].sort());

    const typeKeys = (await store.list(runPrefix.shreddedRun(RUN))).filter((k) => k.includes('vendor='));
    const dupRows = (await Promise.all(typeKeys.filter((k) => k.includes('name=duplicate')).map(async (k) => partText(k, await store.get(k))))).join('').split('\n').filter(Boolean);
    expect(dupRows.map((r) => r.split('\t').slice(-1)[0])).toEqual([ID(2), ID(2)]);
    const clickRows = (await Promise.all(typeKeys.filter((k) => k.includes('name=link_click')).map(async (k) => partText(k, await store.get(k))))).join('').split('\n').filter(Boolean);
    expect(clickRows.map((r) => r.split('\t').slice(9)).sort()).toEqual([['http://a', '3'], ['http://b', COPY_NULL], ['http://c', COPY_NULL]]);
    expect(clickRows[0].split('\t').slice(0, 9)).toEqual(['com.acme', 'link_click', 'jsonschema', '1-0-0', expect.any(String), '2026-03-01 10:00:00.123', 'events', '["events","link_click"]', 'events']);

    const bad = (await Promise.all((await store.list(runPrefix.shreddedBad(RUN))).map(async (k) => partText(k, await store.get(k))))).join('').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(bad.map((b) => b.schema.split('/')[1]).sort()).toEqual(['loader_iglu_error', 'loader_iglu_error', 'loader_parsing_error']);
    const wrongType = bad.find((b) => JSON.stringify(b).includes('clicks'));
    expect(wrongType.data.failure[0]).toMatchObject({ schemaKey: CLICK, value: 100000 });

    // Retry everything: the same keys, the same bytes.
    const before = new Map([...store.objects].map(([k, v]) => [k, v.toString('base64')]));
    await runShred({ store, engine, lookup }, { runId: RUN, inputPrefix: `enriched/good/run=${RUN}/`, buckets: 4, etlTstamp: 0 });
    expect(new Map([...store.objects].map(([k, v]) => [k, v.toString('base64')]))).toEqual(before);
  });

  it('shreds a classic run\'s bucketed enrich output without shred-map, to the same rows as flat input', async () => {
    const flat = memoryStore();
    await seed(flat);
    const engine = inProcessEngine(flat);
    const fromFlat = await runShred({ store: flat, engine, lookup }, { runId: RUN, inputPrefix: runPrefix.enriched(RUN), buckets: 4, etlTstamp: 0 });

    // The same lines as the enrich task writes them: routed by event id, plus the layout.
    const bucketed = memoryStore();
    const schemas = new Set<string>();
    for (const [index, key] of (await flat.list(runPrefix.enriched(RUN))).entries()) {
      const routed = routeEnrichedLines(partLines(key, await flat.get(key)), 4, schemas);
      await putRouted(bucketed, (b) => enrichedBucketPrefix(RUN, b), index, routed);
    }
    await writeEnrichedLayout(bucketed, runPrefix.enriched(RUN), { buckets: 4, schemas: [...schemas].sort() });
    const ran: string[] = [];
    const recording: BatchEngine = { ...inProcessEngine(bucketed), async run(job, tasks, onProgress) { ran.push(job); return inProcessEngine(bucketed).run(job, tasks, onProgress); } };
    // The bucket count asked for is ignored: the layout's holds.
    const fromBucketed = await runShred({ store: bucketed, engine: recording, lookup }, { runId: RUN, inputPrefix: runPrefix.enriched(RUN), buckets: 9, etlTstamp: 0 });
    expect(ran).toEqual(['shred-reduce']);
    expect({ ...fromBucketed, files: 0 }).toEqual({ ...fromFlat, files: 0 });
    const outputs = async (store: ObjectStore) => new Map(await Promise.all((await store.list(runPrefix.shreddedRun(RUN))).map(async (k) => [k, partText(k, await store.get(k))] as const)));
    expect(await outputs(bucketed)).toEqual(await outputs(flat));
  });

  it('keeps only the window\'s events when reprocessing, and counts the others', async () => {
    const store = memoryStore();
    const inside = [1, 2, 3].map((i) => toEnrichedTsv(event(i, { collector_tstamp: `2026-03-01 10:0${i}:00.000` })));
    const outside = [4, 5].map((i) => toEnrichedTsv(event(i, { collector_tstamp: `2026-03-01 11:0${i}:00.000` })));
    await store.put(`enriched/good/run=${RUN}/part-00000.tsv.gz`, gzipLines([...inside, ...outside]));
    const window = { from: Date.UTC(2026, 2, 1, 10), to: Date.UTC(2026, 2, 1, 11) };
    const result = await runShred({ store, engine: inProcessEngine(store), lookup }, { runId: RUN, inputPrefix: runPrefix.enriched(RUN), buckets: 2, etlTstamp: 0, window });
    expect(result).toMatchObject({ good: 3, bad: 0, outside: 2, minTstamp: Date.UTC(2026, 2, 1, 10, 1), maxTstamp: Date.UTC(2026, 2, 1, 10, 3) });
  });

  it('routes lines by event id and sends malformed ones to bucket 0; sizes buckets from raw bytes', () => {
    const lines = [1, 2, 3, 4, 5, 6].map((i) => toEnrichedTsv(event(i, { unstruct_event: unstruct({ schema: CLICK, data: { targetUrl: 'http://a' } }) })));
    const routed = routeEnrichedLines([...lines, 'not\ta\tline'], 3);
    expect(routed.buckets.flat().sort()).toEqual([...lines, 'not\ta\tline'].sort());
    for (const [b, rows] of routed.buckets.entries()) for (const l of rows.filter((r) => r !== 'not\ta\tline')) expect(bucketOf(parseEnrichedTsv(l).event_id!, 3)).toBe(b);
    expect(routed.buckets[0]).toContain('not\ta\tline');
    expect([...routed.schemas]).toEqual([CLICK]);
    expect(bucketsForRawBytes(0)).toBe(8);
    expect(bucketsForRawBytes(129_000_000)).toBe(8);
    expect(bucketsForRawBytes(170_000_000)).toBe(16);
    expect(bucketsForRawBytes(1e15)).toBe(1024);
  });

  it('groups a run\'s raw files into enrich tasks of similar size, in listing order', () => {
    const files = (n: number, size: number) => Array.from({ length: n }, (_, i) => ({ key: `raw/f${String(i).padStart(3, '0')}`, size }));
    expect(groupRawFiles([])).toEqual([]);
    expect(groupRawFiles(files(3, 1000))).toEqual([files(3, 1000).map((f) => f.key)]);
    // 130 MB in 100 files: about 16 tasks of ~8 MB, every file once, in order.
    const bench = groupRawFiles(files(100, 1_300_000));
    expect(bench).toHaveLength(15);
    expect(bench.flat()).toEqual(files(100, 1_300_000).map((f) => f.key));
    expect(bench.slice(0, -1).every((g) => g.length === 7)).toBe(true);
    // Files larger than a task's ceiling get a task each.
    expect(groupRawFiles(files(4, 100_000_000)).map((g) => g.length)).toEqual([1, 1, 1, 1]);
  });

  it('freezes schemas per run and removes a bucket\'s stale type files and parts', async () => {
    const store = memoryStore();
    await seed(store);
    const task = (key: string, index: number): TaskInput => ({ runId: RUN, key, index, etlTstamp: 0, buckets: 1 });
    await shredMapTask(store, task(`enriched/good/run=${RUN}/part-00000.tsv`, 0));
    await shredMapTask(store, task(`enriched/good/run=${RUN}/part-00001.tsv`, 1));
    expect(await snapshotSchemas(store, RUN, [CLICK, DUPLICATE_SCHEMA_URI], lookup)).toEqual([]);
    // A later lookup returning something else does not change the frozen copy.
    expect(await snapshotSchemas(store, RUN, [CLICK], async () => undefined)).toEqual([]);
    const r1 = await shredReduceTask(store, task(shredBucketPrefix(RUN, 0), 0));
    expect(r1.tables?.[CLICK]).toBe(3);
    // Pretend the schema had been missing: the type's file for this bucket must go.
    for (const k of await store.list(runPrefix.shredSchemas(RUN))) await store.delete(k);
    const r2 = await shredReduceTask(store, task(shredBucketPrefix(RUN, 0), 0));
    expect(r2.tables?.[CLICK]).toBeUndefined();
    expect((await store.list(runPrefix.shreddedRun(RUN))).some((k) => k.includes('name=link_click'))).toBe(false);
    expect(parseEnrichedTsv(toEnrichedTsv(event(9))).event_id).toBe(ID(9));
    // Parts an earlier attempt wrote with another extension (gzip, before zstd) go too; another
    // bucket's parts and the counts stay.
    const other = PART_EXTENSION === 'tsv.zst' ? 'tsv.gz' : 'tsv.zst';
    const old = [`${runPrefix.shredded(RUN)}part-00000.${other}`, `${runPrefix.shreddedKeys(RUN)}part-00000.${other}`];
    const kept = [`${runPrefix.shredded(RUN)}part-00001.${other}`];
    for (const k of [...old, ...kept]) await store.put(k, gzipLines(['x']));
    await shredReduceTask(store, task(shredBucketPrefix(RUN, 0), 0));
    const after = await store.list(runPrefix.shreddedRun(RUN));
    expect(after.filter((k) => old.includes(k) || kept.includes(k))).toEqual(kept);
    expect(after.filter((k) => k.startsWith(runPrefix.shreddedCounts(RUN)))).toEqual([`${runPrefix.shreddedCounts(RUN)}part-00000.json`]);
  });
});
