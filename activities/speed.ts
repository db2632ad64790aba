import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { ReadBudget } from '../speed/read-budget';
import { ShardReads } from '../speed/shard-feed';
import { consumeShardActivity } from './speed-consume';
import { speedControlActivities } from './speed-control';
import type { SpeedDeps } from './speed-types';

export { backoffMs, idleWait } from '../speed/consume-timing';
export type { ConfiguredStart, ConsumeInput, ConsumeResult, ConsumerState, RewindInput, RewindResult, ShardLabels, ShardProgress, SpeedDeps, SpeedMetrics } from './speed-types';

// Speed-layer activities: consumeShard, the heartbeating loop of one shard consumer
// (activities/speed-consume.ts), and the control plane's shard listing, consumer states and
// rewind (activities/speed-control.ts); their types are in activities/speed-types.ts.

/** This process's Kinesis reads with the Kinesis limits, for one process reading every shard (tests, tools). */
export function defaultShardReads(kinesis: KinesisClient): ShardReads {
  return new ShardReads({ kinesis, budget: new ReadBudget({ callsPerSecond: 5, bytesPerSecond: 2_000_000, guardMs: 100, joinDelayMs: 0 }) });
}

export function createSpeedActivities(deps: SpeedDeps) {
  const reads = deps.reads ?? defaultShardReads(deps.kinesis);
  const processorOf = (name: string) => {
    const processor = deps.processors[name];
    if (!processor) throw new Error(`unknown processor ${name}`);
    return processor;
  };
  return {
    ...speedControlActivities(deps, reads, processorOf),
    consumeShard: consumeShardActivity(deps, reads, processorOf),
  };
}

export type SpeedActivities = ReturnType<typeof createSpeedActivities>;
