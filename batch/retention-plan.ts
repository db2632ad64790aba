import type { SluiceConfig } from '../config';

// Retention, planned: from the policy, the time, the batch watermark and the windows still needed
// (queued reprocesses, skipped loads: the pipeline lease's `protect`), the cut-off of every table
// and object-store prefix that grows (docs/retention.md). Pure and deterministic (the retention
// workflow computes the plan itself; the activities apply it), so it is unit-tested directly.

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export interface TimeWindow {
  /** Epoch ms, inclusive. */
  from: number;
  /** Epoch ms, exclusive. */
  to: number;
}

export interface RetentionPolicy {
  sinkFilesMs: number;
  realtimeMs: number;
  badRowsMs: number;
  /** The master dataset (archive/raw/): operator.masterRetentionDays. */
  masterMs: number;
  archiveEnrichedMs: number;
  archiveShreddedMs: number;
  archiveReprocessMs: number;
  dripfeedMs: number;
  emrMs: number;
  /** emr.prefix: where EMR step folders and cluster logs live. */
  emrPrefix: string;
  archiveBy: 'workflow' | 'lifecycle';
  batchSize: number;
}

export function retentionPolicy(config: Pick<SluiceConfig, 'retention' | 'operator' | 'emr'>): RetentionPolicy {
  const r = config.retention;
  return {
    sinkFilesMs: r.sinkFilesDays * DAY_MS,
    realtimeMs: r.realtimeHours * HOUR_MS,
    badRowsMs: r.badRowsDays * DAY_MS,
    masterMs: config.operator.masterRetentionDays * DAY_MS,
    archiveEnrichedMs: r.archiveEnrichedDays * DAY_MS,
    archiveShreddedMs: r.archiveShreddedDays * DAY_MS,
    archiveReprocessMs: r.archiveReprocessDays * DAY_MS,
    dripfeedMs: r.dripfeedHours * HOUR_MS,
    emrMs: r.emrDays * DAY_MS,
    emrPrefix: config.emr.prefix,
    archiveBy: r.archiveBy,
    batchSize: r.batchSize,
  };
}

export type ObjectItem = 'archive-raw' | 'bad-files' | 'archive-enriched' | 'archive-shredded' | 'archive-reprocess' | 'dripfeed' | 'emr-runs' | 'emr-logs';

/** A day range [from, to], both `YYYY-MM-DD` and inclusive. */
export interface DayRange {
  from: string;
  to: string;
}

/**
 * One object-store prefix. `day` rules read the day folder in the key (`…/<YYYY-MM-DD>/…`) and
 * delete the folders of days before `beforeDay`, except days in `keepDays`. `modified` rules read
 * the objects' last-modified time and delete whole groups (a run's folder, or one object) whose
 * newest object is older than `before`, so a run's folder never goes half.
 */
export type ObjectRule =
  | { item: ObjectItem; prefix: string; by: 'day'; beforeDay: string; keepDays: DayRange[] }
  | { item: ObjectItem; prefix: string; by: 'modified'; before: number; group: 'run' | 'object' };

export interface RetentionPlan {
  now: number;
  watermark: number | null;
  /** The protected windows, merged and sorted. */
  protect: TimeWindow[];
  batchSize: number;
  /** Rows of files a closed run archived, committed before `before`; of files no run stages, per processor. */
  sinkFiles: { before: number; unstagedBefore: { processor: string; before: number }[] };
  /** Claims of files archived before `before` (with their sink_files rows, or without any). */
  stagedFiles: { before: number };
  /** Checkpoints, markers and pending copies of shards the stream no longer lists, untouched since `before`. */
  goneShards: { before: number };
  /** Realtime rows behind the watermark and older than realtimeMs (null: no watermark, nothing goes). */
  realtime: { minuteBefore: number; hourBefore: number; seenBefore: number } | null;
  badRows: { before: number };
  /** Empty when the object store's prefixes are left to S3 lifecycle rules. */
  objects: ObjectRule[];
}

export const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const floorTo = (ms: number, size: number) => Math.floor(ms / size) * size;

/** Overlapping or adjacent windows merged, empty and malformed ones dropped, in time order. */
export function mergeWindows(windows: readonly TimeWindow[]): TimeWindow[] {
  const sorted = windows
    .filter((w) => Number.isFinite(w.from) && Number.isFinite(w.to) && w.to > w.from)
    .map((w) => ({ from: w.from, to: w.to }))
    .sort((a, b) => a.from - b.from);
  const out: TimeWindow[] = [];
  for (const w of sorted) {
    const last = out[out.length - 1];
    if (last && w.from <= last.to) last.to = Math.max(last.to, w.to);
    else out.push(w);
  }
  return out;
}

/**
 * The day folders of archive/raw/ a reprocess of each window reads: from the day before `from`
 * (a raw file is foldered by its first record's day and may run past midnight) through the day
 * of `to`, as activities/reprocess.ts archivedRawInWindow selects them.
 */
export function protectedDays(protect: readonly TimeWindow[]): DayRange[] {
  const out: DayRange[] = [];
  for (const w of mergeWindows(protect)) {
    const range = { from: dayOf(w.from - DAY_MS), to: dayOf(w.to) };
    const last = out[out.length - 1];
    // Windows hours apart share day folders, or touch: one range (ISO days compare as strings).
    if (last && range.from <= dayOf(Date.parse(`${last.to}T00:00:00Z`) + DAY_MS)) last.to = range.to > last.to ? range.to : last.to;
    else out.push(range);
  }
  return out;
}

export function planRetention(args: { policy: RetentionPolicy; now: number; watermark: number | null; protect: readonly TimeWindow[] }): RetentionPlan {
  const { policy: p, now, watermark } = args;
  const protect = mergeWindows(args.protect);
  const sinkBefore = now - p.sinkFilesMs;
  let realtime: RetentionPlan['realtime'] = null;
  if (watermark !== null) {
    // Behind the watermark (the batch views answer there) and older than realtimeMs. A bucket goes
    // only once it ends at or before that instant; seen-event keys stay an hour longer, as the
    // views step keeps them (a late replay is still recognised).
    const before = Math.min(watermark, now - p.realtimeMs);
    realtime = { minuteBefore: floorTo(before, 60_000), hourBefore: floorTo(before, HOUR_MS), seenBefore: Math.min(watermark - HOUR_MS, now - p.realtimeMs) };
  }
  const objects: ObjectRule[] = [];
  if (p.archiveBy === 'workflow') {
    const keepDays = protectedDays(protect);
    const modified = (item: ObjectItem, prefix: string, ms: number, group: 'run' | 'object'): ObjectRule => ({ item, prefix, by: 'modified', before: now - ms, group });
    objects.push(
      // A reprocess may be asked for any window from now - masterMs on, and reads the day before its start.
      { item: 'archive-raw', prefix: 'archive/raw/', by: 'day', beforeDay: dayOf(now - p.masterMs - DAY_MS), keepDays },
      { item: 'bad-files', prefix: 'bad/in/', by: 'day', beforeDay: dayOf(now - p.badRowsMs), keepDays: [] },
      modified('archive-enriched', 'archive/enriched/', p.archiveEnrichedMs, 'run'),
      modified('archive-shredded', 'archive/shredded/', p.archiveShreddedMs, 'run'),
      modified('archive-reprocess', 'archive/reprocess/', p.archiveReprocessMs, 'run'),
      modified('dripfeed', 'dripfeed/', p.dripfeedMs, 'object'),
      modified('emr-runs', `${p.emrPrefix}runs/`, p.emrMs, 'run'),
      modified('emr-logs', `${p.emrPrefix}logs/`, p.emrMs, 'object'),
    );
  }
  return {
    now,
    watermark,
    protect,
    batchSize: p.batchSize,
    sinkFiles: {
      before: sinkBefore,
      // The bad-rows sink's files are never staged: their rows go with the files (badRowsMs).
      unstagedBefore: [{ processor: 'bad-rows', before: now - Math.max(p.badRowsMs, p.sinkFilesMs) }],
    },
    stagedFiles: { before: sinkBefore },
    goneShards: { before: sinkBefore },
    realtime,
    badRows: { before: now - p.badRowsMs },
    objects,
  };
}

const DAY_IN_KEY: Record<string, RegExp> = {
  'archive/raw/': /^archive\/raw\/run=[^/]+\/(\d{4}-\d{2}-\d{2})\//,
  'bad/in/': /^bad\/in\/(\d{4}-\d{2}-\d{2})\//,
};

/** The day folder of a key under a `day` rule's prefix, or undefined (such a key is kept). */
export function dayInKey(prefix: string, key: string): string | undefined {
  return DAY_IN_KEY[prefix]?.exec(key)?.[1];
}

/** Whether `day` lies in one of the (inclusive) ranges. */
export function inDayRanges(day: string, ranges: readonly DayRange[]): boolean {
  return ranges.some((r) => day >= r.from && day <= r.to);
}

/**
 * The group a key belongs to under a `modified` rule: its run's folder (`…/run=<id>/`, or the
 * step folder `<emr prefix>runs/<runId>/`), or the key itself.
 */
export function groupOfKey(rule: Extract<ObjectRule, { by: 'modified' }>, key: string): string {
  if (rule.group === 'object') return key;
  const rest = key.slice(rule.prefix.length);
  const run = /^(run=[^/]+\/)/.exec(rest)?.[1] ?? /^([^/]+\/)/.exec(rest)?.[1];
  return run ? rule.prefix + run : key;
}

export interface ListedObject {
  key: string;
  /** Last modified, epoch ms; unknown keeps the object's group. */
  modifiedMs?: number;
}

/** The keys a rule deletes out of a listing of its prefix. Pure. */
export function expiredKeys(rule: ObjectRule, objects: readonly ListedObject[]): string[] {
  const mine = objects.filter((o) => o.key.startsWith(rule.prefix));
  if (rule.by === 'day') {
    return mine
      .filter((o) => {
        const day = dayInKey(rule.prefix, o.key);
        return day !== undefined && day < rule.beforeDay && !inDayRanges(day, rule.keepDays);
      })
      .map((o) => o.key);
  }
  const newest = new Map<string, number>();
  for (const o of mine) {
    const g = groupOfKey(rule, o.key);
    // An object without a known time counts as new: its whole group stays.
    newest.set(g, Math.max(newest.get(g) ?? -Infinity, o.modifiedMs ?? Infinity));
  }
  return mine.filter((o) => newest.get(groupOfKey(rule, o.key))! < rule.before).map((o) => o.key);
}

/**
 * Runs whose files are still staged and not archived (under raw/processing/ or enriched/good/): a
 * parked, running or aborted run may still load them, so their claims and catalog rows stay.
 */
export function runsHolding(keys: readonly string[]): string[] {
  const ids = new Set<string>();
  for (const key of keys) {
    const id = /^(?:raw\/processing|enriched\/good)\/run=([^/]+)\//.exec(key)?.[1];
    if (id) ids.add(id);
  }
  return [...ids].sort();
}

/** The plan's cut-offs as ISO times, for the progress query, the memo and the CLI. */
export function describePlan(plan: RetentionPlan) {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    now: iso(plan.now),
    watermark: plan.watermark === null ? null : iso(plan.watermark),
    protect: plan.protect.map((w) => ({ from: iso(w.from), to: iso(w.to) })),
    sinkFilesBefore: iso(plan.sinkFiles.before),
    realtimeBefore: plan.realtime ? iso(plan.realtime.minuteBefore) : null,
    badRowsBefore: iso(plan.badRows.before),
    objects: plan.objects.map((r) => (r.by === 'day' ? { item: r.item, prefix: r.prefix, beforeDay: r.beforeDay, keepDays: r.keepDays } : { item: r.item, prefix: r.prefix, before: iso(r.before) })),
  };
}
