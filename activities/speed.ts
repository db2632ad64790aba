import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import {
  classifyKinesisError,
  listShards as kinesisListShards,
  openShardIterator,
  readBatch,
  type ShardInfo,
  type StartPosition,
  type StreamRecord,
} from '../adapters/kinesis';
import type { CheckpointStore } from '../speed/checkpoints';
import { describeError, isolatePoison, isRecordError, isUnavailableError } from '../speed/poison';
import { StaleCheckpointError, compareSequence, sameCheckpoint, type ShardProcessor } from '../speed/processor';

// Speed-layer activities. consumeShard is the heartbeating loop of one shard consumer: it reads
// for a bounded time (or record count), hands records to the processor, and returns only the
// committed checkpoint; records never reach workflow history.

export interface ConsumeInput {
  stream: string;
  processor: string;
  shardId: string;
  checkpoint?: string;
  /** After a rewind: the first record to read again (`checkpoint` is the one before it). */
  startSequence?: string;
  /** When this shard's consumer first started: start position LATEST means "from then", across restarts. */
  firstStartMs?: number;
}

export interface ConsumeResult {
  checkpoint?: string;
  /** The shard is closed (split or merge) and every record in it is committed. */
  shardEnded: boolean;
  /** The shard no longer exists (trimmed after the retention period, or its stream deleted). */
  shardGone?: boolean;
  records: number;
  millisBehindLatest: number;
  recordsPerSecond: number;
  lastPollMs?: number;
}

/** What the consume activity heartbeats: the live numbers `sluice streams status` shows. */
export interface ShardProgress {
  checkpoint?: string;
  millisBehindLatest: number;
  recordsPerSecond: number;
  atMs: number;
}

export interface RewindInput {
  stream: string;
  processor: string;
  shardId: string;
  toMs: number;
  /** The workflow's checkpoint (for processors without a durable one). */
  checkpoint?: string;
}

export interface RewindResult {
  applied: boolean;
  reason: string;
  checkpoint?: string;
  startSequence?: string;
}

export type ConsumerState = 'none' | 'running' | 'completed' | 'failed';

export interface ShardLabels {
  stream: string;
  processor: string;
  shard: string;
}

/** Where the worker's Prometheus metrics come from (workers/speed-metrics.ts). */
export interface SpeedMetrics {
  polled(labels: ShardLabels, poll: { records: number; millisBehindLatest: number; recordsPerSecond: number }): void;
  failed(labels: ShardLabels, kind: string): void;
  ended(labels: ShardLabels): void;
}

export type ConfiguredStart = { type: 'TRIM_HORIZON' } | { type: 'LATEST' } | { type: 'AT_TIMESTAMP'; timestampMs: number };

export interface SpeedDeps {
  kinesis: KinesisClient;
  temporal: Client;
  processors: Record<string, ShardProcessor>;
  checkpoints: CheckpointStore;
  startPosition: ConfiguredStart;
  pollMs: number;
  /** Wait after a read that returned records but not a full batch (default pollMs). */
  flowPollMs?: number;
  /**
   * The longest wait between reads of an idle shard (default pollMs: no backoff). After each
   * empty read in a row the wait doubles from pollMs up to this.
   */
  idlePollMs?: number;
  budgetMs: number;
  /** An activity returns after this many records even within its time budget. */
  maxRecords: number;
  /** Records per GetRecords call (Kinesis allows up to 10,000). */
  readLimit?: number;
  /** Attempts, record by record, before a record that keeps failing the processor is skipped as bad (default 3). */
  poisonAttempts?: number;
  metrics?: SpeedMetrics;
}

/** Resolves after `ms`, or at once when the signal aborts (never rejects). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/** Exponential backoff with jitter (half fixed, half random), 250 ms doubling up to 5 s. */
export function backoffMs(failures: number, random = Math.random): number {
  const base = Math.min(5_000, 250 * 2 ** Math.min(failures - 1, 5));
  return Math.round(base / 2 + (random() * base) / 2);
}

/** Records per second over a sliding window. */
class RateWindow {
  private samples: { at: number; n: number }[] = [];
  constructor(private readonly windowMs = 10_000) {}
  add(n: number, at = Date.now()): void {
    this.samples.push({ at, n });
    while (this.samples.length > 0 && this.samples[0].at < at - this.windowMs) this.samples.shift();
  }
  perSecond(startedAt: number, at = Date.now()): number {
    const total = this.samples.reduce((s, x) => s + x.n, 0);
    const span = Math.min(this.windowMs, Math.max(1, at - startedAt));
    return Math.round((total * 1000 * 10) / span) / 10;
  }
}

export function createSpeedActivities(deps: SpeedDeps) {
  const readLimit = deps.readLimit ?? 1_000;

  const processorOf = (name: string) => {
    const processor = deps.processors[name];
    if (!processor) throw new Error(`unknown processor ${name}`);
    return processor;
  };

  /** The first record at or after `toMs` in the shard, if any. */
  async function firstRecordAtOrAfter(stream: string, shardId: string, toMs: number): Promise<StreamRecord | undefined> {
    let iterator: string | undefined = await openShardIterator(deps.kinesis, stream, shardId, { type: 'AT_TIMESTAMP', timestampMs: toMs });
    // Kinesis may answer a few empty reads before the first record of a sparse shard.
    for (let i = 0; i < 20 && iterator; i++) {
      const batch = await readBatch(deps.kinesis, iterator, 100);
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
        first = await firstRecordAtOrAfter(input.stream, input.shardId, input.toMs);
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

    async consumeShard(input: ConsumeInput): Promise<ConsumeResult> {
      const ctx = Context.current();
      const signal = ctx.cancellationSignal;
      const processor = processorOf(input.processor);
      const labels: ShardLabels = { stream: input.stream, processor: input.processor, shard: input.shardId };
      const key = { stream: input.stream, processor: processor.name, shardId: input.shardId };

      const started = Date.now();
      const rate = new RateWindow();
      let pending: StreamRecord[] = [];
      let millisBehindLatest = 0;
      let checkpoint: string | undefined;
      const progress = (): ShardProgress => ({ checkpoint, millisBehindLatest, recordsPerSecond: rate.perSecond(started), atMs: Date.now() });
      /**
       * Runs `fn`, parked with backoff while the service behind the processor is unavailable
       * (warehouse down, its write lock held by a batch load): the attempt keeps its lease and
       * heartbeats, reports its growing lag, and carries on as soon as the service is back.
       * Out of budget (or cancelled), the failure is the attempt's.
       */
      const parkWhileUnavailable = async <T>(fn: () => Promise<T>): Promise<T> => {
        for (let unavailable = 0; ; ) {
          try {
            return await fn();
          } catch (err) {
            if (!isUnavailableError(err) || signal.aborted || Date.now() - started >= deps.budgetMs) throw err;
            unavailable += 1;
            deps.metrics?.failed(labels, 'processor-unavailable');
            if (unavailable === 1 || unavailable % 10 === 0) ctx.log.warn('the service behind the processor is unavailable; parked', { shard: input.shardId, unavailable, error: describeError(err) });
            const until = Date.now() + backoffMs(unavailable);
            while (Date.now() < until && !signal.aborted) {
              if (pending.length > 0) millisBehindLatest = Math.max(millisBehindLatest, Date.now() - pending[0].arrivalMs);
              deps.metrics?.polled(labels, { records: 0, millisBehindLatest, recordsPerSecond: rate.perSecond(started) });
              ctx.heartbeat(progress());
              await pause(Math.min(1_000, until - Date.now()), signal);
            }
          }
        }
      };

      /** The durable checkpoint wins; a workflow checkpoint with no durable row yet seeds it. */
      const resume = async (): Promise<string | undefined> => {
        if (!processor.resume) return input.checkpoint;
        const durable = await parkWhileUnavailable(() => processor.resume!(input.stream, input.shardId));
        if (durable !== undefined || input.checkpoint === undefined || input.startSequence !== undefined) return durable;
        await deps.checkpoints.set(key, input.checkpoint);
        return input.checkpoint;
      };
      checkpoint = await resume();
      const initialPosition = (): StartPosition => {
        if (input.startSequence !== undefined && sameCheckpoint(checkpoint, input.checkpoint)) {
          return { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: input.startSequence };
        }
        if (checkpoint !== undefined) return { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: checkpoint };
        if (deps.startPosition.type === 'LATEST' && input.firstStartMs !== undefined) return { type: 'AT_TIMESTAMP', timestampMs: input.firstStartMs };
        return deps.startPosition;
      };

      let iterator: string | undefined;
      /** The last record read (committed or pending): where a re-acquired iterator continues. */
      let lastRead: string | undefined = checkpoint;
      let pendingBytes = 0;
      let pendingSince = 0;
      let total = 0;
      let lastPollMs = 0;
      let failures = 0;
      let shardEnded = false;
      let shardGone = false;
      let restarts = 0;

      const startOver = async () => {
        // Another attempt committed past us: continue from what it committed.
        restarts += 1;
        checkpoint = await resume();
        lastRead = checkpoint;
        pending = [];
        pendingBytes = 0;
        iterator = undefined;
      };
      const where = { stream: input.stream, shardId: input.shardId };
      /** process(), and after a failure tied to the records: the records one by one, a poison one skipped as bad. */
      const processIsolatingPoison = async (records: StreamRecord[], after: string | undefined, caughtUpAtMs?: number) => {
        try {
          return await processor.process(records, { ...where, after }, { caughtUpAtMs });
        } catch (err) {
          if (!processor.skipPoison || records.length === 0 || !isRecordError(err)) throw err;
          ctx.log.warn('a record failed the processor; isolating it', { shard: input.shardId, records: records.length, error: describeError(err) });
          return isolatePoison(records, after, {
            run: (one, at) => processor.process(one, { ...where, after: at }, {}),
            skip: (record, failure, at) => processor.skipPoison!(record, failure, { ...where, after: at }),
            onCommitted: (at) => {
              checkpoint = at; // what progress() reports while isolating
              ctx.heartbeat(progress());
            },
            onPoison: (record, failure) => {
              deps.metrics?.failed(labels, 'poison-record');
              ctx.log.error('poison record skipped as a bad row', { shard: input.shardId, sequenceNumber: record.sequenceNumber, attempts: failure.attempts, error: failure.error });
            },
          }, { maxAttempts: deps.poisonAttempts ?? 3, processor: processor.name });
        }
      };
      /**
       * Heartbeats every 2 s while `fn` runs: a commit can outlast the heartbeat timeout (a
       * Redshift batch, a wait for the warehouse write lock up to lock_timeout), and an attempt
       * that stops heartbeating is replaced by an overlapping one.
       */
      const heartbeatDuring = async <T>(fn: () => Promise<T>): Promise<T> => {
        const timer = setInterval(() => ctx.heartbeat(progress()), 2_000);
        try {
          return await fn();
        } finally {
          clearInterval(timer);
        }
      };
      /** process(), heartbeating, parked while the service it writes to is unavailable (parkWhileUnavailable). */
      const processParked = (caughtUpAtMs?: number) => parkWhileUnavailable(() => heartbeatDuring(() => processIsolatingPoison(pending, checkpoint, caughtUpAtMs)));
      const flush = async (caughtUpAtMs?: number) => {
        let committed: string | undefined;
        try {
          committed = await processParked(caughtUpAtMs);
        } catch (err) {
          if (!(err instanceof StaleCheckpointError)) throw err;
          deps.metrics?.failed(labels, 'stale-checkpoint');
          ctx.log.warn('checkpoint moved under this attempt; continuing from the committed one', { shard: input.shardId, error: err.message });
          await startOver();
          return;
        }
        if (committed === undefined) return;
        checkpoint = committed;
        const kept = pending.filter((r) => compareSequence(r.sequenceNumber, committed) > 0);
        total += pending.length - kept.length;
        pending = kept;
        pendingBytes = kept.reduce((n, r) => n + r.data.length, 0);
      };
      const backOff = async (kind: string, err: unknown) => {
        failures += 1;
        deps.metrics?.failed(labels, kind);
        if (failures === 1 || failures % 10 === 0) ctx.log.warn('kinesis read failed; backing off', { shard: input.shardId, kind, failures, error: (err as Error).message });
        const until = Date.now() + backoffMs(failures);
        while (Date.now() < until && !signal.aborted) {
          ctx.heartbeat(progress());
          await pause(Math.min(1_000, until - Date.now()), signal);
        }
      };

      let emptyReads = 0;
      while (Date.now() - started < deps.budgetMs && total < deps.maxRecords && !signal.aborted) {
        ctx.heartbeat(progress());
        const pollStarted = Date.now();
        let batch: Awaited<ReturnType<typeof readBatch>>;
        try {
          iterator ??= await openShardIterator(deps.kinesis, input.stream, input.shardId, lastRead !== undefined ? { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: lastRead } : initialPosition());
          batch = await readBatch(deps.kinesis, iterator, readLimit);
          failures = 0;
        } catch (err) {
          const kind = classifyKinesisError(err);
          if (kind === 'not-found') {
            ctx.log.warn('shard no longer exists; ending its consumer', { stream: input.stream, shard: input.shardId });
            shardGone = true;
            break;
          }
          if (kind === 'other') throw err;
          // Expired iterator, or the service unreachable: a new iterator after what was read.
          if (kind !== 'throttled') iterator = undefined;
          await backOff(kind, err);
          continue;
        }
        iterator = batch.next;
        lastPollMs = Date.now();
        const { records } = batch;
        if (records.length > 0) {
          if (pending.length === 0) pendingSince = lastPollMs;
          pending.push(...records);
          pendingBytes += records.reduce((n, r) => n + r.data.length, 0);
          lastRead = records[records.length - 1].sequenceNumber;
        }
        // kinesalite always reports 0 behind: the age of the newest record read stands in for it.
        millisBehindLatest = Math.max(batch.millisBehindLatest, records.length > 0 ? lastPollMs - records[records.length - 1].arrivalMs : 0);
        rate.add(records.length, lastPollMs);
        deps.metrics?.polled(labels, { records: records.length, millisBehindLatest, recordsPerSecond: rate.perSecond(started) });

        const ended = iterator === undefined;
        const restartsBefore = restarts;
        const { maxRecords, maxBytes, maxAgeMs } = processor.flushPolicy;
        if (pending.length > 0 && (ended || pending.length >= maxRecords || pendingBytes >= maxBytes || lastPollMs - pendingSince >= maxAgeMs)) {
          await flush();
        } else if (pending.length === 0 && records.length === 0 && batch.millisBehindLatest === 0) {
          // Nothing buffered and nothing new: everything that arrived before this poll is handled.
          await flush(pollStarted);
        }
        if (ended && restarts === restartsBefore) {
          // Closed and fully read: done once everything read is committed.
          if (pending.length > 0) throw new Error(`${input.processor} left ${pending.length} records of closed shard ${input.shardId} uncommitted`);
          shardEnded = true;
          break;
        }
        // A short read means the tip is near: wait for more rather than spin (and commit per poll).
        // An idle shard is read less and less often, down to one read per idlePollMs: the local
        // stack's eight consumers made 32 empty reads a second, and on Kinesis each read counts
        // against the shard's 5 reads a second.
        if (records.length === 0) await pause(idleWait(deps.pollMs, deps.idlePollMs, ++emptyReads), signal);
        else {
          emptyReads = 0;
          if (records.length < readLimit) await pause(deps.flowPollMs ?? deps.pollMs, signal);
        }
      }
      if (pending.length > 0 && !signal.aborted) await flush();
      if (shardEnded || shardGone) deps.metrics?.ended(labels);
      const seconds = Math.max(0.001, (Date.now() - started) / 1000);
      return { checkpoint, shardEnded, shardGone, records: total, millisBehindLatest, recordsPerSecond: Math.round((total / seconds) * 10) / 10, lastPollMs };
    },
  };
}

export type SpeedActivities = ReturnType<typeof createSpeedActivities>;

/** The wait after the `emptyReads`-th empty read in a row: pollMs, doubling up to idlePollMs. */
export function idleWait(pollMs: number, idlePollMs: number | undefined, emptyReads: number): number {
  const ceiling = Math.max(pollMs, idlePollMs ?? pollMs);
  return Math.min(ceiling, pollMs * 2 ** Math.min(30, Math.max(0, emptyReads - 1)));
}
