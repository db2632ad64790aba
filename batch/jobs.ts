import { readLzop } from '../codecs/lzop';
import { unframeRecords } from '../codecs/record-framing';
import type { ObjectStore } from '../adapters/object-store';
import { badRowJson } from '../enrich/bad-rows';
import { enrichRecords } from '../speed/stream-enrich';
import type { JobName, TaskInput, TaskResult } from '../engine/job-types';
import { enrichedBucketPrefix, partName, runPrefix } from './layout';
import { putRouted, routeEnrichedLines, shredMapTask, shredReduceTask } from './shred-jobs';

// The batch job code: one task per input object (per group of raw files for enrich, per bucket
// for shred-reduce). The same functions run in the local engine's worker threads and in an EMR
// step; each reads its input and writes its outputs to the object store. The task types are the
// engine's contract (engine/job-types.ts).

/**
 * Enriches a run's raw files, one or several per task. The good events are written bucketed by
 * hash(event_id), as shred-map would bucket them, so the shred step of a classic run starts at
 * shred-reduce: one part per bucket per task, so fewer, larger tasks mean fewer objects.
 */
export async function enrichTask(store: ObjectStore, t: TaskInput): Promise<TaskResult> {
  if (!t.buckets) throw new Error(`enrich needs a bucket count, got ${t.buckets}`);
  const { good, bad } = await enrichRawFiles(store, t.keys ?? [t.key], t.etlTstamp);
  const routed = routeEnrichedLines(good, t.buckets);
  await putRouted(store, (b) => enrichedBucketPrefix(t.runId, b), t.index, routed);
  await store.put(`${runPrefix.enrichedBad(t.runId)}${partName(t.index, 'json')}`, bad.join('\n'));
  return { key: t.key, good: good.length, bad: bad.length, schemas: [...routed.schemas].sort() };
}

/** The enriched TSV lines and bad-row JSON of a task's raw (lzop) files, in file order. */
export async function enrichRawFiles(store: ObjectStore, keys: string[], etlTstamp: number): Promise<{ good: string[]; bad: string[] }> {
  const good: string[] = [];
  const bad: string[] = [];
  for (const key of keys) {
    const records = unframeRecords(await readLzop(await store.get(key)));
    const enriched = await enrichRecords(
      records.map((data) => ({ data, sequenceNumber: '0', partitionKey: '', arrivalMs: 0 })),
      etlTstamp,
    );
    for (const line of enriched.good) good.push(line);
    for (const row of enriched.bad) bad.push(badRowJson(row));
  }
  return { good, bad };
}

export const jobs: Record<JobName, (store: ObjectStore, t: TaskInput) => Promise<TaskResult>> = {
  enrich: enrichTask,
  'shred-map': shredMapTask,
  'shred-reduce': shredReduceTask,
};
