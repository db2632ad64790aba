import { ENRICHED_FIELD_COUNT } from '../codecs/enriched-tsv';
import { MAX_SKIPPED_IN_A_ROW } from '../speed/poison';
import type { ObjectStore } from '../adapters/object-store';
import { parseSchemaUri, type SchemaKey, versionString } from '../warehouse/iglu';
import { SchemaModelError, shredModel } from '../warehouse/shred-model';
import type { TaskInput, TaskResult } from '../engine/job-types';
import { dedupe } from './dedupe';
import { partName, runPrefix, shredBucketPrefix, shreddedTypeOf, shreddedTypePrefix, shredSchemaKey } from './layout';
import { compressLines, PART_EXTENSION, partLines } from './run-files';
import { notFound } from './shred-bad-rows';
import { type Entity, schemaUrisIn } from './shred-event';
import { ENTITY_FIELDS, EVENT_ID, lineCandidate, type ModelOrFailure, pickFields, shredLine } from './shred-line';
import type { RenderStats } from './shred-values';

// The two shred phases, engine-agnostic (local threads or an EMR step run the same functions):
//  shred-map    one task per enriched part: sends each line to bucket hash(event_id) mod N and
//               reports the schema URIs it saw. Classic runs skip it: the enrich task already
//               writes its output bucketed the same way (routeEnrichedLines, batch/jobs.ts);
//  shred-reduce one task per bucket: checks each line, de-duplicates (every copy of an event_id
//               is in the same bucket), then writes the atomic.events rows and one file per
//               schema version.
// Between them the caller freezes the run's schemas in the object store (shred-run.ts).
// Every output key is a function of (run, part or bucket), so a retried task overwrites.

// Fields read from a line without splitting all of it (ascending positions, as pickFields needs;
// event_id comes first).
const ROUTE_FIELDS = [EVENT_ID, ...ENTITY_FIELDS];

/** FNV-1a of the event id: the same id always lands in the same bucket, on any host. */
export function bucketOf(eventId: string, buckets: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < eventId.length; i++) {
    h ^= eventId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % buckets;
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

/**
 * Writes routed lines as `<folder of bucket b>part-<index>.<PART_EXTENSION>` (zstd, or gzip where
 * the runtime has no zstd); empty buckets get no object.
 */
export async function putRouted(store: ObjectStore, folderOf: (bucket: number) => string, index: number, routed: RoutedLines): Promise<void> {
  const part = partName(index, PART_EXTENSION);
  await Promise.all(routed.buckets.map((rows, b) => (rows.length ? store.put(`${folderOf(b)}${part}`, compressLines(rows)) : undefined)));
}

export async function shredMapTask(store: ObjectStore, t: TaskInput): Promise<TaskResult> {
  if (!t.buckets) throw new Error(`shred-map needs a bucket count, got ${t.buckets}`);
  const routed = routeEnrichedLines(partLines(t.key, await store.get(t.key)), t.buckets);
  await putRouted(store, (b) => shredBucketPrefix(t.runId, b), t.index, routed);
  const good = routed.buckets.reduce((n, rows) => n + rows.length, 0);
  return { key: t.key, good, bad: 0, schemas: [...routed.schemas].sort() };
}

/** Reads the run's frozen schemas on demand and turns each into its table model (cached). */
export function modelSource(store: ObjectStore, t: TaskInput, frozen: Set<string>) {
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
      const c = lineCandidate(line, t.window);
      if (c === 'outside') {
        outside++;
        continue;
      }
      if ('bad' in c) {
        bad.push(c.bad);
        continue;
      }
      candidates.push({ eventId: c.eventId, fingerprint: c.fingerprint, item: line });
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
    const shredded = await shredLine(line, eventId, originalEventId, modelFor, stats);
    if ('bad' in shredded) {
      // One line never fails the task, but every line of the task failing alike is a bug (below).
      if (shredded.unhandled !== undefined && unhandled++ === 0) firstUnhandled = shredded.unhandled;
      bad.push(shredded.bad);
      continue;
    }
    const e = shredded.event;
    atomic.push(e.atomic);
    // The event's identities for "the batch wins" (docs/warehouse.md).
    keys.push(...e.keys);
    for (const [uri, r] of e.rows) {
      let list = byType.get(uri);
      if (!list) byType.set(uri, (list = []));
      list.push(r);
    }
    if (minTstamp === undefined || e.tstampMs < minTstamp) minTstamp = e.tstampMs;
    if (maxTstamp === undefined || e.tstampMs > maxTstamp) maxTstamp = e.tstampMs;
  }

  if (unhandled > MAX_SKIPPED_IN_A_ROW && unhandled === kept.length) {
    throw new Error(`shred-reduce of bucket ${bucket}: all ${unhandled} lines failed alike, so the code is at fault, not the data: ${firstUnhandled}`);
  }
  const part = partName(bucket, PART_EXTENSION);
  const atomicKey = `${runPrefix.shredded(t.runId)}${part}`;
  const keysKey = `${runPrefix.shreddedKeys(t.runId)}${part}`;
  const written = new Set<string>([atomicKey, keysKey]);
  const writes: Promise<void>[] = [
    store.put(atomicKey, compressLines(atomic)),
    store.put(keysKey, compressLines(keys)),
    store.put(`${runPrefix.shreddedBad(t.runId)}reduce/${partName(bucket, 'json')}`, jsonLines(bad)),
  ];
  const tables: Record<string, number> = {};
  for (const [uri, rows] of byType) {
    const key = parseSchemaUri(uri);
    const objectKey = `${shreddedTypePrefix(t.runId, { ...key, version: versionString(key.version) })}${part}`;
    written.add(objectKey);
    tables[uri] = rows.length;
    writes.push(store.put(objectKey, compressLines(rows)));
  }
  await Promise.all(writes);
  // What this bucket wrote on an earlier attempt but not now must not be loaded: a type whose
  // schema changed state, or a part with another extension (an attempt on a runtime without
  // zstd, or before the parts were zstd). Remove this bucket's stale parts.
  const runOut = runPrefix.shreddedRun(t.runId);
  const stem = `/${partName(bucket, '')}`;
  for (const key of await store.list(runOut)) {
    if (written.has(key) || !key.startsWith(stem, key.lastIndexOf('/'))) continue;
    const loaded = key.startsWith(runPrefix.shredded(t.runId)) || key.startsWith(runPrefix.shreddedKeys(t.runId)) || shreddedTypeOf(key.slice(runOut.length));
    if (loaded) await store.delete(key);
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
