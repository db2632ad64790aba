import { describe, expect, it } from 'vitest';
import { archivedRawInWindow } from '../../activities/reprocess';
import {
  DAY_MS,
  HOUR_MS,
  dayInKey,
  describePlan,
  expiredKeys,
  groupOfKey,
  inDayRanges,
  mergeWindows,
  planRetention,
  protectedDays,
  retentionPolicy,
  runsHolding,
  type ObjectRule,
  type RetentionPlan,
} from '../../batch/retention-plan';
import { loadConfig } from '../../config';

// The retention plan: cut-offs from the policy, the time, the watermark and the protected windows.

const NOW = Date.UTC(2026, 11, 1, 12, 30, 0); // 2026-12-01T12:30:00Z
const config = loadConfig({}, '/nonexistent');
const policy = retentionPolicy(config);
const plan = (over: Partial<Parameters<typeof planRetention>[0]> = {}) => planRetention({ policy, now: NOW, watermark: NOW - HOUR_MS, protect: [], ...over });
const rule = (p: RetentionPlan, item: string) => p.objects.find((r) => r.item === item)!;
const rawKey = (run: string, day: string, file = 'sluice-raw-shardId-000000000000-1.lzo') => `archive/raw/run=${run}/${day}/${file}`;
const iso = (s: string) => Date.parse(s);

describe('retentionPolicy', () => {
  it('reads the defaults: 7 days of sink files, 48 h of realtime rows, 90 days of bad rows, 400 days of master dataset', () => {
    expect(policy).toEqual({
      sinkFilesMs: 7 * DAY_MS,
      realtimeMs: 48 * HOUR_MS,
      badRowsMs: 90 * DAY_MS,
      masterMs: 400 * DAY_MS,
      archiveEnrichedMs: 30 * DAY_MS,
      archiveShreddedMs: 30 * DAY_MS,
      archiveReprocessMs: 14 * DAY_MS,
      dripfeedMs: 24 * HOUR_MS,
      emrMs: 30 * DAY_MS,
      emrPrefix: 'emr/',
      archiveBy: 'workflow',
      batchSize: 5_000,
    });
    expect(config.retention.every).toBe('6h');
    expect(config.retention.schedule).toBe(true);
  });

  it('takes SLUICE_RETENTION__* overrides and refuses bad values with the key named', () => {
    const c = loadConfig({ SLUICE_RETENTION__SINK_FILES_DAYS: '3', SLUICE_RETENTION__ARCHIVE_BY: 'lifecycle', SLUICE_RETENTION__EVERY: '30m', SLUICE_OPERATOR__MASTER_RETENTION_DAYS: '10' }, '/nonexistent');
    expect(retentionPolicy(c)).toMatchObject({ sinkFilesMs: 3 * DAY_MS, archiveBy: 'lifecycle', masterMs: 10 * DAY_MS });
    expect(c.retention.every).toBe('30m');
    expect(() => loadConfig({ SLUICE_RETENTION__ARCHIVE_BY: 'cron' }, '/nonexistent')).toThrow(/retention\.archiveBy/);
    expect(() => loadConfig({ SLUICE_RETENTION__EVERY: 'often' }, '/nonexistent')).toThrow(/SLUICE_RETENTION__EVERY/);
    expect(() => loadConfig({ SLUICE_RETENTION__BAD_ROWS_DAYS: '0' }, '/nonexistent')).toThrow(/retention\.badRowsDays/);
  });
});

describe('mergeWindows', () => {
  it('sorts, merges overlapping and adjacent windows, drops empty and malformed ones', () => {
    expect(mergeWindows([
      { from: 50, to: 60 },
      { from: 10, to: 20 },
      { from: 20, to: 30 },
      { from: 15, to: 25 },
      { from: 40, to: 40 },
      { from: 70, to: 65 },
      { from: Number.NaN, to: 5 },
    ])).toEqual([{ from: 10, to: 30 }, { from: 50, to: 60 }]);
    expect(mergeWindows([])).toEqual([]);
  });

  it('does not change its input', () => {
    const input = [{ from: 1, to: 5 }, { from: 3, to: 9 }];
    mergeWindows(input);
    expect(input).toEqual([{ from: 1, to: 5 }, { from: 3, to: 9 }]);
  });
});

describe('protectedDays', () => {
  it('covers the day before the window through the day of its end, as a reprocess reads them', () => {
    expect(protectedDays([{ from: iso('2026-03-10T05:00:00Z'), to: iso('2026-03-11T02:00:00Z') }])).toEqual([{ from: '2026-03-09', to: '2026-03-11' }]);
    // A window ending at midnight still protects that day (the reprocess reads it too).
    expect(protectedDays([{ from: iso('2026-03-10T00:00:00Z'), to: iso('2026-03-11T00:00:00Z') }])).toEqual([{ from: '2026-03-09', to: '2026-03-11' }]);
  });

  it('merges windows that share day folders into one range', () => {
    expect(protectedDays([
      { from: iso('2026-03-10T02:00:00Z'), to: iso('2026-03-10T03:00:00Z') },
      { from: iso('2026-03-10T20:00:00Z'), to: iso('2026-03-10T21:00:00Z') },
      { from: iso('2026-03-12T01:00:00Z'), to: iso('2026-03-12T02:00:00Z') },
      { from: iso('2026-03-20T01:00:00Z'), to: iso('2026-03-20T02:00:00Z') },
    ])).toEqual([{ from: '2026-03-09', to: '2026-03-12' }, { from: '2026-03-19', to: '2026-03-20' }]);
  });

  it('agrees with the reprocess collect step on every day folder, for windows at every hour of a day', () => {
    const days = Array.from({ length: 10 }, (_, i) => new Date(iso('2026-03-05T00:00:00Z') + i * DAY_MS).toISOString().slice(0, 10));
    const keys = days.map((d) => rawKey('r1', d));
    for (let h = 0; h < 48; h += 5) {
      for (const span of [HOUR_MS, 13 * HOUR_MS, 2 * DAY_MS]) {
        const w = { from: iso('2026-03-08T00:00:00Z') + h * HOUR_MS, to: iso('2026-03-08T00:00:00Z') + h * HOUR_MS + span };
        const read = archivedRawInWindow(keys, w);
        const ranges = protectedDays([w]);
        expect(keys.filter((k) => inDayRanges(dayInKey('archive/raw/', k)!, ranges))).toEqual(read);
      }
    }
  });
});

describe('planRetention', () => {
  it('computes the cut-offs from now', () => {
    const p = plan();
    expect(p.sinkFiles.before).toBe(NOW - 7 * DAY_MS);
    expect(p.stagedFiles.before).toBe(NOW - 7 * DAY_MS);
    expect(p.goneShards.before).toBe(NOW - 7 * DAY_MS);
    expect(p.badRows.before).toBe(NOW - 90 * DAY_MS);
    expect(p.sinkFiles.unstagedBefore).toEqual([{ processor: 'bad-rows', before: NOW - 90 * DAY_MS }]);
    expect(p.batchSize).toBe(5_000);
    expect(p.objects.map((r) => [r.item, r.prefix])).toEqual([
      ['archive-raw', 'archive/raw/'],
      ['bad-files', 'bad/in/'],
      ['archive-enriched', 'archive/enriched/'],
      ['archive-shredded', 'archive/shredded/'],
      ['archive-reprocess', 'archive/reprocess/'],
      ['dripfeed', 'dripfeed/'],
      ['emr-runs', 'emr/runs/'],
      ['emr-logs', 'emr/logs/'],
    ]);
    expect(rule(p, 'archive-enriched')).toMatchObject({ by: 'modified', before: NOW - 30 * DAY_MS, group: 'run' });
    expect(rule(p, 'archive-reprocess')).toMatchObject({ before: NOW - 14 * DAY_MS });
    expect(rule(p, 'dripfeed')).toMatchObject({ before: NOW - 24 * HOUR_MS, group: 'object' });
    expect(rule(p, 'bad-files')).toMatchObject({ by: 'day', beforeDay: '2026-09-02', keepDays: [] });
  });

  it('keeps the master dataset for masterRetentionDays plus the day a reprocess of the oldest window reads', () => {
    // now - 400 days = 2025-10-27T12:30Z; a reprocess from then reads 2025-10-26 too.
    expect(rule(plan(), 'archive-raw')).toMatchObject({ by: 'day', beforeDay: '2025-10-26' });
    const shorter = planRetention({ policy: { ...policy, masterMs: 2 * DAY_MS }, now: NOW, watermark: null, protect: [] });
    expect(rule(shorter, 'archive-raw')).toMatchObject({ beforeDay: '2026-11-28' });
  });

  it('the bad rows sink catalog waits for the longer of the two policies', () => {
    const p = planRetention({ policy: { ...policy, badRowsMs: DAY_MS }, now: NOW, watermark: null, protect: [] });
    expect(p.sinkFiles.unstagedBefore[0].before).toBe(NOW - 7 * DAY_MS);
  });

  it('realtime: behind the watermark and older than realtimeHours, floored to each grain', () => {
    // The watermark is recent: the age limit decides.
    expect(plan().realtime).toEqual({ minuteBefore: NOW - 48 * HOUR_MS, hourBefore: iso('2026-11-29T12:00:00Z'), seenBefore: NOW - 48 * HOUR_MS });
    // Batch runs stopped three days ago: the watermark decides, and seen keys stay an hour behind it.
    const wm = iso('2026-11-28T09:17:42Z');
    expect(plan({ watermark: wm }).realtime).toEqual({ minuteBefore: iso('2026-11-28T09:17:00Z'), hourBefore: iso('2026-11-28T09:00:00Z'), seenBefore: wm - HOUR_MS });
    // No watermark (no batch run yet): the realtime views answer everything, nothing goes.
    expect(plan({ watermark: null }).realtime).toBeNull();
  });

  it('protected windows are merged and keep their day folders of archive/raw/', () => {
    const p = plan({ protect: [{ from: iso('2026-06-10T10:00:00Z'), to: iso('2026-06-10T11:00:00Z') }, { from: iso('2025-01-05T23:00:00Z'), to: iso('2025-01-06T01:00:00Z') }, { from: iso('2026-06-10T10:30:00Z'), to: iso('2026-06-10T12:00:00Z') }] });
    expect(p.protect).toEqual([{ from: iso('2025-01-05T23:00:00Z'), to: iso('2025-01-06T01:00:00Z') }, { from: iso('2026-06-10T10:00:00Z'), to: iso('2026-06-10T12:00:00Z') }]);
    expect(rule(p, 'archive-raw')).toMatchObject({ keepDays: [{ from: '2025-01-04', to: '2025-01-06' }, { from: '2026-06-09', to: '2026-06-10' }] });
    // The bad files are not read by a reprocess: nothing protected there.
    expect(rule(p, 'bad-files')).toMatchObject({ keepDays: [] });
  });

  it('with archiveBy lifecycle leaves every prefix to S3 and still prunes the tables', () => {
    const p = planRetention({ policy: { ...policy, archiveBy: 'lifecycle' }, now: NOW, watermark: NOW, protect: [] });
    expect(p.objects).toEqual([]);
    expect(p.sinkFiles.before).toBe(NOW - 7 * DAY_MS);
    expect(p.realtime).not.toBeNull();
  });

  it('uses the EMR prefix of the config', () => {
    const p = planRetention({ policy: { ...policy, emrPrefix: 'jobs/emr/' }, now: NOW, watermark: null, protect: [] });
    expect(p.objects.filter((r) => r.item.startsWith('emr')).map((r) => r.prefix)).toEqual(['jobs/emr/runs/', 'jobs/emr/logs/']);
  });

  it('is JSON-safe (it travels to the activities) and describes itself in ISO times', () => {
    const p = plan({ protect: [{ from: iso('2026-06-10T10:00:00Z'), to: iso('2026-06-10T11:00:00Z') }] });
    expect(JSON.parse(JSON.stringify(p))).toEqual(p);
    const d = describePlan(p);
    expect(d).toMatchObject({ now: '2026-12-01T12:30:00.000Z', sinkFilesBefore: '2026-11-24T12:30:00.000Z', badRowsBefore: '2026-09-02T12:30:00.000Z', protect: [{ from: '2026-06-10T10:00:00.000Z', to: '2026-06-10T11:00:00.000Z' }] });
    expect(d.objects[0]).toEqual({ item: 'archive-raw', prefix: 'archive/raw/', beforeDay: '2025-10-26', keepDays: [{ from: '2026-06-09', to: '2026-06-10' }] });
    expect(d.objects[2]).toEqual({ item: 'archive-enriched', prefix: 'archive/enriched/', before: '2026-11-01T12:30:00.000Z' });
  });
});

describe('expiredKeys, day rules', () => {
  const p = plan({ protect: [{ from: iso('2025-03-10T05:00:00Z'), to: iso('2025-03-10T06:00:00Z') }] });
  const raw = rule(p, 'archive-raw');

  it('deletes day folders before the cut-off day, keeps the cut-off day, later days and protected days', () => {
    const keys = [
      rawKey('r1', '2025-03-01'),
      rawKey('r1', '2025-03-08'),
      rawKey('r1', '2025-03-09'), // the day before the protected window
      rawKey('r2', '2025-03-10'), // the protected window's day, another run
      rawKey('r2', '2025-03-11'),
      rawKey('r3', '2025-10-25'),
      rawKey('r3', '2025-10-26'), // the cut-off day itself stays
      rawKey('r4', '2026-11-30'),
    ];
    expect(expiredKeys(raw, keys.map((key) => ({ key })))).toEqual([rawKey('r1', '2025-03-01'), rawKey('r1', '2025-03-08'), rawKey('r2', '2025-03-11'), rawKey('r3', '2025-10-25')]);
  });

  it('keeps keys that have no day folder, and keys of other prefixes', () => {
    const keys = ['archive/raw/run=r1/stray.lzo', 'archive/raw/run=r1/2025-3-1/x.lzo', 'archive/raw/2025-03-01/x.lzo', 'archive/rawish/run=r1/2025-03-01/x.lzo', 'bad/in/2025-03-01/x.json'];
    expect(expiredKeys(raw, keys.map((key) => ({ key })))).toEqual([]);
  });

  it('bad files by the sink day folder', () => {
    const bad = rule(p, 'bad-files');
    const keys = ['bad/in/2026-09-01/sluice-bad-shardId-0-1-2.json', 'bad/in/2026-09-02/sluice-bad-shardId-0-3-4.json', 'bad/in/2026-11-30/x.json', 'bad/pending/sluice-bad/shardId-0/1-2.json'];
    expect(expiredKeys(bad, keys.map((key) => ({ key })))).toEqual(['bad/in/2026-09-01/sluice-bad-shardId-0-1-2.json']);
  });

  it('no day is deleted inside any protected range however old', () => {
    const wide: ObjectRule = { item: 'archive-raw', prefix: 'archive/raw/', by: 'day', beforeDay: '2030-01-01', keepDays: protectedDays([{ from: iso('2025-01-01T00:00:00Z'), to: iso('2025-01-31T00:00:00Z') }]) };
    const keys = Array.from({ length: 60 }, (_, i) => rawKey('r', new Date(iso('2024-12-15T00:00:00Z') + i * DAY_MS).toISOString().slice(0, 10)));
    const kept = keys.filter((k) => !expiredKeys(wide, keys.map((key) => ({ key }))).includes(k)).map((k) => dayInKey('archive/raw/', k));
    expect(kept[0]).toBe('2024-12-31');
    expect(kept[kept.length - 1]).toBe('2025-01-31');
    expect(kept).toHaveLength(32);
  });
});

describe('expiredKeys, modified rules', () => {
  const p = plan();
  const enriched = rule(p, 'archive-enriched') as Extract<ObjectRule, { by: 'modified' }>;
  const old = NOW - 40 * DAY_MS;
  const recent = NOW - DAY_MS;

  it('groups by run folder: a run goes only when all of it is older than the cut-off', () => {
    const objects = [
      { key: 'archive/enriched/run=a/good/bucket=00000/part-00000.tsv.gz', modifiedMs: old },
      { key: 'archive/enriched/run=a/good/_layout.json', modifiedMs: old },
      { key: 'archive/enriched/run=b/good/part-00000.tsv.gz', modifiedMs: old },
      { key: 'archive/enriched/run=b/bad/part-00000.json', modifiedMs: recent },
      { key: 'archive/enriched/run=c/good/part-00000.tsv.gz', modifiedMs: recent },
    ];
    expect(expiredKeys(enriched, objects)).toEqual(['archive/enriched/run=a/good/bucket=00000/part-00000.tsv.gz', 'archive/enriched/run=a/good/_layout.json']);
  });

  it('an object without a last-modified time keeps its whole group', () => {
    const objects = [{ key: 'archive/enriched/run=a/good/x', modifiedMs: old }, { key: 'archive/enriched/run=a/good/y' }];
    expect(expiredKeys(enriched, objects)).toEqual([]);
  });

  it('the cut-off instant itself is kept', () => {
    expect(expiredKeys(enriched, [{ key: 'archive/enriched/run=a/x', modifiedMs: enriched.before }])).toEqual([]);
    expect(expiredKeys(enriched, [{ key: 'archive/enriched/run=a/x', modifiedMs: enriched.before - 1 }])).toEqual(['archive/enriched/run=a/x']);
  });

  it('object groups (dripfeed parts, EMR logs) go one by one; EMR step folders by run', () => {
    const drip = rule(p, 'dripfeed') as Extract<ObjectRule, { by: 'modified' }>;
    expect(expiredKeys(drip, [
      { key: 'dripfeed/sluice-enriched/shardId-0/123/events/part-00000.tsv.gz', modifiedMs: NOW - 2 * DAY_MS },
      { key: 'dripfeed/sluice-enriched/shardId-0/123/types/0/part-00000.tsv.gz', modifiedMs: NOW - HOUR_MS },
    ])).toEqual(['dripfeed/sluice-enriched/shardId-0/123/events/part-00000.tsv.gz']);
    const runs = rule(p, 'emr-runs') as Extract<ObjectRule, { by: 'modified' }>;
    expect(groupOfKey(runs, 'emr/runs/run-1/enrich-abc/manifest.jsonl')).toBe('emr/runs/run-1/');
    expect(expiredKeys(runs, [
      { key: 'emr/runs/run-1/enrich-abc/manifest.jsonl', modifiedMs: old },
      { key: 'emr/runs/run-1/shred-def/out/part-00000', modifiedMs: recent },
      { key: 'emr/runs/run-2/enrich-abc/manifest.jsonl', modifiedMs: old },
    ])).toEqual(['emr/runs/run-2/enrich-abc/manifest.jsonl']);
  });

  it('groupOfKey: run folders, and a key without a folder is its own group', () => {
    expect(groupOfKey(enriched, 'archive/enriched/run=x/good/a')).toBe('archive/enriched/run=x/');
    expect(groupOfKey(enriched, 'archive/enriched/loose.txt')).toBe('archive/enriched/loose.txt');
  });
});

describe('runsHolding', () => {
  it('names the runs with staged files under raw/processing/ or enriched/good/', () => {
    expect(runsHolding([
      'raw/processing/run=b/2026-11-30/x.lzo',
      'raw/processing/run=a/2026-11-30/y.lzo',
      'enriched/good/run=c/bucket=00000/part-00000.tsv.gz',
      'raw/processing/run=a/2026-11-30/z.lzo',
      'archive/raw/run=d/2026-11-30/x.lzo',
      'raw/in/2026-11-30/x.lzo',
    ])).toEqual(['a', 'b', 'c']);
    expect(runsHolding([])).toEqual([]);
  });
});
