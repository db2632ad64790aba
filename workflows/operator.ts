import {
  allHandlersFinished,
  ChildWorkflowFailure,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  executeChild,
  getExternalWorkflowHandle,
  log,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { OperatorActivities } from '../activities/operator';
import { controlActivity, workflowIds } from '../temporal.config';
import {
  emptyState,
  enqueueReprocess,
  FAILURES_KEPT,
  RECENT_KEPT,
  remember,
  statusOf,
  validateWindow,
  type Accepted,
  type Finished,
  type OperatorInput,
  type OperatorState,
  type OperatorStatus,
  type ReprocessJob,
  type ReprocessRequestBody,
} from './operator-state';
import { acquireLeaseSignal, leaseGrantedSignal, releaseLeaseSignal, type LeaseRelease, type LeaseRequest, type TimeWindow } from './pipeline-lease';
import { reprocessWorkflow } from './reprocess';

// The pipeline operator: one long-running workflow per deployment (id `pipeline-operator`), the
// one place operators talk to (docs/operator.md). It holds the pipeline lease and grants it to one
// holder at a time, first come first served: a batch run (scheduled or manual) for its whole run,
// a reprocess (run here, as child runs), or retention. So no two of them ever load, replace or
// delete the same window at once. Reprocess requests arrive as a signal (the Temporal UI's form)
// or an update (CLI and clients: validated first, answered with the reprocess's id).

/** Temporal UI / `temporal workflow signal`: invalid requests are recorded under lastFailures. */
export const reprocessSignal = defineSignal<[ReprocessRequestBody]>('reprocess');
/** `temporal workflow update execute` / `sluice reprocess`: refused with the reason if invalid. */
export const reprocessUpdate = defineUpdate<Accepted, [ReprocessRequestBody]>('reprocess');
export const statusQuery = defineQuery<OperatorStatus>('status');

const { holderIsRunning, readPipelineState } = proxyActivities<OperatorActivities>(controlActivity);

/** How often the operator checks that the workflow holding the lease still runs. */
const HOLDER_CHECK = '1 minute';

export async function pipelineOperatorWorkflow(input: OperatorInput): Promise<never> {
  const { policy } = input;
  const state: OperatorState = input.state ?? emptyState();

  const show = () =>
    // Plain values for the UI's list (a null would remove the field).
    upsertMemo({
      watermark: state.watermark === null ? 'none' : new Date(state.watermark).toISOString(),
      running: state.holder ? `${state.holder.kind} ${state.holder.id}` : 'nothing',
      queued: state.queue.length,
      skippedLoads: state.owed.length,
      lastFailure: state.failures.at(-1)?.error ?? 'none',
    });
  const fail = (what: string, error: string) => remember(state.failures, { at: Date.now(), what, error }, FAILURES_KEPT);
  const finish = (f: Omit<Finished, 'at'>) => remember(state.recent, { ...f, at: Date.now() }, RECENT_KEPT);
  const accept = (body: ReprocessRequestBody) => {
    const window = validateWindow(body, Date.now(), policy);
    const accepted = enqueueReprocess(state, window, body.reason?.trim() || 'requested by an operator', Date.now(), policy);
    log.info('reprocess accepted', { ...accepted });
    show();
    return accepted;
  };

  setHandler(statusQuery, () => statusOf(state, policy));
  setHandler(reprocessUpdate, accept, { validator: (body) => void validateWindow(body, Date.now(), policy) });
  setHandler(reprocessSignal, (body) => {
    try {
      accept(body);
    } catch (err) {
      fail('reprocess signal refused', (err as Error).message);
      show();
    }
  });
  setHandler(acquireLeaseSignal, (request) => {
    // A retried request activity asks twice: the holder or its queued place stands.
    if (state.holder?.id === request.id || state.queue.some((q) => q.kind === 'lease' && q.request.id === request.id)) return;
    state.queue.push({ kind: 'lease', request });
    show();
  });
  setHandler(releaseLeaseSignal, (release) => {
    if (state.holder?.id === release.id && !state.holder.job) {
      released(release);
    } else {
      // Released before its turn (the holder ended while queued): its place goes.
      state.queue = state.queue.filter((q) => !(q.kind === 'lease' && q.request.id === release.id));
    }
    show();
  });

  function released(r: LeaseRelease) {
    const holder = state.holder!;
    state.holder = undefined;
    if (r.watermark !== undefined) state.watermark = r.watermark;
    finish({ kind: holder.kind, id: holder.id, outcome: r.outcome, window: r.window, error: r.error });
    if (r.outcome === 'failed' || r.outcome === 'aborted') fail(`${holder.kind} ${holder.id} ${r.outcome}`, r.error ?? r.outcome);
    if (r.outcome === 'load-skipped' && r.window) owe(holder.id, r.window, r.error ?? 'load skipped by an operator');
  }

  /** A skipped load: its window stays with the realtime views, and is reprocessed if the policy says so. */
  function owe(runId: string, window: TimeWindow, reason: string) {
    if (!state.owed.some((o) => o.runId === runId)) state.owed.push({ runId, ...window, reason });
    if (policy.reprocessOwedWindows) enqueueReprocess(state, window, `load of run ${runId} skipped (${reason})`, Date.now(), policy);
  }

  /** Runs a reprocess as child runs, one per chunk, holding the lease throughout. */
  async function runReprocess(job: ReprocessJob) {
    state.holder = { kind: 'reprocess', id: job.id, workflowId: workflowInfo().workflowId, since: Date.now(), job };
    show();
    let outcome: Finished['outcome'] = 'completed';
    let error: string | undefined;
    while (job.chunksDone < job.chunks.length) {
      const chunk = job.chunks[job.chunksDone];
      const runId = job.chunks.length === 1 ? job.id : `${job.id}-${job.chunksDone + 1}`;
      try {
        const result = await executeChild(reprocessWorkflow, {
          workflowId: workflowIds.reprocess(runId),
          args: [{ runId, ...chunk }],
          // A continue-as-new never happens mid-job, and a terminated operator should not strand a half-replaced window.
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        });
        job.loaded += result.loaded ?? 0;
        job.chunksDone += 1;
        show();
      } catch (err) {
        if (!(err instanceof ChildWorkflowFailure)) throw err;
        outcome = 'failed';
        error = `child ${runId}: ${(err.cause ?? err).message}`;
        fail(`reprocess ${job.id}`, error);
        break;
      }
    }
    if (outcome === 'completed') {
      // The reprocess's replace cleared the owed windows it covers (views/owed-windows.ts).
      const after = await readPipelineState();
      state.owed = after.owed;
      state.watermark = after.watermark;
    }
    finish({ kind: 'reprocess', id: job.id, outcome, window: job.window, loaded: job.loaded, error });
    state.holder = undefined;
    show();
  }

  /** Grants the lease to an external holder and waits for its release (or for it to vanish). */
  async function grant(request: LeaseRequest) {
    state.holder = { kind: request.kind, id: request.id, workflowId: request.workflowId, since: Date.now() };
    show();
    const protect = [
      ...state.owed.map(({ from, to }) => ({ from, to })),
      ...state.queue.flatMap((q) => (q.kind === 'reprocess' ? [q.job.window] : [])),
    ];
    try {
      await getExternalWorkflowHandle(request.workflowId).signal(leaseGrantedSignal, { id: request.id, protect });
    } catch (err) {
      // The holder ended before its turn came.
      finish({ kind: request.kind, id: request.id, outcome: 'vanished', error: (err as Error).message });
      state.holder = undefined;
    }
  }

  if (!input.state) {
    const initial = await readPipelineState();
    state.watermark = initial.watermark;
    for (const o of initial.owed) owe(o.runId, o, o.reason);
  }
  show();

  const historyFull = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= policy.historyLimit;
  for (;;) {
    if (state.holder && !state.holder.job) {
      // An external holder: wait for its release, checking now and then that it still runs.
      const releasedInTime = await condition(() => !state.holder || historyFull(), HOLDER_CHECK);
      if (state.holder && !releasedInTime && !(await holderIsRunning({ workflowId: state.holder.workflowId }))) {
        const gone = state.holder;
        state.holder = undefined;
        finish({ kind: gone.kind, id: gone.id, outcome: 'vanished', error: 'its workflow ended without releasing the lease' });
        fail(`${gone.kind} ${gone.id}`, 'its workflow ended without releasing the lease');
        show();
      }
    } else {
      await condition(() => state.queue.length > 0 || historyFull());
    }
    if (historyFull()) {
      // Handlers are synchronous, so none is mid-flight; the state (queue, holder) carries over.
      await condition(allHandlersFinished);
      await continueAsNew<typeof pipelineOperatorWorkflow>({ policy, state });
    }
    if (state.holder) continue;
    const next = state.queue.shift();
    if (!next) continue;
    if (next.kind === 'reprocess') await runReprocess(next.job);
    else await grant(next.request);
  }
}
