import {
  CancellationScope,
  condition,
  defineSignal,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { OperatorActivities } from '../activities/operator';
import { controlActivity, workflowIds } from '../temporal.config';
import type { LeaseGrant, LeaseKind, LeaseRelease, LeaseRequest } from './operator-types';

export type { LeaseGrant, LeaseKind, LeaseRelease, LeaseRequest, TimeWindow } from './operator-types';

// The pipeline lease: the operator workflow (workflows/operator.ts) grants it to one holder at a
// time, in the order asked, so batch runs (scheduled or manual), reprocesses and retention never
// touch the warehouse's windows at the same time (docs/operator.md, "Serialization"). A holder
// asks through an activity (signal-with-start, so the operator exists even before `sluice up`
// started it), waits for the grant signal, and signals the release when it is done.

/** Operator ← holder. */
export const acquireLeaseSignal = defineSignal<[LeaseRequest]>('acquireLease');
export const releaseLeaseSignal = defineSignal<[LeaseRelease]>('releaseLease');
/** Holder ← operator. */
export const leaseGrantedSignal = defineSignal<[LeaseGrant]>('leaseGranted');

const { requestPipelineLease } = proxyActivities<OperatorActivities>(controlActivity);

export interface HeldLease {
  grant: LeaseGrant;
  /** Signals the release (once; later calls do nothing). Not cancellable. */
  release(release: Omit<LeaseRelease, 'id'>): Promise<void>;
}

/**
 * Asks the operator for the lease and waits until it is granted. The caller releases it, on
 * every path (`try … finally`); a holder that ends without releasing is noticed by the operator,
 * which checks its holder's workflow is still running.
 */
export async function acquirePipelineLease(kind: LeaseKind, id: string): Promise<HeldLease> {
  let grant: LeaseGrant | undefined;
  setHandler(leaseGrantedSignal, (g) => {
    if (g.id === id) grant = g;
  });
  const info = workflowInfo();
  await requestPipelineLease({ kind, id, workflowId: info.workflowId, requestedAt: Date.now() });
  await condition(() => grant !== undefined);
  let released = false;
  return {
    grant: grant!,
    async release(r) {
      if (released) return;
      released = true;
      await CancellationScope.nonCancellable(() =>
        getExternalWorkflowHandle(workflowIds.operator()).signal(releaseLeaseSignal, { id, ...r }),
      );
    },
  };
}
