import { describe, expect, it } from 'vitest';
import { ReadBudget, readShares, type ReadBudgetOptions } from '../../speed/read-budget';

// The read budget's pacing on a simulated clock: calls per window per process and across
// processes (shares), shares moving between processes, throttling and bytes.

/** A clock and timers that only move when the test says so. */
function fakeClock() {
  let now = 0;
  let timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  return {
    now: () => now,
    setTimer(fn: () => void, ms: number) {
      const t = { at: now + ms, fn, cancelled: false };
      timers.push(t);
      return { cancel: () => (t.cancelled = true) };
    },
    /** Runs every timer due up to `to`, in time order. */
    async advance(to: number) {
      await new Promise((r) => setImmediate(r)); // readers started just now get going first
      for (;;) {
        timers = timers.filter((t) => !t.cancelled);
        const next = timers.filter((t) => t.at <= to).sort((a, b) => a.at - b.at)[0];
        if (!next) break;
        now = Math.max(now, next.at);
        timers.splice(timers.indexOf(next), 1);
        next.fn();
        await new Promise((r) => setImmediate(r)); // every reader woken by it runs before the clock moves on
      }
      now = to;
      await new Promise((r) => setImmediate(r));
    },
  };
}

type Clock = ReturnType<typeof fakeClock>;

function budget(clock: Clock, over: Partial<ReadBudgetOptions> = {}) {
  return new ReadBudget({ callsPerSecond: 5, bytesPerSecond: 2_000_000, guardMs: 100, now: clock.now, setTimer: clock.setTimer, ...over });
}

/** A reader that calls as often as its pacer lets it, recording when each call was granted. */
function greedyReader(clock: Clock, b: ReadBudget, processor: string, grants: number[], opts: { shard?: string; until: number; bytes?: number }) {
  const pacer = b.pacer('s', opts.shard ?? 'shard-0');
  const leave = pacer.join(processor);
  const stop = new AbortController();
  const done = (async () => {
    try {
      for (;;) {
        await pacer.acquire(stop.signal);
        if (clock.now() >= opts.until) break;
        grants.push(clock.now());
        pacer.done(opts.bytes ?? 0);
      }
    } catch {
      // stopped
    }
    leave();
  })();
  return { stop: () => stop.abort(), done };
}

/** The most calls in any window [t, t + ms) over the given grant times. */
function maxInWindow(grants: number[], ms: number): number {
  const sorted = [...grants].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i] - sorted[j] >= ms) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

describe('read budget (simulated clock)', () => {
  it('spaces one process’s calls on a shard evenly, at most 5 in any 1.1 s', async () => {
    const clock = fakeClock();
    const b = budget(clock, { joinDelayMs: 0 });
    const grants: number[] = [];
    // Three processors of the stream in this process share the shard's calls.
    const readers = ['a', 'b', 'c'].map((p) => greedyReader(clock, b, p, grants, { until: 20_000 }));
    await clock.advance(20_000);
    readers.forEach((r) => r.stop());
    await clock.advance(25_000);
    expect(maxInWindow(grants, 1_100)).toBe(5);
    expect(maxInWindow(grants, 1_000)).toBeLessThanOrEqual(5);
    const gaps = grants.slice(1).map((t, i) => t - grants[i]);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(220);
    expect(grants.length).toBeGreaterThanOrEqual(85); // ~4.5 calls/s for 20 s
  });

  it('keeps two processes reading one shard within the limit together, through their shares', async () => {
    const clock = fakeClock();
    const shares = readShares([{ stream: 's', processor: 'enrich' }, { stream: 's', processor: 'raw-s3' }], 5);
    const shareOf = (stream: string, p: string) => shares.get(stream)!.get(p)!;
    const a = budget(clock, { shareOf });
    const b = budget(clock, { shareOf });
    const ga: number[] = [];
    const gb: number[] = [];
    greedyReader(clock, a, 'enrich', ga, { until: 30_000 });
    greedyReader(clock, b, 'raw-s3', gb, { until: 30_000 });
    await clock.advance(31_000);
    expect(maxInWindow(ga, 1_100)).toBe(3);
    expect(maxInWindow(gb, 1_100)).toBe(2);
    expect(maxInWindow([...ga, ...gb], 1_100)).toBeLessThanOrEqual(5);
    expect(ga[0]).toBeGreaterThanOrEqual(1_100); // a share new to a process counts one window later
  });

  it('a share moving to another process never overlaps its last calls in the first', async () => {
    const clock = fakeClock();
    const a = budget(clock);
    const b = budget(clock);
    const grants: number[] = [];
    const first = greedyReader(clock, a, 'enrich', grants, { until: 10_000 });
    await clock.advance(10_000);
    first.stop();
    await first.done;
    // The next attempt of the same processor runs in another process at once.
    greedyReader(clock, b, 'enrich', grants, { until: 20_000 });
    await clock.advance(21_000);
    expect(maxInWindow(grants, 1_100)).toBeLessThanOrEqual(5);
    // …while coming back to the same process within the window goes on without a pause.
    const c = budget(clock);
    const back: number[] = [];
    const one = greedyReader(clock, c, 'enrich', back, { until: 25_000 });
    await clock.advance(25_000);
    one.stop();
    await one.done;
    const resumedAt = clock.now();
    greedyReader(clock, c, 'enrich', back, { until: 27_000 });
    await clock.advance(27_000);
    expect(back.find((t) => t >= resumedAt)! - resumedAt).toBeLessThanOrEqual(220);
  });

  it('a share leaving a process is not used there by the processors that stay', async () => {
    const clock = fakeClock();
    const shares = readShares([{ stream: 's', processor: 'enrich' }, { stream: 's', processor: 'raw-s3' }], 5);
    const shareOf = (stream: string, p: string) => shares.get(stream)!.get(p)!;
    const a = budget(clock, { shareOf });
    const b = budget(clock, { shareOf });
    const grants: number[] = [];
    greedyReader(clock, a, 'enrich', grants, { until: 30_000 });
    const moving = greedyReader(clock, a, 'raw-s3', grants, { until: 30_000 });
    await clock.advance(10_000);
    moving.stop();
    await moving.done;
    // raw-s3's next attempt runs in process b, while enrich goes on greedily in a.
    greedyReader(clock, b, 'raw-s3', grants, { until: 30_000 });
    await clock.advance(31_000);
    expect(maxInWindow(grants, 1_100)).toBeLessThanOrEqual(5);
    expect(maxInWindow(grants.filter((t) => t > 12_000), 1_100)).toBe(5); // both shares in use again
  });

  it('slows down after throttling and recovers, and waits out the bytes of a big read', async () => {
    const clock = fakeClock();
    const b = budget(clock, { joinDelayMs: 0 });
    const pacer = b.pacer('s', 'shard-0');
    pacer.join('enrich');
    await pacer.acquire();
    pacer.done(0, true);
    expect(pacer.pace).toBe(2);
    expect(pacer.nextGrantAt()).toBe(440);
    pacer.done(0, true);
    pacer.done(0, true);
    expect(pacer.pace).toBe(4); // at most a quarter of the pace
    await clock.advance(5_000);
    pacer.done(0);
    expect(pacer.pace).toBe(2);
    // 4 MB read: at 2 MB/s the shard's next call waits two seconds.
    await clock.advance(10_000);
    pacer.done(4_000_000);
    expect(pacer.nextGrantAt()).toBe(12_000);
  });

  it('splits a shard’s calls into whole shares per processor of the stream', () => {
    const topology = [
      { stream: 'raw', processor: 'enrich' },
      { stream: 'raw', processor: 'raw-s3' },
      { stream: 'enriched', processor: 'realtime-views' },
      { stream: 'enriched', processor: 'enriched-s3' },
      { stream: 'enriched', processor: 'warehouse' },
      { stream: 'bad', processor: 'bad-rows' },
    ];
    const shares = readShares(topology, 5);
    expect(Object.fromEntries(shares.get('raw')!)).toEqual({ enrich: 3, 'raw-s3': 2 });
    expect(Object.fromEntries(shares.get('enriched')!)).toEqual({ 'realtime-views': 2, 'enriched-s3': 1, warehouse: 2 });
    expect(Object.fromEntries(shares.get('bad')!)).toEqual({ 'bad-rows': 5 });
    for (const m of shares.values()) expect([...m.values()].reduce((a, b) => a + b, 0)).toBe(5);
    const six = Array.from({ length: 6 }, (_, i) => ({ stream: 'x', processor: `p${i}` }));
    expect(() => readShares(six, 5)).toThrow(/at most 5 processors per stream/);
  });
});
