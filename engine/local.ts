import { Worker } from 'node:worker_threads';
import type { JobName, TaskInput, TaskResult } from '../batch/jobs';
import type { SluiceConfig } from '../config';
import type { BatchEngine } from './engine';

// The local engine: the batch job code across a pool of worker threads. A thread that dies fails
// the task it held (the activity retries it); it never takes the worker process down.

interface Pending {
  resolve(r: TaskResult): void;
  reject(e: Error): void;
}

class Thread {
  readonly worker: Worker;
  private pending?: Pending & { id: number };
  dead?: Error;

  constructor(config: SluiceConfig) {
    this.worker = new Worker(new URL('./local-thread-entry.mjs', import.meta.url), { workerData: { config } });
    this.worker.on('message', (msg: { id: number; result?: TaskResult; error?: string }) => {
      const p = this.pending;
      if (!p || p.id !== msg.id) return;
      this.pending = undefined;
      if (msg.error) p.reject(new Error(msg.error));
      else p.resolve(msg.result!);
    });
    const die = (err: Error) => {
      this.dead ??= err;
      this.pending?.reject(err);
      this.pending = undefined;
    };
    this.worker.on('error', die);
    this.worker.on('exit', (code) => die(new Error(`engine thread exited with code ${code}`)));
  }

  run(id: number, job: JobName, task: TaskInput): Promise<TaskResult> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.pending = { id, resolve, reject };
      this.worker.postMessage({ id, job, task });
    });
  }
}

export function localEngine(config: SluiceConfig, threads = config.emr.threads): BatchEngine {
  let pool: Thread[] = [];
  let nextId = 0;
  const healthyPool = () => {
    pool = pool.filter((t) => !t.dead);
    while (pool.length < threads) pool.push(new Thread(config));
    return pool;
  };

  return {
    async run(job, tasks, onProgress) {
      const results: TaskResult[] = new Array(tasks.length);
      let next = 0;
      let done = 0;
      const drive = async (thread: Thread) => {
        while (next < tasks.length) {
          const index = next++;
          try {
            results[index] = await thread.run(nextId++, job, tasks[index]);
          } catch (err) {
            throw new Error(`${job} task ${tasks[index].key} failed: ${(err as Error).message}`);
          }
          onProgress(++done, tasks.length);
        }
      };
      try {
        await Promise.all(healthyPool().map(drive));
      } finally {
        // Threads live for one step: batch runs are far apart, so idle threads would only hold memory.
        await Promise.all(pool.map((t) => t.worker.terminate()));
        pool = [];
      }
      return results;
    },
    async close() {
      await Promise.all(pool.map((t) => t.worker.terminate()));
      pool = [];
    },
  };
}
