import { Context } from '@temporalio/activity';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards } from '../adapters/kinesis';
import type { ObjectStore } from '../adapters/object-store';
import type { Pool } from '../adapters/postgres';
import { expiredKeys, runsHolding, type ObjectRule, type RetentionPlan, type RetentionPolicy, type TimeWindow } from '../batch/retention-plan';
import type { Logger } from '../observability/logger';
import type { BatchViewsStore } from '../views/batch-views-store';
import { NOT_OWED_BUCKET, readOwedWindows } from '../views/owed-windows';

// Retention's side effects (docs/retention.md): the plan's deletes, a batch at a time, each batch
// one statement (or one DeleteObjects request) that is safe to repeat, so a retried activity just
// carries on. They run while the retention workflow holds the pipeline lease: no batch run or
// reprocess stages, loads or archives meanwhile. The speed layer keeps running; it only touches
// rows and objects far newer than any cut-off.

export interface RetentionDeps {
  pool: Pool;
  store: ObjectStore;
  /** Where the batch watermark lives (the warehouse). */
  views: Pick<BatchViewsStore, 'readWatermark'>;
  /** The workers' retention policy (config `retention` and `operator.masterRetentionDays`). */
  policy: RetentionPolicy;
  /** The configured streams: shards they no longer list leave checkpoints and markers behind. */
  streams: string[];
  /** The shard ids a stream lists now; undefined when the stream does not exist (then nothing of it is pruned). */
  listShardIds(stream: string): Promise<string[] | undefined>;
  log: Logger;
}

export type RetentionCounts = Record<string, number>;

/** RetentionDeps.listShardIds over Kinesis: every shard the stream lists (open and closed). */
export function kinesisShardIds(kinesis: KinesisClient): RetentionDeps['listShardIds'] {
  return async (stream) => {
    try {
      return (await listShards(kinesis, stream)).map((s) => s.shardId);
    } catch (err) {
      if ((err as Error).name === 'ResourceNotFoundException') return undefined;
      throw err;
    }
  };
}

/** The file sinks' areas: each writes `<area>/pending/<stream>/<shard>/…` and `<area>/progress/<stream>/<shard>.json`. */
const SINK_AREAS = ['raw', 'enriched', 'bad'];
const iso = (ms: number) => new Date(ms).toISOString();

/** Heartbeats `{item, …counts}` after every batch and every 3 s in between (one DELETE may be slow). */
async function pruning<T>(item: string, fn: (report: (counts: RetentionCounts) => void) => Promise<T>): Promise<T> {
  const ctx = Context.current();
  let last: Record<string, unknown> = { step: 'retention', item };
  ctx.heartbeat(last);
  const timer = setInterval(() => ctx.heartbeat(last), 3_000);
  try {
    return await fn((counts) => {
      last = { step: 'retention', item, ...counts };
      ctx.heartbeat(last);
    });
  } finally {
    clearInterval(timer);
  }
}

/** Runs `once` (one batch, returning rows deleted) until a batch deletes fewer than `batchSize`. */
async function untilDone(batchSize: number, once: () => Promise<number>, onBatch: (total: number) => void): Promise<number> {
  let total = 0;
  for (;;) {
    Context.current().cancellationSignal.throwIfAborted();
    const n = await once();
    total += n;
    onBatch(total);
    if (n < batchSize) return total;
  }
}

const windowArrays = (protect: readonly TimeWindow[]) => [protect.map((w) => iso(w.from)), protect.map((w) => iso(w.to))];

export function createRetentionActivities(deps: RetentionDeps) {
  const { pool, store, log } = deps;

  /** Runs that still hold staged files (not archived): their claims and catalog rows stay. */
  const openRuns = async () => runsHolding([...(await store.list('raw/processing/')), ...(await store.list('enriched/good/'))]);

  /**
   * One batch of sink_files rows of files done with: published, pending copy deleted, and either
   * claimed by a run that archived it, or of a sink no run stages (bad-rows) and old enough. The
   * claims of the deleted rows go in the same statement. `scope` narrows the rows: all shards but
   * each shard's newest file (its catalog's end, which a rewind and a restart read), or one gone shard.
   */
  async function sinkFilesBatch(plan: RetentionPlan, open: string[], scope: { stream: string; shardId: string } | 'live'): Promise<{ sink: number; staged: number }> {
    const { before, unstagedBefore } = plan.sinkFiles;
    // The oldest cut-off bounds the scan (sink_files_committed_at_idx): only old rows are read, batch after batch.
    const oldest = Math.max(before, ...unstagedBefore.map((u) => u.before));
    const params: unknown[] = [iso(before), open, unstagedBefore.map((u) => u.processor), unstagedBefore.map((u) => iso(u.before)), plan.batchSize, iso(oldest)];
    let where: string;
    if (scope === 'live') {
      where = `"s"."first_sequence" < (SELECT max("n"."first_sequence") FROM "sluice"."sink_files" "n"
                 WHERE "n"."stream" = "s"."stream" AND "n"."processor" = "s"."processor" AND "n"."shard_id" = "s"."shard_id")`;
    } else {
      params.push(scope.stream, scope.shardId);
      where = `"s"."stream" = $7 AND "s"."shard_id" = $8`;
    }
    const { rows } = await pool.query<{ sink: number; staged: number }>(
      `WITH "doomed" AS (
         SELECT "s"."ctid" AS "row" FROM "sluice"."sink_files" "s"
         WHERE "s"."committed_at" < $6 AND "s"."published" AND "s"."pending_deleted" AND ${where}
           AND (("s"."committed_at" < $1 AND EXISTS (SELECT 1 FROM "sluice"."staged_files" "f" WHERE "f"."key" = "s"."object_key" AND NOT ("f"."run_id" = ANY($2::text[]))))
             OR EXISTS (SELECT 1 FROM unnest($3::text[], $4::timestamptz[]) AS "u"("processor", "before") WHERE "u"."processor" = "s"."processor" AND "s"."committed_at" < "u"."before"))
         LIMIT $5),
       "gone" AS (DELETE FROM "sluice"."sink_files" WHERE "ctid" = ANY(ARRAY(SELECT "row" FROM "doomed")) RETURNING "object_key"),
       "unclaimed" AS (DELETE FROM "sluice"."staged_files" WHERE "key" IN (SELECT "object_key" FROM "gone") AND NOT ("run_id" = ANY($2::text[])) RETURNING 1)
       SELECT (SELECT count(*) FROM "gone")::int AS "sink", (SELECT count(*) FROM "unclaimed")::int AS "staged"`,
      params,
    );
    return rows[0];
  }

  async function sinkFilesUntilDone(plan: RetentionPlan, open: string[], scope: Parameters<typeof sinkFilesBatch>[2], report: (c: RetentionCounts) => void) {
    const counts = { 'sink-files': 0, 'staged-files': 0 };
    await untilDone(plan.batchSize, async () => {
      const n = await sinkFilesBatch(plan, open, scope);
      counts['sink-files'] += n.sink;
      counts['staged-files'] += n.staged;
      return n.sink;
    }, () => report(counts));
    return counts;
  }

  return {
    /** The workers' policy, the watermark, and the owed windows recorded in PostgreSQL (kept whatever the lease says). */
    async readRetentionState(): Promise<{ policy: RetentionPolicy; watermark: number | null; owed: TimeWindow[] }> {
      const [watermark, owed] = await Promise.all([deps.views.readWatermark(), readOwedWindows(pool)]);
      return { policy: deps.policy, watermark, owed: owed.map(({ from, to }) => ({ from, to })) };
    },

    /**
     * Shards a stream no longer lists (closed by a reshard, then past the stream's retention),
     * untouched since the cut-off: their pending copies and progress markers, their catalog rows
     * (all of them: the shard cannot be read again), then their checkpoints. A shard with a file
     * not yet published, or whose files a run has not archived yet, keeps what that file needs.
     */
    async pruneGoneShards({ plan }: { plan: RetentionPlan }): Promise<RetentionCounts> {
      return pruning('gone-shards', async (report) => {
        const counts: RetentionCounts = { 'gone-shards': 0, 'gone-shard-objects': 0, 'sink-files': 0, 'staged-files': 0, checkpoints: 0 };
        const open = await openRuns();
        for (const stream of deps.streams) {
          const listed = await deps.listShardIds(stream);
          if (!listed) continue;
          const { rows } = await pool.query<{ shard_id: string }>(
            `SELECT "shard_id" FROM "sluice"."stream_checkpoints" WHERE "stream" = $1 AND NOT ("shard_id" = ANY($2::text[]))
             GROUP BY "shard_id" HAVING max("updated_at") < $3 ORDER BY "shard_id"`,
            [stream, listed, iso(plan.goneShards.before)],
          );
          for (const { shard_id: shardId } of rows) {
            const unpublished = await pool.query(`SELECT 1 FROM "sluice"."sink_files" WHERE "stream" = $1 AND "shard_id" = $2 AND NOT "published" LIMIT 1`, [stream, shardId]);
            if (unpublished.rowCount) {
              log.warn({ stream, shardId }, 'retention: a gone shard still has an unpublished file; its bookkeeping stays');
              continue;
            }
            const objects: string[] = [];
            for (const a of SINK_AREAS) {
              const marker = `${a}/progress/${stream}/${shardId}.json`;
              if (await store.exists(marker)) objects.push(marker);
              objects.push(...(await store.list(`${a}/pending/${stream}/${shardId}/`)));
            }
            await store.deleteMany(objects);
            counts['gone-shard-objects'] += objects.length;
            // Their pending copies are gone now (a drained shard's consumer never tidies again).
            await pool.query(`UPDATE "sluice"."sink_files" SET "pending_deleted" = true WHERE "stream" = $1 AND "shard_id" = $2 AND NOT "pending_deleted"`, [stream, shardId]);
            const sink = await sinkFilesUntilDone(plan, open, { stream, shardId }, report);
            counts['sink-files'] += sink['sink-files'];
            counts['staged-files'] += sink['staged-files'];
            // A processor's checkpoint goes once none of its catalog rows is left.
            const ck = await pool.query(
              `DELETE FROM "sluice"."stream_checkpoints" "c" WHERE "c"."stream" = $1 AND "c"."shard_id" = $2 AND "c"."updated_at" < $3
                 AND NOT EXISTS (SELECT 1 FROM "sluice"."sink_files" "s" WHERE "s"."stream" = "c"."stream" AND "s"."processor" = "c"."processor" AND "s"."shard_id" = "c"."shard_id")`,
              [stream, shardId, iso(plan.goneShards.before)],
            );
            counts.checkpoints += ck.rowCount ?? 0;
            // Counted when something of it went (a shard waiting for a run to archive its files comes round again).
            if (objects.length + sink['sink-files'] + (ck.rowCount ?? 0) > 0) counts['gone-shards'] += 1;
            report(counts);
          }
        }
        log.info({ item: 'gone-shards', ...counts }, 'retention: gone shards pruned');
        return counts;
      });
    },

    /** sluice.sink_files rows (and their sluice.staged_files claims) of files archived before the cut-off. */
    async pruneSinkFiles({ plan }: { plan: RetentionPlan }): Promise<RetentionCounts> {
      return pruning('sink-files', async (report) => {
        const counts = await sinkFilesUntilDone(plan, await openRuns(), 'live', report);
        log.info({ item: 'sink-files', ...counts }, 'retention: sink files pruned');
        return counts;
      });
    },

    /** Claims with no catalog row left (files written before the catalog, or by hand), of closed runs. */
    async pruneStagedFiles({ plan }: { plan: RetentionPlan }): Promise<RetentionCounts> {
      return pruning('staged-files', async (report) => {
        const open = await openRuns();
        const deleted = await untilDone(plan.batchSize, async () => {
          const res = await pool.query(
            `DELETE FROM "sluice"."staged_files" WHERE "ctid" = ANY(ARRAY(
               SELECT "f"."ctid" FROM "sluice"."staged_files" "f"
               WHERE "f"."staged_at" < $1 AND NOT ("f"."run_id" = ANY($2::text[]))
                 AND NOT EXISTS (SELECT 1 FROM "sluice"."sink_files" "s" WHERE "s"."object_key" = "f"."key")
               LIMIT $3))`,
            [iso(plan.stagedFiles.before), open, plan.batchSize],
          );
          return res.rowCount ?? 0;
        }, (n) => report({ 'staged-files': n }));
        log.info({ item: 'staged-files', deleted }, 'retention: orphan claims pruned');
        return { 'staged-files': deleted };
      });
    },

    /**
     * Realtime view rows behind the watermark and older than the policy's hours, outside owed
     * windows (sluice.owed_windows) and the protected windows; and the seen-event keys of those minutes.
     */
    async pruneRealtime({ plan }: { plan: RetentionPlan }): Promise<RetentionCounts> {
      return pruning('realtime', async (report) => {
        const counts = { 'realtime-rows': 0, 'realtime-seen': 0 };
        const r = plan.realtime;
        if (!r) return counts; // no watermark yet: the realtime views answer everything
        const [froms, tos] = windowArrays(plan.protect);
        const unprotected = (start: string, size: string) =>
          `NOT EXISTS (SELECT 1 FROM unnest($2::timestamp[], $3::timestamp[]) AS "p"("from", "to") WHERE "p"."from" < ${start} + interval '${size}' AND "p"."to" > ${start})`;
        for (const table of ['realtime_view_events', 'realtime_view_members'] as const) {
          for (const [grain, before, size] of [['minute', r.minuteBefore, '1 minute'], ['hour', r.hourBefore, '1 hour']] as const) {
            counts['realtime-rows'] += await untilDone(plan.batchSize, async () => {
              const res = await pool.query(
                `DELETE FROM "sluice"."${table}" WHERE "ctid" = ANY(ARRAY(
                   SELECT "ctid" FROM "sluice"."${table}"
                   WHERE "grain" = $4 AND "bucket" < $1 AND ${NOT_OWED_BUCKET} AND ${unprotected('"bucket"', size)}
                   LIMIT $5))`,
                [iso(before), froms, tos, grain, plan.batchSize],
              );
              return res.rowCount ?? 0;
            }, () => report(counts));
          }
        }
        counts['realtime-seen'] = await untilDone(plan.batchSize, async () => {
          const res = await pool.query(
            `DELETE FROM "sluice"."realtime_seen_events" WHERE "ctid" = ANY(ARRAY(
               SELECT "ctid" FROM "sluice"."realtime_seen_events" WHERE "minute" < $1 AND ${unprotected('"minute"', '1 minute')} LIMIT $4))`,
            [iso(r.seenBefore), froms, tos, plan.batchSize],
          );
          return res.rowCount ?? 0;
        }, (n) => report({ ...counts, 'realtime-seen': n }));
        log.info({ item: 'realtime', ...counts }, 'retention: realtime rows pruned');
        return counts;
      });
    },

    /** sluice.bad_rows rows received before the cut-off (the files under bad/in/ are pruned as objects). */
    async pruneBadRows({ plan }: { plan: RetentionPlan }): Promise<RetentionCounts> {
      return pruning('bad-rows', async (report) => {
        const deleted = await untilDone(plan.batchSize, async () => {
          const res = await pool.query(
            `DELETE FROM "sluice"."bad_rows" WHERE "ctid" = ANY(ARRAY(SELECT "ctid" FROM "sluice"."bad_rows" WHERE "received_at" < $1 LIMIT $2))`,
            [iso(plan.badRows.before), plan.batchSize],
          );
          return res.rowCount ?? 0;
        }, (n) => report({ 'bad-rows': n }));
        log.info({ item: 'bad-rows', deleted }, 'retention: bad rows pruned');
        return { 'bad-rows': deleted };
      });
    },

    /** One object-store prefix: lists it, deletes what the rule expires in DeleteObjects requests. */
    async pruneObjects({ rule, batchSize }: { rule: ObjectRule; batchSize: number }): Promise<RetentionCounts> {
      return pruning(rule.item, async (report) => {
        const listed = await store.listSized(rule.prefix);
        const doomed = expiredKeys(rule, listed);
        const per = Math.min(batchSize, 1_000);
        let deleted = 0;
        for (let i = 0; i < doomed.length; i += per) {
          Context.current().cancellationSignal.throwIfAborted();
          const chunk = doomed.slice(i, i + per);
          await store.deleteMany(chunk);
          deleted += chunk.length;
          report({ [rule.item]: deleted, listed: listed.length });
        }
        log.info({ item: rule.item, prefix: rule.prefix, listed: listed.length, deleted }, 'retention: objects pruned');
        return { [rule.item]: deleted };
      });
    },
  };
}

export type RetentionActivities = ReturnType<typeof createRetentionActivities>;
