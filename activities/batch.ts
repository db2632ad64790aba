import { ApplicationFailure, Context } from '@temporalio/activity';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards } from '../adapters/kinesis';
import { moveMany, type ObjectStore } from '../adapters/object-store';
import type { Pool, PoolClient } from '../adapters/postgres';
import { assertRunId, runPrefix } from '../batch/layout';
import { bucketsForRawBytes, enrichTasks, runShred, type ShredRunResult, writeEnrichedLayout } from '../batch/shred-run';
import type { BatchEngine } from '../engine/engine';
import { readSinkProgress } from '../speed/file-sink';
import { ENRICHED_FORMAT, ENRICHED_IN, RAW_FORMAT } from '../speed/raw-sink';
import { inCancellableTransaction, postgresBatchViewsStore } from '../views/batch-views-postgres';
import type { BatchViewsStore } from '../views/batch-views-store';
import type { SchemaLookup } from '../warehouse/iglu';
import type { LoadResult, WarehouseLoader } from '../warehouse/loader';

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
  /** Iglu schemas for the shredded tables (the enrich resolver). */
  lookup: SchemaLookup;
  /** PostgreSQL or Redshift (warehouse/make-loader.ts). */
  loader: WarehouseLoader;
  /**
   * Where the batch views and the watermark are recomputed (views/batch-views-store.ts
   * makeBatchViewsStore); PostgreSQL on `pool` when omitted, which a Redshift loader refuses.
   */
  views?: BatchViewsStore;
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
  /** The enrich step: how many buckets its output is spread over. */
  buckets?: number;
}

/** Heartbeats with progress so a dead worker is noticed quickly and the UI shows how far a step is. */
function progress(step: string) {
  return (done: number, total: number) => Context.current().heartbeat({ step, done, total });
}

/** Reports a step's progress: `phase` names a part of the step (shred-map, shred-reduce). */
export type Beat = (done: number, total: number, phase?: string) => void;

/**
 * Runs `fn` with a progress callback that heartbeats `{step, done, total}`, and repeats the last
 * heartbeat every `everyMs` meanwhile. One engine task, SQL statement or lock wait that outlasts
 * the step's heartbeat timeout (15 s) must not look like a dead worker: on one starved core a
 * shred-reduce task did, and the step ran three times. A dead worker process still goes silent;
 * a hung step is ended by its start-to-close timeout.
 */
export async function heartbeatWhile<T>(step: string, fn: (beat: Beat) => Promise<T>, everyMs = 3_000): Promise<T> {
  const ctx = Context.current();
  let last: Record<string, unknown> = { step, waiting: true };
  const timer = setInterval(() => ctx.heartbeat(last), everyMs);
  try {
    return await fn((done, total, phase = step) => {
      last = { step: phase, done, total };
      ctx.heartbeat(last);
    });
  } finally {
    clearInterval(timer);
  }
}

/** Runs `fn` in a transaction whose statement is cancelled if the activity is (e.g. the run is aborted). */
export async function cancellableTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  return inCancellableTransaction(pool, Context.current().cancellationSignal, fn);
}

async function moveAll(store: ObjectStore, from: string, to: string, step: string): Promise<number> {
  const keys = await store.list(from);
  await moveMany(store, keys.map((key) => [key, to + key.slice(from.length)]), 16, progress(step));
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
  await moveMany(deps.store, mine.map((key) => [key, to + key.slice(from.length)]), 16, progress('stage'));
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

/**
 * Enriches every raw file under `inputPrefix` into bucketed output (one bucket count for the
 * whole run, from the raw files' size unless the caller fixes it; files grouped into tasks by
 * size), then writes the layout shred starts from. Every attempt computes the same bucket count
 * and the same tasks from the same files.
 */
export async function enrichFiles(deps: Pick<BatchDeps, 'store' | 'engine'>, runId: string, inputPrefix: string, fixedBuckets?: number): Promise<StepCounts> {
  const objects = await deps.store.listSized(inputPrefix);
  const buckets = fixedBuckets ?? bucketsForRawBytes(objects.reduce((n, o) => n + o.size, 0));
  const etlTstamp = Date.now();
  // An earlier attempt's parts go first: written under another grouping (a deploy between
  // attempts) they would otherwise be shredded beside this attempt's. Keys are deterministic, so
  // an earlier attempt still running only rewrites what this one writes.
  for (const prefix of [runPrefix.enriched(runId), runPrefix.enrichedBad(runId)]) await deps.store.deleteMany(await deps.store.list(prefix));
  const tasks = enrichTasks(runId, objects, buckets, etlTstamp);
  const signal = Context.current().cancellationSignal;
  const results = await heartbeatWhile('enrich', (beat) => deps.engine.run('enrich', tasks, beat, { signal }));
  const counts: StepCounts = { files: objects.length, good: 0, bad: 0, buckets };
  const schemas = new Set<string>();
  for (const r of results) {
    counts.good += r.good;
    counts.bad += r.bad;
    for (const uri of r.schemas ?? []) schemas.add(uri);
  }
  await writeEnrichedLayout(deps.store, runPrefix.enriched(runId), { buckets, schemas: [...schemas].sort() });
  return counts;
}

export function createBatchActivities(deps: BatchDeps) {
  // A Redshift load with PostgreSQL views would leave the dashboard empty: no silent default there.
  const views = deps.views ?? (deps.loader.dialect === 'postgres' ? postgresBatchViewsStore(deps.pool) : undefined);
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
      // The master dataset is archived by runs in this mode too (reprocessing replays it).
      await claimAndMove(deps, runId, runPrefix.rawIn, runPrefix.rawProcessing(runId));
      return { files, completeThroughMs };
    },

    async enrichRawFiles({ runId, buckets }: { runId: string; buckets?: number }): Promise<StepCounts> {
      return enrichFiles(deps, assertRunId(runId), runPrefix.rawProcessing(runId), buckets);
    },

    /** shred-map (flat input only) then shred-reduce over the run's enriched parts (de-duplicated within the run). */
    async shredEnriched({ runId, buckets, window }: { runId: string; buckets: number; window?: { from: number; to: number } }): Promise<ShredRunResult> {
      return shredRun(deps, assertRunId(runId), buckets, window);
    },

    /** Creates/migrates the shredded tables and loads every table in one transaction with the manifest row. */
    async loadWarehouse({ runId, window }: { runId: string; window: { from?: number; to?: number } }): Promise<LoadResult> {
      return heartbeatWhile('load', (beat) => deps.loader.loadRun({ runId: assertRunId(runId), window }, beat));
    },

    /**
     * Recomputes the batch views (minute and hour) for every bucket the run touched, from
     * atomic.events, advances the watermark and retires the realtime rows it covers: in one
     * transaction on PostgreSQL; on Redshift one Data API batch, then the retirement in PostgreSQL
     * (views/batch-views-redshift.ts says why that order).
     */
    async computeBatchViews({ runId, window, completeThroughMs }: { runId: string; window: { from?: number; to?: number }; completeThroughMs: number[] }): Promise<{ watermark: number | null; rows: number }> {
      assertRunId(runId);
      if (!views) {
        // Retryable: the run resumes once the workers are wired with the warehouse's views store.
        throw ApplicationFailure.retryable(`warehouse ${deps.loader.dialect}: the batch views need BatchDeps.views (makeBatchViewsStore)`, 'ViewsStoreMissing');
      }
      const signal = Context.current().cancellationSignal;
      return heartbeatWhile('views', () => views.computeViews({ runId, window, completeThroughMs, latenessMs: deps.latenessMs }, { signal }));
    },

    /** Moves the run's raw, enriched and shredded outputs under archive/; nothing is deleted. */
    async archiveRun({ runId }: { runId: string }): Promise<{ files: number }> {
      assertRunId(runId);
      return { files: await archiveOutputs(deps.store, runId, runPrefix.archiveRaw(runId)) };
    },
  };
}

export function shredRun(deps: Pick<BatchDeps, 'store' | 'engine' | 'lookup'>, runId: string, buckets: number, window?: { from: number; to: number }): Promise<ShredRunResult> {
  const signal = Context.current().cancellationSignal;
  return heartbeatWhile('shred', (beat) => runShred(
    deps,
    { runId, inputPrefix: runPrefix.enriched(runId), buckets, etlTstamp: Date.now(), signal, window },
    (phase, done, total) => beat(done, total, phase),
  ));
}

/**
 * Moves a run's inputs (raw copies go to `rawArchive`) and every output under archive/. The
 * shred step's interim buckets are deleted instead: they are the shuffle between shred-map and
 * shred-reduce, a re-sorted copy of the enriched output that is archived, and are not needed once
 * the load has committed.
 */
export async function archiveOutputs(store: ObjectStore, runId: string, rawArchive: string): Promise<number> {
  await store.deleteMany(await store.list(runPrefix.shredInterim(runId)));
  const shredded = runPrefix.archiveShredded(runId);
  const moves: [string, string][] = [
    [runPrefix.rawProcessing(runId), rawArchive],
    [runPrefix.enriched(runId), `${runPrefix.archiveEnriched(runId)}good/`],
    [runPrefix.enrichedBad(runId), `${runPrefix.archiveEnriched(runId)}bad/`],
    [runPrefix.shreddedRun(runId), `${shredded}good/`],
    [runPrefix.shreddedBad(runId), `${shredded}bad/`],
    [runPrefix.shredSchemas(runId), `${shredded}schemas/`],
  ];
  let files = 0;
  for (const [from, to] of moves) files += await moveAll(store, from, to, 'archive');
  return files;
}

export type BatchActivities = ReturnType<typeof createBatchActivities>;
