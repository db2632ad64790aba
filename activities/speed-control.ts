import { classifyKinesisError, listShards as kinesisListShards, openShardIterator, type ShardInfo, type StreamRecord } from '../adapters/kinesis';
import { compareSequence, type ShardProcessor } from '../speed/processor';
import type { ShardReads } from '../speed/shard-feed';
import type { ConsumerState, RewindInput, RewindResult, SpeedDeps } from './speed-types';

// The speed layer's control-plane activities: shard listing, consumer states and checkpoints
// (for the stream supervisor), and moving a processor's checkpoint back (rewind).

export function speedControlActivities(deps: SpeedDeps, reads: ShardReads, processorOf: (name: string) => ShardProcessor) {
  /** The first record at or after `toMs` in the shard, if any (its reads count against the processor's budget). */
  async function firstRecordAtOrAfter(stream: string, shardId: string, processor: string, toMs: number): Promise<StreamRecord | undefined> {
    let iterator: string | undefined = await openShardIterator(deps.kinesis, stream, shardId, { type: 'AT_TIMESTAMP', timestampMs: toMs });
    // Kinesis may answer a few empty reads before the first record of a sparse shard.
    for (let i = 0; i < 20 && iterator; i++) {
      const batch = await reads.getRecords(stream, shardId, processor, iterator, 100);
      const hit = batch.records.find((r) => r.arrivalMs >= toMs);
      if (hit) return hit;
      if (batch.records.length === 0 && batch.millisBehindLatest === 0) return undefined;
      iterator = batch.next;
    }
    return undefined;
  }

  return {
    async listShards({ stream }: { stream: string }): Promise<ShardInfo[]> {
      try {
        return await kinesisListShards(deps.kinesis, stream);
      } catch (err) {
        // A stream that does not exist (yet, or any more) has no shards to consume.
        if (classifyKinesisError(err) === 'not-found') return [];
        throw err;
      }
    },

    async consumerStates({ workflowIds }: { workflowIds: string[] }): Promise<ConsumerState[]> {
      return Promise.all(
        workflowIds.map(async (id): Promise<ConsumerState> => {
          try {
            const d = await deps.temporal.workflow.getHandle(id).describe();
            if (d.status.name === 'RUNNING') return 'running';
            if (d.status.name === 'COMPLETED') return 'completed';
            // Continued-as-new runs are still the same lease.
            if (d.status.name === 'CONTINUED_AS_NEW') return 'running';
            return 'failed';
          } catch (err) {
            if ((err as Error).name === 'WorkflowNotFoundError') return 'none';
            throw err;
          }
        }),
      );
    },

    /** The checkpoints drained (completed) consumers ended with, for a rewind that restarts them. */
    async drainedCheckpoints({ workflowIds }: { workflowIds: string[] }): Promise<(string | null)[]> {
      return Promise.all(
        workflowIds.map(async (id) => {
          const result = (await deps.temporal.workflow.getHandle(id).result().catch(() => undefined)) as { checkpoint?: string } | undefined;
          return result?.checkpoint ?? null;
        }),
      );
    },

    /**
     * Moves a processor's checkpoint of one shard back to the first record at or after `toMs`
     * (file sinks: to the start of the file holding it). Never moves forward: a consumer that has
     * not reached that record yet keeps its checkpoint.
     */
    async rewindShard(input: RewindInput): Promise<RewindResult> {
      const processor = processorOf(input.processor);
      if (processor.rewindUnsupported) return { applied: false, reason: processor.rewindUnsupported };
      const key = { stream: input.stream, processor: processor.name, shardId: input.shardId };
      const current = processor.resume ? await processor.resume(input.stream, input.shardId) : input.checkpoint;
      if (current === undefined) return { applied: false, reason: 'nothing consumed yet' };
      let first: StreamRecord | undefined;
      try {
        first = await firstRecordAtOrAfter(input.stream, input.shardId, processor.name, input.toMs);
      } catch (err) {
        if (classifyKinesisError(err) === 'not-found') return { applied: false, reason: 'shard no longer exists', checkpoint: current };
        throw err;
      }
      if (!first) return { applied: false, reason: 'no record at or after that time', checkpoint: current };
      if (compareSequence(first.sequenceNumber, current) > 0) return { applied: false, reason: 'checkpoint is before that time already', checkpoint: current };
      const point = processor.rewindPoint ? await processor.rewindPoint(input.stream, input.shardId, first.sequenceNumber) : { startSequence: first.sequenceNumber };
      await deps.checkpoints.set(key, point.after);
      return { applied: true, reason: `re-reading from ${point.startSequence}`, checkpoint: point.after, startSequence: point.startSequence };
    },
  };
}
