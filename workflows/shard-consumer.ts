import { continueAsNew, defineQuery, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { SpeedActivities } from '../activities/speed';
import { shardConsumeActivity, shardConsumerMaxIterations } from '../temporal.config';

// One long-running workflow per (stream, processor, shard). Its workflow id is the lease on the
// shard; its state is the checkpoint. Records never pass through history: the activity reads,
// processes and commits them, and returns only the new checkpoint.

export interface ShardConsumerInput {
  stream: string;
  processor: string;
  shardId: string;
  /** Last sequence number whose effects are committed; undefined = the configured start position. */
  checkpoint?: string;
}

export const checkpointQuery = defineQuery<{ shardId: string; checkpoint?: string; millisBehindLatest: number; recordsPerSecond: number }>('checkpoint');

const { consumeShard } = proxyActivities<SpeedActivities>(shardConsumeActivity);

export async function shardConsumerWorkflow(input: ShardConsumerInput): Promise<{ shardId: string; checkpoint?: string }> {
  let checkpoint = input.checkpoint;
  let millisBehindLatest = 0;
  let recordsPerSecond = 0;
  setHandler(checkpointQuery, () => ({ shardId: input.shardId, checkpoint, millisBehindLatest, recordsPerSecond }));

  for (let iteration = 0; ; iteration++) {
    const result = await consumeShard({ stream: input.stream, processor: input.processor, shardId: input.shardId, checkpoint });
    checkpoint = result.checkpoint;
    millisBehindLatest = result.millisBehindLatest;
    recordsPerSecond = result.recordsPerSecond;
    // A closed shard (after a split or merge) that is fully read: this lease is done.
    if (result.shardEnded) return { shardId: input.shardId, checkpoint };
    if (workflowInfo().continueAsNewSuggested || iteration + 1 >= shardConsumerMaxIterations) {
      await continueAsNew<typeof shardConsumerWorkflow>({ ...input, checkpoint });
    }
  }
}
