import type { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from '../../adapters/postgres';
import { followReprocess, operatorHandle, requestReprocess } from '../../cli/operator';
import { fetchMergedCounts, waitFor, waitForRawSink } from '../../cli/probes';
import { sendTrackerEvents } from '../../cli/send-events';
import type { SluiceConfig } from '../../config';
import type { Stack } from '../../stack/stack';
import { workflowIds } from '../../temporal.config';
import { batchRunWorkflow, progressQuery, skipSignal } from '../../workflows/batch-run';
import { statusQuery } from '../../workflows/operator';
import { startE2eStack, type E2eStack } from '../helpers/e2e-stack';

// A skipped load loses nothing, on the whole stack of real stand-ins: tracker events, a batch run
// whose load fails (the warehouse is stopped) and that an operator skips, a later run that moves
// the watermark past the skipped window, and the serving API's merged answer counting every event
// throughout (the skipped window from the realtime views, marked as owed); then the owed window's
// reprocess, after which the batch views answer it and every event is in atomic.events once.
// Automatic reprocessing of owed windows is off here, so the owed state can be looked at.

const DAY = 86_400_000;
let e2e: E2eStack | undefined;
let config: SluiceConfig;
let stack: Stack;
let pool: Pool;
let temporal: { client: Client; connection: Connection };

beforeAll(async () => {
  e2e = await startE2eStack('e2e-skip', { SLUICE_OPERATOR__REPROCESS_OWED_WINDOWS: 'false' }, 2);
  ({ config, stack, pool, temporal } = e2e);
});

afterAll(async () => {
  await e2e?.stop();
});

const merged = () => fetchMergedCounts(stack.urls.serving, Date.now() - DAY, Date.now() + DAY);

async function sendAndSettle(appId: string, count: number, expectedTotal: number): Promise<void> {
  const sent = await sendTrackerEvents({ collectorUrl: stack.urls.collector, appId, count });
  expect(sent.failedRequests).toBe(0);
  await waitFor('realtime views', async () => ((await merged()).totals.all >= expectedTotal ? true : undefined), 90_000, 300);
  await waitForRawSink(config, Date.now());
}

const startRun = (runId: string) =>
  temporal.client.workflow.start(batchRunWorkflow, { workflowId: workflowIds.batchRun(runId), taskQueue: config.temporal.taskQueues.batch, args: [{ runId }] });

async function countEvents(appId: string) {
  const { rows } = await pool.query('SELECT count(*) AS n, count(DISTINCT "event_id") AS ids FROM "atomic"."events" WHERE "app_id" = $1', [appId]);
  return { rows: Number(rows[0].n), ids: Number(rows[0].ids) };
}

describe('a skipped load', () => {
  it('keeps its window answered by the realtime views until a reprocess loads it, then every event once', async () => {
    await sendAndSettle('skip-a', 300, 300);

    // The load fails while the warehouse is down; the run parks; the operator skips it.
    const skipped = await startRun(`skip-a-${Date.now()}`);
    await waitFor('the shred step', async () => ((await skipped.query(progressQuery)).step === 'shred' ? true : undefined), 120_000, 100);
    const postgres = stack.processes.get('postgres')!;
    await postgres.stop();
    try {
      await waitFor('the run to park', async () => ((await skipped.query(progressQuery)).status === 'awaiting-operator' ? true : undefined), 180_000, 500);
    } finally {
      await postgres.start();
    }
    await skipped.signal(skipSignal, 'e2e: skipped on purpose');
    const result = await skipped.result();
    expect(result).toMatchObject({ status: 'load-skipped' });
    const owedWindow = { from: result.window!.from!, to: result.window!.to! + 1 };

    // A later run moves the watermark past the skipped window. The watermark is on minutes: the
    // later events go into a later minute, so it passes the skipped window's last one.
    const nextMinute = Math.floor(owedWindow.to / 60_000) * 60_000 + 61_000;
    await new Promise((r) => setTimeout(r, Math.max(0, nextMinute - Date.now())));
    await sendAndSettle('skip-b', 200, 500);
    expect(await (await startRun(`skip-b-${Date.now()}`)).result()).toMatchObject({ status: 'completed', loaded: 200 });

    const owed = await merged();
    expect(Date.parse(owed.watermark!)).toBeGreaterThanOrEqual(owedWindow.to);
    expect(owed.totals.all).toBe(500);
    expect(owed.batchOwed).toEqual([{ runId: result.runId, from: new Date(owedWindow.from).toISOString(), to: new Date(owedWindow.to).toISOString(), reason: 'e2e: skipped on purpose' }]);
    const owedPoints = owed.points.filter((p) => p.batchOwed);
    expect(owedPoints.length).toBeGreaterThan(0);
    expect(owedPoints.every((p) => p.source === 'realtime')).toBe(true);
    expect(owedPoints.reduce((n, p) => n + p.count, 0)).toBeGreaterThanOrEqual(300);
    const s = await operatorHandle(temporal.client).query(statusQuery);
    expect(s.skippedLoads).toMatchObject([{ runId: result.runId }]);

    // The operator reprocesses the owed window: the batch answers it again, every event once.
    const accepted = await requestReprocess(temporal.client, config, { from: new Date(owedWindow.from).toISOString(), to: new Date(owedWindow.to).toISOString(), reason: 'owed' });
    expect(await followReprocess(temporal.client, accepted.id, () => undefined)).toMatchObject({ outcome: 'completed', loaded: 300 });
    const paid = await merged();
    expect(paid.totals.all).toBe(500);
    expect(paid.batchOwed).toEqual([]);
    expect(paid.points.some((p) => p.batchOwed)).toBe(false);
    const wm = Date.parse(paid.watermark!);
    expect(paid.points.filter((p) => Date.parse(p.minute) + 60_000 <= wm).every((p) => p.source === 'batch')).toBe(true);
    expect(await countEvents('skip-a')).toEqual({ rows: 300, ids: 300 });
    expect(await countEvents('skip-b')).toEqual({ rows: 200, ids: 200 });
    expect((await operatorHandle(temporal.client).query(statusQuery)).skippedLoads).toEqual([]);
    // The operator's queue on the workers' /metrics (read from its status at the scrape).
    const metrics = await (await fetch(`${stack.urls.workers}/metrics`)).text();
    expect(metrics).toMatch(/^sluice_operator_queue_length 0$/m);
    expect(metrics).toMatch(/^sluice_operator_running 0$/m);
  }, 600_000);
});
