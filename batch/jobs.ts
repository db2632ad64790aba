import { readLzop } from '../codecs/lzop';
import { unframeRecords } from '../codecs/record-framing';
import type { ObjectStore } from '../adapters/object-store';
import { badRowJson } from '../enrich/bad-rows';
import { enrichRecords } from '../speed/stream-enrich';
import { enrichedBucketPrefix, partName, runPrefix } from './layout';
import { putRouted, routeEnrichedLines, shredMapTask, shredReduceTask } from './shred-jobs';

// The batch job code: one task per input object (per group of raw files for enrich, per bucket
// for shred-reduce). The same functions run in the local engine's worker threads and in an EMR
// step; each reads its input and writes its outputs to the object store.

export type JobName = 'enrich' | 'shred-map' | 'shred-reduce';

export interface TaskInput {
  runId: string;
  /** The input object (enrich, shred-map) or the bucket's folder (shred-reduce). */
  key: string;
  /** enrich: every raw file of the task, in order (`key` is the first); just `key` when absent. */
  keys?: string[];
  /** The input's position in the run (part number), or the bucket number for shred-reduce. */
  index: number;
  etlTstamp: number;
  /** enrich, shred-map: how many buckets to spread events over (fixed for the whole run). */
  buckets?: number;
  /** shred-reduce when reprocessing: keep only events with collector_tstamp in [from, to). */
  window?: { from: number; to: number };
}

export interface TaskResult {
  key: string;
  good: number;
  bad: number;
  minTstamp?: number;
  maxTstamp?: number;
  /** shred-reduce with a window: events left out because they fall outside it. */
  outside?: number;
  /** enrich, shred-map: the Iglu schema URIs the part's entities name. */
  schemas?: string[];
  /** shred-reduce: rows written per schema version URI. */
  tables?: Record<string, number>;
  /** shred-reduce: natural duplicates dropped, synthetic duplicates re-identified. */
  duplicates?: { natural: number; synthetic: number };
  /** shred-reduce: string values cut to their column's length. */
  truncated?: number;
}

/**
 * Enriches a run's raw files, one or several per task. The good events are written bucketed by
 * hash(event_id), as shred-map would bucket them, so the shred step of a classic run starts at
 * shred-reduce: one part per bucket per task, so fewer, larger tasks mean fewer objects.
 */
export async function enrichTask(store: ObjectStore, t: TaskInput): Promise<TaskResult> {
  if (!t.buckets) throw new Error(`enrich needs a bucket count, got ${t.buckets}`);
  const good: string[] = [];
  const bad: string[] = [];
  for (const key of t.keys ?? [t.key]) {
    const records = unframeRecords(await readLzop(await store.get(key)));
    const enriched = await enrichRecords(
      records.map((data) => ({ data, sequenceNumber: '0', partitionKey: '', arrivalMs: 0 })),
      t.etlTstamp,
    );
    for (const line of enriched.good) good.push(line);
    for (const row of enriched.bad) bad.push(badRowJson(row));
  }
  const routed = routeEnrichedLines(good, t.buckets);
  await putRouted(store, (b) => enrichedBucketPrefix(t.runId, b), t.index, routed);
  await store.put(`${runPrefix.enrichedBad(t.runId)}${partName(t.index, 'json')}`, bad.join('\n'));
  return { key: t.key, good: good.length, bad: bad.length, schemas: [...routed.schemas].sort() };
}

export const jobs: Record<JobName, (store: ObjectStore, t: TaskInput) => Promise<TaskResult>> = {
  enrich: enrichTask,
  'shred-map': shredMapTask,
  'shred-reduce': shredReduceTask,
};
