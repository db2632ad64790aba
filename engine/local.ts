import { Worker } from 'node:worker_threads';
import type { JobName, TaskInput, TaskResult } from './job-types';
import type { SluiceConfig } from '../config';
import type { BatchEngine } from './engine';

// The local engine: the batch job code across a pool of worker threads. Tasks of every run wait
// in one queue and each idle thread takes the next, so steps running at once (a batch run and a
// reprocess) share the threads instead of fighting over them. A thread that dies fails the task it
// held (the activity retries it); it never takes the worker process down. Threads stay up for
// `idleMs` after the last task: the next step of a run (and the next run, when runs are minutes
// apart) finds them with the job code loaded instead of paying the thread start again.

interface Queued {
  job: JobName;
  task: TaskInput;
  run: RunState;
  resolve(r: TaskResult): void;
  reject(e: Error): void;
}

interface RunState {
  /** Set when the run has failed or was aborted: its queued tasks are dropped. */
  over: boolean;
}

class Thread {
  readonly worker: Worker;
  private pending?: { id: number; resolve(r: TaskResult): void; reject(e: Error): void };
  /** The run whose task the thread holds. */
  holding?: RunState;
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
    // An idle thread must not keep the process alive on its own; one holding a task must.
    this.worker.unref();
  }

  /** Runs one task; the caller gives a thread a task only when it holds none. */
  run(id: number, job: JobName, task: TaskInput): Promise<TaskResult> {
    if (this.dead) return Promise.reject(this.dead);
    this.worker.ref();
    return new Promise<TaskResult>((resolve, reject) => {
      this.pending = { id, resolve, reject };
      this.worker.postMessage({ id, job, task });
    }).finally(() => this.worker.unref());
  }
}

export interface LocalEngineStatus {
  /** Threads up, threads holding a task, tasks waiting, threads started since the engine was made. */
  threads: number;
  busy: number;
  queued: number;
  started: number;
}

export interface LocalEngine extends BatchEngine {
  status(): LocalEngineStatus;
}

/** What the engine reports as it goes (the workers' /metrics: workers/engine-metrics.ts). */
export interface LocalEngineObserver {
  /** A task ended on a thread: done, or failed (its job threw, or its thread died or was ended). */
  taskEnded?(job: JobName, outcome: 'done' | 'failed', seconds: number): void;
  /** Queued tasks of a failed or aborted step, dropped before any thread took them. */
  tasksDropped?(job: JobName, count: number): void;
  threadStarted?(): void;
}

export function localEngine(config: SluiceConfig, threads = config.emr.threads, idleMs = config.emr.threadIdleMs, observer: LocalEngineObserver = {}): LocalEngine {
  let pool: Thread[] = [];
  let queue: Queued[] = [];
  let nextId = 0;
  let started = 0;
  let idleTimer: NodeJS.Timeout | undefined;

  const terminate = async (these: Thread[]) => {
    pool = pool.filter((t) => !these.includes(t));
    await Promise.all(these.map((t) => t.worker.terminate()));
  };

  const whenIdle = () => {
    clearTimeout(idleTimer);
    idleTimer = undefined;
    if (queue.length || pool.some((t) => t.holding)) return;
    if (idleMs <= 0) void terminate(pool);
    else idleTimer = setTimeout(() => void terminate(pool), idleMs).unref();
  };

  // Hands queued tasks to idle threads, starting threads up to `threads` while tasks wait.
  const dispatch = () => {
    pool = pool.filter((t) => !t.dead);
    queue = queue.filter((q) => {
      if (q.run.over) observer.tasksDropped?.(q.job, 1);
      return !q.run.over;
    });
    while (pool.length < Math.min(threads, queue.length + pool.filter((t) => t.holding).length)) {
      pool.push(new Thread(config));
      started++;
      observer.threadStarted?.();
    }
    for (const thread of pool) {
      if (thread.holding) continue;
      const next = queue.shift();
      if (!next) break;
      thread.holding = next.run;
      const began = performance.now();
      const ended = (outcome: 'done' | 'failed') => observer.taskEnded?.(next.job, outcome, (performance.now() - began) / 1000);
      thread.run(nextId++, next.job, next.task).then(
        (r) => {
          ended('done');
          next.resolve(r);
        },
        (e: Error) => {
          ended('failed');
          next.reject(e);
        },
      ).finally(() => {
        thread.holding = undefined;
        dispatch();
      });
    }
    whenIdle();
  };

  return {
    async run(job, tasks, onProgress, options) {
      const signal = options?.signal;
      signal?.throwIfAborted();
      const run: RunState = { over: false };
      let done = 0;
      const results = Promise.all(tasks.map((task) => new Promise<TaskResult>((resolve, reject) => {
        queue.push({
          job, task, run,
          resolve: (r) => {
            try {
              onProgress(++done, tasks.length);
              resolve(r);
            } catch (err) {
              run.over = true;
              reject(err);
            }
          },
          reject: (err) => {
            run.over = true; // before any thread takes another of its tasks
            reject(new Error(`${job} task ${task.key} failed: ${err.message}`));
          },
        });
      })));
      // An aborted run stops at once: the threads holding its tasks are ended (new ones start as needed).
      const aborted = new Promise<never>((_, reject) => {
        const onAbort = () => {
          run.over = true;
          // Their tasks fail as the threads exit, and the next dispatch replaces them.
          void terminate(pool.filter((t) => t.holding === run));
          reject(signal!.reason);
        };
        if (signal) {
          signal.addEventListener('abort', onAbort, { once: true });
          void results.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => undefined);
        }
      });
      dispatch();
      try {
        return await Promise.race([results, aborted]);
      } finally {
        // A failed run's other queued tasks are dropped; the ones running finish on their threads.
        run.over = true;
        dispatch();
      }
    },
    status: () => ({ threads: pool.length, busy: pool.filter((t) => t.holding).length, queued: queue.length, started }),
    async close() {
      clearTimeout(idleTimer);
      for (const q of queue) q.reject(new Error('the engine closed'));
      queue = [];
      await terminate(pool);
    },
  };
}
