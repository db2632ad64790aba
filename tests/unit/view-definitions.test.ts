import { describe, expect, it } from 'vitest';
import { breakdown, floorTo, mergeViews, retireBefore, sourceOf, viewDelta, viewEventOf } from '../../views/definitions';

const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);
const MIN = 60_000;
const HOUR = 3_600_000;

describe('viewEventOf', () => {
  it('reads event name, user and session keys with Snowplow fallbacks', () => {
    expect(viewEventOf({ event_name: 'link_click', event: 'unstruct', domain_userid: 'd', network_userid: 'n', domain_sessionid: 's', event_id: 'e', event_fingerprint: 'f' }, T0))
      .toEqual({ collectorTstamp: T0, eventName: 'link_click', user: 'd', session: 's', dedupeKey: 'e|f' });
    expect(viewEventOf({ event_name: '', event: 'page_view', domain_userid: '', network_userid: 'n' }, T0))
      .toMatchObject({ eventName: 'page_view', user: 'n', session: undefined, dedupeKey: '|' });
    expect(viewEventOf({}, T0).eventName).toBe('unknown');
  });
});

describe('viewDelta', () => {
  it('counts per grain and bucket and collects distinct members', () => {
    const e = (t: number, name: string, user?: string, session?: string) => ({ collectorTstamp: t, eventName: name, user, session, dedupeKey: String(t) });
    const { counts, members } = viewDelta([e(T0, 'pv', 'u1', 's1'), e(T0 + 10, 'pv', 'u1', 's1'), e(T0 + MIN, 'pv', 'u2'), e(T0 + MIN + 1, 'click')]);
    expect(counts).toContainEqual({ grain: 'minute', bucket: T0, eventName: 'pv', count: 2 });
    expect(counts).toContainEqual({ grain: 'minute', bucket: T0 + MIN, eventName: 'pv', count: 1 });
    expect(counts).toContainEqual({ grain: 'hour', bucket: T0, eventName: 'pv', count: 3 });
    expect(counts).toContainEqual({ grain: 'hour', bucket: T0, eventName: 'click', count: 1 });
    expect(members.filter((m) => m.grain === 'hour' && m.kind === 'user').map((m) => m.member).sort()).toEqual(['u1', 'u2']);
    expect(members.filter((m) => m.grain === 'minute' && m.kind === 'session')).toHaveLength(1);
  });
});

describe('merging at the watermark', () => {
  it('gives a bucket to batch only when it ends at or before the watermark', () => {
    expect(sourceOf('minute', T0, T0 + MIN)).toBe('batch');
    expect(sourceOf('minute', T0 + MIN, T0 + MIN)).toBe('realtime');
    expect(sourceOf('hour', T0, T0 + 30 * MIN)).toBe('realtime');
    expect(sourceOf('hour', T0, T0 + HOUR)).toBe('batch');
    expect(sourceOf('minute', T0, null)).toBe('realtime');
  });

  it('takes each bucket from one layer only, within the range', () => {
    const batch = [T0, T0 + MIN, T0 + 2 * MIN].map((b) => ({ bucket: b, key: '', value: 10 }));
    const realtime = [T0, T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN].map((b) => ({ bucket: b, key: '', value: 7 }));
    const merged = mergeViews(batch, realtime, T0 + 2 * MIN, 'minute', { from: T0 + 1, to: T0 + 3 * MIN });
    expect(merged.map((m) => [m.bucket - T0, m.value, m.source])).toEqual([
      [0, 10, 'batch'],
      [MIN, 10, 'batch'],
      [2 * MIN, 7, 'realtime'],
    ]);
  });

  it('sums a breakdown per key with the split by layer', () => {
    const rows = breakdown([
      { bucket: T0, key: 'a', value: 2, source: 'batch' },
      { bucket: T0 + MIN, key: 'a', value: 3, source: 'realtime' },
      { bucket: T0, key: 'b', value: 9, source: 'batch' },
    ]);
    expect(rows).toEqual([
      { key: 'b', value: 9, batch: 9, realtime: 0 },
      { key: 'a', value: 5, batch: 2, realtime: 3 },
    ]);
  });

  it('retires realtime buckets that end at or before the watermark', () => {
    expect(retireBefore('minute', T0 + 5 * MIN)).toBe(T0 + 5 * MIN);
    expect(retireBefore('hour', T0 + 30 * MIN)).toBe(T0);
    expect(retireBefore('hour', T0 + HOUR)).toBe(T0 + HOUR);
    expect(floorTo('hour', T0 + HOUR - 1)).toBe(T0);
  });
});
