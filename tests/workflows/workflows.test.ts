import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchActivities } from '../../activities/batch';
import type { ConsumeInput, SpeedActivities } from '../../activities/speed';
import { findTemporalCli } from '../../stack/standins';
import { batchRunWorkflow } from '../../workflows/batch-run';
import { shardConsumerWorkflow } from '../../workflows/shard-consumer';

// Orchestration logic of the workflows, on Temporal's test environment (our own dev-server
// binary, so nothing is downloaded). The activities here stand in for the side effects only;
// the real ones are exercised against the real stand-ins in tests/e2e.

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: findTemporalCli() }, ip: '127.0.0.1' },
  });
  bundle = await bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('../../workflows/index.ts', import.meta.url)) });
});

afterAll(async () => {
  await env?.teardown();
});

async function withWorker<T>(taskQueue: string, activities: object, fn: () => Promise<T>): Promise<T> {
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, activities });
  return worker.runUntil(fn());
}

describe('batchRunWorkflow', () => {
  it('runs stage → enrich → shred → load → views → archive and passes the window along', async () => {
    const calls: string[] = [];
    let loadAttempts = 0;
    const activities: BatchActivities = {
      async stageRawFiles() {
        calls.push('stage');
        return { files: 2, completeThroughMs: [180_000, 200_000] };
      },
      async enrichRawFiles() {
        calls.push('enrich');
        return { files: 2, good: 10, bad: 1 };
      },
      async shredEnriched() {
        calls.push('shred');
        return { files: 1, good: 10, bad: 0, minTstamp: 60_000, maxTstamp: 150_000 };
      },
      async loadWarehouse({ window }) {
        calls.push(`load ${window.from}-${window.to}`);
        // A transient failure is retried by policy, not surfaced to the plan.
        if (++loadAttempts === 1) throw ApplicationFailure.retryable('warehouse briefly unavailable');
        return { loaded: 10, alreadyLoaded: false };
      },
      async computeBatchViews({ completeThroughMs }) {
        calls.push(`views ${completeThroughMs.join(',')}`);
        return { watermark: 120_000, rows: 3 };
      },
      async archiveRun() {
        calls.push('archive');
        return { files: 5 };
      },
    };
    const result = await withWorker('batch-test', activities, () =>
      env.client.workflow.execute(batchRunWorkflow, { workflowId: 'batch-run/test-1', taskQueue: 'batch-test', args: [{ runId: 'test-1' }] }),
    );
    expect(calls).toEqual(['stage', 'enrich', 'shred', 'load 60000-150000', 'load 60000-150000', 'views 180000,200000', 'archive']);
    expect(result).toMatchObject({ runId: 'test-1', step: 'done', files: 2, loaded: 10, watermark: 120_000 });
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
