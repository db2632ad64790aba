import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards as kinesisListShards, readBatch, shardIterator, type ShardInfo, type StreamRecord } from '../adapters/kinesis';
import { compareSequence, type ShardProcessor } from '../speed/processor';

// Speed-layer activities. consumeShard is the heartbeating loop of one shard consumer: it reads
// for a bounded time, hands records to the processor, and returns only the committed checkpoint.

export interface ConsumeInput {
  stream: string;
  processor: string;
  shardId: string;
  checkpoint?: string;
}

export interface ConsumeResult {
  checkpoint?: string;
  shardEnded: boolean;
  records: number;
  millisBehindLatest: number;
  recordsPerSecond: number;
}

export type ConsumerState = 'none' | 'running' | 'completed' | 'failed';

export interface SpeedDeps {
  kinesis: KinesisClient;
  temporal: Client;
  processors: Record<string, ShardProcessor>;
  startPosition: 'TRIM_HORIZON' | 'LATEST';
  pollMs: number;
  budgetMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The later of two checkpoints (either may be missing). */
function later(a?: string, b?: string): string | undefined {
  if (!a) return b;
  if (!b) return a;
  return compareSequence(a, b) >= 0 ? a : b;
}

export function createSpeedActivities(deps: SpeedDeps) {
  return {
    async listShards({ stream }: { stream: string }): Promise<ShardInfo[]> {
      return kinesisListShards(deps.kinesis, stream);
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

    async consumeShard(input: ConsumeInput): Promise<ConsumeResult> {
      const ctx = Context.current();
      const processor = deps.processors[input.processor];
      if (!processor) throw new Error(`unknown processor ${input.processor}`);
      // A processor that commits its checkpoint with its effects knows best where it stands.
      let checkpoint = later(input.checkpoint, await processor.resume?.(input.stream, input.shardId));
      let iterator: string | undefined = await shardIterator(
        deps.kinesis,
        input.stream,
        input.shardId,
        checkpoint ? { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: checkpoint } : { type: deps.startPosition },
      );
      const started = Date.now();
      let pending: StreamRecord[] = [];
      let pendingBytes = 0;
      let pendingSince = 0;
      let total = 0;
      let millisBehindLatest = 0;

      const flush = async (caughtUpAtMs?: number) => {
        const committed = await processor.process(pending, { stream: input.stream, shardId: input.shardId, after: checkpoint }, { caughtUpAtMs });
        if (committed) checkpoint = committed;
        total += pending.length;
        pending = [];
        pendingBytes = 0;
      };

      while (iterator && Date.now() - started < deps.budgetMs && !ctx.cancellationSignal.aborted) {
        ctx.heartbeat({ checkpoint });
        const pollStarted = Date.now();
        const batch = await readBatch(deps.kinesis, iterator);
        iterator = batch.next;
        millisBehindLatest = batch.millisBehindLatest;
        if (batch.records.length > 0 && pending.length === 0) pendingSince = Date.now();
        pending.push(...batch.records);
        pendingBytes += batch.records.reduce((n, r) => n + r.data.length, 0);
        const caughtUp = batch.records.length === 0 && batch.millisBehindLatest === 0;
        const { maxRecords, maxBytes, maxAgeMs } = processor.flushPolicy;
        if (pending.length >= maxRecords || pendingBytes >= maxBytes || (pending.length > 0 && Date.now() - pendingSince >= maxAgeMs)) {
          await flush();
        } else if (caughtUp && pending.length === 0) {
          // Nothing buffered and nothing new: everything that arrived before this poll is handled.
          await flush(pollStarted);
        }
        if (batch.records.length === 0) await sleep(deps.pollMs);
      }
      if (pending.length > 0) await flush();
      const seconds = Math.max(0.001, (Date.now() - started) / 1000);
      return { checkpoint, shardEnded: iterator === undefined, records: total, millisBehindLatest, recordsPerSecond: total / seconds };
    },
  };
}

export type SpeedActivities = ReturnType<typeof createSpeedActivities>;
