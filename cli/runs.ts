import type { Client } from '@temporalio/client';
import { workflowIds } from '../temporal.config';
import { abortSignal, progressQuery, retrySignal, skipSignal } from '../workflows/batch-run';

// `sluice run status|retry|skip|abort <runId>`: the operator's actions on one batch run, the same
// signals the Temporal UI's "Send a Signal" sends (names: retry, skip, abort).

export async function runCommand(client: Client, action: string, runId: string, reason: string | undefined, out: (line: string) => void): Promise<void> {
  const handle = client.workflow.getHandle(workflowIds.batchRun(runId));
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
  out(`sent ${action} to ${workflowIds.batchRun(runId)}`);
}
