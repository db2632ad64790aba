import {
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  continueAsNew,
  proxyActivities,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { SpeedActivities } from '../activities/speed';
import { controlActivity, supervisorRelistInterval, workflowIds } from '../temporal.config';
import { shardConsumerWorkflow } from './shard-consumer';

// One supervisor per (stream, processor): lists the shards and makes sure each has exactly one
// consumer workflow. A child shard (after a split or merge) starts only once its parents' consumers
// have drained them, so records of one partition key are processed in order.

export interface StreamSupervisorInput {
  stream: string;
  processor: string;
}

const { listShards, consumerStates } = proxyActivities<SpeedActivities>(controlActivity);

export async function streamSupervisorWorkflow(input: StreamSupervisorInput): Promise<void> {
  for (let round = 0; ; round++) {
    const shards = await listShards({ stream: input.stream });
    const ids = shards.map((s) => workflowIds.shardConsumer(input.stream, input.processor, s.shardId));
    const states = await consumerStates({ workflowIds: ids });
    const stateOf = new Map(shards.map((s, i) => [s.shardId, states[i]]));
    const drained = (shardId: string | undefined) =>
      shardId === undefined || !stateOf.has(shardId) || stateOf.get(shardId) === 'completed';

    for (const [i, shard] of shards.entries()) {
      if (stateOf.get(shard.shardId) !== 'none') continue;
      if (!drained(shard.parentShardId) || !drained(shard.adjacentParentShardId)) continue;
      // Consumers outlive this run (continue-as-new); the workflow id keeps them unique.
      await startChild(shardConsumerWorkflow, {
        workflowId: ids[i],
        args: [{ stream: input.stream, processor: input.processor, shardId: shard.shardId }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      });
    }

    await sleep(supervisorRelistInterval);
    if (workflowInfo().continueAsNewSuggested || round >= 200) await continueAsNew<typeof streamSupervisorWorkflow>(input);
  }
}
