import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import type { RetentionActivities, RetentionCounts } from '../../activities/retention';
import { DAY_MS, retentionPolicy, type RetentionPlan } from '../../batch/retention-plan';
import { loadConfig } from '../../config';
import { workflowIds } from '../../temporal.config';
import { progressQuery } from '../../workflows/batch-run';
import { reprocessUpdate } from '../../workflows/operator';
import type { OperatorPolicy } from '../../workflows/operator-state';
import { retentionProgressQuery, retentionWorkflow, type RetentionProgress } from '../../workflows/retention';
import { operatorActivities, testPolicy, type WarehouseState } from '../helpers/operator';
import { operatorTestEnv, waitUntil } from '../helpers/operator-env';
import { Gates, pipelineFakes } from './operator-fakes';
import { ensureRetentionSchedule, RETENTION_SCHEDULE_ID } from '../../cli/retention';

// The retention workflow on Temporal's test environment (our own dev-server binary), with the real
// operator workflow granting the pipeline lease: it waits for a running batch run, holds the lease
// while it deletes (a batch run asked meanwhile waits), keeps the windows the operator protects,
// and releases the lease when an activity fails. The deletes themselves are recording stand-ins
// here; the real activities run against PostgreSQL and s3rver in tests/integration/retention.test.ts.

const TQ = 'retention-test';
const H = 3_600_000;
const D = Math.floor(Date.now() / DAY_MS) * DAY_MS - DAY_MS;
const iso = (ms: number) => new Date(ms).toISOString();
const policy = { ...retentionPolicy(loadConfig({}, '/nonexistent')), batchSize: 100 };

// Temporal's test environment for this file's tests; the operator a test starts ends with it.
const temporal = operatorTestEnv(TQ);
const { startOperator, status, startBatch, withWorker } = temporal;

interface Rig {
  calls: string[];
  plans: RetentionPlan[];
  gates: Gates;
  warehouse: WarehouseState;
  policy: OperatorPolicy;
  failItem?: string;
}

const rig = (over: Partial<Rig> = {}): Rig => ({ calls: [], plans: [], gates: new Gates(), warehouse: { watermark: 120_000, owed: [] }, policy: testPolicy(), ...over });

/** Retention stand-ins: record each item, pass a gate named after it, fail `failItem` for good. */
function retentionFakes(r: Rig): RetentionActivities {
  const item = (name: string, counts: RetentionCounts) => async ({ plan }: { plan: RetentionPlan }) => {
    await r.gates.pass(name);
    if (r.failItem === name) throw ApplicationFailure.nonRetryable(`relation "sluice.${name}" is locked`);
    r.calls.push(`prune ${name}`);
    r.plans.push(plan);
    return counts;
  };
  return {
    async readRetentionState() {
      return { policy, watermark: r.warehouse.watermark, owed: r.warehouse.owed.map(({ from, to }) => ({ from, to })) };
    },
    pruneGoneShards: item('gone-shards', { 'gone-shards': 1, checkpoints: 2 }),
    pruneSinkFiles: item('sink-files', { 'sink-files': 10, 'staged-files': 10 }),
    pruneStagedFiles: item('staged-files', { 'staged-files': 1 }),
    pruneRealtime: item('realtime', { 'realtime-rows': 4, 'realtime-seen': 2 }),
    pruneBadRows: item('bad-rows', { 'bad-rows': 3 }),
    async pruneObjects({ rule }) {
      r.calls.push(`prune ${rule.item}`);
      return { [rule.item]: rule.item === 'archive-raw' ? 5 : 0 };
    },
  };
}

const activities = (r: Rig) => ({ ...operatorActivities(temporal.env.client, TQ, r.warehouse, r.policy), ...pipelineFakes(r.calls, r.gates, r.warehouse), ...retentionFakes(r) });

const startRetention = (id: string) => temporal.env.client.workflow.start(retentionWorkflow, { workflowId: workflowIds.retention(id), taskQueue: TQ, args: [{}] });
const progress = (h: WorkflowHandle<typeof retentionWorkflow>): Promise<RetentionProgress> => h.query(retentionProgressQuery);

const TABLE_ITEMS = ['gone-shards', 'sink-files', 'staged-files', 'realtime', 'bad-rows'];
const OBJECT_ITEMS = ['archive-raw', 'bad-files', 'archive-enriched', 'archive-shredded', 'archive-reprocess', 'dripfeed', 'emr-runs', 'emr-logs'];
const retentionSteps = [...TABLE_ITEMS, ...OBJECT_ITEMS].map((i) => `prune ${i}`);
const batchSteps = (id: string) => [`stage ${id}`, `enrich ${id}`, `shred ${id}`, `load ${id}`];

describe('retentionWorkflow', () => {
  it('waits for a running batch run, then holds the lease while it deletes: a batch run asked meanwhile waits for it', async () => {
    const r = rig();
    await startOperator(r.policy);
    await withWorker(activities(r), async () => {
      r.gates.close('stage');
      const first = await startBatch('ret-batch-1');
      await waitUntil('the batch run holds the lease', async () => (await status()).running?.id === 'ret-batch-1');
      const retention = await startRetention('ret-1');
      await waitUntil('retention queues for the lease', async () => (await status()).queued.some((q) => q.id === 'ret-1'));
      expect(await progress(retention)).toMatchObject({ id: 'ret-1', status: 'waiting-for-lease', done: [], total: 0 });

      r.gates.close('sink-files');
      r.gates.open('stage');
      await first.result();
      await waitUntil('retention holds the lease and deletes', async () => (await progress(retention)).item === 'sink-files');
      const second = await startBatch('ret-batch-2');
      await waitUntil('the second batch run queues behind retention', async () => (await status()).queued.some((q) => q.id === 'ret-batch-2'));
      expect((await status()).running).toMatchObject({ kind: 'retention', id: 'ret-1', workflowId: workflowIds.retention('ret-1') });
      expect((await second.query(progressQuery)).status).toBe('waiting-for-lease');
      expect(await progress(retention)).toMatchObject({ status: 'running', item: 'sink-files', done: ['gone-shards'], deleted: { 'gone-shards': 1, checkpoints: 2 }, total: 3 });

      r.gates.open('sink-files');
      const result = await retention.result();
      await second.result();
      expect(result).toMatchObject({ id: 'ret-1', status: 'completed', done: [...TABLE_ITEMS, ...OBJECT_ITEMS] });
      expect(result.deleted).toEqual({
        'gone-shards': 1, checkpoints: 2, 'sink-files': 10, 'staged-files': 11, 'realtime-rows': 4, 'realtime-seen': 2, 'bad-rows': 3,
        'archive-raw': 5, 'bad-files': 0, 'archive-enriched': 0, 'archive-shredded': 0, 'archive-reprocess': 0, dripfeed: 0, 'emr-runs': 0, 'emr-logs': 0,
      });
      expect(result.total).toBe(38);
      // Nothing of either batch run ran while retention deleted.
      const order = r.calls.filter((c) => !c.startsWith('views') && !c.startsWith('archive ret-batch'));
      expect(order).toEqual([...batchSteps('ret-batch-1'), ...retentionSteps, ...batchSteps('ret-batch-2')]);
      await waitUntil('the second run released the lease', async () => (await status()).recent.some((f) => f.id === 'ret-batch-2'));
      expect((await status()).recent.map((f) => [f.kind, f.id, f.outcome])).toEqual([
        ['batch', 'ret-batch-1', 'completed'],
        ['retention', 'ret-1', 'completed'],
        ['batch', 'ret-batch-2', 'completed'],
      ]);
      const memo = (await retention.describe()).memo as Record<string, unknown>;
      expect(memo).toMatchObject({ id: 'ret-1', status: 'completed', deleted: 38 });
      expect(memo.item).toBeUndefined(); // a null memo field is removed
    });
  });

  it('keeps the windows the lease protects: a queued reprocess and a skipped load, merged with the owed table', async () => {
    const owed = { runId: 'skipped-1', from: D + 10 * H, to: D + 11 * H, reason: 'bad partition' };
    const r = rig({ policy: testPolicy({ reprocessOwedWindows: false }), warehouse: { watermark: D, owed: [owed] } });
    await startOperator(r.policy);
    await withWorker(activities(r), async () => {
      r.gates.close('stage');
      const batch = await startBatch('ret-batch-3');
      await waitUntil('the batch run holds the lease', async () => (await status()).running?.id === 'ret-batch-3');
      const retention = await startRetention('ret-2');
      await waitUntil('retention queues', async () => (await status()).queued.some((q) => q.id === 'ret-2'));
      const op = temporal.env.client.workflow.getHandle(workflowIds.operator());
      const rp = await op.executeUpdate(reprocessUpdate, { args: [{ from: iso(D + 2 * H), to: iso(D + 3 * H), reason: 'enrichment fix' }] });
      r.gates.open('stage');
      await batch.result();
      const result = await retention.result();
      const plan = r.plans[0];
      expect(plan.protect).toEqual([{ from: D + 2 * H, to: D + 3 * H }, { from: owed.from, to: owed.to }]);
      expect(plan.watermark).toBe(120_000); // the batch run before it moved it
      const day = (ms: number) => iso(ms).slice(0, 10);
      expect(plan.objects[0]).toMatchObject({ item: 'archive-raw', keepDays: [{ from: day(D - DAY_MS), to: day(D) }] });
      expect(result.plan?.protect).toEqual([{ from: iso(D + 2 * H), to: iso(D + 3 * H) }, { from: iso(owed.from), to: iso(owed.to) }]);
      // Every item got the same plan, computed once.
      expect(new Set(r.plans.map((p) => JSON.stringify(p))).size).toBe(1);
      // The reprocess queued behind retention runs once it is done.
      await waitUntil('the reprocess finishes', async () => (await status()).recent.some((f) => f.id === rp.id));
      const collect = r.calls.findIndex((c) => c.startsWith(`collect ${rp.id}`));
      expect(collect).toBeGreaterThan(r.calls.indexOf('prune emr-logs'));
    });
  });

  it('a delete that fails past its retry policy fails the run and releases the lease; the next holder runs', async () => {
    const r = rig({ failItem: 'realtime' });
    await startOperator(r.policy);
    await withWorker(activities(r), async () => {
      const retention = await startRetention('ret-3');
      const err = await retention.result().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect(await progress(retention)).toMatchObject({ status: 'failed', done: ['gone-shards', 'sink-files', 'staged-files'], error: expect.stringContaining('is locked') });
      expect(r.calls).not.toContain('prune bad-rows');
      await waitUntil('the operator recorded the failure', async () => (await status()).recent.some((f) => f.id === 'ret-3'));
      const s = await status();
      expect(s.recent.find((f) => f.id === 'ret-3')).toMatchObject({ kind: 'retention', outcome: 'failed', error: expect.stringContaining('is locked') });
      expect(s.running).toBeNull();
      const batch = await startBatch('ret-batch-4');
      expect(await batch.result()).toMatchObject({ status: 'completed' });
    });
  });

  it('sluice up creates the schedule sluice-retention once, then brings its interval in line with the config and keeps a pause', async () => {
    const config = (every: string) => loadConfig({ SLUICE_RETENTION__EVERY: every, SLUICE_TEMPORAL__TASK_QUEUES__BATCH: TQ }, '/nonexistent');
    const handle = temporal.env.client.schedule.getHandle(RETENTION_SCHEDULE_ID);
    try {
      expect(await ensureRetentionSchedule(temporal.env.client, config('6h'))).toBe('created');
      expect(await ensureRetentionSchedule(temporal.env.client, config('6h'))).toBe('updated');
      let d = await handle.describe();
      expect(d.spec.intervals?.map((i) => i.every)).toEqual([6 * H]);
      expect(d.action).toMatchObject({ type: 'startWorkflow', workflowType: 'retentionWorkflow', workflowId: 'retention/scheduled', taskQueue: TQ });
      expect(d.policies).toMatchObject({ overlap: 'SKIP' });
      await handle.pause('maintenance');
      expect(await ensureRetentionSchedule(temporal.env.client, config('30m'))).toBe('updated');
      d = await handle.describe();
      expect(d.spec.intervals?.map((i) => i.every)).toEqual([30 * 60_000]);
      expect(d.state).toMatchObject({ paused: true, note: 'maintenance' });
    } finally {
      await handle.delete().catch(() => undefined);
    }
  });
});
