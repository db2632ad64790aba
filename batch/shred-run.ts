import type { ObjectStore } from '../adapters/object-store';
import type { BatchEngine } from '../engine/engine';
import { BUILTIN_SCHEMAS } from '../warehouse/builtin-schemas';
import { assertSelfMatches, parseSchemaUri, type SchemaLookup, versionString } from '../warehouse/iglu';
import { DUPLICATE_SCHEMA_URI } from './dedupe';
import type { TaskInput, TaskResult } from './jobs';
import { assertRunId, runPrefix, shredBucketPrefix, shredSchemaKey } from './layout';

// The shred step of a run: shred-map over the enriched parts, the run's schemas frozen in the
// object store, shred-reduce over the buckets. The batch activity calls runShred with its
// engine and the Iglu lookup; nothing here depends on which engine runs the tasks.

/** Buckets per run unless the caller chooses: enough to spread reduce work over a few threads. */
export const DEFAULT_SHRED_BUCKETS = 8;

export interface ShredRunDeps {
  store: ObjectStore;
  engine: BatchEngine;
  lookup: SchemaLookup;
}

export interface ShredRunArgs {
  runId: string;
  /** Folder of the run's enriched parts (runPrefix.enriched(runId) in both modes). */
  inputPrefix: string;
  /** Must stay the same for every attempt of a run (keep it in workflow state). */
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
  /** Bad rows written (map + reduce). */
  bad: number;
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
  if (!Number.isInteger(args.buckets) || args.buckets < 1 || args.buckets > 4096) throw new Error(`invalid shred bucket count ${args.buckets}`);
  const keys = await deps.store.list(args.inputPrefix);
  const base = { runId, etlTstamp: args.etlTstamp, buckets: args.buckets };
  args.signal?.throwIfAborted();
  const mapTasks: TaskInput[] = keys.map((key, index) => ({ ...base, key, index, ...(args.window ? { window: args.window } : {}) }));
  const options = { signal: args.signal };
  const mapped = await deps.engine.run('shred-map', mapTasks, (d, t) => onProgress('shred-map', d, t), options);

  const uris = new Set<string>([DUPLICATE_SCHEMA_URI]);
  for (const r of mapped) for (const u of r.schemas ?? []) uris.add(u);
  const missingSchemas = await snapshotSchemas(deps.store, runId, uris, deps.lookup);

  const reduceTasks: TaskInput[] = Array.from({ length: args.buckets }, (_, b) => ({ ...base, key: shredBucketPrefix(runId, b), index: b }));
  const reduced = await deps.engine.run('shred-reduce', reduceTasks, (d, t) => onProgress('shred-reduce', d, t), options);
  return summarise(keys.length, args.buckets, mapped, reduced, missingSchemas);
}

function summarise(files: number, buckets: number, mapped: TaskResult[], reduced: TaskResult[], missingSchemas: string[]): ShredRunResult {
  const out: ShredRunResult = {
    files, good: 0, bad: 0, buckets, duplicates: { natural: 0, synthetic: 0 }, tables: {}, missingSchemas, truncated: 0,
  };
  for (const r of mapped) out.bad += r.bad;
  for (const r of reduced) {
    out.good += r.good;
    out.bad += r.bad;
    out.truncated += r.truncated ?? 0;
    out.duplicates.natural += r.duplicates?.natural ?? 0;
    out.duplicates.synthetic += r.duplicates?.synthetic ?? 0;
    for (const [uri, n] of Object.entries(r.tables ?? {})) out.tables[uri] = (out.tables[uri] ?? 0) + n;
    if (r.minTstamp !== undefined) out.minTstamp = Math.min(out.minTstamp ?? r.minTstamp, r.minTstamp);
    if (r.maxTstamp !== undefined) out.maxTstamp = Math.max(out.maxTstamp ?? r.maxTstamp, r.maxTstamp);
  }
  return out;
}
