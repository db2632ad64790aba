import type { JobName, TaskInput, TaskResult } from './job-types';

export interface RunOptions {
  /** Aborting stops the step (the EMR engine cancels it on the cluster) and rejects the run with the signal's reason. */
  signal?: AbortSignal;
}

// Where batch job code runs: `local` (worker threads on the batch worker host) or `emr`.
export interface BatchEngine {
  run(job: JobName, tasks: TaskInput[], onProgress: (done: number, total: number) => void, options?: RunOptions): Promise<TaskResult[]>;
  close(): Promise<void>;
}
