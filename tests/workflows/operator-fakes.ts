import { Context } from '@temporalio/activity';
import type { WarehouseState } from '../helpers/operator';

// Side-effect stand-ins for the operator's workflow tests: they record what ran, in order, and a
// gate can hold any step so a test sees what waits behind it. The real activities run against the
// real stand-ins in tests/e2e/batch-layer.test.ts and tests/integration/operator-cli.test.ts.

export class Gates {
  private closed = new Set<string>();
  /** Makes every load fail for good (the test then skips it). */
  failLoad = false;
  close(name: string) {
    this.closed.add(name);
  }
  open(name: string) {
    this.closed.delete(name);
  }
  async pass(name: string) {
    while (this.closed.has(name)) {
      Context.current().heartbeat();
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

type Window = { from: number; to: number };

/** Reprocess and batch steps; `replaceWindow` settles the owed windows it covers, as the real one does. */
export function pipelineFakes(calls: string[], gates: Gates, warehouse: WarehouseState) {
  return {
    async collectArchivedRaw({ runId, window }: { runId: string; window: Window }) {
      calls.push(`collect ${runId} ${window.from}-${window.to}`);
      return { files: 1 };
    },
    async replaceWindow({ runId, window }: { runId: string; window: Window }) {
      await gates.pass('replace');
      calls.push(`replace ${runId} ${window.from}-${window.to}`);
      warehouse.owed = warehouse.owed.filter((o) => !(o.from >= window.from && o.to <= window.to));
      return { loaded: 5, alreadyLoaded: false, tables: { events: 5 }, actions: [], viewRows: 1 };
    },
    async archiveReprocess({ runId }: { runId: string }) {
      calls.push(`archive ${runId}`);
      return { files: 1 };
    },
    async stageRawFiles({ runId }: { runId: string }) {
      await gates.pass('stage');
      calls.push(`stage ${runId}`);
      return { files: 1, completeThroughMs: [200_000] };
    },
    async enrichRawFiles({ runId }: { runId: string }) {
      calls.push(`enrich ${runId}`);
      return { files: 1, good: 5, bad: 0 };
    },
    async shredEnriched({ runId, buckets }: { runId: string; buckets: number }) {
      calls.push(`shred ${runId}`);
      return { files: 1, good: 5, bad: 0, minTstamp: 60_000, maxTstamp: 119_999, buckets, duplicates: { natural: 0, synthetic: 0 }, tables: {}, missingSchemas: [], truncated: 0 };
    },
    async loadWarehouse({ runId }: { runId: string }) {
      await gates.pass('load');
      calls.push(`load ${runId}`);
      return { loaded: 5, alreadyLoaded: false, tables: { events: 5 }, actions: [] };
    },
    async computeBatchViews({ runId }: { runId: string }) {
      calls.push(`views ${runId}`);
      warehouse.watermark = 120_000;
      return { watermark: 120_000, rows: 1 };
    },
    async archiveRun({ runId }: { runId: string }) {
      calls.push(`archive ${runId}`);
      return { files: 1 };
    },
  };
}
