import { Context } from '@temporalio/activity';
import { classifyKinesisError, type StartPosition, type StreamRecord } from '../adapters/kinesis';
import { backoffMs, idleWait, pause, RateWindow } from '../speed/consume-timing';
import { describeError, isolatePoison, isRecordError, isUnavailableError } from '../speed/poison';
import { StaleCheckpointError, compareSequence, sameCheckpoint, type ShardProcessor } from '../speed/processor';
import type { ReadResult, ShardReads } from '../speed/shard-feed';
import type { ConsumeInput, ConsumeResult, ShardLabels, ShardProgress, SpeedDeps } from './speed-types';

// consumeShard: the heartbeating loop of one shard consumer. It reads for a bounded time (or
// record count) through this process's shard reads (the read budget and the shared feed,
// speed/shard-feed.ts), hands records to the processor, and returns only the committed
// checkpoint; records never reach workflow history.

export function consumeShardActivity(deps: SpeedDeps, reads: ShardReads, processorOf: (name: string) => ShardProcessor) {
  const readLimit = deps.readLimit ?? 1_000;

  return async function consumeShard(input: ConsumeInput): Promise<ConsumeResult> {
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
    // From after the checkpoint; with none, from the start position (or a rewind's first record).
    const session = reads.open({ stream: input.stream, shardId: input.shardId, processor: processor.name, signal, after: checkpoint, initial: initialPosition });

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
      session.seek(checkpoint);
      pending = [];
      pendingBytes = 0;
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
     * Heartbeats every 2 s while `fn` runs: a commit (or a wait for the shard's read budget) can
     * outlast the heartbeat timeout, and an attempt that stops heartbeating is replaced by an
     * overlapping one.
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
    /** The idle wait before this read (0 unless the last read was empty): an answer that old will do. */
    let idled = 0;
    try {
      while (Date.now() - started < deps.budgetMs && total < deps.maxRecords && !signal.aborted) {
        ctx.heartbeat(progress());
        let batch: ReadResult;
        try {
          batch = await heartbeatDuring(() => session.read(readLimit, idled));
          failures = 0;
        } catch (err) {
          if (signal.aborted) break;
          const kind = classifyKinesisError(err);
          if (kind === 'not-found') {
            ctx.log.warn('shard no longer exists; ending its consumer', { stream: input.stream, shard: input.shardId });
            shardGone = true;
            break;
          }
          if (kind === 'other') throw err;
          // Expired iterator, or the service unreachable: a new iterator after what was read.
          if (kind !== 'throttled') session.reset();
          await backOff(kind, err);
          continue;
        }
        lastPollMs = Date.now();
        const { records } = batch;
        if (records.length > 0) {
          if (pending.length === 0) pendingSince = lastPollMs;
          pending.push(...records);
          pendingBytes += records.reduce((n, r) => n + r.data.length, 0);
        }
        // kinesalite always reports 0 behind: the age of the newest record read stands in for it.
        millisBehindLatest = Math.max(batch.millisBehindLatest, records.length > 0 ? lastPollMs - records[records.length - 1].arrivalMs : 0);
        rate.add(records.length, lastPollMs);
        deps.metrics?.polled(labels, { records: records.length, millisBehindLatest, recordsPerSecond: rate.perSecond(started) });

        const { ended } = batch;
        const restartsBefore = restarts;
        const { maxRecords, maxBytes, maxAgeMs } = processor.flushPolicy;
        if (pending.length > 0 && (ended || pending.length >= maxRecords || pendingBytes >= maxBytes || lastPollMs - pendingSince >= maxAgeMs)) {
          await flush();
        } else if (pending.length === 0 && records.length === 0 && batch.millisBehindLatest === 0) {
          // Nothing buffered and nothing new: everything that arrived before that read is handled.
          await flush(batch.asOfMs);
        }
        if (ended && restarts === restartsBefore) {
          // Closed and fully read: done once everything read is committed.
          if (pending.length > 0) throw new Error(`${input.processor} left ${pending.length} records of closed shard ${input.shardId} uncommitted`);
          shardEnded = true;
          break;
        }
        // Adaptive polling. Behind the tip (Kinesis says so, or the read was full): read on at
        // once, as fast as the shard's read budget lets. At the tip: a short read waits
        // flowPollMs for more; while reads keep coming back empty the wait doubles from pollMs up
        // to idlePollMs (an idle shard is read about once a second, for every processor of it
        // in this process together: the feed answers the others).
        const behind = batch.millisBehindLatest > 0 || records.length >= readLimit;
        idled = 0;
        if (records.length === 0) {
          if (!behind) await pause((idled = idleWait(deps.pollMs, deps.idlePollMs, ++emptyReads)), signal);
        } else {
          emptyReads = 0;
          if (!behind) await pause(deps.flowPollMs ?? deps.pollMs, signal);
        }
      }
      if (pending.length > 0 && !signal.aborted) await flush();
    } finally {
      session.close();
    }
    if (shardEnded || shardGone) deps.metrics?.ended(labels);
    const seconds = Math.max(0.001, (Date.now() - started) / 1000);
    return { checkpoint, shardEnded, shardGone, records: total, millisBehindLatest, recordsPerSecond: Math.round((total / seconds) * 10) / 10, lastPollMs };
  };
}
