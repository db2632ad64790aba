import type { Client } from '@temporalio/client';
import { createOperatorActivities, type OperatorActivities } from '../../activities/operator';
import type { OwedWindow } from '../../views/owed-windows';
import type { OperatorPolicy } from '../../workflows/operator-state';

// The operator's activities for workflow tests on TestWorkflowEnvironment: the lease requests and
// the holder checks are the real ones (they talk to the test server), the warehouse state is kept
// in memory (the PostgreSQL side is tested in tests/integration/operator-skipped-load.test.ts).

export const testPolicy = (overrides: Partial<OperatorPolicy> = {}): OperatorPolicy => ({
  maxReprocessMs: 31 * 86_400_000,
  chunkMs: 86_400_000,
  masterRetentionMs: 400 * 86_400_000,
  reprocessOwedWindows: true,
  historyLimit: 10_000,
  ...overrides,
});

export interface WarehouseState {
  watermark: number | null;
  owed: OwedWindow[];
}

export function operatorActivities(client: Client, taskQueue: string, warehouse: WarehouseState = { watermark: null, owed: [] }, policy = testPolicy()): OperatorActivities {
  const real = createOperatorActivities({ client, taskQueue, policy, pool: undefined as never, views: undefined as never });
  return {
    requestPipelineLease: real.requestPipelineLease,
    holderIsRunning: real.holderIsRunning,
    async readPipelineState() {
      return { watermark: warehouse.watermark, owed: [...warehouse.owed] };
    },
    async recordSkippedLoad({ runId, window, reason }) {
      warehouse.owed = [...warehouse.owed.filter((o) => o.runId !== runId), { runId, ...window, reason }];
    },
  };
}
