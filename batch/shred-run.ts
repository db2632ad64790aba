import type { ObjectStore } from '../adapters/object-store';
import type { BatchEngine } from '../engine/engine';
import type { TaskInput, TaskResult } from '../engine/job-types';
import { BUILTIN_SCHEMAS } from '../warehouse/builtin-schemas';
import { assertSelfMatches, parseSchemaUri, type SchemaLookup, versionString } from '../warehouse/iglu';
import { DUPLICATE_SCHEMA_URI } from './dedupe';
import { assertRunId, bucketFolder, ENRICHED_LAYOUT, type EnrichedLayout, runPrefix, shredBucketPrefix, shredSchemaKey } from './layout';

// The shred step of a run: shred-map over the enriched parts, the run's schemas frozen in the
// object store, shred-reduce over the buckets. A classic run's enriched output is bucketed
// already (ENRICHED_LAYOUT says so), and its shred step starts at the schema freeze. The batch
// activity calls runShred with its engine and the Iglu lookup; nothing here depends on which
// engine runs the tasks.

/** Buckets per run unless the caller chooses: enough to spread reduce work over a few threads. */
export const DEFAULT_SHRED_BUCKETS = 8;

// Raw lzop bytes per bucket: about 150,000 tp2 events (~130 bytes each in the raw files), which
// one shred-reduce task holds in memory (~0.6 GB); events sent one per GET request take more raw
// bytes each, so their buckets are smaller.
const RAW_BYTES_PER_BUCKET = 20_000_000;

/**
 * A classic run's bucket count from the size of its raw files: a multiple of
 * DEFAULT_SHRED_BUCKETS (so the engine's threads finish the reduce together), at most 1024.
 */
export function bucketsForRawBytes(bytes: number): number {
  const needed = Math.max(1, Math.ceil(bytes / RAW_BYTES_PER_BUCKET));
  return Math.min(1024, Math.ceil(needed / DEFAULT_SHRED_BUCKETS) * DEFAULT_SHRED_BUCKETS);
}

// Raw bytes per enrich task: each task writes one part per bucket, so fewer, larger tasks mean
// fewer objects to write, read and archive; aiming at 16 tasks keeps both threads busy to the end.
const ENRICH_TASKS_AIMED = 16;
const RAW_BYTES_PER_TASK = { min: 4_000_000, max: 32_000_000 };

/** A run's raw files (in listing order) grouped into enrich tasks of similar size. Pure. */
export function groupRawFiles(objects: readonly { key: string; size: number }[]): string[][] {
  const total = objects.reduce((n, o) => n + o.size, 0);
  const target = Math.min(RAW_BYTES_PER_TASK.max, Math.max(RAW_BYTES_PER_TASK.min, total / ENRICH_TASKS_AIMED));
  const groups: string[][] = [];
  let bytes = Infinity;
  for (const o of objects) {
    if (bytes >= target) {
      groups.push([]);
      bytes = 0;
    }
    groups[groups.length - 1].push(o.key);
    bytes += o.size;
  }
  return groups;
}

/** A classic run's enrich tasks: its raw files grouped by groupRawFiles, each task bucketing its events into `buckets`. Pure. */
export function enrichTasks(runId: string, objects: readonly { key: string; size: number }[], buckets: number, etlTstamp: number): TaskInput[] {
  return groupRawFiles(objects).map((keys, index) => ({ runId, key: keys[0], keys, index, etlTstamp, buckets }));
}

export interface ShredRunDeps {
  store: ObjectStore;
  engine: BatchEngine;
  lookup: SchemaLookup;
}

export interface ShredRunArgs {
  runId: string;
  /** Folder of the run's enriched parts (runPrefix.enriched(runId) in both modes). */
  inputPrefix: string;
  /**
   * For flat input (stream-enrich mode); must stay the same for every attempt of a run (keep it
   * in workflow state). Bucketed input keeps the bucket count it was written with.
   */
  buckets: number;
  /** Stamped into bad rows; any fixed value per run. */
  etlTstamp: number;
  /** Cancels the running engine step (activity cancellation). */
  signal?: AbortSignal;
  /** Reprocessing: shred only the events with collector_tstamp in [from, to). */
  window?: { from: number; to: number };
}

export interface ShredRunResult {
  files: number;
  /** Rows in atomic.events after de-duplication. */
  good: number;
  /** Bad rows written by shred-reduce. */
  bad: number;
  /** Reprocessing: events of the replayed files outside the window (left alone). */
  outside?: number;
  minTstamp?: number;
  maxTstamp?: number;
  buckets: number;
  duplicates: { natural: number; synthetic: number };
  /** Rows per schema version URI. */
  tables: Record<string, number>;
  /** Schemas the lookup could not provide (their events are bad rows). */
  missingSchemas: string[];
  truncated: number;
}

export type ShredProgress = (phase: 'shred-map' | 'shred-reduce', done: number, total: number) => void;

/** The layout an enrich step left beside its bucket folders, or undefined for flat input. */
export async function readEnrichedLayout(store: ObjectStore, inputPrefix: string): Promise<EnrichedLayout | undefined> {
  const key = `${inputPrefix}${ENRICHED_LAYOUT}`;
  if (!(await store.exists(key))) return undefined;
  const layout = JSON.parse((await store.get(key)).toString('utf8')) as EnrichedLayout;
  if (!Number.isInteger(layout.buckets) || layout.buckets < 1 || layout.buckets > 4096 || !Array.isArray(layout.schemas)) {
    throw new Error(`${key} is not an enriched layout: ${JSON.stringify(layout).slice(0, 200)}`);
  }
  return layout;
}

export async function writeEnrichedLayout(store: ObjectStore, outputPrefix: string, layout: EnrichedLayout): Promise<void> {
  await store.put(`${outputPrefix}${ENRICHED_LAYOUT}`, JSON.stringify(layout), 'application/json');
}

/**
 * Freezes the run's schemas under runPrefix.shredSchemas(runId): each URI is looked up once per
 * run (a copy already there is kept, so a retried step shreds with the same schemas). Returns
 * the URIs with no schema.
 */
export async function snapshotSchemas(store: ObjectStore, runId: string, uris: Iterable<string>, lookup: SchemaLookup): Promise<string[]> {
  const frozen = new Set(await store.list(runPrefix.shredSchemas(runId)));
  const missing: string[] = [];
  const todo = [...new Set(uris)].sort();
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const uri = todo[next++];
      const key = parseSchemaUri(uri);
      const objectKey = shredSchemaKey(runId, { ...key, version: versionString(key.version) });
      if (frozen.has(objectKey)) continue;
      const schema = (await lookup(uri)) ?? BUILTIN_SCHEMAS[uri];
      if (!schema) {
        missing.push(uri);
        continue;
      }
      try {
        assertSelfMatches(key, schema);
      } catch {
        missing.push(uri);
        continue;
      }
      await store.put(objectKey, JSON.stringify(schema), 'application/json');
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return missing.sort();
}

export async function runShred(deps: ShredRunDeps, args: ShredRunArgs, onProgress: ShredProgress = () => undefined): Promise<ShredRunResult> {
  const runId = assertRunId(args.runId);
  const options = { signal: args.signal };
  const layout = await readEnrichedLayout(deps.store, args.inputPrefix);
  const buckets = layout?.buckets ?? args.buckets;
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > 4096) throw new Error(`invalid shred bucket count ${buckets}`);
  const base = { runId, etlTstamp: args.etlTstamp, buckets };
  args.signal?.throwIfAborted();

  const uris = new Set<string>([DUPLICATE_SCHEMA_URI, ...(layout?.schemas ?? [])]);
  let files: number;
  let folderOf: (bucket: number) => string;
  if (layout) {
    files = (await deps.store.list(args.inputPrefix)).filter((k) => !k.endsWith(ENRICHED_LAYOUT)).length;
    folderOf = (b) => bucketFolder(args.inputPrefix, b);
  } else {
    const keys = await deps.store.list(args.inputPrefix);
    files = keys.length;
    const mapTasks: TaskInput[] = keys.map((key, index) => ({ ...base, key, index }));
    const mapped = await deps.engine.run('shred-map', mapTasks, (d, t) => onProgress('shred-map', d, t), options);
    for (const r of mapped) for (const u of r.schemas ?? []) uris.add(u);
    folderOf = (b) => shredBucketPrefix(runId, b);
  }
  const missingSchemas = await snapshotSchemas(deps.store, runId, uris, deps.lookup);

  const window = args.window ? { window: args.window } : {};
  const reduceTasks: TaskInput[] = Array.from({ length: buckets }, (_, b) => ({ ...base, key: folderOf(b), index: b, ...window }));
  const reduced = await deps.engine.run('shred-reduce', reduceTasks, (d, t) => onProgress('shred-reduce', d, t), options);
  return summarise(files, buckets, reduced, missingSchemas);
}

function summarise(files: number, buckets: number, reduced: TaskResult[], missingSchemas: string[]): ShredRunResult {
  const out: ShredRunResult = {
    files, good: 0, bad: 0, buckets, duplicates: { natural: 0, synthetic: 0 }, tables: {}, missingSchemas, truncated: 0,
  };
  for (const r of reduced) {
    out.good += r.good;
    out.bad += r.bad;
    out.truncated += r.truncated ?? 0;
    if (r.outside !== undefined) out.outside = (out.outside ?? 0) + r.outside;
    out.duplicates.natural += r.duplicates?.natural ?? 0;
    out.duplicates.synthetic += r.duplicates?.synthetic ?? 0;
    for (const [uri, n] of Object.entries(r.tables ?? {})) out.tables[uri] = (out.tables[uri] ?? 0) + n;
    if (r.minTstamp !== undefined) out.minTstamp = Math.min(out.minTstamp ?? r.minTstamp, r.minTstamp);
    if (r.maxTstamp !== undefined) out.maxTstamp = Math.max(out.maxTstamp ?? r.maxTstamp, r.maxTstamp);
  }
  return out;
}
