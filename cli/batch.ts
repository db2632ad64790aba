import type { Client } from '@temporalio/client';
import type { SluiceConfig } from '../config';
import { workflowIds } from '../temporal.config';
import { batchRunWorkflow, progressQuery, type BatchRunProgress } from '../workflows/batch-run';

// Starting a batch run from the CLI and following it until it ends, with progress on stderr.

export function newRunId(now = new Date()): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export function temporalUiLink(config: SluiceConfig, workflowId: string, runId?: string): string {
  const base = `http://127.0.0.1:${config.temporal.uiPort}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${runId}/history` : base;
}

export async function runBatch(
  client: Client,
  config: SluiceConfig,
  runId = newRunId(),
  report: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<{ result: BatchRunProgress; workflowId: string; link: string }> {
  const workflowId = workflowIds.batchRun(runId);
  const handle = await client.workflow.start(batchRunWorkflow, {
    workflowId,
    taskQueue: config.temporal.taskQueues.batch,
    args: [{ runId, mode: config.batch.mode }],
    memo: { runId, mode: config.batch.mode },
  });
  const link = temporalUiLink(config, workflowId, handle.firstExecutionRunId);
  report(`batch run ${runId} started: ${link}`);
  let lastStep = '';
  let lastStatus = '';
  const timer = setInterval(async () => {
    try {
      const p = await handle.query(progressQuery);
      const statusBefore = lastStatus;
      lastStatus = p.status;
      if (p.step !== lastStep) {
        lastStep = p.step;
        report(`  step ${p.step} (files ${p.files}, enriched ${p.enriched?.good ?? '-'}, loaded ${p.loaded ?? '-'})`);
      }
      if (p.status === 'awaiting-operator' && statusBefore !== p.status) {
        report(`  run parked: ${p.reason}. Fix the cause, then: sluice run retry ${runId} (or skip/abort --reason …), or signal it from the Temporal UI`);
      }
    } catch {
      // the query can race the workflow's completion; the result below is authoritative
    }
  }, 500);
  try {
    const result = await handle.result();
    return { result, workflowId, link };
  } finally {
    clearInterval(timer);
  }
}
