import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { SluiceConfig } from '../config';
import { workflowIds } from '../temporal.config';
import { batchRunWorkflow } from '../workflows/batch-run';

// `sluice schedule …`: batch runs on a Temporal Schedule. Overlap policy SKIP: while a run is
// still going, the next one is skipped, so two scheduled runs never stage the same files (and
// staging claims files in PostgreSQL besides, for runs started by hand).

export const DEFAULT_SCHEDULE_ID = 'sluice-batch';

export interface ScheduleArgs {
  action: string;
  id: string;
  every: string;
  note?: string;
}

export async function scheduleCommand(client: Client, config: SluiceConfig, args: ScheduleArgs, out: (line: string) => void): Promise<void> {
  const handle = client.schedule.getHandle(args.id);
  switch (args.action) {
    case 'create': {
      await client.schedule.create({
        scheduleId: args.id,
        spec: { intervals: [{ every: args.every }] },
        action: {
          type: 'startWorkflow',
          workflowType: batchRunWorkflow,
          // Temporal appends the scheduled time, so each run gets its own id (and run id).
          workflowId: workflowIds.batchRun('scheduled'),
          taskQueue: config.temporal.taskQueues.batch,
          args: [{ mode: config.batch.mode }],
        },
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
        state: { note: args.note ?? `batch runs every ${args.every}` },
      });
      out(`schedule ${args.id} created: a ${config.batch.mode} batch run every ${args.every} (overlap: skip)`);
      return;
    }
    case 'pause':
      await handle.pause(args.note ?? 'paused with sluice schedule pause');
      out(`schedule ${args.id} paused`);
      return;
    case 'unpause':
      await handle.unpause(args.note ?? 'unpaused with sluice schedule unpause');
      out(`schedule ${args.id} unpaused`);
      return;
    case 'trigger':
      // SKIP here too: a trigger while a run is going does nothing rather than overlap.
      await handle.trigger(ScheduleOverlapPolicy.SKIP);
      out(`schedule ${args.id} triggered`);
      return;
    case 'delete':
      await handle.delete();
      out(`schedule ${args.id} deleted`);
      return;
    case 'describe': {
      try {
        const d = await handle.describe();
        out(JSON.stringify({
          id: d.scheduleId,
          paused: d.state.paused,
          note: d.state.note,
          every: d.spec.intervals?.map((i) => i.every),
          nextActionTimes: d.info.nextActionTimes.slice(0, 3),
          recentActions: d.info.recentActions.slice(-5).map((a) => ({ at: a.takenAt, workflowId: a.action.workflow.workflowId })),
          runningActions: d.info.runningActions.map((a) => a.workflow.workflowId),
          overlapSkipped: d.info.numActionsSkippedOverlap,
        }, null, 2));
      } catch (err) {
        if (err instanceof ScheduleNotFoundError) out(`no schedule ${args.id}`);
        else throw err;
      }
      return;
    }
    default:
      throw new Error(`unknown schedule action ${JSON.stringify(args.action)} (create|pause|unpause|trigger|delete|describe)`);
  }
}
