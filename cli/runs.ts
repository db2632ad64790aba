import type { Client } from '@temporalio/client';
import { workflowIds } from '../temporal.config';
import { abortSignal, progressQuery, retrySignal, runIdOf, skipSignal } from '../workflows/batch-run';

// `sluice run status|retry|skip|abort <runId>`: the operator's actions on one batch run, the same
// signals the Temporal UI's "Send a Signal" sends (names: retry, skip, abort).

/**
 * The workflow id of a run: a full workflow id as given, else `batch-run/<runId>`, else the
 * scheduled run whose id maps to it (Temporal names scheduled runs `batch-run/scheduled-<time>`,
 * and the run id replaces the time's colons).
 */
export async function resolveRun(client: Client, runIdOrWorkflowId: string): Promise<string> {
  if (runIdOrWorkflowId.startsWith('batch-run/')) return runIdOrWorkflowId;
  const direct = workflowIds.batchRun(runIdOrWorkflowId);
  try {
    await client.workflow.getHandle(direct).describe();
    return direct;
  } catch (err) {
    if ((err as Error).name !== 'WorkflowNotFoundError') throw err;
  }
  for await (const wf of client.workflow.list({ query: `WorkflowType = 'batchRunWorkflow'` })) {
    if (runIdOf(wf.workflowId) === runIdOrWorkflowId) return wf.workflowId;
  }
  throw new Error(`no batch run ${JSON.stringify(runIdOrWorkflowId)} (give its run id or its workflow id batch-run/…)`);
}

export async function runCommand(client: Client, action: string, runId: string, reason: string | undefined, out: (line: string) => void): Promise<void> {
  const workflowId = await resolveRun(client, runId);
  const handle = client.workflow.getHandle(workflowId);
  switch (action) {
    case 'status':
      out(JSON.stringify(await handle.query(progressQuery), null, 2));
      return;
    case 'retry':
      await handle.signal(retrySignal);
      break;
    case 'skip':
      if (!reason) throw new Error('skip needs --reason (it is recorded on the run)');
      await handle.signal(skipSignal, reason);
      break;
    case 'abort':
      if (!reason) throw new Error('abort needs --reason (it is recorded on the run)');
      await handle.signal(abortSignal, reason);
      break;
    default:
      throw new Error(`unknown run action ${JSON.stringify(action)} (status|retry|skip|abort)`);
  }
  out(`sent ${action} to ${workflowId}`);
}
