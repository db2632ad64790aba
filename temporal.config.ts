// Retry policies, timeouts and schedule defaults for every workflow and activity, in one place.
// Workflows import this file, so it must stay deterministic: plain constants, no Node APIs.
// Task queue names are deployment config (config/schema.ts → temporal.taskQueues).
import type { ActivityOptions } from '@temporalio/workflow';

/**
 * Per-shard consume activities: long polls (speed.activityBudgetMs) that heartbeat every poll; a
 * dead worker is noticed within the heartbeat timeout and the attempt retried on another. Retried
 * without limit: a shard consumer must not give up (the supervisor would only restart it).
 */
export const shardConsumeActivity: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
};

/**
 * How long the speed worker may hold back heartbeats (the SDK batches them). Short, so that a
 * pause or rewind (a cancellation, delivered in a heartbeat's answer) stops a consume within a second.
 */
export const speedHeartbeatThrottle = '1 second';

/** Short control-plane activities (list shards, read progress markers). */
export const controlActivity: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
};

/** Batch steps: idempotent, so retried freely; heartbeats make a killed worker visible quickly. */
export const batchStepActivity: ActivityOptions = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 8 },
};

/**
 * The load step: retried a few times for transient warehouse trouble, then the run parks and
 * waits for an operator's retry/skip/abort signal instead of failing (workflows/batch-run.ts).
 */
export const loadActivity: ActivityOptions = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 4 },
};

/**
 * Retention's deletes (activities/retention.ts): batches that are safe to repeat, so retried
 * freely; a heartbeat after every batch (and every 3 s during a slow one) shows a dead worker.
 */
export const retentionActivity: ActivityOptions = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 6 },
};

/** How often a shard consumer loops before continuing as new even if Temporal does not ask. */
export const shardConsumerMaxIterations = 500;

/**
 * How often a stream supervisor re-lists shards to pick up splits and merges (it also re-lists at
 * once when a drained shard's consumer finishes, so children start without this delay).
 */
export const supervisorRelistInterval = '30 seconds';

export const workflowIds = {
  supervisor: (stream: string, processor: string) => `stream-supervisor/${stream}/${processor}`,
  shardConsumer: (stream: string, processor: string, shardId: string) => `shard-consumer/${stream}/${processor}/${shardId}`,
  batchRun: (runId: string) => `batch-run/${runId}`,
  reprocess: (id: string) => `reprocess/${id}`,
  /** One per deployment (namespace): batch runs, reprocesses and retention ask it for the pipeline lease. */
  operator: () => 'pipeline-operator',
  retention: (id: string) => `retention/${id}`,
};
