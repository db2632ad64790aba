import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  defineQuery,
  defineSignal,
  patched,
  proxyActivities,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { BatchActivities, StepCounts } from '../activities/batch';
import type { OperatorActivities } from '../activities/operator';
import type { ShredRunResult } from '../batch/shred-run';
import { batchStepActivity, controlActivity, loadActivity } from '../temporal.config';
import { acquirePipelineLease, type LeaseRelease } from './pipeline-lease';

// One durable workflow per batch run, readable as the plan it executes. Every step is an
// idempotent activity, so a worker killed mid-step just means the step runs again. A load that
// still fails after its retry policy parks the run until an operator signals retry, skip or abort.
// The run holds the pipeline lease (workflows/pipeline-lease.ts) from staging to archive, so it
// never overlaps a reprocess or another run; a skipped load leaves its window owed, answered by
// the realtime views until a reprocess loads it (docs/operator.md).

export type BatchStep = 'stage' | 'enrich' | 'shred' | 'load' | 'views' | 'archive' | 'done';
export type BatchMode = 'classic' | 'stream-enrich';
export type RunStatus = 'waiting-for-lease' | 'running' | 'awaiting-operator' | 'completed' | 'load-skipped' | 'aborted';

export interface BatchRunInput {
  /** Defaults to the workflow id's last segment (schedules start runs with unique ids). */
  runId?: string;
  /** classic: raw files → enrich → shred; stream-enrich: the speed layer's enriched files → shred. */
  mode?: BatchMode;
  /** Buckets for enrich's output and shred; by default sized from the raw files (classic) or shredBuckets. */
  buckets?: number;
}

/** A run id from a workflow id (`batch-run/scheduled-2026-11-21T22:54:02Z` → `scheduled-2026-11-21T22-54-02Z`). */
export function runIdOf(workflowId: string): string {
  return workflowId.split('/').pop()!.replace(/[^A-Za-z0-9._-]/g, '-');
}

/**
 * Each shred-reduce task holds one bucket in memory: aim for about 75,000 events per bucket,
 * with at least 8 so the engine's threads share the work. Fixed once per run (workflow state),
 * so every attempt of the shred step writes the same keys.
 */
export function shredBuckets(events: number | undefined): number {
  return Math.min(1024, Math.max(8, Math.ceil((events ?? 0) / 75_000)));
}

export interface BatchRunProgress {
  runId: string;
  mode: BatchMode;
  step: BatchStep;
  status: RunStatus;
  files: number;
  enriched?: StepCounts;
  shredded?: ShredRunResult;
  loaded?: number;
  watermark?: number | null;
  window?: { from?: number; to?: number };
  /** Why the run waits for an operator (the load's last error), or why it was skipped/aborted. */
  reason?: string;
}

export const progressQuery = defineQuery<BatchRunProgress>('progress');
/** Operator: run the parked step again (e.g. after the warehouse is back). */
export const retrySignal = defineSignal('retry');
/** Operator: give up on loading this run (its files are still archived; `sluice reprocess` can load them later). */
export const skipSignal = defineSignal<[string]>('skip');
/** Operator: end the run as failed; staged files stay in raw/processing/run=<id>/. */
export const abortSignal = defineSignal<[string]>('abort');

type Decision = { action: 'retry' } | { action: 'skip' | 'abort'; reason: string };

const steps = proxyActivities<BatchActivities>(batchStepActivity);
const { loadWarehouse } = proxyActivities<BatchActivities>(loadActivity);
const { recordSkippedLoad } = proxyActivities<OperatorActivities>(controlActivity);

/** A run's inclusive [minTstamp, maxTstamp] as a [from, to) window. */
const halfOpen = (w?: { from?: number; to?: number }) => (w?.from !== undefined && w.to !== undefined ? { from: w.from, to: w.to + 1 } : undefined);

export async function batchRunWorkflow(input: BatchRunInput = {}): Promise<BatchRunProgress> {
  const runId = input.runId ?? runIdOf(workflowInfo().workflowId);
  const mode = input.mode ?? 'classic';
  const progress: BatchRunProgress = { runId, mode, step: 'stage', status: 'running', files: 0 };
  let decision: Decision | undefined;
  setHandler(progressQuery, () => progress);
  setHandler(retrySignal, () => void (decision = { action: 'retry' }));
  setHandler(skipSignal, (reason) => void (decision = { action: 'skip', reason: reason || 'skipped by operator' }));
  setHandler(abortSignal, (reason) => void (decision = { action: 'abort', reason: reason || 'aborted by operator' }));
  const show = (patch: Partial<BatchRunProgress>) => {
    Object.assign(progress, patch);
    // The memo is what the Temporal UI lists next to the run.
    upsertMemo({ runId, mode, step: progress.step, status: progress.status, window: progress.window ?? null, reason: progress.reason ?? null });
  };

  /** Runs a step; when it fails past its retry policy, parks the run until an operator decides. */
  async function withOperator<T>(run: () => Promise<T>): Promise<T | 'skipped'> {
    for (;;) {
      try {
        return await run();
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        decision = undefined;
        show({ status: 'awaiting-operator', reason: (err.cause ?? err).message });
        await condition(() => decision !== undefined);
        const d = decision!;
        if (d.action === 'abort') {
          show({ status: 'aborted', reason: d.reason });
          throw ApplicationFailure.nonRetryable(`run ${runId} aborted by operator: ${d.reason}`, 'OperatorAbort');
        }
        if (d.action === 'skip') {
          show({ status: 'load-skipped', reason: d.reason });
          return 'skipped';
        }
        show({ status: 'running', reason: undefined });
      }
    }
  }

  if (!patched('pipeline-lease')) return runSteps();
  show({ status: 'waiting-for-lease' });
  const lease = await acquirePipelineLease('batch', runId);
  show({ status: 'running' });
  let release: Omit<LeaseRelease, 'id'> = { outcome: 'failed' };
  try {
    await runSteps();
    release = { outcome: progress.status === 'load-skipped' ? 'load-skipped' : 'completed', window: halfOpen(progress.window), watermark: progress.watermark, error: progress.reason };
    return progress;
  } catch (err) {
    release = { outcome: progress.status === 'aborted' ? 'aborted' : 'failed', window: halfOpen(progress.window), error: (err as Error).message };
    throw err;
  } finally {
    await lease.release(release);
  }

  async function runSteps(): Promise<BatchRunProgress> {
    show({ step: 'stage' });
    const staged = mode === 'classic' ? await steps.stageRawFiles({ runId }) : await steps.stageEnrichedFiles({ runId });
    progress.files = staged.files;

    if (mode === 'classic') {
      show({ step: 'enrich' });
      progress.enriched = await steps.enrichRawFiles({ runId, buckets: input.buckets });
    }

    show({ step: 'shred' });
    // A classic run's enriched output is bucketed already, and shred keeps its bucket count.
    const buckets = input.buckets ?? progress.enriched?.buckets ?? shredBuckets(undefined);
    progress.shredded = await steps.shredEnriched({ runId, buckets });
    const window = { from: progress.shredded.minTstamp, to: progress.shredded.maxTstamp };
    show({ step: 'load', window });

    const loaded = await withOperator(() => loadWarehouse({ runId, window }));
    if (loaded !== 'skipped') {
      progress.loaded = loaded.loaded;
      show({ step: 'views' });
      const views = steps.computeBatchViews({ runId, window, completeThroughMs: staged.completeThroughMs });
      // Once the load has committed nothing reads the run's files again, and the views read only
      // the warehouse: the archive moves them meanwhile (runs started before this change keep the
      // old order when replayed).
      if (patched('archive-beside-views')) {
        const [computed] = await Promise.all([views, steps.archiveRun({ runId })]);
        progress.watermark = computed.watermark;
        show({ step: 'done', status: 'completed' });
        return progress;
      }
      progress.watermark = (await views).watermark;
    } else if (patched('pipeline-lease')) {
      // Recorded before the archive: from here the window is answered by the realtime views until loaded.
      const owed = halfOpen(window);
      if (owed) await recordSkippedLoad({ runId, window: owed, reason: progress.reason ?? 'load skipped by an operator' });
    }

    show({ step: 'archive' });
    await steps.archiveRun({ runId });

    show({ step: 'done', status: progress.status === 'load-skipped' ? 'load-skipped' : 'completed' });
    return progress;
  }
}
