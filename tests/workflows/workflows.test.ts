import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchActivities } from '../../activities/batch';
import type { ConsumeInput, SpeedActivities } from '../../activities/speed';
import { WorkflowFailedError } from '@temporalio/client';
import {
  abortSignal,
  batchRunWorkflow,
  progressQuery,
  retrySignal,
  shredBuckets,
  skipSignal,
  type BatchRunProgress,
} from '../../workflows/batch-run';
import { shardConsumerWorkflow } from '../../workflows/shard-consumer';
import { operatorActivities, testPolicy, type WarehouseState } from '../helpers/operator';
import { startWorkflowTestEnv } from '../helpers/workflow-env';

// Orchestration logic of the workflows, on Temporal's test environment (our own dev-server
// binary, so nothing is downloaded). The activities here stand in for the side effects only;
// the real ones are exercised against the real stand-ins in tests/e2e.

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  ({ env, bundle } = await startWorkflowTestEnv());
});

afterAll(async () => {
  await env?.teardown();
});

async function withWorker<T>(taskQueue: string, activities: object, fn: () => Promise<T>): Promise<T> {
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, activities });
  return worker.runUntil(fn());
}

/** Side-effect stand-ins that record the plan; `load` decides what each load attempt does. */
function batchActivities(calls: string[], load: (attempt: number) => void, warehouse?: WarehouseState) {
  let loadAttempts = 0;
  const staged = { files: 2, completeThroughMs: [180_000, 200_000] };
  return {
    // Batch runs take the pipeline lease from the operator workflow (real, on the test server).
    // Owed windows stay owed here: the reprocess side is tests/workflows/operator.test.ts.
    ...operatorActivities(env.client, 'batch-test', warehouse, testPolicy({ reprocessOwedWindows: false })),
    async stageRawFiles() {
      calls.push('stage raw');
      return staged;
    },
    async stageEnrichedFiles() {
      calls.push('stage enriched');
      return staged;
    },
    async enrichRawFiles() {
      calls.push('enrich');
      return { files: 2, good: 10, bad: 1 };
    },
    async shredEnriched({ buckets }) {
      calls.push(`shred ${buckets}`);
      return { files: 1, good: 10, bad: 0, minTstamp: 60_000, maxTstamp: 150_000, buckets, duplicates: { natural: 0, synthetic: 0 }, tables: {}, missingSchemas: [], truncated: 0 };
    },
    async loadWarehouse({ window }) {
      calls.push(`load ${window.from}-${window.to}`);
      load(++loadAttempts);
      return { loaded: 10, alreadyLoaded: false, tables: { events: 10 }, actions: [] };
    },
    async computeBatchViews({ completeThroughMs }) {
      calls.push(`views ${completeThroughMs.join(',')}`);
      return { watermark: 120_000, rows: 3 };
    },
    async archiveRun() {
      calls.push('archive');
      return { files: 5 };
    },
  } satisfies BatchActivities & object;
}

const start = (runId: string, mode?: 'classic' | 'stream-enrich') =>
  env.client.workflow.start(batchRunWorkflow, { workflowId: `batch-run/${runId}`, taskQueue: 'batch-test', args: [{ runId, mode }] });

/** Waits until the run reports `status` through its query. */
async function waitForStatus(handle: { query: (q: typeof progressQuery) => Promise<BatchRunProgress> }, status: string): Promise<BatchRunProgress> {
  for (let i = 0; i < 600; i++) {
    const p = await handle.query(progressQuery);
    if (p.status === status) return p;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run never reached ${status}`);
}

describe('batchRunWorkflow', () => {
  it('runs stage → enrich → shred → load → views → archive and passes the window along', async () => {
    const calls: string[] = [];
    // A transient failure is retried by policy, not surfaced to the plan.
    const activities = batchActivities(calls, (n) => {
      if (n === 1) throw ApplicationFailure.retryable('warehouse briefly unavailable');
    });
    // The archive runs beside the views: this views call only returns once the archive has started.
    const views = activities.computeBatchViews;
    activities.computeBatchViews = async (args) => {
      for (let i = 0; i < 100 && !calls.includes('archive'); i++) await new Promise((r) => setTimeout(r, 50));
      if (!calls.includes('archive')) throw ApplicationFailure.nonRetryable('the archive did not start while the views ran');
      return views(args);
    };
    const result = await withWorker('batch-test', activities, async () => (await start('test-1')).result());
    expect(calls).toEqual(['stage raw', 'enrich', 'shred 8', 'load 60000-150000', 'load 60000-150000', 'archive', 'views 180000,200000']);
    expect(shredBuckets(1_000_000)).toBe(14);
    expect(shredBuckets(undefined)).toBe(8);
    expect(result).toMatchObject({ runId: 'test-1', mode: 'classic', step: 'done', status: 'completed', files: 2, loaded: 10, watermark: 120_000 });
  });

  it('in stream-enrich mode stages the enriched files and skips enrich', async () => {
    const calls: string[] = [];
    const result = await withWorker('batch-test', batchActivities(calls, () => undefined), async () => (await start('test-se', 'stream-enrich')).result());
    expect(calls.slice(0, 3)).toEqual(['stage enriched', 'shred 8', 'load 60000-150000']);
    expect(calls.slice(3).sort()).toEqual(['archive', 'views 180000,200000']);
    expect(result).toMatchObject({ mode: 'stream-enrich', status: 'completed', loaded: 10 });
  });

  it('parks a load that keeps failing past its retry policy, and a retry signal finishes the run', async () => {
    const calls: string[] = [];
    let warehouseUp = false;
    const activities = batchActivities(calls, () => {
      if (!warehouseUp) throw ApplicationFailure.retryable('connect ECONNREFUSED 127.0.0.1:5433');
    });
    const result = await withWorker('batch-test', activities, async () => {
      const handle = await start('test-park');
      const parked = await waitForStatus(handle, 'awaiting-operator');
      expect(parked).toMatchObject({ step: 'load', reason: 'connect ECONNREFUSED 127.0.0.1:5433' });
      // Every attempt of the policy ran before the run parked; nothing after load ran.
      expect(calls.filter((c) => c.startsWith('load'))).toHaveLength(4);
      expect(calls).not.toContain('archive');
      const memo = (await handle.describe()).memo as Record<string, unknown>;
      expect(memo).toMatchObject({ runId: 'test-park', status: 'awaiting-operator', step: 'load' });
      warehouseUp = true;
      await handle.signal(retrySignal);
      return handle.result();
    });
    expect(result).toMatchObject({ status: 'completed', loaded: 10, watermark: 120_000 });
    expect(calls.slice(-3, -2)).toEqual(['load 60000-150000']);
    expect(calls.slice(-2).sort()).toEqual(['archive', 'views 180000,200000']);
  });

  it('skip archives the run without loading or advancing the watermark; abort fails it', async () => {
    const calls: string[] = [];
    const warehouse: WarehouseState = { watermark: null, owed: [] };
    // A non-retryable failure parks at once.
    const activities = batchActivities(calls, () => {
      throw ApplicationFailure.nonRetryable('column "x" is of type integer');
    }, warehouse);
    const skipped = await withWorker('batch-test', activities, async () => {
      const handle = await start('test-skip');
      await waitForStatus(handle, 'awaiting-operator');
      await handle.signal(skipSignal, 'bad data, reprocess after the fix');
      return handle.result();
    });
    expect(skipped).toMatchObject({ status: 'load-skipped', reason: 'bad data, reprocess after the fix', step: 'done' });
    expect(skipped.loaded).toBeUndefined();
    expect(calls).not.toContain('views 180000,200000');
    expect(calls[calls.length - 1]).toBe('archive');
    // The skipped window is owed (shred's [minTstamp, maxTstamp] as [from, to)): the realtime views keep answering it.
    expect(warehouse.owed).toEqual([{ runId: 'test-skip', from: 60_000, to: 150_001, reason: 'bad data, reprocess after the fix' }]);

    calls.length = 0;
    const aborted = withWorker('batch-test', activities, async () => {
      const handle = await start('test-abort');
      await waitForStatus(handle, 'awaiting-operator');
      await handle.signal(abortSignal, 'wrong bucket');
      return handle.result();
    });
    await expect(aborted).rejects.toThrow(WorkflowFailedError);
    expect(calls).not.toContain('archive');
  });
});

describe('shardConsumerWorkflow', () => {
  it('hands each committed checkpoint to the next activity and ends when the shard is drained', async () => {
    const seen: (string | undefined)[] = [];
    const activities: Pick<SpeedActivities, 'consumeShard'> = {
      async consumeShard(input: ConsumeInput) {
        seen.push(input.checkpoint);
        const next = String(Number(input.checkpoint ?? '100') + 10);
        return { checkpoint: next, shardEnded: seen.length === 3, records: 10, millisBehindLatest: 0, recordsPerSecond: 5 };
      },
    };
    const result = await withWorker('speed-test', activities, () =>
      env.client.workflow.execute(shardConsumerWorkflow, {
        workflowId: 'shard-consumer/test/enrich/shardId-0',
        taskQueue: 'speed-test',
        args: [{ stream: 'test', processor: 'enrich', shardId: 'shardId-0' }],
      }),
    );
    expect(seen).toEqual([undefined, '110', '120']);
    expect(result).toEqual({ shardId: 'shardId-0', checkpoint: '130' });
  });
});
