import type { ObjectStore } from '../../adapters/object-store';
import { jobs } from '../../batch/jobs';
import type { BatchEngine } from '../../engine/engine';

/**
 * A batch engine that runs each task in this thread, one after another: the real job functions
 * without worker threads, for tests of what the jobs write. `store` may be given late (a getter).
 */
export function inProcessEngine(store: ObjectStore | (() => ObjectStore)): BatchEngine {
  const storeOf = typeof store === 'function' ? store : () => store;
  return {
    async run(job, tasks, onProgress) {
      const out = [];
      for (const [i, t] of tasks.entries()) {
        out.push(await jobs[job](storeOf(), t));
        onProgress(i + 1, tasks.length);
      }
      return out;
    },
    async close() {},
  };
}
