import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { Context } from '@temporalio/activity';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { from as copyFrom } from 'pg-copy-streams';
import { listShards } from '../adapters/kinesis';
import type { ObjectStore } from '../adapters/object-store';
import { inTransaction, type Pool } from '../adapters/postgres';
import type { TaskInput } from '../batch/jobs';
import { assertRunId, runPrefix } from '../batch/layout';
import type { BatchEngine } from '../engine/engine';
import { readSinkProgress } from '../speed/file-sink';
import { ENRICHED_FORMAT, ENRICHED_IN, RAW_FORMAT } from '../speed/raw-sink';
import { recomputeBatchViews } from '../views/batch-views';
import { nextWatermark } from '../views/minute-counts';
import { retireRealtimeRows } from '../speed/realtime-views';
import { ATOMIC_COLUMNS } from '../warehouse/atomic-events';
import { quoteIdent } from '../warehouse/sql';

// Batch-layer activities: stage → enrich → shred → load → views → archive. Each is idempotent:
// outputs have deterministic keys, moves tolerate being repeated, and the load checks the
// manifest inside its own transaction.

export interface BatchDeps {
  store: ObjectStore;
  pool: Pool;
  engine: BatchEngine;
  kinesis: KinesisClient;
  streams: { raw: string; enriched: string };
  latenessMs: number;
}

export interface StageResult {
  files: number;
  /** Per open raw shard: the instant the master dataset is complete through (from the sink's markers). */
  completeThroughMs: number[];
}

export interface StepCounts {
  files: number;
  good: number;
  bad: number;
  minTstamp?: number;
  maxTstamp?: number;
}

/** Heartbeats with progress so a dead worker is noticed quickly and the UI shows how far a step is. */
function progress(step: string) {
  return (done: number, total: number) => Context.current().heartbeat({ step, done, total });
}

async function moveAll(store: ObjectStore, from: string, to: string, step: string): Promise<number> {
  const keys = await store.list(from);
  const beat = progress(step);
  for (const [i, key] of keys.entries()) {
    await store.move(key, to + key.slice(from.length));
    beat(i + 1, keys.length);
  }
  return keys.length;
}

/**
 * Claims the files under `from` for this run (first claim wins, in PostgreSQL) and moves the
 * claimed ones to `to`. A retried attempt finds its own earlier claims; another run's are left alone.
 */
async function claimAndMove(deps: BatchDeps, runId: string, from: string, to: string): Promise<number> {
  const keys = await deps.store.list(from);
  if (keys.length > 0) {
    await deps.pool.query(
      `INSERT INTO "sluice"."staged_files" ("key", "run_id") SELECT unnest($1::text[]), $2 ON CONFLICT ("key") DO NOTHING`,
      [keys, runId],
    );
  }
  const claimed = new Set(
    (await deps.pool.query<{ key: string }>('SELECT "key" FROM "sluice"."staged_files" WHERE "run_id" = $1', [runId])).rows.map((r) => r.key),
  );
  const mine = keys.filter((k) => claimed.has(k));
  const beat = progress('stage');
  for (const [i, key] of mine.entries()) {
    await deps.store.move(key, to + key.slice(from.length));
    beat(i + 1, mine.length);
  }
  // Counted from the run's folder, so files an earlier attempt already moved are included.
  return (await deps.store.list(to)).length;
}

/** Per open shard of `stream`: the instant the sink's files hold everything through (empty when unknown). */
async function completeThrough(deps: BatchDeps, area: string, stream: string): Promise<number[]> {
  const shards = (await listShards(deps.kinesis, stream)).filter((s) => !s.endingSequenceNumber);
  const markers = await readSinkProgress(deps.store, area, stream, shards.map((s) => s.shardId));
  // A shard with no marker yet may hold unsunk data: then the watermark cannot advance.
  return markers.every((m) => m !== undefined) ? markers.map((m) => m!.completeThroughMs) : [];
}

async function runJob(deps: BatchDeps, job: 'enrich' | 'shred', runId: string, inputPrefix: string): Promise<StepCounts> {
  const keys = await deps.store.list(inputPrefix);
  const etlTstamp = Date.now();
  const tasks: TaskInput[] = keys.map((key, index) => ({ runId, key, index, etlTstamp }));
  const results = await deps.engine.run(job, tasks, progress(job));
  const counts: StepCounts = { files: keys.length, good: 0, bad: 0 };
  for (const r of results) {
    counts.good += r.good;
    counts.bad += r.bad;
    if (r.minTstamp !== undefined) counts.minTstamp = Math.min(counts.minTstamp ?? r.minTstamp, r.minTstamp);
    if (r.maxTstamp !== undefined) counts.maxTstamp = Math.max(counts.maxTstamp ?? r.maxTstamp, r.maxTstamp);
  }
  return counts;
}

export function createBatchActivities(deps: BatchDeps) {
  return {
    /** Reads the raw sink's progress first, then moves the run's raw/in files to its processing folder. */
    async stageRawFiles({ runId }: { runId: string }): Promise<StageResult> {
      assertRunId(runId);
      const completeThroughMs = await completeThrough(deps, RAW_FORMAT.area, deps.streams.raw);
      const files = await claimAndMove(deps, runId, runPrefix.rawIn, runPrefix.rawProcessing(runId));
      return { files, completeThroughMs };
    },

    /** Stream-enrich mode: the enriched sink's files become the run's enriched input directly. */
    async stageEnrichedFiles({ runId }: { runId: string }): Promise<StageResult> {
      assertRunId(runId);
      const completeThroughMs = await completeThrough(deps, ENRICHED_FORMAT.area, deps.streams.enriched);
      const files = await claimAndMove(deps, runId, ENRICHED_IN, runPrefix.enriched(runId));
      return { files, completeThroughMs };
    },

    async enrichRawFiles({ runId }: { runId: string }): Promise<StepCounts> {
      return runJob(deps, 'enrich', assertRunId(runId), runPrefix.rawProcessing(runId));
    },

    async shredEnriched({ runId }: { runId: string }): Promise<StepCounts> {
      return runJob(deps, 'shred', assertRunId(runId), runPrefix.enriched(runId));
    },

    /** COPY every shredded part in one transaction; the manifest row makes a repeated load a no-op. */
    async loadWarehouse({ runId, window }: { runId: string; window: { from?: number; to?: number } }): Promise<{ loaded: number; alreadyLoaded: boolean }> {
      assertRunId(runId);
      const keys = await deps.store.list(runPrefix.shredded(runId));
      const beat = progress('load');
      return inTransaction(deps.pool, async (client) => {
        // Serialise loads of the same run (two attempts may overlap) on a per-run advisory lock.
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`load:${runId}`]);
        const done = await client.query('SELECT "event_count" FROM "sluice"."load_manifest" WHERE "run_id" = $1', [runId]);
        if (done.rowCount) return { loaded: Number(done.rows[0].event_count), alreadyLoaded: true };
        const columns = ATOMIC_COLUMNS.map(quoteIdent).join(', ');
        let loaded = 0;
        for (const [i, key] of keys.entries()) {
          const body = await deps.store.get(key);
          const copy = client.query(copyFrom(`COPY "atomic"."events" (${columns}) FROM STDIN WITH (FORMAT text, NULL '')`));
          await pipeline(Readable.from([body]), copy);
          loaded += copy.rowCount ?? 0;
          beat(i + 1, keys.length);
        }
        await client.query(
          'INSERT INTO "sluice"."load_manifest" ("run_id", "event_count", "window_from", "window_to") VALUES ($1, $2, $3, $4)',
          [runId, loaded, window.from ? new Date(window.from) : null, window.to ? new Date(window.to) : null],
        );
        return { loaded, alreadyLoaded: false };
      });
    },

    /**
     * Recomputes the batch views (minute and hour) for every bucket the run touched, from
     * atomic.events, advances the watermark and retires the realtime rows it covers, in one transaction.
     */
    async computeBatchViews({ runId, window, completeThroughMs }: { runId: string; window: { from?: number; to?: number }; completeThroughMs: number[] }): Promise<{ watermark: number | null; rows: number }> {
      assertRunId(runId);
      return inTransaction(deps.pool, async (client) => {
        await client.query('LOCK TABLE "sluice"."batch_watermark" IN EXCLUSIVE MODE');
        const rows = window.from !== undefined && window.to !== undefined
          ? await recomputeBatchViews(client, { from: window.from, to: window.to }, runId)
          : 0;
        const prev = await client.query('SELECT "watermark" FROM "sluice"."batch_watermark" WHERE "id" = 1');
        const previous = prev.rowCount ? (prev.rows[0].watermark as Date).getTime() : null;
        const watermark = nextWatermark(previous, completeThroughMs, deps.latenessMs);
        if (watermark !== null && watermark !== previous) {
          await client.query(
            `INSERT INTO "sluice"."batch_watermark" ("id", "watermark", "run_id") VALUES (1, $1, $2)
             ON CONFLICT ("id") DO UPDATE SET "watermark" = EXCLUDED."watermark", "run_id" = EXCLUDED."run_id", "updated_at" = now()`,
            [new Date(watermark), runId],
          );
          // The batch views answer everything before the watermark now: retire those realtime rows.
          await retireRealtimeRows(client, watermark);
        }
        return { watermark, rows };
      });
    },

    /** Moves the run's raw, enriched and shredded outputs under archive/; nothing is deleted. */
    async archiveRun({ runId }: { runId: string }): Promise<{ files: number }> {
      assertRunId(runId);
      let files = await moveAll(deps.store, runPrefix.rawProcessing(runId), runPrefix.archiveRaw(runId), 'archive');
      files += await moveAll(deps.store, runPrefix.enriched(runId), `${runPrefix.archiveEnriched(runId)}good/`, 'archive');
      files += await moveAll(deps.store, runPrefix.enrichedBad(runId), `${runPrefix.archiveEnriched(runId)}bad/`, 'archive');
      files += await moveAll(deps.store, runPrefix.shredded(runId), runPrefix.archiveShredded(runId), 'archive');
      return { files };
    },
  };
}

export type BatchActivities = ReturnType<typeof createBatchActivities>;
