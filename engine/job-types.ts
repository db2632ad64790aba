// The contract between the batch engines and the job code they run (batch/jobs.ts): which job, one
// task's input, and what a task reports back. It lives with the engine, below the job code, so
// engine/, batch/ and activities/ share it without importing one another for types.

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
