import { describe, expect, it } from 'vitest';
import type { TaskInput, TaskResult } from '../../engine/job-types';
import { runPrefix } from '../../batch/layout';
import { localEngine } from '../../engine/local';
import { waitFor } from '../helpers/standins';
import { BAD_PER_FILE, snapshot, stageRawRun } from './emr-fixtures';
import { useStandins } from '../helpers/rig';

// The local engine's thread pool, running real enrich tasks against s3rver: steps of two runs
// at once, threads kept between steps, a step aborted mid-way, a task that fails.

const rig = useStandins({ s3: true });

const FILES = 6;
const EVENTS = 200;

const good = (results: TaskResult[]) => results.reduce((n, r) => n + r.good, 0);
const bad = (results: TaskResult[]) => results.reduce((n, r) => n + r.bad, 0);
/** A run's enriched output, keys made run-independent. */
const output = async (runId: string) =>
  new Map([...(await snapshot(rig.store, [runPrefix.enriched(runId)]))].map(([k, v]) => [k.replace(runId, 'RUN'), v]));

describe('local engine', () => {
  it('runs the steps of two runs at once on the same threads, each with its own results and outputs', async () => {
    const engine = localEngine(rig.config, 2, 0);
    const [a, b] = await Promise.all([stageRawRun(rig.store, 'engine-a', FILES, EVENTS), stageRawRun(rig.store, 'engine-b', FILES, EVENTS)]);
    const progress = { a: [] as number[], b: [] as number[] };
    const [ra, rb] = await Promise.all([
      engine.run('enrich', a, (done) => progress.a.push(done)),
      engine.run('enrich', b, (done) => progress.b.push(done)),
    ]);
    for (const [results, tasks] of [[ra, a], [rb, b]] as const) {
      expect(results.map((r) => r.key)).toEqual(tasks.map((t) => t.key));
      expect(good(results)).toBe(FILES * EVENTS);
      expect(bad(results)).toBe(FILES * BAD_PER_FILE);
    }
    expect(progress).toEqual({ a: [1, 2, 3, 4, 5, 6], b: [1, 2, 3, 4, 5, 6] });
    expect(await output('engine-a')).toEqual(await output('engine-b'));
    // idleMs 0: no thread outlives the steps.
    expect(engine.status()).toEqual({ threads: 0, busy: 0, queued: 0, started: 2 });
    await engine.close();
  });

  it('keeps idle threads for idleMs, so the next step finds them, then ends them', async () => {
    const engine = localEngine(rig.config, 2, 1_500);
    const tasks = await stageRawRun(rig.store, 'engine-c', 2, EVENTS);
    await engine.run('enrich', tasks, () => undefined);
    expect(engine.status()).toEqual({ threads: 2, busy: 0, queued: 0, started: 2 });
    const again = await engine.run('enrich', tasks, () => undefined);
    expect(good(again)).toBe(2 * EVENTS);
    expect(engine.status()).toEqual({ threads: 2, busy: 0, queued: 0, started: 2 });
    await waitFor(() => engine.status().threads === 0, 10_000);
    // The next step after that starts threads again.
    expect(good(await engine.run('enrich', tasks, () => undefined))).toBe(2 * EVENTS);
    expect(engine.status().started).toBe(4);
    await engine.close();
  });

  it('an aborted step rejects with the reason, ends the threads holding its tasks and drops the rest; the engine goes on', async () => {
    const engine = localEngine(rig.config, 2, 60_000);
    const tasks = await stageRawRun(rig.store, 'engine-d', FILES, EVENTS);
    const abort = new AbortController();
    const step = engine.run('enrich', tasks, (done) => done === 1 && abort.abort(new Error('run cancelled')), { signal: abort.signal });
    await expect(step).rejects.toThrow('run cancelled');
    expect(engine.status()).toMatchObject({ busy: 0, queued: 0 });
    expect(good(await engine.run('enrich', tasks, () => undefined))).toBe(FILES * EVENTS);
    // A step whose signal is already aborted does not start.
    await expect(engine.run('enrich', tasks, () => undefined, { signal: AbortSignal.abort(new Error('too late')) })).rejects.toThrow('too late');
    await engine.close();
    expect(engine.status()).toMatchObject({ threads: 0, busy: 0, queued: 0 });
  });

  it('a failing task fails its step with the task named, drops the step\'s queued tasks, and leaves other steps alone', async () => {
    const engine = localEngine(rig.config, 1, 0);
    const tasks = await stageRawRun(rig.store, 'engine-e', 3, EVENTS);
    const other = await stageRawRun(rig.store, 'engine-f', 2, EVENTS);
    const missing: TaskInput = { ...tasks[0], key: `${runPrefix.rawProcessing('engine-e')}missing.lzo`, keys: [`${runPrefix.rawProcessing('engine-e')}missing.lzo`] };
    const [failed, fine] = await Promise.allSettled([
      engine.run('enrich', [missing, ...tasks.slice(1)], () => undefined),
      engine.run('enrich', other, () => undefined),
    ]);
    expect(failed.status === 'rejected' && (failed.reason as Error).message).toMatch(/^enrich task raw\/processing\/run=engine-e\/missing\.lzo failed: .*NoSuchKey/s);
    expect(fine.status === 'fulfilled' && good(fine.value)).toBe(2 * EVENTS);
    // One thread, FIFO: the failing step's other two tasks were queued before the other step's and never ran.
    expect(await rig.store.list(runPrefix.enriched('engine-e'))).toEqual([]);
    expect(engine.status()).toEqual({ threads: 0, busy: 0, queued: 0, started: 1 });
    await engine.close();
  });
});
