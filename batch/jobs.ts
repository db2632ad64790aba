import { readLzop } from '../codecs/lzop';
import { unframeRecords } from '../codecs/record-framing';
import type { ObjectStore } from '../adapters/object-store';
import { enrichRecords } from '../speed/stream-enrich';
import { partName, runPrefix } from './layout';
import { shredEnrichedLines } from './shred';

// The batch job code: one task per input object. The same functions run in the local engine's
// worker threads and in an EMR step; each reads its input and writes its outputs to the object store.

export type JobName = 'enrich' | 'shred';

export interface TaskInput {
  runId: string;
  key: string;
  index: number;
  etlTstamp: number;
}

export interface TaskResult {
  key: string;
  good: number;
  bad: number;
  minTstamp?: number;
  maxTstamp?: number;
}

export async function enrichTask(store: ObjectStore, t: TaskInput): Promise<TaskResult> {
  const records = unframeRecords(await readLzop(await store.get(t.key)));
  const { good, bad } = enrichRecords(
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
};
