import { defineQuery, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { BatchActivities, StepCounts } from '../activities/batch';
import { batchStepActivity } from '../temporal.config';

// One durable workflow per batch run, readable as the plan it executes. Every step is an
// idempotent activity, so a worker killed mid-step just means the step runs again.

export type BatchStep = 'stage' | 'enrich' | 'shred' | 'load' | 'views' | 'archive' | 'done';

export interface BatchRunInput {
  /** Defaults to the workflow id's last segment (schedules start runs with unique ids). */
  runId?: string;
}

export interface BatchRunProgress {
  runId: string;
  step: BatchStep;
  files: number;
  enriched?: StepCounts;
  shredded?: StepCounts;
  loaded?: number;
  watermark?: number | null;
}

export const progressQuery = defineQuery<BatchRunProgress>('progress');

const { stageRawFiles, enrichRawFiles, shredEnriched, loadWarehouse, computeBatchViews, archiveRun } =
  proxyActivities<BatchActivities>(batchStepActivity);

export async function batchRunWorkflow(input: BatchRunInput = {}): Promise<BatchRunProgress> {
  const runId = input.runId ?? workflowInfo().workflowId.split('/').pop()!.replace(/[^A-Za-z0-9._-]/g, '-');
  const progress: BatchRunProgress = { runId, step: 'stage', files: 0 };
  setHandler(progressQuery, () => progress);

  const staged = await stageRawFiles({ runId });
  progress.files = staged.files;

  progress.step = 'enrich';
  progress.enriched = await enrichRawFiles({ runId });

  progress.step = 'shred';
  progress.shredded = await shredEnriched({ runId });
  const window = { from: progress.shredded.minTstamp, to: progress.shredded.maxTstamp };

  progress.step = 'load';
  progress.loaded = (await loadWarehouse({ runId, window })).loaded;

  progress.step = 'views';
  progress.watermark = (await computeBatchViews({ runId, window, completeThroughMs: staged.completeThroughMs })).watermark;

  progress.step = 'archive';
  await archiveRun({ runId });

  progress.step = 'done';
  return progress;
}
