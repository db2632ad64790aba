import { readLzop } from '../codecs/lzop';
import { unframeRecords } from '../codecs/record-framing';
import type { ObjectStore } from '../adapters/object-store';
import { enrichRecords } from '../speed/stream-enrich';
import { partName, runPrefix } from './layout';
import { shredEnrichedLines } from './shred';
import { shredMapTask, shredReduceTask } from './shred-jobs';

// The batch job code: one task per input object. The same functions run in the local engine's
// worker threads and in an EMR step; each reads its input and writes its outputs to the object store.

// `shred` is the single-pass atomic-only shredder kept until the activity moves to
// `shred-map` + `shred-reduce` (batch/shred-run.ts runs both, with de-duplication and
// shredded tables).
export type JobName = 'enrich' | 'shred' | 'shred-map' | 'shred-reduce';

export interface TaskInput {
  runId: string;
  /** The input object (enrich, shred, shred-map) or the bucket's folder (shred-reduce). */
  key: string;
  /** The input's position in the run (part number), or the bucket number for shred-reduce. */
  index: number;
  etlTstamp: number;
  /** shred-map: how many buckets to spread events over (fixed for the whole run). */
  buckets?: number;
  /** shred-map when reprocessing: keep only events with collector_tstamp in [from, to). */
  window?: { from: number; to: number };
}

export interface TaskResult {
  key: string;
  good: number;
  bad: number;
  minTstamp?: number;
  maxTstamp?: number;
  /** shred-map with a window: events left out because they fall outside it. */
  outside?: number;
  /** shred-map: the Iglu schema URIs the part's entities name. */
  schemas?: string[];
  /** shred-reduce: rows written per schema version URI. */
  tables?: Record<string, number>;
  /** shred-reduce: natural duplicates dropped, synthetic duplicates re-identified. */
  duplicates?: { natural: number; synthetic: number };
  /** shred-reduce: string values cut to their column's length. */
  truncated?: number;
}

export async function enrichTask(store: ObjectStore, t: TaskInput): Promise<TaskResult> {
  const records = unframeRecords(await readLzop(await store.get(t.key)));
  const { good, bad } = await enrichRecords(
    records.map((data) => ({ data, sequenceNumber: '0', partitionKey: '', arrivalMs: 0 })),
    t.etlTstamp,
  );
  await store.put(`${runPrefix.enriched(t.runId)}${partName(t.index, 'tsv')}`, good.length ? `${good.join('\n')}\n` : '');
  await store.put(`${runPrefix.enrichedBad(t.runId)}${partName(t.index, 'json')}`, bad.map((b) => JSON.stringify(b)).join('\n'));
  return { key: t.key, good: good.length, bad: bad.length };
}

export async function shredTask(store: ObjectStore, t: TaskInput): Promise<TaskResult> {
  const text = (await store.get(t.key)).toString('utf8');
  const part = shredEnrichedLines(text.split('\n'));
  await store.put(`${runPrefix.shredded(t.runId)}${partName(t.index, 'tsv')}`, part.rows);
  return { key: t.key, good: part.count, bad: 0, minTstamp: part.minTstamp, maxTstamp: part.maxTstamp };
}

export const jobs: Record<JobName, (store: ObjectStore, t: TaskInput) => Promise<TaskResult>> = {
  enrich: enrichTask,
  shred: shredTask,
  'shred-map': shredMapTask,
  'shred-reduce': shredReduceTask,
};
