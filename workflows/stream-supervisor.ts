import {
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { ConsumerState, SpeedActivities } from '../activities/speed';
import { controlActivity, supervisorRelistInterval, workflowIds } from '../temporal.config';
import { pauseSignal, relistSignal, resumeSignal, rewindSignal, shardConsumerWorkflow, type RewindRequest } from './shard-consumer';

// One supervisor per (stream, processor): lists the shards and makes sure each has exactly one
// consumer workflow. A child shard (after a split or merge) starts only once its parents'
// consumers have drained them, so records of one partition key are processed in order. It
// re-lists periodically (a split or merge made while running is picked up) and at once when a
// drained shard's consumer reports. Pause, resume and rewind sent here go to every shard.

export interface StreamSupervisorInput {
  stream: string;
  processor: string;
  paused?: boolean;
}

export interface SupervisorStatus {
  paused: boolean;
  shards: { shardId: string; state: ConsumerState | 'waiting-for-parents'; parents: string[] }[];
  listedAtMs: number;
}

export const supervisorStatusQuery = defineQuery<SupervisorStatus>('status');

const { listShards, consumerStates } = proxyActivities<SpeedActivities>(controlActivity);

export async function streamSupervisorWorkflow(input: StreamSupervisorInput): Promise<void> {
  const self = workflowInfo().workflowId;
  let paused = input.paused ?? false;
  let relist = false;
  let running: string[] = [];
  let status: SupervisorStatus = { paused, shards: [], listedAtMs: 0 };

  /** Forwards a signal to every consumer this supervisor knows to be running. */
  const forward = async (send: (id: string) => Promise<void>) => {
    await Promise.all(running.map((id) => send(id).catch(() => undefined))); // a consumer that just finished has nothing to do
  };
  const consumer = (id: string) => getExternalWorkflowHandle(id);

  setHandler(supervisorStatusQuery, () => ({ ...status, paused }));
  setHandler(relistSignal, () => {
    relist = true;
  });
  setHandler(pauseSignal, async () => {
    paused = true;
    await forward((id) => consumer(id).signal(pauseSignal));
  });
  setHandler(resumeSignal, async () => {
    paused = false;
    await forward((id) => consumer(id).signal(resumeSignal));
  });
  setHandler(rewindSignal, async (request: RewindRequest) => {
    await forward((id) => consumer(id).signal(rewindSignal, request));
  });

  for (let round = 0; ; round++) {
    const shards = await listShards({ stream: input.stream });
    const ids = shards.map((s) => workflowIds.shardConsumer(input.stream, input.processor, s.shardId));
    const states = await consumerStates({ workflowIds: ids });
    const stateOf = new Map(shards.map((s, i) => [s.shardId, states[i]]));
    // A parent no longer listed is past retention: nothing of it is left to read.
    const drained = (shardId: string | undefined) => shardId === undefined || !stateOf.has(shardId) || stateOf.get(shardId) === 'completed';

    const nextRunning: string[] = [];
    const listed: SupervisorStatus['shards'] = [];
    for (const [i, shard] of shards.entries()) {
      const parents = [shard.parentShardId, shard.adjacentParentShardId].filter((p): p is string => p !== undefined);
      let state: SupervisorStatus['shards'][number]['state'] = stateOf.get(shard.shardId)!;
      // 'failed' covers terminated and timed-out consumers too: the lease is free again.
      if (state === 'none' || state === 'failed') {
        if (!parents.every(drained)) {
          listed.push({ shardId: shard.shardId, state: 'waiting-for-parents', parents });
          continue;
        }
        // Consumers outlive this run (continue-as-new); the workflow id keeps them unique.
        await startChild(shardConsumerWorkflow, {
          workflowId: ids[i],
          args: [{ stream: input.stream, processor: input.processor, shardId: shard.shardId, paused, supervisorId: self }],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        });
        state = 'running';
      }
      if (state === 'running') nextRunning.push(ids[i]);
      listed.push({ shardId: shard.shardId, state, parents });
    }
    running = nextRunning;
    status = { paused, shards: listed, listedAtMs: Date.now() };

    await condition(() => relist, supervisorRelistInterval);
    relist = false;
    if (workflowInfo().continueAsNewSuggested || round >= 200) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof streamSupervisorWorkflow>({ ...input, paused });
    }
  }
}
