import type { Client } from '@temporalio/client';
import { Gauge, type Registry } from 'prom-client';
import { operatorHandle } from '../cli/operator';
import { statusQuery } from '../workflows/operator';

// The pipeline operator's queue on the workers' /metrics: read from its `status` query at each
// scrape (a query is cheap and answers from the workflow's state), so the gauges are never stale.
// When the operator cannot answer (not started yet, no batch worker polling), both read -1.

export function operatorMetrics(registry: Registry, client: Client): void {
  let last: Promise<{ queued: number; running: number }> | undefined;
  // One query per scrape, shared by both gauges.
  const read = () =>
    (last ??= operatorHandle(client)
      .query(statusQuery)
      .then((s) => ({ queued: s.queued.length, running: s.running ? 1 : 0 }), () => ({ queued: -1, running: -1 }))
      .finally(() => setTimeout(() => (last = undefined), 1_000)));
  new Gauge({
    name: 'sluice_operator_queue_length',
    help: 'Batch runs, reprocesses and retention waiting for the pipeline lease (-1: the operator did not answer)',
    registers: [registry],
    async collect() {
      this.set((await read()).queued);
    },
  });
  new Gauge({
    name: 'sluice_operator_running',
    help: '1 while a batch run, reprocess or retention holds the pipeline lease (-1: the operator did not answer)',
    registers: [registry],
    async collect() {
      this.set((await read()).running);
    },
  });
}
