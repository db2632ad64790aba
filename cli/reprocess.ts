import type { Client } from '@temporalio/client';
import type { SluiceConfig } from '../config';
import { workflowIds } from '../temporal.config';
import { reprocessProgressQuery, reprocessWorkflow, type ReprocessProgress } from '../workflows/reprocess';
import { newRunId, temporalUiLink } from './batch';

// `sluice reprocess --from --to`: starts a reprocess workflow for the window and follows it.

const MAX_WINDOW_MS = 31 * 86_400_000;

export function parseWindow(from: string, to: string): { from: number; to: number } {
  const window = { from: Date.parse(from), to: Date.parse(to) };
  if (!Number.isFinite(window.from) || !Number.isFinite(window.to)) throw new Error('--from and --to must be ISO 8601 times, e.g. 2026-11-21T10:00:00Z');
  if (!(window.to > window.from)) throw new Error('--to must be after --from');
  if (window.to - window.from > MAX_WINDOW_MS) throw new Error('a reprocess window is at most 31 days; split longer ones');
  return window;
}

export async function startReprocess(client: Client, config: SluiceConfig, window: { from: number; to: number }, runId = `reprocess-${newRunId()}`) {
  const workflowId = workflowIds.reprocess(runId);
  const handle = await client.workflow.start(reprocessWorkflow, {
    workflowId,
    taskQueue: config.temporal.taskQueues.batch,
    args: [{ runId, ...window }],
    memo: { runId, window },
  });
  return { handle, runId, workflowId, link: temporalUiLink(config, workflowId, handle.firstExecutionRunId) };
}

export async function reprocessCommand(client: Client, config: SluiceConfig, args: { from: string; to: string }, out: (line: string) => void): Promise<ReprocessProgress> {
  const { handle, runId, link } = await startReprocess(client, config, parseWindow(args.from, args.to));
  out(`reprocess ${runId} started: ${link}`);
  let last = '';
  const timer = setInterval(async () => {
    const p = await handle.query(reprocessProgressQuery).catch(() => undefined);
    if (p && p.step !== last) {
      last = p.step;
      out(`  step ${p.step} (files ${p.files}, enriched ${p.enriched?.good ?? '-'}, shredded ${p.shredded?.good ?? '-'})`);
    }
  }, 500);
  try {
    const result = await handle.result();
    out(`reprocess ${runId} done: ${result.loaded} rows now in the window`);
    return result;
  } finally {
    clearInterval(timer);
  }
}
