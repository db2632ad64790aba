import { Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { TaskInput } from '../../engine/job-types';
import { runPrefix } from '../../batch/layout';
import { localEngine } from '../../engine/local';
import { buildWorkerHealthApp } from '../../workers/health-app';
import { engineMetrics } from '../../workers/engine-metrics';
import { makeLogger } from '../../observability/logger';
import { stageRawRun } from './emr-fixtures';
import { useStandins } from '../helpers/rig';

// The local engine's threads, queue and tasks on the workers' /metrics: real enrich tasks on real
// threads against s3rver, the metric values read from the registry while the step runs (at a
// task's completion, where the engine's state is known) and after it, and the text the workers'
// /metrics endpoint serves.

const rig = useStandins({ s3: true });

type Snapshot = MetricObjectWithValues<MetricValue<string>>[];
const value = (snap: Snapshot, name: string, labels: Record<string, string> = {}) =>
  snap.find((m) => m.name === name)?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;

function instrumented(threads: number, idleMs: number) {
  const registry = new Registry();
  const metrics = engineMetrics(registry, threads);
  const engine = localEngine(rig.config, threads, idleMs, metrics);
  metrics.watch(() => engine.status());
  return { registry, engine };
}

describe('local engine metrics', () => {
  it('threads busy and idle, tasks queued, tasks done, threads started and task durations', async () => {
    const { registry, engine } = instrumented(2, 60_000);
    const before = await registry.getMetricsAsJSON();
    expect(value(before, 'sluice_engine_threads', { state: 'busy' })).toBe(0);
    expect(value(before, 'sluice_engine_threads', { state: 'idle' })).toBe(0);
    expect(value(before, 'sluice_engine_queue_tasks')).toBe(0);
    expect(value(before, 'sluice_engine_threads_max')).toBe(2);

    const tasks = await stageRawRun(rig.store, 'metrics-a', 6, 50);
    // getMetricsAsJSON collects the gauges synchronously when called, and the counters' value
    // objects are copied before the next thread message can change them: a snapshot at each task's completion.
    const during: Promise<Snapshot>[] = [];
    await engine.run('enrich', tasks, () => void during.push(registry.getMetricsAsJSON().then((s) => structuredClone(s))));
    const [first, , , , , last] = await Promise.all(during);
    // The first task done: both threads still hold a task (the finishing one until its result is handed on), four wait.
    expect(value(first, 'sluice_engine_threads', { state: 'busy' })).toBe(2);
    expect(value(first, 'sluice_engine_queue_tasks')).toBe(4);
    expect(value(first, 'sluice_engine_tasks_total', { job: 'enrich', outcome: 'done' })).toBe(1);
    expect(value(last, 'sluice_engine_queue_tasks')).toBe(0);
    expect(value(last, 'sluice_engine_tasks_total', { job: 'enrich', outcome: 'done' })).toBe(6);

    const after = await registry.getMetricsAsJSON();
    // The threads stay up (emr.threadIdleMs), idle.
    expect(value(after, 'sluice_engine_threads', { state: 'busy' })).toBe(0);
    expect(value(after, 'sluice_engine_threads', { state: 'idle' })).toBe(2);
    expect(value(after, 'sluice_engine_queue_tasks')).toBe(0);
    expect(value(after, 'sluice_engine_threads_started_total')).toBe(2);
    expect(value(after, 'sluice_engine_tasks_total', { job: 'enrich', outcome: 'done' })).toBe(6);
    const durations = after.find((m) => m.name === 'sluice_engine_task_duration_seconds')!.values as (MetricValue<string> & { metricName?: string })[];
    expect(durations.find((v) => v.metricName === 'sluice_engine_task_duration_seconds_count' && v.labels.job === 'enrich')?.value).toBe(6);
    expect(durations.find((v) => v.metricName === 'sluice_engine_task_duration_seconds_sum')!.value).toBeGreaterThan(0);

    // The next step finds the threads warm: none started.
    await engine.run('enrich', tasks.slice(0, 2), () => undefined);
    expect(value(await registry.getMetricsAsJSON(), 'sluice_engine_threads_started_total')).toBe(2);
    await engine.close();
    expect(value(await registry.getMetricsAsJSON(), 'sluice_engine_threads', { state: 'idle' })).toBe(0);
  });

  it('counts a failing task as failed and its step\'s queued tasks as dropped', async () => {
    const { registry, engine } = instrumented(1, 0);
    const tasks = await stageRawRun(rig.store, 'metrics-b', 3, 20);
    const missing: TaskInput = { ...tasks[0], key: `${runPrefix.rawProcessing('metrics-b')}missing.lzo`, keys: [`${runPrefix.rawProcessing('metrics-b')}missing.lzo`] };
    // One thread, FIFO: the missing file fails first, and the step's other two tasks never run.
    await expect(engine.run('enrich', [missing, ...tasks.slice(1)], () => undefined)).rejects.toThrow(/missing\.lzo failed/);
    const snap = await registry.getMetricsAsJSON();
    expect(value(snap, 'sluice_engine_tasks_total', { job: 'enrich', outcome: 'failed' })).toBe(1);
    expect(value(snap, 'sluice_engine_tasks_total', { job: 'enrich', outcome: 'dropped' })).toBe(2);
    expect(value(snap, 'sluice_engine_tasks_total', { job: 'enrich', outcome: 'done' })).toBeUndefined();
    expect(value(snap, 'sluice_engine_queue_tasks')).toBe(0);
    await engine.close();
  });

  it('is served on the workers\' /metrics', async () => {
    const { registry, engine } = instrumented(1, 60_000);
    await engine.run('enrich', await stageRawRun(rig.store, 'metrics-c', 1, 10), () => undefined);
    const app = buildWorkerHealthApp(makeLogger('test-workers', 'warn'), registry, () => ({ speed: 'RUNNING', batch: 'RUNNING' }), undefined);
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('sluice_engine_threads{state="idle"} 1');
    expect(res.body).toContain('sluice_engine_threads{state="busy"} 0');
    expect(res.body).toContain('sluice_engine_queue_tasks 0');
    expect(res.body).toContain('sluice_engine_tasks_total{job="enrich",outcome="done"} 1');
    await app.close();
    await engine.close();
  });
});
