import { ApplicationFailure, Context } from '@temporalio/activity';
import { inTransaction, type PoolClient } from '../adapters/postgres';
import { assertRunId, runPrefix } from '../batch/layout';
import { retireRealtimeRows } from '../speed/realtime-views';
import { recomputeBatchViews } from '../views/batch-views';
import { clearOwedWithin } from '../views/owed-windows';
import type { LoadResult } from '../warehouse/loader';
import type { PostgresLoader } from '../warehouse/postgres-loader';
import { archiveOutputs, type BatchDeps, heartbeatWhile } from './batch';

// Reprocessing a window: the archived raw files that may hold its events are copied (the archive
// stays as it is) into a run of their own, enriched and shredded again keeping only the window's
// events, and loaded in replace mode: the window's rows in atomic.events and every shredded
// table, and its batch views, are replaced in one transaction. Doing it twice gives the same rows.

const ARCHIVE_RAW = 'archive/raw/';
const DAY_MS = 86_400_000;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Raw files are foldered by the day their first record arrived; a file may run past midnight. */
export function archivedRawInWindow(keys: string[], window: { from: number; to: number }): string[] {
  const first = day(window.from - DAY_MS);
  const last = day(window.to);
  return keys.filter((key) => {
    const d = /^archive\/raw\/run=[^/]+\/(\d{4}-\d{2}-\d{2})\//.exec(key)?.[1];
    return d !== undefined && d >= first && d <= last;
  });
}

/** Run ids with staged (unarchived) files, other than `self`. */
export function openRuns(processingKeys: string[], self: string): string[] {
  const ids = new Set<string>();
  for (const key of processingKeys) {
    const id = /^raw\/processing\/run=([^/]+)\//.exec(key)?.[1];
    if (id && id !== self) ids.add(id);
  }
  return [...ids].sort();
}

export const reprocessRawArchive = (runId: string) => `archive/reprocess/run=${runId}/raw/`;

/**
 * The window is loaded: the skipped loads it covers are owed no more, and the realtime rows they
 * kept below the watermark retire (the batch views answer those buckets again).
 */
async function settleOwed(client: PoolClient, window: { from: number; to: number }, watermark: number | null): Promise<void> {
  const cleared = await clearOwedWithin(client, window);
  if (cleared.length && watermark !== null) await retireRealtimeRows(client, watermark);
}

export function createReprocessActivities(deps: BatchDeps) {
  return {
    async collectArchivedRaw({ runId, window }: { runId: string; window: { from: number; to: number } }): Promise<{ files: number }> {
      assertRunId(runId);
      // A run that has staged files but not archived them may have loaded rows of the window
      // whose raw files are not in the archive yet: replacing the window now would lose them.
      const open = openRuns(await deps.store.list('raw/processing/'), runId);
      if (open.length > 0) {
        throw ApplicationFailure.nonRetryable(
          `batch runs ${open.join(', ')} still hold staged files under raw/processing/: let them finish (or retry/abort them) before reprocessing`,
          'OpenBatchRuns',
        );
      }
      const keys = archivedRawInWindow(await deps.store.list(ARCHIVE_RAW), window);
      const to = runPrefix.rawProcessing(runId);
      for (const [i, key] of keys.entries()) {
        // run=<original>/<day>/<file> keeps every copy's name unique; a retried copy overwrites.
        await deps.store.copy(key, to + key.slice(ARCHIVE_RAW.length));
        Context.current().heartbeat({ step: 'collect', done: i + 1, total: keys.length });
      }
      return { files: keys.length };
    },

    /**
     * Replaces the window's rows and views: in one transaction on PostgreSQL; on Redshift the rows
     * (one Data API transaction), then the views of the window (another; the watermark stays).
     */
    async replaceWindow({ runId, window }: { runId: string; window: { from: number; to: number } }): Promise<LoadResult & { viewRows: number }> {
      assertRunId(runId);
      const req = { runId, window, replaceWindow: true };
      // The window's DELETEs and the views recompute are single statements that can outlast the heartbeat timeout.
      return heartbeatWhile('replace', async (beat) => {
        if (deps.loader.dialect !== 'postgres') {
          const loaded = await deps.loader.loadRun(req, beat);
          if (!deps.views) return { ...loaded, viewRows: 0 };
          const views = await deps.views.computeViews({ runId, window: { from: window.from, to: window.to - 1 }, completeThroughMs: [], latenessMs: deps.latenessMs });
          // The window's batch views are in Redshift now: its skipped loads are paid.
          await inTransaction(deps.pool, (client) => settleOwed(client, window, views.watermark));
          return { ...loaded, viewRows: views.rows };
        }
        const loader = deps.loader as PostgresLoader;
        return inTransaction(deps.pool, async (client) => {
          const loaded = await loader.loadRunWith(client, req, beat);
          // `to` is exclusive for the rows; the views recompute every bucket the window touches.
          const viewRows = await recomputeBatchViews(client, { from: window.from, to: window.to - 1 }, runId);
          const wm = await client.query('SELECT "watermark" FROM "sluice"."batch_watermark" WHERE "id" = 1');
          await settleOwed(client, window, wm.rowCount ? (wm.rows[0].watermark as Date).getTime() : null);
          return { ...loaded, viewRows };
        });
      });
    },

    /** Outputs under archive/ like any run's; the raw copies apart, so a later reprocess never reads them. */
    async archiveReprocess({ runId }: { runId: string }): Promise<{ files: number }> {
      assertRunId(runId);
      return { files: await archiveOutputs(deps.store, runId, reprocessRawArchive(runId)) };
    },
  };
}

export type ReprocessActivities = ReturnType<typeof createReprocessActivities>;
