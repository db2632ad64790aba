import { beforeAll, describe, expect, it } from 'vitest';
import { createRetentionActivities, kinesisShardIds, type RetentionCounts } from '../../activities/retention';
import { ensureStream } from '../../adapters/kinesis';
import { DAY_MS, HOUR_MS, dayOf, mergeWindows, planRetention, retentionPolicy, type RetentionPlan, type RetentionPolicy } from '../../batch/retention-plan';
import { makeLogger } from '../../observability/logger';
import { postgresBatchViewsStore } from '../../views/batch-views-postgres';
import { recordOwedWindow } from '../../views/owed-windows';
import { runActivity } from '../helpers/speed';
import { useStandins } from '../helpers/rig';

// Retention's activities against real PostgreSQL, s3rver and kinesalite: what is older than each
// cut-off goes, what is newer, still needed (open runs, unpublished files, each shard's last file)
// or protected (owed and queued windows) stays, and the counts say so. Run twice, the second run
// deletes nothing.

const rig = useStandins({ postgres: true, s3: true, kinesis: true, poolSize: 4 });

beforeAll(async () => {
  await ensureStream(rig.kinesis, RAW, 2);
  await ensureStream(rig.kinesis, BAD, 1);
});

const RAW = 'sluice-raw';
const BAD = 'sluice-bad';
const NOW = Date.now();
const ago = (ms: number) => NOW - ms;
const iso = (ms: number) => new Date(ms).toISOString();
// The watermark stopped three days ago (batch runs paused): it decides the realtime cut-off.
const W = Math.floor(ago(72 * HOUR_MS) / HOUR_MS) * HOUR_MS;
const OWED = { from: W - 20 * 60_000, to: W - 5 * 60_000 };
const QUEUED = { from: W - 3 * HOUR_MS, to: W - 2.5 * HOUR_MS };
const OLD_REPROCESS = { from: ago(410 * DAY_MS), to: ago(410 * DAY_MS) + HOUR_MS };

const policy = (): RetentionPolicy => ({ ...retentionPolicy(rig.config), batchSize: 2, archiveShreddedMs: 60 * DAY_MS });
const activities = (p = policy()) =>
  createRetentionActivities({
    pool: rig.pool, store: rig.store, views: postgresBatchViewsStore(rig.pool), policy: p, streams: [RAW, 'sluice-enriched', BAD],
    listShardIds: kinesisShardIds(rig.kinesis), log: makeLogger('test-retention', 'error'),
  });

const shard = (n: number) => `shardId-${String(n).padStart(12, '0')}`;
let seq = 1_000;

async function sinkFile(o: { stream?: string; processor?: string; shardId?: number; committed: number; published?: boolean; pendingDeleted?: boolean; stagedBy?: string; stagedAt?: number }) {
  const first = (seq += 10);
  const key = `${o.processor === 'bad-rows' ? 'bad' : 'raw'}/in/${dayOf(o.committed)}/${o.stream ?? RAW}-${shard(o.shardId ?? 0)}-${first}.lzo`;
  await rig.pool.query(
    `INSERT INTO "sluice"."sink_files" ("stream", "processor", "shard_id", "first_sequence", "last_sequence", "object_key", "records", "published", "pending_deleted", "committed_at")
     VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9)`,
    [o.stream ?? RAW, o.processor ?? 'raw-s3', shard(o.shardId ?? 0), first, first + 5, key, o.published ?? true, o.pendingDeleted ?? true, iso(o.committed)],
  );
  if (o.stagedBy) await stage(key, o.stagedBy, o.stagedAt ?? o.committed);
  return key;
}
const stage = (key: string, runId: string, at: number) =>
  rig.pool.query(`INSERT INTO "sluice"."staged_files" ("key", "run_id", "staged_at") VALUES ($1, $2, $3)`, [key, runId, iso(at)]);
const checkpoint = (stream: string, processor: string, shardId: string, updated: number) =>
  rig.pool.query(`INSERT INTO "sluice"."stream_checkpoints" ("stream", "processor", "shard_id", "sequence_number", "updated_at") VALUES ($1, $2, $3, '1', $4)`, [stream, processor, shardId, iso(updated)]);
const realtime = (table: 'events' | 'members', grain: 'minute' | 'hour', bucket: number) =>
  table === 'events'
    ? rig.pool.query(`INSERT INTO "sluice"."realtime_view_events" ("grain", "bucket", "event_name", "events") VALUES ($1, $2, 'page_view', 1)`, [grain, iso(bucket)])
    : rig.pool.query(`INSERT INTO "sluice"."realtime_view_members" ("grain", "bucket", "kind", "member") VALUES ($1, $2, 'user', 'u1')`, [grain, iso(bucket)]);
const seen = (minute: number) => rig.pool.query(`INSERT INTO "sluice"."realtime_seen_events" ("minute", "event_key") VALUES ($1, 'k')`, [iso(minute)]);
const badRow = (n: number, at: number) =>
  rig.pool.query(`INSERT INTO "sluice"."bad_rows" ("stream", "shard_id", "sequence_number", "received_at", "type", "summary", "row") VALUES ($1, 's', $2, $3, 'generic_error', 'x', '{}')`, [BAD, String(n), iso(at)]);

const keys = {} as Record<string, string>;
const rawDay = (run: string, atMs: number, file: string) => `archive/raw/run=${run}/${dayOf(atMs)}/${file}`;

async function seed() {
  // The catalog: archived files of a closed run, of a run still open, unstaged, not tidied, recent.
  for (const n of [1, 2, 3]) keys[`f${n}`] = await sinkFile({ committed: ago(10 * DAY_MS), stagedBy: 'closed-1' });
  keys.f4 = await sinkFile({ committed: ago(10 * DAY_MS), stagedBy: 'open-1' });
  keys.f5 = await sinkFile({ committed: ago(10 * DAY_MS) });
  keys.f6 = await sinkFile({ committed: ago(10 * DAY_MS), pendingDeleted: false, stagedBy: 'closed-1' });
  keys.f7 = await sinkFile({ committed: ago(2 * DAY_MS), stagedBy: 'closed-1' });
  // Shard 1's only file is old and archived, but it is the end of that shard's catalog.
  keys.s1 = await sinkFile({ shardId: 1, committed: ago(30 * DAY_MS), stagedBy: 'closed-1' });
  // The bad-rows sink's files are never staged: their rows go with the files (90 days).
  keys.b1 = await sinkFile({ stream: BAD, processor: 'bad-rows', committed: ago(100 * DAY_MS) });
  keys.b2 = await sinkFile({ stream: BAD, processor: 'bad-rows', committed: ago(30 * DAY_MS) });
  keys.b3 = await sinkFile({ stream: BAD, processor: 'bad-rows', committed: ago(DAY_MS) });
  // Checkpoints: the live shard's (old but listed), and gone shards 97 (unpublished file), 98 (a file not archived), 99.
  await checkpoint(RAW, 'raw-s3', shard(0), ago(20 * DAY_MS));
  for (const n of [97, 98, 99]) for (const processor of ['raw-s3', 'enrich']) await checkpoint(RAW, processor, shard(n), ago(20 * DAY_MS));
  keys.g97 = await sinkFile({ shardId: 97, committed: ago(20 * DAY_MS), published: false, pendingDeleted: false });
  keys.g98 = await sinkFile({ shardId: 98, committed: ago(20 * DAY_MS) });
  keys.g99a = await sinkFile({ shardId: 99, committed: ago(20 * DAY_MS), pendingDeleted: false, stagedBy: 'closed-1' });
  keys.g99b = await sinkFile({ shardId: 99, committed: ago(20 * DAY_MS), pendingDeleted: false, stagedBy: 'closed-1' });
  await rig.store.put(`raw/progress/${RAW}/${shard(99)}.json`, '{}');
  await rig.store.put(`raw/pending/${RAW}/${shard(99)}/x.lzo`, 'x');
  await rig.store.put(`raw/pending/${RAW}/${shard(97)}/y.lzo`, 'y');
  // Claims without catalog rows: a closed run's old one, an open run's, a recent one.
  await stage('raw/in/legacy-1.lzo', 'closed-1', ago(10 * DAY_MS));
  await stage('raw/in/legacy-2.lzo', 'open-1', ago(10 * DAY_MS));
  await stage('raw/in/legacy-3.lzo', 'closed-1', ago(DAY_MS));
  // The open run still has staged files.
  await rig.store.put(`raw/processing/run=open-1/${dayOf(ago(10 * DAY_MS))}/f4.lzo`, 'f4');

  // Realtime rows around the watermark, an owed window and a queued reprocess's window.
  await rig.pool.query(`INSERT INTO "sluice"."batch_watermark" ("watermark", "run_id") VALUES ($1, 'closed-1')`, [iso(W)]);
  await recordOwedWindow(rig.pool, { runId: 'skipped-1', ...OWED, reason: 'test' });
  await realtime('events', 'minute', W - 2 * HOUR_MS); // goes
  await realtime('members', 'minute', W - 2 * HOUR_MS); // goes
  await realtime('events', 'minute', W - 10 * 60_000); // owed
  await realtime('events', 'minute', W - 3 * HOUR_MS); // queued reprocess
  await realtime('events', 'minute', W + 60_000); // ahead of the watermark, though older than 48 h
  await realtime('events', 'hour', W - 5 * HOUR_MS); // goes
  await realtime('events', 'hour', W - HOUR_MS); // overlaps the owed window
  await realtime('events', 'hour', W - 3 * HOUR_MS); // overlaps the queued window
  await seen(W - 2 * HOUR_MS); // goes
  await seen(W - 30 * 60_000); // within an hour of the watermark
  await seen(W - 3 * HOUR_MS); // queued window
  for (const n of [1, 2, 3]) await badRow(n, ago(100 * DAY_MS));
  await badRow(4, ago(10 * DAY_MS));

  // Objects: the master dataset by day folder (400 days, one day's slack, a queued reprocess's days), bad files, archives.
  keys.rawOld1 = rawDay('old', ago(420 * DAY_MS), 'a.lzo');
  keys.rawOld2 = rawDay('old', ago(420 * DAY_MS), 'b.lzo');
  keys.rawOld3 = rawDay('old', ago(402 * DAY_MS), 'c.lzo');
  keys.rawSlack = rawDay('old', ago(401 * DAY_MS), 'd.lzo');
  keys.rawQueued = rawDay('old', OLD_REPROCESS.from, 'e.lzo');
  keys.rawQueuedBefore = rawDay('old', OLD_REPROCESS.from - DAY_MS, 'f.lzo');
  keys.rawRecent = rawDay('new', ago(DAY_MS), 'g.lzo');
  keys.badOld = `bad/in/${dayOf(ago(100 * DAY_MS))}/x.json`;
  keys.badRecent = `bad/in/${dayOf(ago(10 * DAY_MS))}/y.json`;
  keys.enriched = 'archive/enriched/run=closed-1/good/bucket=00000/part-00000.tsv.gz';
  keys.shredded = 'archive/shredded/run=closed-1/good/atomic-events/part-00000.tsv.gz';
  keys.reprocess = 'archive/reprocess/run=rp-1/raw/run=old/2025-01-01/a.lzo';
  keys.dripfeed = `dripfeed/sluice-enriched/${shard(0)}/123/events/part-00000.tsv.gz`;
  keys.emrRun = 'emr/runs/run-1/enrich-abc/manifest.jsonl';
  keys.emrLog = 'emr/logs/j-1/steps/s-1/stderr.gz';
  for (const k of ['rawOld1', 'rawOld2', 'rawOld3', 'rawSlack', 'rawQueued', 'rawQueuedBefore', 'rawRecent', 'badOld', 'badRecent', 'enriched', 'shredded', 'reprocess', 'dripfeed', 'emrRun', 'emrLog']) {
    await rig.store.put(keys[k], k);
  }
}

/** Every item once, in the workflow's order, as the workflow does (the plan from the lease's windows and the owed table). */
async function runAll(plan: RetentionPlan, acts = activities()): Promise<RetentionCounts> {
  const total: RetentionCounts = {};
  const add = (c: RetentionCounts) => Object.entries(c).forEach(([k, n]) => (total[k] = (total[k] ?? 0) + n));
  add(await runActivity(acts.pruneGoneShards, { plan }));
  add(await runActivity(acts.pruneSinkFiles, { plan }));
  add(await runActivity(acts.pruneStagedFiles, { plan }));
  add(await runActivity(acts.pruneRealtime, { plan }));
  add(await runActivity(acts.pruneBadRows, { plan }));
  for (const rule of plan.objects) add(await runActivity(acts.pruneObjects, { rule, batchSize: plan.batchSize }));
  return total;
}

async function planNow(now = NOW, p = policy()): Promise<RetentionPlan> {
  const state = await runActivity(activities(p).readRetentionState);
  return planRetention({ policy: p, now, watermark: state.watermark, protect: mergeWindows([QUEUED, OLD_REPROCESS, ...state.owed]) });
}

const column = async (sql: string) => (await rig.pool.query(sql)).rows.map((r) => Object.values(r)[0]);
const exists = async (k: string) => rig.store.exists(keys[k]);

describe('retention activities', () => {
  it('reads the policy, the watermark and the owed windows', async () => {
    await seed();
    const state = await runActivity(activities().readRetentionState);
    expect(state).toEqual({ policy: policy(), watermark: W, owed: [OWED] });
  });

  it('deletes what is past each cut-off and keeps what is newer, still needed or protected', async () => {
    const counts = await runAll(await planNow());
    expect(counts).toEqual({
      'gone-shards': 2, 'gone-shard-objects': 2, checkpoints: 3,
      'sink-files': 2 + 4, 'staged-files': 2 + 3 + 1,
      'realtime-rows': 3, 'realtime-seen': 1, 'bad-rows': 3,
      'archive-raw': 3, 'bad-files': 1, 'archive-enriched': 0, 'archive-shredded': 0, 'archive-reprocess': 0, dripfeed: 0, 'emr-runs': 0, 'emr-logs': 0,
    });
    const remaining = await column(`SELECT "object_key" FROM "sluice"."sink_files" ORDER BY "object_key"`);
    expect(remaining.sort()).toEqual([keys.f4, keys.f5, keys.f6, keys.f7, keys.s1, keys.b2, keys.b3, keys.g97, keys.g98].sort());
    expect((await column(`SELECT "key" FROM "sluice"."staged_files"`)).sort()).toEqual([keys.f4, keys.f6, keys.f7, keys.s1, 'raw/in/legacy-2.lzo', 'raw/in/legacy-3.lzo'].sort());
    expect(await column(`SELECT "shard_id" || '/' || "processor" FROM "sluice"."stream_checkpoints" ORDER BY 1`)).toEqual([
      `${shard(0)}/raw-s3`, `${shard(97)}/enrich`, `${shard(97)}/raw-s3`, `${shard(98)}/raw-s3`,
    ]);
    expect(await rig.store.exists(`raw/progress/${RAW}/${shard(99)}.json`)).toBe(false);
    expect(await rig.store.exists(`raw/pending/${RAW}/${shard(99)}/x.lzo`)).toBe(false);
    expect(await rig.store.exists(`raw/pending/${RAW}/${shard(97)}/y.lzo`)).toBe(true);
    expect(await column(`SELECT "grain" || ' ' || to_char("bucket", 'YYYY-MM-DD"T"HH24:MI') FROM "sluice"."realtime_view_events" ORDER BY "grain", "bucket"`)).toEqual(
      [['hour', W - 3 * HOUR_MS], ['hour', W - HOUR_MS], ['minute', W - 3 * HOUR_MS], ['minute', W - 10 * 60_000], ['minute', W + 60_000]].map(([g, b]) => `${g} ${iso(b as number).slice(0, 16)}`),
    );
    expect(await column(`SELECT count(*) FROM "sluice"."realtime_view_members"`)).toEqual([0]);
    expect((await column(`SELECT "minute" FROM "sluice"."realtime_seen_events" ORDER BY 1`)).map((d) => (d as Date).getTime())).toEqual([W - 3 * HOUR_MS, W - 30 * 60_000]);
    expect(await column(`SELECT "sequence_number" FROM "sluice"."bad_rows"`)).toEqual(['4']);
    for (const k of ['rawOld1', 'rawOld2', 'rawOld3', 'badOld']) expect(await exists(k), k).toBe(false);
    for (const k of ['rawSlack', 'rawQueued', 'rawQueuedBefore', 'rawRecent', 'badRecent', 'enriched', 'shredded', 'reprocess', 'dripfeed', 'emrRun', 'emrLog']) expect(await exists(k), k).toBe(true);
    // The open run's staged file is never touched.
    expect(await rig.store.list('raw/processing/')).toHaveLength(1);
  });

  it('run again, deletes nothing more', async () => {
    const counts = await runAll(await planNow());
    expect(Object.values(counts).every((n) => n === 0)).toBe(true);
  });

  it('archives by last-modified time, a run folder at a time, each prefix with its own days', async () => {
    // 31 days on: the enriched archive (30 days), reprocess copies (14), dripfeed parts (24 h) and EMR folders (30) are due; the shredded archive (60 here) is not.
    const later = await planNow(NOW + 31 * DAY_MS);
    const modified = { ...later, objects: later.objects.filter((r) => r.by === 'modified') };
    const acts = activities();
    const counts: RetentionCounts = {};
    for (const rule of modified.objects) Object.assign(counts, await runActivity(acts.pruneObjects, { rule, batchSize: 2 }));
    expect(counts).toEqual({ 'archive-enriched': 1, 'archive-shredded': 0, 'archive-reprocess': 1, dripfeed: 1, 'emr-runs': 1, 'emr-logs': 1 });
    for (const k of ['enriched', 'reprocess', 'dripfeed', 'emrRun', 'emrLog']) expect(await exists(k), k).toBe(false);
    expect(await exists('shredded')).toBe(true);
  });

  it('with archiveBy lifecycle the plan leaves every object alone', async () => {
    const plan = await planNow(NOW + 1_000 * DAY_MS, { ...policy(), archiveBy: 'lifecycle' });
    expect(plan.objects).toEqual([]);
    const before = (await rig.store.list('')).length;
    await runAll(plan);
    expect((await rig.store.list('')).length).toBe(before);
  });
});
