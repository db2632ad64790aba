import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { workflowIds } from '../../temporal.config';
import { progressQuery, skipSignal } from '../../workflows/batch-run';
import { reprocessSignal, reprocessUpdate } from '../../workflows/operator';
import type { OperatorPolicy } from '../../workflows/operator-state';
import { operatorActivities, testPolicy, type WarehouseState } from '../helpers/operator';
import { operatorTestEnv, waitUntil } from '../helpers/operator-env';
import { Gates, pipelineFakes } from './operator-fakes';

// The pipeline operator workflow on Temporal's test environment (our own dev-server binary): the
// reprocess signal and update, validation, coalescing, serialization against batch runs,
// continue-as-new, skipped loads, and a worker killed mid-reprocess. The lease requests and holder
// checks are the real activities; the pipeline's steps are recording stand-ins (operator-fakes.ts).

const TQ = 'operator-test';
const H = 3_600_000;
const DAY = 24 * H;
/** Yesterday 00:00 UTC: windows inside yesterday are in the past and one child run each. */
const D = Math.floor(Date.now() / DAY) * DAY - DAY;
const iso = (ms: number) => new Date(ms).toISOString();
const win = (from: number, to: number) => `${from}-${to}`;

// Temporal's test environment for this file's tests; the operator a test starts ends with it.
const temporal = operatorTestEnv(TQ);
const { startOperator, status, startBatch, withWorker } = temporal;

interface Rig {
  calls: string[];
  gates: Gates;
  warehouse: WarehouseState;
  policy: OperatorPolicy;
}

function rig(policy = testPolicy()): Rig {
  return { calls: [], gates: new Gates(), warehouse: { watermark: null, owed: [] }, policy };
}

function activities(r: Rig) {
  const fakes = pipelineFakes(r.calls, r.gates, r.warehouse);
  return {
    ...operatorActivities(temporal.env.client, TQ, r.warehouse, r.policy),
    ...fakes,
    async loadWarehouse(args: { runId: string; window: { from?: number; to?: number } }) {
      if (r.gates.failLoad) throw ApplicationFailure.nonRetryable(`column "x" is of type integer (${args.runId})`);
      return fakes.loadWarehouse(args);
    },
  };
}

const finished = (id: string) => async () => (await status()).recent.some((f) => f.id === id);
const reprocessSteps = (id: string, from: number, to: number) => [`collect ${id} ${win(from, to)}`, `enrich ${id}`, `shred ${id}`, `replace ${id} ${win(from, to)}`, `archive ${id}`];

describe('pipelineOperatorWorkflow', () => {
  it('runs a reprocess asked by update (answered with its id) and one asked by the UI signal form', async () => {
    const r = rig();
    const op = await startOperator(r.policy);
    await withWorker(activities(r), async () => {
      const accepted = await op.executeUpdate(reprocessUpdate, { args: [{ from: iso(D), to: iso(D + H), reason: 'enrichment fix' }] });
      expect(accepted).toMatchObject({ joined: false, window: { from: iso(D), to: iso(D + H) } });
      await waitUntil('the update reprocess finishes', finished(accepted.id));
      expect(r.calls).toEqual(reprocessSteps(accepted.id, D, D + H));

      // The Temporal UI's signal form sends the same JSON body.
      await op.signal(reprocessSignal, { from: iso(D + 2 * H), to: iso(D + 3 * H), reason: 'from the UI' });
      await waitUntil('the signalled reprocess finishes', async () => (await status()).recent.filter((f) => f.kind === 'reprocess').length === 2);
      const s = await status();
      const second = s.recent.at(-1)!;
      expect(second).toMatchObject({ kind: 'reprocess', outcome: 'completed', loaded: 5, window: { from: iso(D + 2 * H), to: iso(D + 3 * H) } });
      expect(r.calls.slice(5)).toEqual(reprocessSteps(second.id, D + 2 * H, D + 3 * H));
      expect(s).toMatchObject({ running: null, queued: [], lastFailures: [] });
      await waitUntil('the memo shows an idle operator', async () => {
        const memo = (await op.describe()).memo as Record<string, unknown>;
        return memo.queued === 0 && memo.running === 'nothing' && memo.watermark === 'none';
      });
    });
  });

  it('refuses invalid windows: the update with the reason before recording anything, the signal under lastFailures', async () => {
    const r = rig();
    const op = await startOperator(r.policy);
    await withWorker(activities(r), async () => {
      const refused = async (body: Record<string, unknown>) => {
        const err = await op.executeUpdate(reprocessUpdate, { args: [body as never] }).then(() => undefined, (e: unknown) => e);
        expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
        return (err as WorkflowUpdateFailedError).cause?.message;
      };
      expect(await refused({ from: 'yesterday', to: iso(D) })).toMatch(/"from" must be an ISO 8601 time/);
      expect(await refused({ from: iso(D + H), to: iso(D) })).toMatch(/must be after "from"/);
      expect(await refused({ from: iso(D - 40 * DAY), to: iso(D) })).toMatch(/at most 744 hours/);
      expect(await refused({ from: iso(D), to: iso(Date.now() + H) })).toMatch(/in the future/);
      expect(await refused({ from: iso(D - 500 * DAY), to: iso(D - 499 * DAY) })).toMatch(/master dataset's retention/);
      await op.signal(reprocessSignal, { from: iso(D + H), to: iso(D) });
      await waitUntil('the refused signal is reported', async () => (await status()).lastFailures.length === 1);
      const s = await status();
      expect(s.lastFailures[0]).toMatchObject({ what: 'reprocess signal refused', error: expect.stringMatching(/must be after "from"/) });
      expect(s.queued).toEqual([]);
      expect(s.recent).toEqual([]);
      expect(r.calls).toEqual([]);
    });
  });

  it('queues reprocesses behind a running batch run, coalesces them into one, and runs a later batch run after it', async () => {
    const r = rig();
    await startOperator(r.policy);
    await withWorker(activities(r), async () => {
      r.gates.close('stage');
      const first = await startBatch('op-batch-1');
      await waitUntil('the first batch run holds the lease', async () => (await status()).running?.id === 'op-batch-1');
      const op = temporal.env.client.workflow.getHandle(workflowIds.operator());
      const a = await op.executeUpdate(reprocessUpdate, { args: [{ from: iso(D), to: iso(D + H), reason: 'a' }] });
      await op.signal(reprocessSignal, { from: iso(D + H), to: iso(D + 2 * H), reason: 'b, adjacent' });
      const c = await op.executeUpdate(reprocessUpdate, { args: [{ from: iso(D + 30 * 60_000), to: iso(D + 40 * 60_000), reason: 'c, inside' }] });
      expect(c).toMatchObject({ id: a.id, joined: true, window: { from: iso(D), to: iso(D + 2 * H) } });
      const second = await startBatch('op-batch-2');
      await waitUntil('the second batch run queues behind the reprocess', async () => (await status()).queued.length === 2);
      const queued = (await status()).queued;
      expect(queued).toMatchObject([{ kind: 'reprocess', id: a.id, reasons: ['a', 'b, adjacent', 'c, inside'] }, { kind: 'batch', id: 'op-batch-2' }]);
      expect((await second.query(progressQuery)).status).toBe('waiting-for-lease');
      // Nothing of the reprocess ran while the batch run held the lease.
      expect(r.calls.filter((c) => c.startsWith('collect'))).toEqual([]);

      r.gates.open('stage');
      await first.result();
      await second.result();
      await waitUntil('the second run released the lease', finished('op-batch-2'));
      const batchSteps = (id: string) => [`stage ${id}`, `enrich ${id}`, `shred ${id}`, `load ${id}`];
      const order = r.calls.filter((c) => !c.startsWith('views') && !c.startsWith('archive op-batch'));
      expect(order).toEqual([...batchSteps('op-batch-1'), ...reprocessSteps(a.id, D, D + 2 * H), ...batchSteps('op-batch-2')]);
      expect((await status()).recent.map((f) => [f.kind, f.id, f.outcome])).toEqual([
        ['batch', 'op-batch-1', 'completed'],
        ['reprocess', a.id, 'completed'],
        ['batch', 'op-batch-2', 'completed'],
      ]);
      expect((await status()).watermark).toBe(iso(120_000));
    });
  });

  it('a skipped load stays owed and is reprocessed once the lease is free', async () => {
    const r = rig();
    await startOperator(r.policy);
    await withWorker(activities(r), async () => {
      r.gates.failLoad = true;
      r.gates.close('replace');
      const run = await startBatch('op-skip');
      await waitUntil('the load parks', async () => (await run.query(progressQuery)).status === 'awaiting-operator');
      await run.signal(skipSignal, 'bad data, fixed in the next release');
      expect(await run.result()).toMatchObject({ status: 'load-skipped' });
      // shred's [60000, 119999] is the owed window [60000, 120000).
      await waitUntil('the owed window is reported', async () => (await status()).skippedLoads.length === 1);
      const s = await status();
      expect(s.skippedLoads).toEqual([{ runId: 'op-skip', from: iso(60_000), to: iso(120_000), reason: 'bad data, fixed in the next release' }]);
      expect(s.running).toMatchObject({ kind: 'reprocess', reprocess: { window: { from: iso(60_000), to: iso(120_000) }, reasons: [expect.stringContaining('load of run op-skip skipped')] } });
      expect(r.warehouse.owed).toHaveLength(1);
      r.gates.open('replace');
      const id = s.running!.id;
      await waitUntil('the owed window is reprocessed', finished(id));
      expect(r.calls.filter((c) => c.startsWith('replace'))).toEqual([`replace ${id} ${win(60_000, 120_000)}`]);
      expect(r.warehouse.owed).toEqual([]);
      expect((await status()).skippedLoads).toEqual([]);
    });
  });

  it('continues as new with the lease holder and the queued requests kept', async () => {
    const r = rig(testPolicy({ historyLimit: 40 }));
    const op = await startOperator(r.policy);
    const firstRun = (await op.describe()).runId;
    await withWorker(activities(r), async () => {
      r.gates.close('stage');
      const run = await startBatch('op-can');
      await waitUntil('the batch run holds the lease', async () => (await status()).running?.id === 'op-can');
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) {
        // Two hours apart: no two coalesce.
        const a = await op.executeUpdate(reprocessUpdate, { args: [{ from: iso(D + 2 * i * H), to: iso(D + (2 * i + 1) * H), reason: `r${i}` }] });
        ids.push(a.id);
      }
      await waitUntil('the operator continued as new', async () => (await temporal.env.client.workflow.getHandle(workflowIds.operator()).describe()).runId !== firstRun);
      const s = await status();
      expect(s.running?.id).toBe('op-can');
      expect(s.queued.map((q) => q.id)).toEqual(ids);
      r.gates.open('stage');
      await run.result();
      await waitUntil('every queued reprocess ran', async () => ids.every((id) => r.calls.includes(`archive ${id}`)));
      expect(r.calls.filter((c) => c.startsWith('replace'))).toHaveLength(8);
    });
  });

  it('finishes a reprocess whose worker was killed mid-replace on another worker, replacing the window once', async () => {
    const r = rig();
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./killable-worker.ts', import.meta.url)), temporal.env.address, TQ], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += String(d)));
    try {
      await waitUntil('the other worker is ready', async () => out.includes('worker-ready'), 60_000);
      const op = await startOperator(r.policy);
      const accepted = await op.executeUpdate(reprocessUpdate, { args: [{ from: iso(D), to: iso(D + H), reason: 'kill test' }] });
      await waitUntil('the other worker is replacing', async () => out.includes('replace-started attempt=1'), 60_000);
      kill(child);
      // The attempt times out on its heartbeat; the retry runs here. Steps done before the kill stay done.
      await withWorker(activities(r), async () => {
        await waitUntil('the reprocess finishes here', finished(accepted.id), 100_000);
        expect(r.calls).toEqual([`replace ${accepted.id} ${win(D, D + H)}`, `archive ${accepted.id}`]);
        expect((await status()).recent.at(-1)).toMatchObject({ id: accepted.id, outcome: 'completed', loaded: 5 });
      });
    } finally {
      kill(child);
    }
  }, 180_000);
});

function kill(child: ChildProcess) {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
