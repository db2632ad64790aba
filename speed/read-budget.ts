// The Kinesis read budget of one worker process: every GetRecords call of this process goes
// through the pacer of its (stream, shard), which holds the calls within this process's share of
// the shard's limit (Kinesis: 5 calls and 2 MB per second per shard, for all readers together).
//
// Shares. Each (stream, processor) pair owns a fixed whole number of the shard's calls per second
// (readShares: 3 + 2 on the raw stream, …), summing to at most the limit over the processors
// configured for that stream. Exactly one consume attempt per (stream, processor, shard) runs at a
// time (the shard consumer's workflow id is the lease), so if each process calls a shard at most
// Σ (shares of the processors it reads that shard for) times in any window, the total over every
// process stays within the limit whatever the number of processes. Inside one process the shares
// pool: processors of a shard that run here take turns in one queue (and share reads through the
// shard feed, speed/shard-feed.ts).
//
// Windows. A call is granted at t only when fewer than k calls were granted in (t - W, t], with
// k this process's current share and W = 1 s + guardMs, and no sooner than W / k after the last
// one (evenly spaced, no bursts). W is longer than a second by the guard so that network jitter
// below guardMs cannot put k + 1 calls into one second at Kinesis.
//
// Moving shares. A share leaving a process (its consume attempt ended) stops counting there at
// once. A share arriving counts only W after it arrived (the attempt it follows may have run in
// another process: that process's calls of the share are then outside any window that also holds
// this process's calls of it), unless it comes back within W to the process it left (the next
// attempt, which normally follows on the same worker): in between, no other process can have
// made a call with it, since there it would not have counted yet.
//
// Bytes. After a call that returned b bytes the shard's next call waits b / (bytes per second ×
// k / limit): on average within the share of 2 MB/s (one call can return more, as on Kinesis,
// and the calls after it wait). Throttling (ProvisionedThroughputExceededException: something
// else reads the shard too) halves the pace, down to a quarter; it recovers by doubling every 5 s
// without a throttle.

export interface ReadBudgetOptions {
  /** GetRecords calls per shard per second, for every reader of the shard together (Kinesis: 5). */
  callsPerSecond: number;
  /** Bytes per shard per second, likewise (Kinesis: 2 MB). */
  bytesPerSecond: number;
  /** Added to the one-second window: jitter this short cannot put one call too many into a second. */
  guardMs: number;
  /**
   * Whole calls per second of the shard owned by a processor of the stream. Default: the whole
   * limit (a single process reading everything).
   */
  shareOf?: (stream: string, processor: string) => number;
  /**
   * How long a share new to this process waits before it counts (default the window). 0 is only
   * right when every reader of the stream runs in this one process.
   */
  joinDelayMs?: number;
  now?: () => number;
  /** Schedules a wake-up (tests drive a fake clock). */
  setTimer?: (fn: () => void, ms: number) => { cancel(): void };
}

interface Member {
  share: number;
  active: number;
  /** When the share starts to count here. */
  effectiveAt: number;
  /** When the last attempt of this processor left (coming back before leftAt + W, it counts at once). */
  leftAt?: number;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

const MAX_SLOWDOWN = 4;
const RECOVERY_MS = 5_000;

export class AbortedError extends Error {
  override name = 'AbortError';
}

/** One (stream, shard) in this process: members, granted calls and the queue of callers. */
export class ShardPacer {
  private readonly members = new Map<string, Member>();
  private grants: number[] = [];
  private lastGrant = -Infinity;
  private byteReadyAt = -Infinity;
  private slowdown = 1;
  private lastSlowdownChange = -Infinity;
  private readonly queue: Waiter[] = [];
  private timer?: { cancel(): void };
  private timerAt = Infinity;
  private readonly windowMs: number;

  constructor(
    readonly stream: string,
    readonly shardId: string,
    private readonly opts: Required<Omit<ReadBudgetOptions, 'shareOf'>> & { shareOf: (stream: string, processor: string) => number },
  ) {
    this.windowMs = 1_000 + opts.guardMs;
  }

  /** A consume attempt of `processor` starts reading this shard here. Returns its release. */
  join(processor: string): () => void {
    const now = this.opts.now();
    const share = Math.max(1, Math.min(this.opts.callsPerSecond, Math.floor(this.opts.shareOf(this.stream, processor))));
    let m = this.members.get(processor);
    if (m && m.active === 0 && m.leftAt !== undefined && now - m.leftAt >= this.windowMs) m = undefined; // gone too long: new here
    if (!m) {
      m = { share, active: 0, effectiveAt: now + this.opts.joinDelayMs };
      this.members.set(processor, m);
    }
    m.active += 1;
    m.leftAt = undefined;
    const member = m;
    let released = false;
    this.pump();
    return () => {
      if (released) return;
      released = true;
      member.active -= 1;
      if (member.active === 0) member.leftAt = this.opts.now();
      this.pump();
    };
  }

  /** Calls per window this process may make on the shard now (its reading members' shares, capped at the limit). */
  share(now = this.opts.now()): number {
    let k = 0;
    for (const [name, m] of this.members) {
      if (m.active === 0) {
        if (m.leftAt === undefined || now - m.leftAt >= this.windowMs) this.members.delete(name);
        continue; // a share that left counts nowhere until it arrives somewhere again
      }
      if (m.effectiveAt <= now) k += m.share;
    }
    return Math.min(this.opts.callsPerSecond, k);
  }

  /** Nobody reads the shard here, or left it less than a window ago (the pacer can be dropped). */
  get idle(): boolean {
    this.share(); // forgets members gone for longer than the window
    return this.queue.length === 0 && this.members.size === 0;
  }

  /** Resolves when this process may make one GetRecords call on the shard. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AbortedError('read cancelled'));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject,
      };
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(new AbortedError('read cancelled'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      this.pump();
    });
  }

  /** A granted call finished: `bytes` read (0 for a failure); `throttled` when Kinesis refused it. */
  done(bytes: number, throttled = false): void {
    const now = this.opts.now();
    if (throttled) {
      this.slowdown = Math.min(MAX_SLOWDOWN, this.slowdown * 2);
      this.lastSlowdownChange = now;
    } else if (this.slowdown > 1 && now - this.lastSlowdownChange >= RECOVERY_MS) {
      this.slowdown = Math.max(1, this.slowdown / 2);
      this.lastSlowdownChange = now;
    }
    if (bytes > 0) {
      const k = Math.max(1, this.share(now));
      const rate = (this.opts.bytesPerSecond * k) / this.opts.callsPerSecond;
      this.byteReadyAt = Math.max(this.byteReadyAt, now) + (bytes * 1000) / rate;
    }
    this.pump();
  }

  /** The spacing factor after throttles (1 = none). */
  get pace(): number {
    return this.slowdown;
  }

  /** The earliest time the next call may be granted (Infinity while no share counts here). */
  nextGrantAt(now = this.opts.now()): number {
    const k = this.share(now);
    if (k === 0) {
      const pending = [...this.members.values()].filter((m) => m.active > 0 && m.effectiveAt > now).map((m) => m.effectiveAt);
      return pending.length ? Math.min(...pending) : Infinity;
    }
    this.grants = this.grants.filter((t) => t > now - this.windowMs);
    const windowFree = this.grants.length >= k ? this.grants[this.grants.length - k] + this.windowMs : -Infinity;
    return Math.max(windowFree, this.lastGrant + (this.windowMs / k) * this.slowdown, this.byteReadyAt);
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const now = this.opts.now();
      const at = this.nextGrantAt(now);
      if (at > now) {
        this.schedule(at, now);
        return;
      }
      this.grants.push(now);
      this.lastGrant = now;
      this.queue.shift()!.resolve();
    }
  }

  private schedule(at: number, now: number): void {
    if (at === Infinity || at >= this.timerAt) return;
    this.timer?.cancel();
    this.timerAt = at;
    this.timer = this.opts.setTimer(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.pump();
    }, Math.max(1, Math.ceil(at - now)));
  }
}

const realTimer = (fn: () => void, ms: number) => {
  const t = setTimeout(fn, ms);
  return { cancel: () => clearTimeout(t) };
};

/** The pacers of this process, one per (stream, shard). */
export class ReadBudget {
  private readonly pacers = new Map<string, ShardPacer>();
  readonly options: Required<Omit<ReadBudgetOptions, 'shareOf'>> & { shareOf: (stream: string, processor: string) => number };

  constructor(opts: ReadBudgetOptions) {
    const windowMs = 1_000 + opts.guardMs;
    this.options = {
      callsPerSecond: opts.callsPerSecond,
      bytesPerSecond: opts.bytesPerSecond,
      guardMs: opts.guardMs,
      shareOf: opts.shareOf ?? (() => opts.callsPerSecond),
      joinDelayMs: opts.joinDelayMs ?? windowMs,
      now: opts.now ?? Date.now,
      setTimer: opts.setTimer ?? realTimer,
    };
  }

  pacer(stream: string, shardId: string): ShardPacer {
    const key = `${stream}\u0000${shardId}`;
    let p = this.pacers.get(key);
    if (!p) {
      // Drop pacers nobody reads any more (drained shards) as new ones come.
      for (const [k, other] of this.pacers) if (other.idle) this.pacers.delete(k);
      p = new ShardPacer(stream, shardId, this.options);
      this.pacers.set(key, p);
    }
    return p;
  }
}

/** Default weights: the processors a reader waits on get more of the shard's calls. */
const WEIGHTS: Record<string, number> = { enrich: 3, 'realtime-views': 3, warehouse: 2, 'raw-s3': 2, 'enriched-s3': 1, 'bad-rows': 1 };

/**
 * Whole calls per second per (stream, processor): the limit apportioned over each stream's
 * processors by weight (largest remainder), every processor at least one. Throws when a stream
 * has more processors than calls (the budget could not hold by construction).
 */
export function readShares(topology: { stream: string; processor: string }[], callsPerSecond: number, weights: Record<string, number> = WEIGHTS): Map<string, Map<string, number>> {
  const byStream = new Map<string, string[]>();
  for (const { stream, processor } of topology) byStream.set(stream, [...(byStream.get(stream) ?? []), processor]);
  const out = new Map<string, Map<string, number>>();
  for (const [stream, processors] of byStream) {
    if (processors.length > callsPerSecond) {
      throw new Error(`stream ${stream} has ${processors.length} processors (${processors.join(', ')}) but a shard serves ${callsPerSecond} GetRecords calls a second: at most ${callsPerSecond} processors per stream`);
    }
    const w = processors.map((p) => weights[p] ?? 1);
    const total = w.reduce((a, b) => a + b, 0);
    const exact = w.map((x) => (x * callsPerSecond) / total);
    const shares = exact.map((x) => Math.max(1, Math.floor(x)));
    // Take back from the largest over-allocations (a floor raised to 1), then hand out the rest by remainder.
    while (shares.reduce((a, b) => a + b, 0) > callsPerSecond) {
      const i = shares.reduce((best, s, j) => (s > 1 && s - exact[j] > shares[best] - exact[best] ? j : best), shares.findIndex((s) => s > 1));
      shares[i] -= 1;
    }
    let left = callsPerSecond - shares.reduce((a, b) => a + b, 0);
    const order = exact.map((x, i) => ({ i, r: x - shares[i] })).sort((a, b) => b.r - a.r || a.i - b.i);
    for (let j = 0; left > 0; j = (j + 1) % order.length, left--) shares[order[j].i] += 1;
    out.set(stream, new Map(processors.map((p, i) => [p, shares[i]])));
  }
  return out;
}
