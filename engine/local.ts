import { Worker } from 'node:worker_threads';
import type { JobName, TaskInput, TaskResult } from '../batch/jobs';
import type { SluiceConfig } from '../config';
import type { BatchEngine } from './engine';

// The local engine: the batch job code across a pool of worker threads (TypeScript through tsx).

export function localEngine(config: SluiceConfig, threads = config.emr.threads): BatchEngine {
  let pool: Worker[] | undefined;
  const start = () =>
    (pool ??= Array.from(
      { length: threads },
      () => new Worker(new URL('./local-thread.ts', import.meta.url), { workerData: { config }, execArgv: ['--import', 'tsx'] }),
    ));

  return {
    async run(job: JobName, tasks: TaskInput[], onProgress): Promise<TaskResult[]> {
      const workers = start();
      const results: TaskResult[] = new Array(tasks.length);
      let next = 0;
      let done = 0;
      let nextId = 0;
      const runOn = (worker: Worker): Promise<void> =>
        new Promise((resolve, reject) => {
          const step = () => {
            if (next >= tasks.length) return resolve();
            const index = next++;
            const id = nextId++;
            const onMessage = (msg: { id: number; result?: TaskResult; error?: string }) => {
              if (msg.id !== id) return;
              worker.off('message', onMessage);
              worker.off('error', onError);
              if (msg.error) return reject(new Error(`${job} task ${tasks[index].key} failed: ${msg.error}`));
              results[index] = msg.result!;
              onProgress(++done, tasks.length);
              step();
            };
            const onError = (err: Error) => reject(err);
            worker.on('message', onMessage);
            worker.once('error', onError);
            worker.postMessage({ id, job, task: tasks[index] });
          };
          step();
        });
      await Promise.all(workers.map(runOn));
      return results;
    },
    async close() {
      await Promise.all((pool ?? []).map((w) => w.terminate()));
      pool = undefined;
    },
  };
}
