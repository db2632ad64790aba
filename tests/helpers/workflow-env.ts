import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, type LogLevel, Runtime, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createSpeedActivities } from '../../activities/speed';
import type { SpeedDeps } from '../../activities/speed-types';
import { findTemporalCli } from '../../stack/standins';
import { speedHeartbeatThrottle } from '../../temporal.config';

// Temporal's test environment on our own dev-server binary (nothing is downloaded) and the bundle
// of every workflow the workers register, for the workflow tests on TestWorkflowEnvironment.

export async function startWorkflowTestEnv(level: LogLevel = 'WARN'): Promise<{ env: TestWorkflowEnvironment; bundle: WorkflowBundleWithSourceMap }> {
  Runtime.install({ logger: new DefaultLogger(level) });
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: findTemporalCli() }, ip: '127.0.0.1' },
  });
  const bundle = await bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('../../workflows/index.ts', import.meta.url)), logger: new DefaultLogger(level) });
  return { env, bundle };
}

export interface SpeedTestWorker {
  env: TestWorkflowEnvironment;
  /** Shuts the worker down, waits for it, and tears the environment down. */
  stop(): Promise<void>;
}

/**
 * The test environment and a worker on `taskQueue` running the speed activities over `deps`,
 * with the workers process's heartbeat throttle; the activities' Temporal client is the
 * environment's.
 */
export async function startSpeedTestWorker(taskQueue: string, deps: Omit<SpeedDeps, 'temporal'>): Promise<SpeedTestWorker> {
  const { env, bundle } = await startWorkflowTestEnv('ERROR');
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: createSpeedActivities({ ...deps, temporal: env.client }),
    maxHeartbeatThrottleInterval: speedHeartbeatThrottle,
  });
  const running = worker.run();
  return {
    env,
    async stop() {
      worker.shutdown();
      await running.catch(() => undefined);
      await env.teardown();
    },
  };
}
