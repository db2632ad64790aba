import { WorkflowExecutionAlreadyStartedError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { operatorPolicy } from '../activities/operator';
import type { SluiceConfig } from '../config';
import { workflowIds } from '../temporal.config';
import type { Accepted, OperatorStatus, ReprocessRequestBody } from '../workflows/operator-state';
import { pipelineOperatorWorkflow, reprocessUpdate, statusQuery } from '../workflows/operator';
import { reprocessProgressQuery } from '../workflows/reprocess';
import { temporalUiLink } from './batch';

// The CLI side of the pipeline operator workflow: `sluice up` starts it (idempotently),
// `sluice reprocess` is a thin client of its `reprocess` update, `sluice operator status` its query.

/** Starts the operator unless it runs already; returns whether this call started it. */
export async function ensureOperator(client: Client, config: SluiceConfig): Promise<boolean> {
  try {
    await client.workflow.start(pipelineOperatorWorkflow, {
      workflowId: workflowIds.operator(),
      taskQueue: config.temporal.taskQueues.batch,
      args: [{ policy: operatorPolicy(config) }],
    });
    return true;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
    throw err;
  }
}

export const operatorHandle = (client: Client) => client.workflow.getHandle<typeof pipelineOperatorWorkflow>(workflowIds.operator());

/** Sends the update; a refused window comes back as an Error with the validator's message. */
export async function requestReprocess(client: Client, config: SluiceConfig, body: ReprocessRequestBody): Promise<Accepted> {
  await ensureOperator(client, config);
  try {
    return await operatorHandle(client).executeUpdate(reprocessUpdate, { args: [body] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new Error(`reprocess refused: ${err.cause?.message ?? err.message}`);
    throw err;
  }
}

function bar(done: number, total: number, width = 20): string {
  const filled = total ? Math.round((done / total) * width) : 0;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}`;
}

export interface ReprocessOutcome {
  id: string;
  outcome: string;
  loaded: number;
  error?: string;
}

/** Follows a reprocess through the operator's status (queued, running chunk by chunk, finished). */
export async function followReprocess(client: Client, id: string, out: (line: string) => void, pollMs = 500): Promise<ReprocessOutcome> {
  const operator = operatorHandle(client);
  let last = '';
  const say = (line: string) => {
    if (line !== last) out((last = line));
  };
  for (;;) {
    const s: OperatorStatus = await operator.query(statusQuery);
    const finished = [...s.recent].reverse().find((r) => r.kind === 'reprocess' && r.id === id);
    if (finished && s.running?.id !== id) {
      return { id, outcome: finished.outcome, loaded: finished.loaded ?? 0, error: finished.error };
    }
    const position = s.queued.findIndex((q) => q.id === id);
    if (position >= 0) {
      const ahead = s.queued.slice(0, position).map((q) => `${q.kind} ${q.id}`);
      say(`  queued behind ${[s.running ? `${s.running.kind} ${s.running.id} (running)` : undefined, ...ahead].filter(Boolean).join(', ') || 'nothing'}`);
    } else if (s.running?.id === id && s.running.reprocess) {
      const r = s.running.reprocess;
      const child = r.chunks === 1 ? id : `${id}-${r.chunksDone + 1}`;
      const step = r.chunksDone < r.chunks
        ? await client.workflow.getHandle(workflowIds.reprocess(child)).query(reprocessProgressQuery).then((p) => p.step, () => 'starting')
        : 'done';
      say(`  ${bar(r.chunksDone, r.chunks)} child runs, ${r.loaded} rows so far, now ${child}: ${step}`);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

export async function reprocessCommand(client: Client, config: SluiceConfig, args: { from: string; to: string; reason?: string }, out: (line: string) => void): Promise<ReprocessOutcome> {
  const accepted = await requestReprocess(client, config, { from: args.from, to: args.to, reason: args.reason });
  const link = temporalUiLink(config, workflowIds.operator());
  out(`reprocess ${accepted.id} ${accepted.joined ? 'joined' : 'queued'}: ${accepted.window.from} – ${accepted.window.to} (${link})`);
  const result = await followReprocess(client, accepted.id, out);
  if (result.outcome !== 'completed') throw new Error(`reprocess ${accepted.id} ${result.outcome}: ${result.error ?? ''}`);
  out(`reprocess ${accepted.id} done: ${result.loaded} rows now in the window`);
  return result;
}

export async function operatorStatusCommand(client: Client, out: (line: string) => void): Promise<void> {
  out(JSON.stringify(await operatorHandle(client).query(statusQuery), null, 2));
}
