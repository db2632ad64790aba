import { describe, expect, it } from 'vitest';
import { countByMinute, floorMinute, mergeAtWatermark, nextWatermark } from '../../views/minute-counts';

const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);
const min = (n: number) => T0 + n * 60_000;

describe('countByMinute', () => {
  it('buckets by the minute of the collector timestamp', () => {
    const counts = countByMinute([min(0), min(0) + 59_999, min(1), min(3) + 1]);
    expect([...counts.entries()]).toEqual([
      [min(0), 2],
      [min(1), 1],
      [min(3), 1],
    ]);
  });

  it('floors negative offsets and exact boundaries consistently', () => {
    expect(floorMinute(min(2))).toBe(min(2));
    expect(floorMinute(min(2) - 1)).toBe(min(1));
  });
});

describe('mergeAtWatermark', () => {
  const batch = [
    { minute: min(0), count: 10 },
    { minute: min(1), count: 20 },
    { minute: min(2), count: 3 }, // partial: the watermark says realtime answers this minute
  ];
  const realtime = [
    { minute: min(0), count: 999 }, // stale realtime row before the watermark: ignored
    { minute: min(2), count: 7 },
    { minute: min(3), count: 4 },
  ];

  it('takes batch minutes before the watermark and realtime minutes from it on', () => {
    const merged = mergeAtWatermark(batch, realtime, min(2), { from: min(0), to: min(10) });
    expect(merged.points).toEqual([
      { minute: min(0), count: 10, source: 'batch' },
      { minute: min(1), count: 20, source: 'batch' },
      { minute: min(2), count: 7, source: 'realtime' },
      { minute: min(3), count: 4, source: 'realtime' },
    ]);
    expect(merged.totals).toEqual({ batch: 30, realtime: 11, all: 41 });
    expect(merged.watermark).toBe(min(2));
  });

  it('answers from realtime only when no batch has run', () => {
    const merged = mergeAtWatermark(batch, realtime, null, { from: min(0), to: min(10) });
    expect(merged.totals).toEqual({ batch: 0, realtime: 1010, all: 1010 });
  });

  it('restricts to the requested range, half-open', () => {
    const merged = mergeAtWatermark(batch, realtime, min(2), { from: min(1), to: min(3) });
    expect(merged.points.map((p) => p.minute)).toEqual([min(1), min(2)]);
  });
});

describe('nextWatermark', () => {
  it('is the last whole minute every shard has flushed past, less lateness', () => {
    expect(nextWatermark(null, [min(5) + 30_000, min(7)], 0)).toBe(min(5));
    expect(nextWatermark(null, [min(5) + 30_000], 31_000)).toBe(min(4));
  });

  it('never moves backwards and stays put without markers', () => {
    expect(nextWatermark(min(6), [min(5) + 30_000], 0)).toBe(min(6));
    expect(nextWatermark(min(6), [], 0)).toBe(min(6));
    expect(nextWatermark(null, [], 0)).toBeNull();
  });
});
