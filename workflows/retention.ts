import { defineQuery, isCancellation, proxyActivities, setHandler, upsertMemo, workflowInfo } from '@temporalio/workflow';
import type { RetentionActivities, RetentionCounts } from '../activities/retention';
import { describePlan, mergeWindows, planRetention, type RetentionPolicy } from '../batch/retention-plan';
import { controlActivity, retentionActivity } from '../temporal.config';
import { acquirePipelineLease, type LeaseRelease } from './pipeline-lease';

// Retention (docs/retention.md): on a Temporal Schedule (`sluice-retention`, every 6 hours by
// default), or `sluice retention run`. It asks the operator for the pipeline lease and holds it
// while it deletes, so no batch run stages, loads or archives and no reprocess collects meanwhile;
// the lease's grant names the windows still needed (queued reprocesses, skipped loads), which the
// plan keeps. The plan is computed here, from the workflow's clock (deterministic), and applied by
// the activities one item at a time.

export interface RetentionInput {
  /** Defaults to the workflow id's last segment (the schedule appends the time). */
  id?: string;
  /** Defaults to the workers' configured policy. */
  policy?: RetentionPolicy;
}

export type RetentionStatus = 'waiting-for-lease' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface RetentionProgress {
  id: string;
  status: RetentionStatus;
  /** The item being pruned now. */
  item?: string;
  /** Items done, in order. */
  done: string[];
  /** Rows and objects deleted, per item. */
  deleted: RetentionCounts;
  total: number;
  plan?: ReturnType<typeof describePlan>;
  error?: string;
}

export const retentionProgressQuery = defineQuery<RetentionProgress>('progress');

const prune = proxyActivities<RetentionActivities>(retentionActivity);
const { readRetentionState } = proxyActivities<RetentionActivities>(controlActivity);

/** `retention/scheduled-2026-11-21T22:54:02Z` → `scheduled-2026-11-21T22-54-02Z`. */
export function retentionIdOf(workflowId: string): string {
  return workflowId.split('/').pop()!.replace(/[^A-Za-z0-9._-]/g, '-');
}

export async function retentionWorkflow(input: RetentionInput = {}): Promise<RetentionProgress> {
  const id = input.id ?? retentionIdOf(workflowInfo().workflowId);
  const progress: RetentionProgress = { id, status: 'waiting-for-lease', done: [], deleted: {}, total: 0 };
  setHandler(retentionProgressQuery, () => progress);
  const show = (patch: Partial<RetentionProgress> = {}) => {
    Object.assign(progress, patch);
    // What the Temporal UI lists beside the run.
    upsertMemo({ id, status: progress.status, item: progress.item ?? null, deleted: progress.total, error: progress.error ?? null });
  };
  show();

  const lease = await acquirePipelineLease('retention', id);
  let outcome: LeaseRelease['outcome'] = 'failed';
  let error: string | undefined;
  try {
    const state = await readRetentionState();
    const plan = planRetention({
      policy: input.policy ?? state.policy,
      now: Date.now(),
      watermark: state.watermark,
      // What the operator protects, and every owed window PostgreSQL records besides.
      protect: mergeWindows([...lease.grant.protect, ...state.owed]),
    });
    show({ status: 'running', plan: describePlan(plan) });

    const run = async (item: string, step: () => Promise<RetentionCounts>) => {
      show({ item });
      const counts = await step();
      for (const [k, n] of Object.entries(counts)) {
        progress.deleted[k] = (progress.deleted[k] ?? 0) + n;
        progress.total += n;
      }
      progress.done.push(item);
      show({ item: undefined });
    };
    // Gone shards first: their catalog rows go whole, before the live catalog keeps each shard's last row.
    await run('gone-shards', () => prune.pruneGoneShards({ plan }));
    await run('sink-files', () => prune.pruneSinkFiles({ plan }));
    await run('staged-files', () => prune.pruneStagedFiles({ plan }));
    await run('realtime', () => prune.pruneRealtime({ plan }));
    await run('bad-rows', () => prune.pruneBadRows({ plan }));
    for (const rule of plan.objects) await run(rule.item, () => prune.pruneObjects({ rule, batchSize: plan.batchSize }));
    outcome = 'completed';
    show({ status: 'completed' });
    return progress;
  } catch (err) {
    outcome = isCancellation(err) ? 'aborted' : 'failed';
    error = ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
    show({ status: outcome === 'aborted' ? 'cancelled' : 'failed', error });
    throw err;
  } finally {
    await lease.release({ outcome, ...(error ? { error } : {}) });
  }
}
