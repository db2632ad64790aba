import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { workflowIds } from '../../temporal.config';
import { batchRunWorkflow } from '../../workflows/batch-run';
import { pipelineOperatorWorkflow, statusQuery } from '../../workflows/operator';
import type { OperatorPolicy, OperatorStatus } from '../../workflows/operator-state';
import { startWorkflowTestEnv } from './workflow-env';

// The setup of the tests that run the operator workflow itself (operator.test.ts, retention.test.ts).
// Apart from tests/helpers/operator.ts, which the worker process killable-worker.ts imports too:
// that one must not load vitest.

/**
 * The operator workflow's tests on one task queue: registers the file's hooks, which start
 * Temporal's test environment and bundle (workflow-env.ts) before its tests, terminate the operator
 * a test started after each (that frees the operator's one workflow id for the next) and tear the
 * environment down after all. Call it at the top of a test file.
 */
export function operatorTestEnv(taskQueue: string) {
  let started: { env: TestWorkflowEnvironment; bundle: WorkflowBundleWithSourceMap } | undefined;
  let operator: WorkflowHandle<typeof pipelineOperatorWorkflow> | undefined;
  beforeAll(async () => {
    started = await startWorkflowTestEnv();
  });
  afterEach(async () => {
    await operator?.terminate('test over').catch(() => undefined);
    operator = undefined;
  });
  afterAll(async () => {
    await started?.env.teardown();
  });
  const get = () => {
    if (!started) throw new Error('the test environment is not started yet (it starts in beforeAll)');
    return started;
  };
  const client = () => get().env.client;
  return {
    get env(): TestWorkflowEnvironment {
      return get().env;
    },
    async startOperator(policy: OperatorPolicy) {
      operator = await client().workflow.start(pipelineOperatorWorkflow, { workflowId: workflowIds.operator(), taskQueue, args: [{ policy }] });
      return operator;
    },
    /** Runs `fn` while a worker on the task queue serves every workflow and these activities. */
    async withWorker<T>(activities: object, fn: () => Promise<T>): Promise<T> {
      const { env, bundle } = get();
      const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, activities });
      return worker.runUntil(fn());
    },
    status: (): Promise<OperatorStatus> => client().workflow.getHandle(workflowIds.operator()).query(statusQuery),
    startBatch: (runId: string) => client().workflow.start(batchRunWorkflow, { workflowId: workflowIds.batchRun(runId), taskQueue, args: [{ runId }] }),
  };
}

/** Polls `check` every 100 ms until it holds (a throw counts as not yet). */
export async function waitUntil(what: string, check: () => Promise<boolean>, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting until ${what}`);
}
