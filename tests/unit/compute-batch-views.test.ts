import { ApplicationFailure } from '@temporalio/activity';
import { describe, expect, it } from 'vitest';
import { createBatchActivities, type BatchDeps } from '../../activities/batch';
import type { BatchViewsStore, ViewsRun } from '../../views/batch-views-store';
import type { WarehouseLoader } from '../../warehouse/loader';
import { runActivity } from '../helpers/speed';

// The views step hands the run to the warehouse's views store (views/batch-views-store.ts), and a
// Redshift loader without one is refused rather than silently writing PostgreSQL views.

const loader = (dialect: 'postgres' | 'redshift') => ({ dialect, loadRun: async () => { throw new Error('not here'); } }) as unknown as WarehouseLoader;
const deps = (over: Partial<BatchDeps>): BatchDeps => ({ latenessMs: 2_000, ...over }) as unknown as BatchDeps;

describe('computeBatchViews', () => {
  it('runs the store of BatchDeps.views with the run, the window, the sink progress and the lateness', async () => {
    const seen: ViewsRun[] = [];
    const views = {
      warehouse: 'redshift',
      async computeViews(run: ViewsRun, opts?: { signal?: AbortSignal }) {
        seen.push(run);
        expect(opts?.signal).toBeInstanceOf(AbortSignal);
        return { watermark: 120_000, rows: 4 };
      },
    } as unknown as BatchViewsStore;
    const a = createBatchActivities(deps({ loader: loader('redshift'), views }));
    const args = { runId: 'run-1', window: { from: 1_000, to: 90_000 }, completeThroughMs: [125_000] };
    expect(await runActivity(a.computeBatchViews, args)).toEqual({ watermark: 120_000, rows: 4 });
    expect(seen).toEqual([{ ...args, latenessMs: 2_000 }]);
  });

  it('refuses a Redshift loader with no views store (retryable, so a rewired worker resumes the run)', async () => {
    const a = createBatchActivities(deps({ loader: loader('redshift') }));
    const err = await runActivity(a.computeBatchViews, { runId: 'run-1', window: {}, completeThroughMs: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('ViewsStoreMissing');
    expect((err as ApplicationFailure).nonRetryable).toBe(false);
    await expect(runActivity(a.computeBatchViews, { runId: '../x', window: {}, completeThroughMs: [] })).rejects.toThrow(/invalid run id/);
  });
});
