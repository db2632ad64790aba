// Fuzz properties of what reads enrich's output downstream: the bad-rows sink's describeBadRow
// and the realtime views' viewEventsOfRecords on arbitrary bytes and damaged real records, and
// the batch shred (shred-map routing + shred-reduce, on an in-memory object store) of real and
// damaged enriched lines. Invariants: never throws, every record/line accounted for, every shred
// bad row JSON within the bad-row bound.
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { memoryStore } from '../helpers/memory-store';
import { ENRICHED_FIELD_COUNT } from '../../codecs/enriched-tsv';
import { runPrefix, shredBucketPrefix } from '../../batch/layout';
import { partText } from '../../batch/run-files';
import { putRouted, routeEnrichedLines, shredReduceTask } from '../../batch/shred-jobs';
import { snapshotSchemas } from '../../batch/shred-run';
import { DUPLICATE_SCHEMA_URI } from '../../batch/dedupe';
import { MAX_BAD_ROW_BYTES, badRowJson } from '../../enrich/bad-rows';
import { PROJECT_ROOT } from '../../enrich/default-enricher';
import { enrichPayload, protocolOnlyEnricher } from '../../enrich/enrich';
import { describeBadRow } from '../../speed/bad-rows-sink';
import { viewEventsOfRecords } from '../../speed/realtime-views';
import { ETL_VERSION } from '../../speed/stream-enrich';
import { byteMutation, deepJson, hostileKeysJson, hostileText, mutateBytes } from './hostile-arbitraries';
import { must, noThrow, short } from './invariants';
import { anyPayload } from './payload-arbitraries';
import type { FuzzProperty } from './runner';

const ETL = 1_709_294_010_000;

/** Real enrich output for a payload: its good lines and its bad rows' JSON lines. */
function enrichedOf(fp: { payload: Parameters<typeof enrichPayload>[0] }): { lines: string[]; bad: string[] } {
  const r = enrichPayload(fp.payload, { etlTstamp: ETL, etlVersion: ETL_VERSION, enricher: protocolOnlyEnricher() });
  return { lines: r.lines, bad: r.bad.map((row) => badRowJson(row)) };
}

/** Damage to one TSV line: a field replaced, fields dropped or added, bytes mutated. */
const lineDamage = fc.oneof(
  fc.record({ kind: fc.constant('field' as const), at: fc.nat(ENRICHED_FIELD_COUNT - 1), value: fc.oneof(hostileText, deepJson, hostileKeysJson, fc.constantFrom('', '9999-99-99 99:99:99.999', 'not-a-uuid', '{"schema":"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0","data":[{"schema":"iglu:com.acme/x/jsonschema/1-0-0","data":{}}]}')) }),
  fc.record({ kind: fc.constant('fields' as const), delta: fc.integer({ min: -5, max: 5 }) }),
  fc.record({ kind: fc.constant('bytes' as const), ms: fc.array(byteMutation, { minLength: 1, maxLength: 3 }) }),
);

function applyDamage(line: string, d: { kind: 'field'; at: number; value: string } | { kind: 'fields'; delta: number } | { kind: 'bytes'; ms: Parameters<typeof mutateBytes>[1] }): string {
  if (d.kind === 'bytes') return mutateBytes(Buffer.from(line), d.ms).toString('utf8');
  const fields = line.split('\t');
  if (d.kind === 'field') fields[d.at] = d.value.replace(/[\t\n]/g, ' ');
  else if (d.delta < 0) fields.length = Math.max(0, fields.length + d.delta);
  else for (let i = 0; i < d.delta; i++) fields.push('x');
  return fields.join('\t');
}

// ---- describeBadRow ----
const badRecord = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(anyPayload, fc.array(byteMutation, { maxLength: 3 })).map(([fp, ms]) => enrichedOf(fp).bad.map((b) => mutateBytes(Buffer.from(b), ms))) },
  { weight: 1, arbitrary: fc.array(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), { minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.array(fc.oneof(deepJson, hostileKeysJson, fc.constantFrom('null', '"x"', '[]', '{"schema":1}', '{"data":{"failure":{"timestamp":"9999-99-99"}}}', '{"data":{"processor":"x","failure":null}}')).map((t) => Buffer.from(t)), { minLength: 1, maxLength: 3 }) },
);

export const describeBadRowProperty: FuzzProperty<Buffer[], void> = {
  name: 'speed: describeBadRow on real, damaged and random bad-stream records',
  runs: 300,
  arbitrary: badRecord,
  async setup() {},
  inputBytes: (rs) => rs.reduce((n, r) => n + r.length, 0),
  async check(records) {
    for (const data of records) {
      const d = await noThrow('describeBadRow', () => describeBadRow({ data, arrivalMs: ETL }));
      must(typeof d.type === 'string' && d.summary.length <= 2_000, 'describe-bad-row-shape', () => `describeBadRow gave type ${short(d.type)}, summary of ${d.summary.length} chars`);
      // The row goes into a jsonb column: it must serialise.
      const json = await noThrow('describeBadRow row JSON.stringify', () => JSON.stringify(d.row));
      must(typeof json === 'string', 'describe-bad-row-json', () => 'the described row does not serialise');
    }
  },
};

// ---- viewEventsOfRecords ----
const enrichedRecords = fc.array(fc.oneof(
  { weight: 3, arbitrary: fc.tuple(anyPayload, fc.option(lineDamage, { nil: undefined })).map(([fp, d]) => enrichedOf(fp).lines.map((l) => Buffer.from(d ? applyDamage(l, d) : l))) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 400 }).map((b) => [Buffer.from(b)]) },
), { minLength: 1, maxLength: 6 }).map((xs) => xs.flat());

export const viewEventsProperty: FuzzProperty<Buffer[], void> = {
  name: 'speed: viewEventsOfRecords on real, damaged and random enriched records',
  runs: 300,
  arbitrary: enrichedRecords,
  async setup() {},
  inputBytes: (rs) => rs.reduce((n, r) => n + r.length, 0),
  async check(records) {
    const out = await noThrow('viewEventsOfRecords', () => viewEventsOfRecords(records.map((data) => ({ data }))));
    must(out.events.length + out.unparsable === records.length, 'view-accounting', () => `${records.length} records gave ${out.events.length} events + ${out.unparsable} unparsable`);
    for (const e of out.events) must(Number.isFinite(e.collectorTstamp), 'view-event-tstamp', () => `a view event with collector time ${e.collectorTstamp}`);
  },
};

// ---- batch shred of enriched lines ----

const RUN = 'run-fuzz';
/** The local Iglu registry as the run's schema lookup (what snapshotSchemas freezes). */
async function readSchema(uri: string): Promise<object | undefined> {
  const m = /^iglu:([^/]+)\/([^/]+)\/([^/]+)\/([0-9]+-[0-9]+-[0-9]+)$/.exec(uri);
  if (!m) return undefined;
  const file = path.join(PROJECT_ROOT, 'schemas', m[1], m[2], m[3], m[4]);
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as object) : undefined;
}
const SCHEMA_URIS = ['iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1', 'iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0', 'iglu:com.snowplowanalytics.snowplow/client_session/jsonschema/1-0-2'];

export const shredProperty: FuzzProperty<string[], void> = {
  name: 'batch: shred-map routing + shred-reduce of real and damaged enriched lines',
  runs: 150,
  arbitrary: fc.array(fc.tuple(anyPayload, fc.option(lineDamage, { nil: undefined }), fc.boolean()), { minLength: 1, maxLength: 6 })
    .map((xs) => xs.flatMap(([fp, d, twice]) => {
      // A part file holds one line per event: a damaged line cannot hold a line break, and an empty line is no line (partLines skips it).
      const lines = enrichedOf(fp).lines.map((l) => (d ? applyDamage(l, d) : l)).filter((l) => l.length > 0 && !/[\n\r]/.test(l));
      return twice ? [...lines, ...lines] : lines; // the same event twice: a natural duplicate
    })),
  async setup() {},
  inputBytes: (ls) => ls.reduce((n, l) => n + l.length, 0),
  async check(lines) {
    const store = memoryStore();
    const buckets = 2;
    const routed = await noThrow('routeEnrichedLines', () => routeEnrichedLines(lines, buckets));
    must(routed.buckets.flat().length === lines.length, 'shred-route-accounting', () => `${lines.length} lines routed into ${routed.buckets.flat().length}`);
    await putRouted(store, (b) => shredBucketPrefix(RUN, b), 0, routed);
    await snapshotSchemas(store, RUN, new Set([DUPLICATE_SCHEMA_URI, ...SCHEMA_URIS, ...routed.schemas]), readSchema);
    let good = 0;
    let bad = 0;
    let dropped = 0;
    for (let b = 0; b < buckets; b++) {
      const r = await noThrow('shredReduceTask', () => shredReduceTask(store, { runId: RUN, key: shredBucketPrefix(RUN, b), index: b, etlTstamp: ETL }));
      good += r.good;
      bad += r.bad;
      dropped += r.duplicates?.natural ?? 0;
    }
    must(good + bad + dropped === lines.length, 'shred-accounting', () => `${lines.length} lines gave ${good} rows + ${bad} bad + ${dropped} natural duplicates`);
    for (const key of await store.list(runPrefix.shreddedBad(RUN))) {
      for (const row of partText(key, await store.get(key)).split('\n').filter(Boolean)) {
        const bytes = Buffer.byteLength(row);
        must(bytes <= MAX_BAD_ROW_BYTES, 'shred-bad-row-size', () => `a shred bad row of ${bytes} bytes > ${MAX_BAD_ROW_BYTES}`);
        let ok = true;
        try { JSON.parse(row); } catch { ok = false; }
        must(ok, 'shred-bad-row-json', () => `a shred bad row is not JSON: ${short(row)}`);
      }
    }
  },
};
