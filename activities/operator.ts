import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Pool } from '../adapters/postgres';
import type { SluiceConfig } from '../config';
import type { BatchViewsStore } from '../views/batch-views-store';
import { readOwedWindows, recordOwedWindow, type OwedWindow } from '../views/owed-windows';
import { workflowIds } from '../temporal.config';
import type { LeaseRequest, OperatorPolicy, TimeWindow } from '../workflows/operator-types';

// The operator's side effects: asking it for the lease (signal-with-start, so a batch run started
// before `sluice up` started the operator still finds one), checking that a lease holder's
// workflow still runs, and the warehouse state the operator reports (watermark, owed windows).

export interface OperatorDeps {
  client: Client;
  /** The batch task queue: the operator runs beside the batch runs it serializes. */
  taskQueue: string;
  policy: OperatorPolicy;
  pool: Pool;
  /** Where the watermark lives (the warehouse). */
  views: BatchViewsStore;
}

export const OPERATOR_WORKFLOW_TYPE = 'pipelineOperatorWorkflow';

const DAY_MS = 86_400_000;

/** The operator's rules from config (`operator.*`), passed to the workflow as its input. */
export function operatorPolicy(config: SluiceConfig): OperatorPolicy {
  const o = config.operator;
  return {
    maxReprocessMs: o.maxReprocessDays * DAY_MS,
    chunkMs: o.reprocessChunkHours * 3_600_000,
    masterRetentionMs: o.masterRetentionDays * DAY_MS,
    // A stream-enrich run archives no raw files: reprocessing its window would empty it (docs/batch.md).
    reprocessOwedWindows: o.reprocessOwedWindows && config.batch.mode === 'classic',
    historyLimit: 10_000,
  };
}

export interface PipelineState {
  watermark: number | null;
  owed: OwedWindow[];
}

export function createOperatorActivities(deps: OperatorDeps) {
  return {
    async requestPipelineLease(request: LeaseRequest): Promise<void> {
      const input = { policy: deps.policy };
      await deps.client.workflow.signalWithStart(OPERATOR_WORKFLOW_TYPE, {
        workflowId: workflowIds.operator(),
        taskQueue: deps.taskQueue,
        args: [input],
        signal: 'acquireLease',
        signalArgs: [request],
      });
    },

    /** False once the holder's workflow has closed (terminated, timed out, failed): its lease is void. */
    async holderIsRunning({ workflowId }: { workflowId: string }): Promise<boolean> {
      try {
        const d = await deps.client.workflow.getHandle(workflowId).describe();
        return d.status.name === 'RUNNING';
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    },

    async readPipelineState(): Promise<PipelineState> {
      const [watermark, owed] = await Promise.all([deps.views.readWatermark(), readOwedWindows(deps.pool)]);
      return { watermark, owed };
    },

    /** A skipped load's window: answered by the realtime views (not retired) until a reprocess loads it. */
    async recordSkippedLoad({ runId, window, reason }: { runId: string; window: TimeWindow; reason: string }): Promise<void> {
      await recordOwedWindow(deps.pool, { runId, ...window, reason });
    },
  };
}

export type OperatorActivities = ReturnType<typeof createOperatorActivities>;
