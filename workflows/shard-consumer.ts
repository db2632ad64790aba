import {
  ActivityCancellationType,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ConsumeInput, ConsumeResult, RewindResult, SpeedActivities } from '../activities/speed';
import { controlActivity, shardConsumeActivity, shardConsumerMaxIterations } from '../temporal.config';

// One long-running workflow per (stream, processor, shard). Its workflow id is the lease on the
// shard; its state is the checkpoint. Records never pass through history: the activity reads,
// processes and commits them, and returns only the new checkpoint. Operators pause, resume and
// rewind it with signals (or through its stream supervisor, which forwards them to every shard).
// A rewind across a reshard holds a child shard's consumer (rewound, not reading) until its
// supervisor releases it, once the parent shards have been read again to their end.

/** The activity's input (stream, shard, checkpoint, rewind start, first start) plus the workflow's own state. */
export interface ShardConsumerInput extends ConsumeInput {
  paused?: boolean;
  /** A rewind requested but not applied yet when the workflow continued as new. */
  rewindToMs?: number;
  /** The stream supervisor to tell when this shard is drained (so it starts the children at once). */
  supervisorId?: string;
  /** Rewound and waiting for the supervisor's `release` (its parent shards are being read again). */
  held?: boolean;
}

export interface ShardStatus {
  shardId: string;
  checkpoint?: string;
  paused: boolean;
  /** Waiting, after a rewind, for its parent shards to be read again (see `held` in the input). */
  held: boolean;
  /** A consume activity is in flight (after a pause, until it has stopped). */
  consuming: boolean;
  millisBehindLatest: number;
  recordsPerSecond: number;
  /** Records committed by this run of the workflow (continue-as-new starts a new count). */
  records: number;
  lastPollMs: number;
  lastRewind?: { toMs: number } & RewindResult;
}

export interface RewindRequest {
  /** Epoch ms: re-read from the first record that arrived at or after it. */
  toMs: number;
  /** Then wait for `release` before reading (sent by the supervisor to children of re-read parents). */
  hold?: boolean;
}

export const checkpointQuery = defineQuery<{ shardId: string; checkpoint?: string; millisBehindLatest: number; recordsPerSecond: number }>('checkpoint');
export const statusQuery = defineQuery<ShardStatus>('status');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const rewindSignal = defineSignal<[RewindRequest]>('rewind');
/** From the supervisor: the parent shards are read again; a held consumer reads on. */
export const releaseSignal = defineSignal('release');
/** Sent by a drained shard's consumer to its supervisor: re-list now. */
export const relistSignal = defineSignal<[string]>('relist');

const { consumeShard } = proxyActivities<SpeedActivities>({
  ...shardConsumeActivity,
  // A cancelled consume (pause, rewind) returns its committed checkpoint before the workflow moves on.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});
const { rewindShard } = proxyActivities<SpeedActivities>(controlActivity);

export async function shardConsumerWorkflow(input: ShardConsumerInput): Promise<{ shardId: string; checkpoint?: string; gone?: boolean }> {
  const firstStartMs = input.firstStartMs ?? Date.now();
  let checkpoint = input.checkpoint;
  let startSequence = input.startSequence;
  let paused = input.paused ?? false;
  let held = input.held ?? false;
  let rewindTo = input.rewindToMs;
  let last: { millisBehindLatest: number; recordsPerSecond: number; lastPollMs: number } = { millisBehindLatest: 0, recordsPerSecond: 0, lastPollMs: 0 };
  let records = 0;
  let lastRewind: ShardStatus['lastRewind'];
  let consuming: CancellationScope | undefined;

  setHandler(checkpointQuery, () => ({ shardId: input.shardId, checkpoint, millisBehindLatest: last.millisBehindLatest, recordsPerSecond: last.recordsPerSecond }));
  setHandler(statusQuery, () => ({ shardId: input.shardId, checkpoint, paused, held, consuming: consuming !== undefined, records, ...last, lastRewind }));
  setHandler(pauseSignal, () => {
    paused = true;
    consuming?.cancel();
  });
  setHandler(resumeSignal, () => {
    paused = false;
  });
  setHandler(rewindSignal, ({ toMs, hold }) => {
    rewindTo = toMs;
    if (hold) held = true;
    consuming?.cancel();
  });
  setHandler(releaseSignal, () => {
    held = false;
  });

  for (let iteration = 0; ; iteration++) {
    // While paused (or held) only a rewind does anything (it moves the checkpoint; reading waits for resume or release).
    await condition(() => (!paused && !held) || rewindTo !== undefined);
    if (rewindTo !== undefined) {
      const toMs = rewindTo;
      rewindTo = undefined;
      const result = await rewindShard({ stream: input.stream, processor: input.processor, shardId: input.shardId, toMs, checkpoint });
      lastRewind = { toMs, ...result };
      if (result.applied) {
        checkpoint = result.checkpoint;
        startSequence = result.startSequence;
      }
      continue;
    }

    let result: ConsumeResult | undefined;
    consuming = new CancellationScope();
    try {
      result = await consuming.run(() =>
        consumeShard({ stream: input.stream, processor: input.processor, shardId: input.shardId, checkpoint, startSequence, firstStartMs }),
      );
    } catch (err) {
      // Cancelled for a pause or rewind: the durable checkpoint is where the next attempt resumes.
      if (!isCancellation(err)) throw err;
    } finally {
      consuming = undefined;
    }
    if (result) {
      // Once something past a rewind point is committed, the checkpoint alone says where to go on.
      if (startSequence !== undefined && result.checkpoint !== checkpoint) startSequence = undefined;
      checkpoint = result.checkpoint;
      records += result.records;
      last = { millisBehindLatest: result.millisBehindLatest, recordsPerSecond: result.recordsPerSecond, lastPollMs: result.lastPollMs ?? 0 };
      // A closed shard fully read (after a split or merge), or one that no longer exists: this lease is done.
      if ((result.shardEnded || result.shardGone) && rewindTo === undefined) {
        if (input.supervisorId) {
          await getExternalWorkflowHandle(input.supervisorId)
            .signal(relistSignal, input.shardId)
            .catch(() => undefined); // the supervisor re-lists on its own schedule too
        }
        return { shardId: input.shardId, checkpoint, gone: result.shardGone || undefined };
      }
    }
    if (workflowInfo().continueAsNewSuggested || iteration + 1 >= shardConsumerMaxIterations) {
      await continueAsNew<typeof shardConsumerWorkflow>({ ...input, checkpoint, startSequence, paused, held, firstStartMs, rewindToMs: rewindTo });
    }
  }
}
