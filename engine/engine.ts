import type { JobName, TaskInput, TaskResult } from '../batch/jobs';

// Where batch job code runs: `local` (worker threads on the batch worker host) or `emr`.
export interface BatchEngine {
  run(job: JobName, tasks: TaskInput[], onProgress: (done: number, total: number) => void): Promise<TaskResult[]>;
  close(): Promise<void>;
}
