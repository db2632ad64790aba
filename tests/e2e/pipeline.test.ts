import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../adapters/object-store';
import type { Pool } from '../../adapters/postgres';
import { newRunId, runBatch } from '../../cli/batch';
import { sendTrackerEvents } from '../../cli/send-events';
import type { SluiceConfig } from '../../config';
import { fetchMergedCounts, waitFor, waitForRawSink } from '../../cli/probes';
import { findTemporalCli } from '../../stack/standins';
import type { Stack } from '../../stack/stack';
import { workflowIds } from '../../temporal.config';
import { batchRunWorkflow } from '../../workflows/batch-run';
import { launchChromium } from '../helpers/chromium';
import { startE2eStack, type E2eStack } from '../helpers/e2e-stack';

// The walking skeleton end to end: the real Snowplow node tracker → collector → Kinesis →
// Temporal speed layer → realtime views; raw S3 sink → Temporal batch run → atomic.events and
// batch views; the serving API merging both. Every part is the real local stand-in.

const DAY = 24 * 3600_000;
/** Screenshots for people to look at (gitignored). */
const ARTIFACTS = path.join(process.cwd(), 'tests', 'artifacts');
const quiet = () => {};

let config: SluiceConfig;
let stack: Stack;
let pool: Pool;
let store: ObjectStore;
let temporal: { client: Client; connection: Connection };

async function merged() {
  const now = Date.now();
  return fetchMergedCounts(stack.urls.serving, now - DAY, now + DAY);
}

/** Sends through the tracker, then waits until the realtime views and the raw sink have them all. */
async function sendAndSettle(appId: string, count: number, expectedTotal: number): Promise<void> {
  const sent = await sendTrackerEvents({ collectorUrl: stack.urls.collector, appId, count });
  expect(sent.failedRequests).toBe(0);
  await waitFor('realtime views', async () => ((await merged()).totals.all >= expectedTotal ? true : undefined), 90_000, 300);
  // Counted by the speed layer, so in the raw stream by now (the collector buffers before it
  // writes): the raw sink is done with them once its marker passes this instant.
  const inStreamAt = Date.now();
  await waitForRawSink(config, inStreamAt);
}

async function countEvents(where = 'true'): Promise<{ rows: number; ids: number }> {
  const { rows } = await pool.query(`SELECT count(*) AS n, count(DISTINCT "event_id") AS ids FROM "atomic"."events" WHERE ${where}`);
  return { rows: Number(rows[0].n), ids: Number(rows[0].ids) };
}

let e2e: E2eStack | undefined;

beforeAll(async () => {
  e2e = await startE2eStack('e2e', {}, 2);
  ({ config, stack, pool, store, temporal } = e2e);
});

afterAll(async () => {
  await e2e?.stop();
});

describe('walking skeleton', () => {
  it('counts every tracker event once in the realtime views, atomic.events and the merged answer', async () => {
    await sendAndSettle('e2e-one', 120, 120);
    const before = await merged();
    expect(before.totals).toEqual({ batch: 0, realtime: 120, all: 120 });
    // The dripfeed has them in atomic.events before any batch run, each once.
    await waitFor('the dripfeed', async () => ((await countEvents()).rows >= 120 ? true : undefined), 60_000, 300);
    expect(await countEvents()).toEqual({ rows: 120, ids: 120 });

    const { result, workflowId } = await runBatch(temporal.client, config, newRunId(), quiet);
    expect(result.step).toBe('done');
    expect(result.loaded).toBe(120);
    expect(await countEvents()).toEqual({ rows: 120, ids: 120 });
    const types = await pool.query('SELECT "event", count(*) AS n FROM "atomic"."events" GROUP BY 1 ORDER BY 1');
    expect(types.rows).toEqual([
      { event: 'page_view', n: 40 },
      { event: 'struct', n: 40 },
      { event: 'unstruct', n: 40 },
    ]);

    // The merged answer is unchanged by the batch run, minute by minute; the minutes the batch
    // now covers come from the batch part, with the same counts the realtime part had.
    const after = await merged();
    expect(after.totals.all).toBe(120);
    expect(after.watermark).not.toBeNull();
    const watermark = Date.parse(after.watermark!);
    expect(after.points.map((p) => [p.minute, p.count])).toEqual(before.points.map((p) => [p.minute, p.count]));
    for (const p of after.points) expect(p.source).toBe(Date.parse(p.minute) + 60_000 <= watermark ? 'batch' : 'realtime');

    // The master dataset: lzop files the stock tool accepts, archived under the run.
    const archived = await store.list(`archive/raw/run=${result.runId}/`);
    expect(archived.length).toBeGreaterThan(0);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-lzo-'));
    for (const [i, key] of archived.entries()) {
      const file = path.join(tmp, `${i}.lzo`);
      fs.writeFileSync(file, await store.get(key));
      execFileSync('lzop', ['-t', file], { stdio: 'pipe' });
    }
    fs.rmSync(tmp, { recursive: true, force: true });
    expect(await store.list('raw/in/')).toEqual([]);

    // The run is visible to operators through Temporal's own CLI.
    const listed = execFileSync(findTemporalCli(), ['workflow', 'list', '--address', config.temporal.address, '--query', `WorkflowType = 'batchRunWorkflow'`], { encoding: 'utf8' });
    expect(listed).toContain(workflowId);
  });

  it('finishes a batch run with the same rows after its worker is killed mid-step', async () => {
    await sendAndSettle('e2e-kill', 300, 420);
    const runId = newRunId();
    const handle = await temporal.client.workflow.start(batchRunWorkflow, {
      workflowId: workflowIds.batchRun(runId),
      taskQueue: config.temporal.taskQueues.batch,
      args: [{ runId }],
    });
    // Kill the worker process while the enrich activity runs (its engine threads are starting).
    await waitFor(
      'the enrich step to start',
      async () => {
        const d = await handle.describe();
        const raw = d.raw.pendingActivities ?? [];
        const started = proto.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
        return raw.some((a) => a.activityType?.name === 'enrichRawFiles' && a.state === started) ? true : undefined;
      },
      30_000,
      25,
    );
    stack.processes.get('workers')!.kill('SIGKILL'); // the supervisor starts it again

    const result = await handle.result();
    expect(result.loaded).toBe(300);
    expect(await countEvents(`"app_id" = 'e2e-kill'`)).toEqual({ rows: 300, ids: 300 });
    expect(await countEvents()).toEqual({ rows: 420, ids: 420 });

    // The enrich step really ran twice: the attempt that finished was not the first.
    const history = await handle.fetchHistory();
    const enrichScheduled = history.events!.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'enrichRawFiles',
    )!;
    const started = history.events!.find(
      (e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === enrichScheduled.eventId?.toString(),
    )!;
    expect(started.activityTaskStartedEventAttributes!.attempt).toBeGreaterThan(1);
    expect((await merged()).totals.all).toBe(420);
  });

  it('shows both parts and the watermark on the dashboard, in headless Chromium', async () => {
    // A batch run once the minute of the earlier events has ended (and the raw sink is past it):
    // those minutes become the batch part. Then events after the watermark: the realtime part.
    const nextMinute = Math.floor(Date.now() / 60_000) * 60_000 + 60_000;
    await new Promise((r) => setTimeout(r, Math.max(0, nextMinute + config.batch.latenessMs + 500 - Date.now())));
    await waitForRawSink(config, nextMinute + config.batch.latenessMs);
    const { result } = await runBatch(temporal.client, config, newRunId(), quiet);
    expect(result.watermark).toBeGreaterThanOrEqual(nextMinute);
    await sendAndSettle('e2e-live', 30, 450);
    const answer = await merged();
    expect(answer.totals).toMatchObject({ all: 450 });
    expect(answer.totals.batch).toBeGreaterThanOrEqual(420);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      await page.goto(`${stack.urls.serving}/dashboard`);
      await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 });
      expect(await page.locator('rect.bar.batch').count()).toBeGreaterThan(0);
      expect(await page.locator('rect.bar.realtime').count()).toBeGreaterThan(0);
      expect(await page.locator('#watermark-line').count()).toBe(1);
      expect(await page.textContent('#totals')).toContain('450 events');
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      const png = await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
      expect(png.length).toBeGreaterThan(10_000);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
