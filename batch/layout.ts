// Where each batch run's data lives in the object store. Keys are deterministic per run and
// input, so re-running any step overwrites its own outputs instead of adding new ones.

export const runPrefix = {
  rawIn: 'raw/in/',
  rawProcessing: (runId: string) => `raw/processing/run=${runId}/`,
  /** Classic runs: bucket folders (enrichedBucketPrefix) and ENRICHED_LAYOUT; stream-enrich runs: the sink's flat files. */
  enriched: (runId: string) => `enriched/good/run=${runId}/`,
  enrichedBad: (runId: string) => `enriched/bad/run=${runId}/`,
  /** The atomic.events rows of a run (one part per shred bucket). */
  shredded: (runId: string) => `shredded/good/run=${runId}/atomic-events/`,
  /** Everything the shred step loads: atomic-events/ plus one folder per schema version. */
  shreddedRun: (runId: string) => `shredded/good/run=${runId}/`,
  /** Rows per output of each shred bucket (the loader checks what it COPYs against them). */
  shreddedCounts: (runId: string) => `shredded/good/run=${runId}/_counts/`,
  /** `event_id<TAB>collector_tstamp` of every event a shred bucket loads (the batch replaces their rows). */
  shreddedKeys: (runId: string) => `shredded/good/run=${runId}/_keys/`,
  shreddedBad: (runId: string) => `shredded/bad/run=${runId}/`,
  /** shred-map output: the run's enriched lines bucketed by hash(event_id), for shred-reduce. */
  shredInterim: (runId: string) => `shredded/interim/run=${runId}/`,
  /** The Iglu schemas the run was shredded with (`vendor/name/format/M-R-A`), frozen per run. */
  shredSchemas: (runId: string) => `shredded/schemas/run=${runId}/`,
  archiveRaw: (runId: string) => `archive/raw/run=${runId}/`,
  archiveEnriched: (runId: string) => `archive/enriched/run=${runId}/`,
  archiveShredded: (runId: string) => `archive/shredded/run=${runId}/`,
};

/** part-00007 from an input's position in the run's sorted input list. */
export function partName(index: number, ext: string): string {
  return `part-${String(index).padStart(5, '0')}.${ext}`;
}

/** Run ids become object keys and SQL literals: keep them to a safe alphabet. */
export function assertRunId(runId: string): string {
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(runId)) throw new Error(`invalid run id ${JSON.stringify(runId)}`);
  return runId;
}

/** The folder of one bucket (events with hash(event_id) mod N = bucket) under `prefix`. */
export function bucketFolder(prefix: string, bucket: number): string {
  return `${prefix}bucket=${String(bucket).padStart(5, '0')}/`;
}

/** shred-map output folder of one bucket: `shredded/interim/run=…/bucket=00003/`. */
export function shredBucketPrefix(runId: string, bucket: number): string {
  return bucketFolder(runPrefix.shredInterim(runId), bucket);
}

/** Classic runs: enrich's output folder of one bucket: `enriched/good/run=…/bucket=00003/`. */
export function enrichedBucketPrefix(runId: string, bucket: number): string {
  return bucketFolder(runPrefix.enriched(runId), bucket);
}

/**
 * Written by the enrich step once all its tasks are done, beside its bucket folders: how many
 * buckets it used and the schema URIs its events name. Shred finds its input already bucketed
 * when this is there.
 */
export const ENRICHED_LAYOUT = '_layout.json';

export interface EnrichedLayout {
  buckets: number;
  schemas: string[];
}

/** The folder of one schema version's rows in a run (Snowplow-style `vendor=/name=/format=/version=`). */
export function shreddedTypePrefix(runId: string, key: { vendor: string; name: string; format: string; version: string }): string {
  return `${runPrefix.shreddedRun(runId)}vendor=${key.vendor}/name=${key.name}/format=${key.format}/version=${key.version}/`;
}

const TYPE_KEY = /^vendor=([^/]+)\/name=([^/]+)\/format=([^/]+)\/version=([^/]+)\/[^/]+$/;

/** The Iglu URI of a shredded-type object key (relative to shreddedRun), or undefined. */
export function shreddedTypeOf(relativeKey: string): string | undefined {
  const m = TYPE_KEY.exec(relativeKey);
  return m ? `iglu:${m[1]}/${m[2]}/${m[3]}/${m[4]}` : undefined;
}

/** Where a run's frozen copy of one schema lives (the static-registry layout). */
export function shredSchemaKey(runId: string, key: { vendor: string; name: string; format: string; version: string }): string {
  return `${runPrefix.shredSchemas(runId)}${key.vendor}/${key.name}/${key.format}/${key.version}`;
}
