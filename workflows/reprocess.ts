import { defineQuery, patched, proxyActivities, setHandler, upsertMemo, workflowInfo } from '@temporalio/workflow';
import type { BatchActivities, StepCounts } from '../activities/batch';
import type { ReprocessActivities } from '../activities/reprocess';
import type { ShredRunResult } from '../batch/shred-run';
import { batchStepActivity, loadActivity } from '../temporal.config';
import { shredBuckets } from './batch-run';
import { acquirePipelineLease, type HeldLease } from './pipeline-lease';

// Reprocess a time window: replay the archived raw files of the window through the same enrich
// and shred jobs, then replace the window's rows, shredded rows and views in one transaction.
// Every step is idempotent; running the whole workflow twice leaves the same warehouse. The
// operator workflow runs it as a child while holding the pipeline lease; started on its own (by a
// client of the old API), it asks the operator for the lease first, so it never overlaps a batch run.

export interface ReprocessInput {
  runId: string;
  /** [from, to) in epoch ms, on collector_tstamp. */
  from: number;
  to: number;
}

export interface ReprocessProgress {
  runId: string;
  window: { from: number; to: number };
  step: 'collect' | 'enrich' | 'shred' | 'replace' | 'archive' | 'done';
  files: number;
  enriched?: StepCounts;
  shredded?: ShredRunResult;
  loaded?: number;
}

export const reprocessProgressQuery = defineQuery<ReprocessProgress>('progress');

const steps = proxyActivities<BatchActivities & ReprocessActivities>(batchStepActivity);
const { replaceWindow } = proxyActivities<ReprocessActivities>(loadActivity);

export async function reprocessWorkflow(input: ReprocessInput): Promise<ReprocessProgress> {
  const { runId } = input;
  const window = { from: input.from, to: input.to };
  const progress: ReprocessProgress = { runId, window, step: 'collect', files: 0 };
  setHandler(reprocessProgressQuery, () => progress);
  const lease: HeldLease | undefined = workflowInfo().parent || !patched('pipeline-lease') ? undefined : await acquirePipelineLease('reprocess', runId);
  try {
    await reprocessSteps(progress);
    await lease?.release({ outcome: 'completed', window });
  } catch (err) {
    await lease?.release({ outcome: 'failed', window, error: (err as Error).message });
    throw err;
  }
  return progress;
}

async function reprocessSteps(progress: ReprocessProgress): Promise<void> {
  const { runId, window } = progress;
  const step = (s: ReprocessProgress['step']) => {
    progress.step = s;
    upsertMemo({ runId, step: s, window });
  };

  step('collect');
  progress.files = (await steps.collectArchivedRaw({ runId, window })).files;

  step('enrich');
  progress.enriched = await steps.enrichRawFiles({ runId });

  step('shred');
  progress.shredded = await steps.shredEnriched({ runId, buckets: progress.enriched.buckets ?? shredBuckets(progress.enriched.good), window });

  step('replace');
  progress.loaded = (await replaceWindow({ runId, window })).loaded;

  step('archive');
  await steps.archiveReprocess({ runId });

  step('done');
}
