// The view definitions shared by the batch and the speed layer. Both layers compute the same
// aggregates from the same event fields, so for a window both have seen completely their answers
// are equal, and the serving layer can switch from one to the other at the batch watermark.
//
// Per bucket (a minute or an hour of collector_tstamp):
// - events by type: count of events per event name (`event_name`, else the `event` column);
// - page views: the `page_view` row of the above;
// - unique users: distinct `domain_userid`, else `network_userid`;
// - sessions: distinct `domain_sessionid`.

export type Grain = 'minute' | 'hour';
export const GRAINS: readonly Grain[] = ['minute', 'hour'];
export const GRAIN_MS: Record<Grain, number> = { minute: 60_000, hour: 3_600_000 };

export type Metric = 'events' | 'page_views' | 'unique_users' | 'sessions';
export const METRICS: readonly Metric[] = ['events', 'page_views', 'unique_users', 'sessions'];
export type MemberKind = 'user' | 'session';

export function floorTo(grain: Grain, ms: number): number {
  return Math.floor(ms / GRAIN_MS[grain]) * GRAIN_MS[grain];
}

/** The fields of one enriched event that the views read. */
export interface ViewEvent {
  collectorTstamp: number;
  eventName: string;
  user?: string;
  session?: string;
  /** Identity of the event for de-duplicating replays: event_id and fingerprint, as the batch shredder does. */
  dedupeKey: string;
}

const nonEmpty = (v: string | undefined | null) => (v === undefined || v === null || v === '' ? undefined : v);

/** Reads a parsed enriched event (field name → string) into the fields the views use. */
export function viewEventOf(e: Record<string, string | undefined | null>, collectorTstamp: number): ViewEvent {
  return {
    collectorTstamp,
    eventName: nonEmpty(e.event_name) ?? nonEmpty(e.event) ?? 'unknown',
    user: nonEmpty(e.domain_userid) ?? nonEmpty(e.network_userid),
    session: nonEmpty(e.domain_sessionid),
    dedupeKey: `${e.event_id ?? ''}|${e.event_fingerprint ?? ''}`,
  };
}

export interface EventCountRow { grain: Grain; bucket: number; eventName: string; count: number }
export interface MemberRow { grain: Grain; bucket: number; kind: MemberKind; member: string }

/** The increments a set of (already de-duplicated) events makes to the views, at every grain. */
export function viewDelta(events: Iterable<ViewEvent>): { counts: EventCountRow[]; members: MemberRow[] } {
  const counts = new Map<string, EventCountRow>();
  const members = new Map<string, MemberRow>();
  for (const e of events) {
    for (const grain of GRAINS) {
      const bucket = floorTo(grain, e.collectorTstamp);
      const ck = `${grain}|${bucket}|${e.eventName}`;
      const row = counts.get(ck);
      if (row) row.count++;
      else counts.set(ck, { grain, bucket, eventName: e.eventName, count: 1 });
      if (e.user !== undefined) members.set(`${grain}|${bucket}|u|${e.user}`, { grain, bucket, kind: 'user', member: e.user });
      if (e.session !== undefined) members.set(`${grain}|${bucket}|s|${e.session}`, { grain, bucket, kind: 'session', member: e.session });
    }
  }
  return { counts: [...counts.values()], members: [...members.values()] };
}

/** One value of a view: a bucket, an optional breakdown key (event name), and the number. */
export interface ViewValue { bucket: number; key: string; value: number }
export type Source = 'batch' | 'realtime';
export interface MergedValue extends ViewValue { source: Source }

/**
 * A bucket is answered by the batch views when it ends at or before the watermark (the batch
 * layer holds it completely), otherwise by the realtime views.
 */
export function sourceOf(grain: Grain, bucket: number, watermark: number | null, owed: readonly Window[] = []): Source {
  if (watermark === null || bucket + GRAIN_MS[grain] > watermark) return 'realtime';
  // A bucket a skipped load still owes to the batch layer stays with the realtime views (views/owed-windows.ts).
  return owed.some((w) => w.from < bucket + GRAIN_MS[grain] && w.to > bucket) ? 'realtime' : 'batch';
}

/** [from, to) in epoch ms. */
export interface Window { from: number; to: number }

/** Merges batch and realtime values for the buckets of `range` at the watermark. Pure. */
export function mergeViews(
  batch: ViewValue[],
  realtime: ViewValue[],
  watermark: number | null,
  grain: Grain,
  range: { from: number; to: number },
  owed: readonly Window[] = [],
): MergedValue[] {
  const inRange = (b: number) => b >= floorTo(grain, range.from) && b < range.to;
  const out: MergedValue[] = [];
  for (const v of batch) if (inRange(v.bucket) && sourceOf(grain, v.bucket, watermark, owed) === 'batch') out.push({ ...v, source: 'batch' });
  for (const v of realtime) if (inRange(v.bucket) && sourceOf(grain, v.bucket, watermark, owed) === 'realtime') out.push({ ...v, source: 'realtime' });
  return out.sort((a, b) => a.bucket - b.bucket || a.key.localeCompare(b.key));
}

/** Sums merged values per key (a breakdown over the range), keeping the batch/realtime split. */
export function breakdown(values: MergedValue[]): { key: string; value: number; batch: number; realtime: number }[] {
  const byKey = new Map<string, { key: string; value: number; batch: number; realtime: number }>();
  for (const v of values) {
    const row = byKey.get(v.key) ?? { key: v.key, value: 0, batch: 0, realtime: 0 };
    row.value += v.value;
    row[v.source] += v.value;
    byKey.set(v.key, row);
  }
  return [...byKey.values()].sort((a, b) => b.value - a.value || a.key.localeCompare(b.key));
}

/**
 * Realtime buckets older than this are answered by batch and can be retired: a bucket
 * [b, b + size) ends at or before the watermark exactly when b < floorTo(grain, watermark).
 */
export function retireBefore(grain: Grain, watermark: number): number {
  return floorTo(grain, watermark);
}
