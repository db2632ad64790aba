import { createHash } from 'node:crypto';
import { ENRICHED_FIELD_COUNT, ENRICHED_FIELDS, parseEnrichedTsv, parseTstamp } from '../codecs/enriched-tsv';
import { describeError, isRecordError, MAX_SKIPPED_IN_A_ROW } from '../speed/poison';
import type { ObjectStore } from '../adapters/object-store';
import { parseSchemaUri, type SchemaKey, versionString } from '../warehouse/iglu';
import { SchemaModelError, shredModel, type ShredModel } from '../warehouse/shred-model';
import { dedupe, DUPLICATE_SCHEMA_URI } from './dedupe';
import type { TaskInput, TaskResult } from './jobs';
import { partName, runPrefix, shredBucketPrefix, shreddedTypeOf, shreddedTypePrefix, shredSchemaKey } from './layout';
import { gzipLines, partLines, TEXT_PART_EXTENSION } from './run-files';
import { atomicRowFromFields, copySafeLine } from './shred-atomic';
import { igluBadRow, type IgluFailure, notFound, parsingBadRow } from './shred-bad-rows';
import { type Entity, entitiesOf, schemaUrisIn } from './shred-event';
import { type RenderStats, shreddedRow, ValueError } from './shred-values';

// The two shred phases, engine-agnostic (local threads or an EMR step run the same functions):
//  shred-map    one task per enriched part: sends each line to bucket hash(event_id) mod N and
//               reports the schema URIs it saw. Classic runs skip it: the enrich task already
//               writes its output bucketed the same way (routeEnrichedLines, batch/jobs.ts);
//  shred-reduce one task per bucket: checks each line, de-duplicates (every copy of an event_id
//               is in the same bucket), then writes the atomic.events rows and one file per
//               schema version.
// Between them the caller freezes the run's schemas in the object store (shred-run.ts).
// Every output key is a function of (run, part or bucket), so a retried task overwrites.

const EVENT_ID = ENRICHED_FIELDS.indexOf('event_id');
const FINGERPRINT = ENRICHED_FIELDS.indexOf('event_fingerprint');
const COLLECTOR_TSTAMP = ENRICHED_FIELDS.indexOf('collector_tstamp');
const ENTITY_FIELDS = (['contexts', 'unstruct_event', 'derived_contexts'] as const).map((f) => ENRICHED_FIELDS.indexOf(f));
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

// Fields read from a line without splitting all of it (ascending positions, as pickFields needs;
// event_id comes first in both).
const ROUTE_FIELDS = [EVENT_ID, ...ENTITY_FIELDS];
const KEY_FIELDS = [COLLECTOR_TSTAMP, EVENT_ID, FINGERPRINT];
const keyScratch: string[] = [];

/**
 * Copies the fields at `positions` (ascending) of a tab-separated line into `out`, in that order,
 * and returns the line's field count. A line split whole costs one string per field (~130);
 * routing and de-duplication read three or four of them.
 */
export function pickFields(line: string, positions: readonly number[], out: string[]): number {
  out.length = 0;
  let want = 0;
  let field = 0;
  for (let start = 0; ; field++) {
    const tab = line.indexOf('\t', start);
    if (want < positions.length && positions[want] === field) {
      out.push(line.slice(start, tab < 0 ? line.length : tab));
      want++;
    }
    if (tab < 0) return field + 1;
    start = tab + 1;
  }
}

/** FNV-1a of the event id: the same id always lands in the same bucket, on any host. */
export function bucketOf(eventId: string, buckets: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < eventId.length; i++) {
    h ^= eventId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % buckets;
}

/** A reprocess replays whole files; only the window's events are replaced (malformed times are not in it). */
function inWindow(collectorTstamp: string, window: { from: number; to: number }): boolean {
  try {
    const t = parseTstamp(collectorTstamp);
    return t >= window.from && t < window.to;
  } catch {
    return false;
  }
}

export interface RoutedLines {
  /** Lines per bucket. */
  buckets: string[][];
  /** The Iglu schema URIs the lines' entities name. */
  schemas: Set<string>;
}

/**
 * Sends each enriched line to bucket hash(event_id) mod `buckets` and collects the schema URIs
 * its entities name. Checks nothing: a line with the wrong field count goes to bucket 0, where
 * shred-reduce turns it into a bad row with every other check. Pure.
 */
export function routeEnrichedLines(lines: Iterable<string>, buckets: number, schemas = new Set<string>()): RoutedLines {
  if (!Number.isInteger(buckets) || buckets < 1) throw new Error(`routing enriched lines needs a bucket count, got ${buckets}`);
  const out: string[][] = Array.from({ length: buckets }, () => []);
  const picked: string[] = [];
  for (const line of lines) {
    if (pickFields(line, ROUTE_FIELDS, picked) !== ENRICHED_FIELD_COUNT) {
      out[0].push(line);
      continue;
    }
    out[bucketOf(picked[0], buckets)].push(line);
    schemaUrisIn(picked.slice(1), schemas);
  }
  return { buckets: out, schemas };
}

/** Writes routed lines as `<folder of bucket b>part-<index>.tsv.gz`; empty buckets get no object. */
export async function putRouted(store: ObjectStore, folderOf: (bucket: number) => string, index: number, routed: RoutedLines): Promise<void> {
  const part = partName(index, TEXT_PART_EXTENSION);
  await Promise.all(routed.buckets.map((rows, b) => (rows.length ? store.put(`${folderOf(b)}${part}`, gzipLines(rows)) : undefined)));
}

export async function shredMapTask(store: ObjectStore, t: TaskInput): Promise<TaskResult> {
  if (!t.buckets) throw new Error(`shred-map needs a bucket count, got ${t.buckets}`);
  const routed = routeEnrichedLines(partLines(t.key, await store.get(t.key)), t.buckets);
  await putRouted(store, (b) => shredBucketPrefix(t.runId, b), t.index, routed);
  const good = routed.buckets.reduce((n, rows) => n + rows.length, 0);
  return { key: t.key, good, bad: 0, schemas: [...routed.schemas].sort() };
}

type ModelOrFailure = { model: ShredModel } | { failure: IgluFailure };

/** Reads the run's frozen schemas on demand and turns each into its table model (cached). */
function modelSource(store: ObjectStore, t: TaskInput, frozen: Set<string>) {
  const cache = new Map<string, Promise<ModelOrFailure>>();
  const load = async (uri: string, key: SchemaKey): Promise<ModelOrFailure> => {
    const objectKey = shredSchemaKey(t.runId, { ...key, version: versionString(key.version) });
    if (!frozen.has(objectKey)) return { failure: notFound(uri, t.etlTstamp) };
    try {
      return { model: shredModel(key, JSON.parse((await store.get(objectKey)).toString('utf8'))) };
    } catch (err) {
      if (err instanceof SchemaModelError || err instanceof SyntaxError) return { failure: { schemaKey: uri, message: err.message } };
      throw err;
    }
  };
  return (e: Entity) => {
    let p = cache.get(e.uri);
    if (!p) cache.set(e.uri, (p = load(e.uri, e.key)));
    return p;
  };
}

/** What shred-reduce's first pass reads of a line, without splitting all of it. */
export interface LineKeys {
  fieldCount: number;
  eventId: string;
  collectorTstamp: string;
  fingerprint: string;
}

export function lineKeys(line: string): LineKeys {
  const fieldCount = pickFields(line, KEY_FIELDS, keyScratch);
  const [collectorTstamp = '', eventId = '', fingerprint = ''] = keyScratch;
  return { fieldCount, eventId, collectorTstamp, fingerprint };
}

export async function shredReduceTask(store: ObjectStore, t: TaskInput): Promise<TaskResult> {
  const bucket = t.index;
  const [inputs, frozenKeys] = await Promise.all([store.list(t.key), store.list(runPrefix.shredSchemas(t.runId))]);
  const modelFor = modelSource(store, t, new Set(frozenKeys));
  const bad: string[] = [];
  // Only the lines are held until de-duplication (parsed events are several times larger).
  const candidates: { eventId: string; fingerprint: string; item: string }[] = [];
  // Inputs are read in part order, so "the first" natural duplicate is the same on every retry.
  let outside = 0;
  for (const key of inputs) {
    for (const line of partLines(key, await store.get(key))) {
      const { fieldCount, eventId, collectorTstamp, fingerprint } = lineKeys(line);
      if (fieldCount !== ENRICHED_FIELD_COUNT) {
        bad.push(parsingBadRow(line, { type: 'FieldNumberMismatch', fieldCount }));
        continue;
      }
      if (t.window && !inWindow(collectorTstamp, t.window)) {
        outside++;
        continue;
      }
      if (!UUID.test(eventId)) {
        bad.push(parsingBadRow(line, { type: 'RowDecodingError', errors: [{ type: 'InvalidValue', key: 'event_id', value: eventId, message: 'not a UUID' }] }));
        continue;
      }
      candidates.push({ eventId, fingerprint: fingerprint || `line:${createHash('sha1').update(line).digest('hex')}`, item: line });
    }
  }
  const { kept, natural, synthetic } = dedupe(candidates);
  candidates.length = 0;

  const stats: RenderStats = { truncated: 0 };
  const atomic: string[] = [];
  const keys: string[] = [];
  const byType = new Map<string, string[]>();
  let minTstamp: number | undefined;
  let maxTstamp: number | undefined;
  let unhandled = 0;
  let firstUnhandled = '';
  for (const { item: line, eventId, originalEventId } of kept) {
    try {
      const fields = line.split('\t');
      const row = atomicRowFromFields(fields, eventId, copySafeLine(line), stats);
      if ('errors' in row) {
        bad.push(parsingBadRow(line, { type: 'RowDecodingError', errors: row.errors }));
        continue;
      }
      const [contexts, unstruct, derived] = ENTITY_FIELDS.map((i) => fields[i]);
      const { entities, problems } = entitiesOf({ contexts, unstruct_event: unstruct, derived_contexts: derived });
      if (originalEventId) {
        entities.push({ field: 'derived_contexts', uri: DUPLICATE_SCHEMA_URI, key: parseSchemaUri(DUPLICATE_SCHEMA_URI), data: { originalEventId } });
      }
      const collectorTstamp = fields[COLLECTOR_TSTAMP];
      const failures: IgluFailure[] = problems.map((p) => ({ schemaKey: p.uri ?? p.field, message: p.message }));
      const rows: [string, string][] = [];
      for (const e of entities) {
        const m = await modelFor(e);
        if ('failure' in m) {
          failures.push(m.failure);
          continue;
        }
        try {
          rows.push([e.uri, shreddedRow(m.model, eventId, collectorTstamp, e.data, stats)]);
        } catch (err) {
          if (!(err instanceof ValueError)) throw err;
          failures.push({ schemaKey: e.uri, value: err.value ?? null, expected: `${err.column}: ${err.expected}` });
        }
      }
      if (failures.length) {
        const parsed = parseEnrichedTsv(line);
        bad.push(igluBadRow(eventId === parsed.event_id ? parsed : { ...parsed, event_id: eventId }, failures));
        continue;
      }
      const ts = parseTstamp(collectorTstamp);
      atomic.push(row.row);
      // The event's identity for "the batch wins" (docs/warehouse.md): the id it arrived with.
      keys.push(`${originalEventId ?? eventId}\t${collectorTstamp}`);
      for (const [uri, r] of rows) {
        let list = byType.get(uri);
        if (!list) byType.set(uri, (list = []));
        list.push(r);
      }
      if (minTstamp === undefined || ts < minTstamp) minTstamp = ts;
      if (maxTstamp === undefined || ts > maxTstamp) maxTstamp = ts;
    } catch (err) {
      // One line never fails the task: what its content makes throw (nothing is pushed before the
      // last check) is its bad row. The object store or a schema lookup failing is not the line's,
      // nor is every line of the task failing (a bug, below).
      if (!isRecordError(err)) throw err;
      if (unhandled++ === 0) firstUnhandled = describeError(err);
      bad.push(parsingBadRow(line, { type: 'RowDecodingError', errors: [{ type: 'UnhandledRowDecodingError', message: describeError(err) }] }));
    }
  }

  if (unhandled > MAX_SKIPPED_IN_A_ROW && unhandled === kept.length) {
    throw new Error(`shred-reduce of bucket ${bucket}: all ${unhandled} lines failed alike, so the code is at fault, not the data: ${firstUnhandled}`);
  }
  const part = partName(bucket, TEXT_PART_EXTENSION);
  const written = new Set<string>();
  const writes: Promise<void>[] = [
    store.put(`${runPrefix.shredded(t.runId)}${part}`, gzipLines(atomic)),
    store.put(`${runPrefix.shreddedKeys(t.runId)}${part}`, gzipLines(keys)),
    store.put(`${runPrefix.shreddedBad(t.runId)}reduce/${partName(bucket, 'json')}`, jsonLines(bad)),
  ];
  const tables: Record<string, number> = {};
  for (const [uri, rows] of byType) {
    const key = parseSchemaUri(uri);
    const objectKey = `${shreddedTypePrefix(t.runId, { ...key, version: versionString(key.version) })}${part}`;
    written.add(objectKey);
    tables[uri] = rows.length;
    writes.push(store.put(objectKey, gzipLines(rows)));
  }
  await Promise.all(writes);
  // A type this bucket wrote on an earlier attempt but not now (its schema changed state) must
  // not be loaded: remove this bucket's stale type files.
  const runOut = runPrefix.shreddedRun(t.runId);
  for (const key of await store.list(runOut)) {
    if (key.endsWith(`/${part}`) && shreddedTypeOf(key.slice(runOut.length)) && !written.has(key)) await store.delete(key);
  }
  // Written last: the loader trusts these counts only once every output above exists.
  await store.put(`${runPrefix.shreddedCounts(t.runId)}${partName(bucket, 'json')}`, JSON.stringify({ atomic: atomic.length, tables }));
  return {
    key: t.key,
    good: atomic.length,
    bad: bad.length,
    minTstamp,
    maxTstamp,
    tables,
    duplicates: { natural, synthetic },
    truncated: stats.truncated,
    ...(t.window ? { outside } : {}),
  };
}

// An empty Buffer (not '') so the S3 client still sends Content-Length: 0.
const jsonLines = (rows: string[]): string | Buffer => (rows.length ? `${rows.join('\n')}\n` : Buffer.alloc(0));
