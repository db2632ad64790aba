import { GetRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { FinalizeRequestMiddleware } from '@smithy/types';
import { classifyKinesisError, openShardIterator, toStreamRecord, type StartPosition, type StreamRecord } from '../adapters/kinesis';
import { AbortedError, type ReadBudget, type ShardPacer } from './read-budget';

// How shard consumers read Kinesis: every GetRecords call through the shard's pacer (the read
// budget, speed/read-budget.ts), and one shared feed per (stream, shard) in this process that
// fans the records of a read out to every processor reading that shard here.
//
// The feed keeps the records of its latest reads (up to cacheRecords / cacheBytes) and the
// iterator after them. A consumer whose position lies within them is served from memory; one at
// the end of them waits for the next read of the tip, which is made once for every consumer that
// waits (and not at all for a consumer of an idle shard that finds a read of the tip by another
// consumer since its last answer, or one as recent as its own idle wait: it gets that answer, so
// an idle shard is read about once per speed.idlePollMs whatever the number of its processors).
// A consumer behind the feed (catching up, rewound) reads with its
// own iterator, through the same pacer, until it reaches the feed; one ahead of it takes it over.
// So N processors at the tip of a shard cost the calls of one.

export interface ReadResult {
  records: StreamRecord[];
  /** The shard is closed and every record in it has been returned. */
  ended: boolean;
  millisBehindLatest: number;
  /** When the call that answered started: every record that arrived before it is in this answer or an earlier one. */
  asOfMs: number;
  /** Answered from the feed, without a call of this consumer's own. */
  shared: boolean;
}

export interface ShardReadSession {
  /**
   * The next records. `maxStaleMs`: at the tip with nothing new, an empty answer up to this old
   * (someone else's read of the tip) will do, rather than a call of its own: a consumer that has
   * just waited that long between reads of an idle shard (default 0).
   */
  read(limit: number, maxStaleMs?: number): Promise<ReadResult>;
  /** Continue after `sequence` (undefined: from the initial position), e.g. from another attempt's checkpoint. */
  seek(sequence: string | undefined): void;
  /** Drop this consumer's own iterator (expired, or the service went away): the next read opens one after the last record read. */
  reset(): void;
  close(): void;
}

/** What the reads of a shard report (the workers' /metrics). */
export interface KinesisReadMetrics {
  call(labels: { stream: string; shard: string }, outcome: { bytes: number; records: number; throttled: boolean }): void;
  shared?(labels: { stream: string; shard: string }): void;
}

export interface ShardReadsOptions {
  kinesis: KinesisClient;
  budget: ReadBudget;
  metrics?: KinesisReadMetrics;
  /** Records and bytes a feed keeps (default 5,000 and 8 MiB). */
  cacheRecords?: number;
  cacheBytes?: number;
  /** How long a feed nobody reads is kept (default 60 s; its iterator expires after 5 minutes anyway). */
  feedIdleMs?: number;
}

type Batch = { records: StreamRecord[]; next?: string; millisBehindLatest: number; asOfMs: number };

/**
 * The position of a consumer with no checkpoint that starts at TRIM_HORIZON: before every
 * sequence number (they are positive), so consumers of a shard nobody has committed anything of
 * yet share its feed too (at TRIM_HORIZON, what lies before the oldest record is gone anyway).
 */
const START = '0';

const bytesOf = (records: StreamRecord[]) => records.reduce((n, r) => n + r.data.length, 0);

/**
 * One GetRecords call through the shard's pacer. The pacer gates every HTTP attempt (the
 * middleware sits after the SDK's retry step), so the SDK's own retries of a throttled call are
 * paced and counted too.
 */
export async function pacedGetRecords(kinesis: KinesisClient, pacer: ShardPacer, iterator: string, limit: number, signal?: AbortSignal, metrics?: KinesisReadMetrics): Promise<Batch> {
  const labels = { stream: pacer.stream, shard: pacer.shardId };
  let asOfMs = 0;
  const command = new GetRecordsCommand({ ShardIterator: iterator, Limit: limit });
  const gate: FinalizeRequestMiddleware<object, object> = (next) => async (args) => {
      await pacer.acquire(signal);
      asOfMs ||= Date.now();
      try {
        const result = await next(args);
        const out = result.output as { Records?: { Data?: Uint8Array }[] };
        const bytes = (out.Records ?? []).reduce((n, r) => n + (r.Data?.length ?? 0), 0);
        pacer.done(bytes);
        metrics?.call(labels, { bytes, records: out.Records?.length ?? 0, throttled: false });
        return result;
      } catch (err) {
        const throttled = classifyKinesisError(err) === 'throttled';
        pacer.done(0, throttled);
        metrics?.call(labels, { bytes: 0, records: 0, throttled });
        throw err;
      }
  };
  command.middlewareStack.addRelativeTo(gate as never, { relation: 'after', toMiddleware: 'retryMiddleware', name: 'sluiceReadBudget', override: true });
  const out = await kinesis.send(command);
  return {
    records: (out.Records ?? []).map(toStreamRecord),
    next: out.NextShardIterator,
    millisBehindLatest: out.MillisBehindLatest ?? 0,
    asOfMs,
  };
}

/** Resolves with `p`, or rejects as soon as the signal aborts. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new AbortedError('read cancelled'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError('read cancelled'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The shared records of one (stream, shard) in this process. */
class Feed {
  /** Every record with a sequence number above `base` up to the last one here (contiguous). */
  private records: StreamRecord[] = [];
  private seqs: bigint[] = [];
  private bytes = 0;
  private base?: bigint;
  private tipIterator?: string;
  ended = false;
  /** Completed reads of the tip. */
  generation = 0;
  last = { millisBehindLatest: 0, asOfMs: 0 };
  /** The latest read of the tip, when it found nothing new: everything that arrived before `asOfMs` is here. */
  empty?: { generation: number; millisBehindLatest: number; asOfMs: number };
  /** Bumped whenever the records are replaced: a read of the old tip must not land in the new ones. */
  private epoch = 0;
  private inflight?: Promise<void>;
  sessions = 0;
  dropTimer?: NodeJS.Timeout;

  constructor(
    private readonly stream: string,
    private readonly shardId: string,
    private readonly opts: Required<Pick<ShardReadsOptions, 'kinesis' | 'cacheRecords' | 'cacheBytes'>> & { metrics?: KinesisReadMetrics; pacer: () => ShardPacer },
  ) {}

  private get tip(): bigint | undefined {
    return this.seqs.length > 0 ? this.seqs[this.seqs.length - 1] : this.base;
  }

  /** The feed holds every record after `after` up to its tip. */
  covers(after: string | undefined): boolean {
    if (after === undefined || this.base === undefined) return false;
    const a = BigInt(after);
    return a >= this.base && a <= this.tip!;
  }

  atTip(after: string): boolean {
    return this.tip !== undefined && BigInt(after) === this.tip;
  }

  /** Up to `limit` records after `after` (which the feed covers). */
  after(after: string, limit: number): StreamRecord[] {
    const a = BigInt(after);
    let lo = 0;
    let hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.seqs[mid] <= a) lo = mid + 1;
      else hi = mid;
    }
    return this.records.slice(lo, lo + limit);
  }

  /** A consumer's own read from `from` (its position before the read): adopt it when the feed has nothing newer. */
  offer(from: string | undefined, batch: Batch): void {
    const { records } = batch;
    if (this.covers(from)) {
      this.append(records, batch);
      return;
    }
    const newTip = records.length > 0 ? BigInt(records[records.length - 1].sequenceNumber) : from !== undefined ? BigInt(from) : undefined;
    if (newTip === undefined) return;
    if (this.base !== undefined && newTip <= this.tip!) return; // still behind the feed
    // Ahead of the feed (or no feed yet): this read becomes the feed.
    this.epoch += 1;
    const base = from !== undefined ? BigInt(from) : BigInt(records[0].sequenceNumber);
    const kept = from !== undefined ? records : records.slice(1);
    this.records = [...kept];
    this.seqs = kept.map((r) => BigInt(r.sequenceNumber));
    this.bytes = bytesOf(kept);
    this.base = base;
    this.tipIterator = batch.next;
    this.ended = batch.next === undefined;
    this.last = { millisBehindLatest: batch.millisBehindLatest, asOfMs: batch.asOfMs };
    this.empty = undefined;
    this.evict();
  }

  private append(records: StreamRecord[], batch: Batch): void {
    const tip = this.tip!;
    // Only a read that reaches the tip says anything about what lies beyond it.
    if (records.length === 0 || BigInt(records[records.length - 1].sequenceNumber) < tip) return;
    const fresh = this.take(records, tip, batch);
    if (fresh.length > 0) this.empty = undefined;
    this.evict();
  }

  /** Adds the batch's records beyond `tip` and moves the tip's iterator on; returns them. */
  private take(records: StreamRecord[], tip: bigint, batch: Batch): StreamRecord[] {
    const fresh = records.filter((r) => BigInt(r.sequenceNumber) > tip);
    this.records.push(...fresh);
    this.seqs.push(...fresh.map((r) => BigInt(r.sequenceNumber)));
    this.bytes += bytesOf(fresh);
    this.tipIterator = batch.next;
    this.ended = batch.next === undefined;
    this.last = { millisBehindLatest: batch.millisBehindLatest, asOfMs: batch.asOfMs };
    return fresh;
  }

  private evict(): void {
    let drop = 0;
    let bytes = this.bytes;
    while (drop < this.records.length - 1 && (this.records.length - drop > this.opts.cacheRecords || bytes > this.opts.cacheBytes)) {
      bytes -= this.records[drop].data.length;
      drop += 1;
    }
    if (drop === 0) return;
    this.base = this.seqs[drop - 1];
    this.records = this.records.slice(drop);
    this.seqs = this.seqs.slice(drop);
    this.bytes = bytes;
  }

  /** Reads the tip once for everyone waiting on it. */
  readTip(limit: number): Promise<void> {
    this.inflight ??= this.doReadTip(limit).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async doReadTip(limit: number): Promise<void> {
    const epoch = this.epoch;
    const tip = this.tip!;
    try {
      this.tipIterator ??= await openShardIterator(this.opts.kinesis, this.stream, this.shardId, tip === 0n ? { type: 'TRIM_HORIZON' } : { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: tip.toString() });
      const batch = await pacedGetRecords(this.opts.kinesis, this.opts.pacer(), this.tipIterator, limit, undefined, this.opts.metrics);
      if (epoch !== this.epoch) return;
      // A consumer's own read may have moved the tip on meanwhile: only what lies beyond it counts.
      const current = this.tip!;
      const reached = batch.records.length > 0 ? BigInt(batch.records[batch.records.length - 1].sequenceNumber) : tip;
      this.generation += 1;
      if (reached < current) return; // overtaken: the newer read stands
      const fresh = this.take(batch.records, current, batch);
      this.empty = fresh.length === 0 ? { generation: this.generation, ...this.last } : undefined;
      this.evict();
    } catch (err) {
      // A new iterator after the tip next time, unless Kinesis only asked us to slow down.
      if (epoch === this.epoch && classifyKinesisError(err) !== 'throttled') this.tipIterator = undefined;
      throw err;
    }
  }
}

/** This process's readers of Kinesis shards. */
export class ShardReads {
  private readonly feeds = new Map<string, Feed>();
  private readonly opts: Required<Omit<ShardReadsOptions, 'metrics'>> & { metrics?: KinesisReadMetrics };

  constructor(opts: ShardReadsOptions) {
    this.opts = { cacheRecords: 5_000, cacheBytes: 8 * 1024 * 1024, feedIdleMs: 60_000, ...opts };
  }

  get budget(): ReadBudget {
    return this.opts.budget;
  }

  /** One GetRecords call of `processor` on the shard, through the budget, bypassing the feed (a rewind's lookup). */
  async getRecords(stream: string, shardId: string, processor: string, iterator: string, limit: number): Promise<Batch> {
    const pacer = this.opts.budget.pacer(stream, shardId);
    const leave = pacer.join(processor);
    try {
      return await pacedGetRecords(this.opts.kinesis, pacer, iterator, limit, undefined, this.opts.metrics);
    } finally {
      leave();
    }
  }

  private feed(stream: string, shardId: string): Feed {
    const key = `${stream}\u0000${shardId}`;
    let f = this.feeds.get(key);
    if (!f) {
      f = new Feed(stream, shardId, { ...this.opts, pacer: () => this.opts.budget.pacer(stream, shardId) });
      this.feeds.set(key, f);
    }
    clearTimeout(f.dropTimer);
    f.dropTimer = undefined;
    return f;
  }

  /**
   * A consumer's reads of one shard: from after `after` (its checkpoint), or from `initial()`
   * when it has none. Close it when the consume attempt ends.
   */
  open(o: { stream: string; shardId: string; processor: string; signal: AbortSignal; after?: string; initial: () => StartPosition }): ShardReadSession {
    const { kinesis, metrics } = this.opts;
    const labels = { stream: o.stream, shard: o.shardId };
    const pacer = this.opts.budget.pacer(o.stream, o.shardId);
    const leave = pacer.join(o.processor);
    const feed = this.feed(o.stream, o.shardId);
    feed.sessions += 1;
    const startOf = () => (o.initial().type === 'TRIM_HORIZON' ? START : undefined);
    let position = o.after ?? startOf();
    let iterator: string | undefined;
    let seen = -1;
    let closed = false;

    /** An answer from the feed: records after this consumer's position, or the feed's latest empty read of the tip it has not had yet. */
    const fromFeed = (limit: number, maxStaleMs: number): ReadResult | undefined => {
      if (!feed.covers(position)) return undefined;
      const records = feed.after(position!, limit);
      const { millisBehindLatest, asOfMs } = feed.last;
      if (records.length > 0) {
        position = records[records.length - 1].sequenceNumber;
        seen = feed.generation;
        metrics?.shared?.(labels);
        return { records, ended: feed.ended && feed.atTip(position), millisBehindLatest, asOfMs, shared: true };
      }
      if (feed.ended) return { records, ended: true, millisBehindLatest, asOfMs, shared: true };
      const empty = feed.empty;
      // Nothing this consumer has not heard, and too old to stand for a read of its own.
      if (!empty || (empty.generation <= seen && Date.now() - empty.asOfMs > maxStaleMs)) return undefined;
      seen = empty.generation;
      metrics?.shared?.(labels);
      return { records, ended: false, millisBehindLatest: empty.millisBehindLatest, asOfMs: empty.asOfMs, shared: true };
    };

    return {
      async read(limit, maxStaleMs = 0) {
        const cached = fromFeed(limit, maxStaleMs);
        if (cached) return cached;
        if (feed.covers(position)) {
          // At the feed's tip with nothing new: one read of the tip for everyone waiting here.
          await untilAborted(feed.readTip(limit), o.signal);
          const after = fromFeed(limit, 0);
          if (after) return after;
        }
        // Behind the feed (or no feed yet): this consumer's own read.
        const from = position;
        iterator ??= await openShardIterator(kinesis, o.stream, o.shardId, from !== undefined && from !== START ? { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: from } : o.initial());
        const batch = await pacedGetRecords(kinesis, pacer, iterator, limit, o.signal, metrics);
        iterator = batch.next;
        if (batch.records.length > 0) position = batch.records[batch.records.length - 1].sequenceNumber;
        feed.offer(from, batch);
        // Once within the feed, the feed reads for this consumer: its own iterator is not needed.
        if (feed.covers(position)) {
          iterator = undefined;
          seen = feed.generation;
        }
        return { records: batch.records, ended: batch.next === undefined, millisBehindLatest: batch.millisBehindLatest, asOfMs: batch.asOfMs, shared: false };
      },
      seek(sequence) {
        position = sequence ?? startOf();
        iterator = undefined;
        seen = -1;
      },
      reset() {
        iterator = undefined;
      },
      close: () => {
        if (closed) return;
        closed = true;
        leave();
        feed.sessions -= 1;
        if (feed.sessions === 0) {
          feed.dropTimer = setTimeout(() => {
            if (feed.sessions === 0) this.feeds.delete(`${o.stream}\u0000${o.shardId}`);
          }, this.opts.feedIdleMs);
          feed.dropTimer.unref();
        }
      },
    };
  }
}
