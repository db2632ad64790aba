import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { retentionPolicy } from '../batch/retention-plan';
import type { SluiceConfig } from '../config';
import { workflowIds } from '../temporal.config';
import { retentionProgressQuery, retentionWorkflow, type RetentionProgress } from '../workflows/retention';
import { newRunId, temporalUiLink } from './batch';

// `sluice retention run|schedule|describe|pause|unpause|trigger|delete` (docs/retention.md). The
// Temporal Schedule `sluice-retention` starts a retention workflow every `retention.every`
// (6 h); `sluice up` creates it, or brings its interval in line with the config, on every start.

export const RETENTION_SCHEDULE_ID = 'sluice-retention';

function scheduled(config: SluiceConfig, every: string) {
  return {
    spec: { intervals: [{ every }] },
    action: {
      type: 'startWorkflow' as const,
      workflowType: retentionWorkflow,
      // Temporal appends the scheduled time, so each run has its own id (and lease id).
      workflowId: workflowIds.retention('scheduled'),
      taskQueue: config.temporal.taskQueues.batch,
      args: [{}] as [Record<string, never>],
    },
    // SKIP: a run still deleting (or waiting for the lease) when the next is due is not doubled.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '10 minutes' },
  };
}

/** Creates the schedule, or updates its interval, action and policies; idempotent. Keeps a pause. */
export async function ensureRetentionSchedule(client: Client, config: SluiceConfig, every = config.retention.every): Promise<'created' | 'updated'> {
  const wanted = scheduled(config, every);
  const handle = client.schedule.getHandle(RETENTION_SCHEDULE_ID);
  try {
    await handle.update((previous) => ({ ...previous, ...wanted }));
    return 'updated';
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
  try {
    await client.schedule.create({ scheduleId: RETENTION_SCHEDULE_ID, ...wanted, state: { note: `retention every ${every} (docs/retention.md)` } });
    return 'created';
  } catch (err) {
    // Another `up` created it meanwhile: bring it in line.
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await handle.update((previous) => ({ ...previous, ...wanted }));
    return 'updated';
  }
}

/** The policy in days and hours, as configured (the workers apply their own config's). */
export function describePolicy(config: SluiceConfig) {
  const r = config.retention;
  return {
    every: r.every,
    archiveBy: r.archiveBy,
    sinkFilesDays: r.sinkFilesDays,
    realtimeHours: r.realtimeHours,
    badRowsDays: r.badRowsDays,
    masterRetentionDays: config.operator.masterRetentionDays,
    archiveEnrichedDays: r.archiveEnrichedDays,
    archiveShreddedDays: r.archiveShreddedDays,
    archiveReprocessDays: r.archiveReprocessDays,
    dripfeedHours: r.dripfeedHours,
    emrDays: r.emrDays,
    batchSize: r.batchSize,
  };
}

const summary = (p: RetentionProgress) =>
  `${p.status}${p.item ? ` (now ${p.item})` : ''}: ${p.total} deleted${p.total ? ` (${Object.entries(p.deleted).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`;

/** Starts one retention run now and follows it to the end. */
export async function runRetention(client: Client, config: SluiceConfig, out: (line: string) => void, id = `manual-${newRunId()}`): Promise<RetentionProgress> {
  const workflowId = workflowIds.retention(id);
  const handle = await client.workflow.start(retentionWorkflow, { workflowId, taskQueue: config.temporal.taskQueues.batch, args: [{ id }] });
  out(`retention ${id} started: ${temporalUiLink(config, workflowId, handle.firstExecutionRunId)}`);
  let last = '';
  const timer = setInterval(async () => {
    const p = await handle.query(retentionProgressQuery).catch(() => undefined);
    const line = p && (p.status === 'waiting-for-lease' ? '  waiting for the pipeline lease (`sluice operator status` shows who holds it)' : `  ${summary(p)}`);
    if (line && line !== last) out((last = line));
  }, 500);
  try {
    const result = await handle.result();
    out(`retention ${id} ${summary(result)}`);
    return result;
  } finally {
    clearInterval(timer);
  }
}

export interface RetentionArgs {
  action: string;
  every?: string;
  note?: string;
}

export async function retentionCommand(client: Client, config: SluiceConfig, args: RetentionArgs, out: (line: string) => void): Promise<void> {
  const handle = client.schedule.getHandle(RETENTION_SCHEDULE_ID);
  switch (args.action) {
    case 'run':
      await runRetention(client, config, out);
      return;
    case 'schedule': {
      const every = args.every ?? config.retention.every;
      if (!/^\d+(s|m|h|d)$/.test(every)) throw new Error(`--every must be a number and a unit (30m, 6h, 1d), not ${JSON.stringify(every)}`);
      out(`schedule ${RETENTION_SCHEDULE_ID} ${await ensureRetentionSchedule(client, config, every)}: retention every ${every} (overlap: skip)`);
      return;
    }
    case 'pause':
      await handle.pause(args.note ?? 'paused with sluice retention pause');
      out(`schedule ${RETENTION_SCHEDULE_ID} paused`);
      return;
    case 'unpause':
      await handle.unpause(args.note ?? 'unpaused with sluice retention unpause');
      out(`schedule ${RETENTION_SCHEDULE_ID} unpaused`);
      return;
    case 'trigger':
      await handle.trigger(ScheduleOverlapPolicy.SKIP);
      out(`schedule ${RETENTION_SCHEDULE_ID} triggered`);
      return;
    case 'delete':
      await handle.delete();
      out(`schedule ${RETENTION_SCHEDULE_ID} deleted (\`sluice up\` creates it again while retention.schedule is true)`);
      return;
    case 'describe': {
      const policy = describePolicy(config);
      let schedule: unknown = `no schedule ${RETENTION_SCHEDULE_ID}`;
      let lastRun: unknown = null;
      try {
        const d = await handle.describe();
        const recent = d.info.recentActions.slice(-5).map((a) => ({ at: a.takenAt, workflowId: a.action.workflow.workflowId }));
        schedule = { id: d.scheduleId, paused: d.state.paused, note: d.state.note, nextActionTimes: d.info.nextActionTimes.slice(0, 3), recentActions: recent, runningActions: d.info.runningActions.map((a) => a.workflow.workflowId) };
        const latest = d.info.recentActions.at(-1)?.action.workflow;
        if (latest) lastRun = await client.workflow.getHandle(latest.workflowId, latest.firstExecutionRunId).query(retentionProgressQuery).catch((err: Error) => `not readable: ${err.message}`);
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      }
      out(JSON.stringify({ policy, applies: retentionPolicy(config).archiveBy === 'lifecycle' ? 'tables only (S3 lifecycle rules expire the prefixes)' : 'tables and object-store prefixes', schedule, lastRun }, null, 2));
      return;
    }
    default:
      throw new Error(`unknown retention action ${JSON.stringify(args.action)} (run|schedule|describe|pause|unpause|trigger|delete)`);
  }
}
