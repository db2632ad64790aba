import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { LocalEngineObserver, LocalEngineStatus } from '../engine/local';

// Prometheus metrics of the local batch engine in this worker process (emr.clusterId = local):
// its threads busy and idle, the tasks waiting for a thread, and the tasks it ran, by job and
// outcome. The gauges are read from the engine when /metrics is scraped; the counters and the
// duration histogram are fed by the engine as tasks end.

export interface EngineMetrics extends LocalEngineObserver {
  /** Where the gauges read the engine's state (the engine is built with this observer first). */
  watch(status: () => LocalEngineStatus): void;
}

export function engineMetrics(registry: Registry, maxThreads: number): EngineMetrics {
  let status: (() => LocalEngineStatus) | undefined;
  new Gauge({
    name: 'sluice_engine_threads',
    help: 'Threads of the local batch engine, by state: busy (running a task) or idle (kept for emr.threadIdleMs)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const s = status?.();
      this.set({ state: 'busy' }, s?.busy ?? 0);
      this.set({ state: 'idle' }, s ? s.threads - s.busy : 0);
    },
  });
  new Gauge({
    name: 'sluice_engine_threads_max',
    help: 'Threads the local batch engine may run at once (emr.threads)',
    registers: [registry],
    collect() {
      this.set(maxThreads);
    },
  });
  new Gauge({
    name: 'sluice_engine_queue_tasks',
    help: 'Batch tasks waiting for a thread of the local engine (every running step shares one queue)',
    registers: [registry],
    collect() {
      this.set(status?.().queued ?? 0);
    },
  });
  const tasks = new Counter({
    name: 'sluice_engine_tasks_total',
    help: 'Batch tasks the local engine ended, by job (enrich, shred-map, shred-reduce) and outcome (done, failed, dropped: queued tasks of a failed or aborted step)',
    labelNames: ['job', 'outcome'],
    registers: [registry],
  });
  const started = new Counter({
    name: 'sluice_engine_threads_started_total',
    help: 'Threads the local engine started (a thread starting costs about 0.7 s of job-code loading)',
    registers: [registry],
  });
  const seconds = new Histogram({
    name: 'sluice_engine_task_duration_seconds',
    help: 'How long one batch task held a thread of the local engine, by job',
    labelNames: ['job'],
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  return {
    watch(fn) {
      status = fn;
    },
    taskEnded(job, outcome, s) {
      tasks.inc({ job, outcome });
      seconds.observe({ job }, s);
    },
    tasksDropped(job, count) {
      tasks.inc({ job, outcome: 'dropped' }, count);
    },
    threadStarted() {
      started.inc();
    },
  };
}
