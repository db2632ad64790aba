import type { LeaseKind, LeaseRequest, OperatorPolicy, ReprocessRequestBody, TimeWindow } from './operator-types';

export type { OperatorPolicy, ReprocessRequestBody } from './operator-types';

// The operator workflow's state and the pure rules it applies: validating a reprocess window,
// coalescing it with the queue, splitting it into child runs. No Temporal APIs here, so the rules
// are unit-tested directly (tests/unit/operator-state.test.ts).

export interface ReprocessJob {
  id: string;
  window: TimeWindow;
  reasons: string[];
  requestedAt: number;
  /** The child runs, in order; `chunksDone` of them have finished. */
  chunks: TimeWindow[];
  chunksDone: number;
  /** Rows now in the window, summed over the finished child runs. */
  loaded: number;
}

export type QueueItem = { kind: 'lease'; request: LeaseRequest } | { kind: 'reprocess'; job: ReprocessJob };

export interface Holder {
  kind: LeaseKind;
  id: string;
  workflowId: string;
  since: number;
  /** The reprocess the operator runs itself (kind = reprocess). */
  job?: ReprocessJob;
}

export interface Finished {
  kind: LeaseKind;
  id: string;
  outcome: 'completed' | 'load-skipped' | 'failed' | 'aborted' | 'vanished';
  at: number;
  window?: TimeWindow;
  loaded?: number;
  error?: string;
}

export interface OwedLoad extends TimeWindow {
  runId: string;
  reason: string;
}

export interface OperatorState {
  queue: QueueItem[];
  holder?: Holder;
  owed: OwedLoad[];
  /** The last few holders that finished, newest last. */
  recent: Finished[];
  /** The last few failures (failed holders, refused signals), newest last. */
  failures: { at: number; what: string; error: string }[];
  watermark: number | null;
  /** Requests accepted since the first run: makes job ids unique. */
  seq: number;
}

export interface OperatorInput {
  policy: OperatorPolicy;
  /** Carried over by continue-as-new. */
  state?: OperatorState;
}

export const RECENT_KEPT = 20;
export const FAILURES_KEPT = 10;

export function emptyState(): OperatorState {
  return { queue: [], owed: [], recent: [], failures: [], watermark: null, seq: 0 };
}

const HOUR_MS = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * A reprocess request's window, or an Error saying what is wrong with it. `to` is exclusive.
 * `now` is the workflow's clock (deterministic).
 */
export function validateWindow(body: unknown, now: number, policy: OperatorPolicy): TimeWindow {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new Error('a reprocess request is a JSON object: {"from": "2026-12-01T10:00:00Z", "to": "2026-12-01T11:00:00Z", "reason": "…"}');
  }
  const { from, to, reason } = body as Record<string, unknown>;
  const parse = (name: string, v: unknown): number => {
    // ISO 8601 with a date and a time: Date.parse alone would take "1" or "2026" as well.
    if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(v) || !Number.isFinite(Date.parse(v))) {
      throw new Error(`"${name}" must be an ISO 8601 time with a zone, e.g. 2026-12-01T10:00:00Z (got ${JSON.stringify(v)?.slice(0, 60)})`);
    }
    return Date.parse(v);
  };
  const window = { from: parse('from', from), to: parse('to', to) };
  if (reason !== undefined && typeof reason !== 'string') throw new Error('"reason" must be a string');
  if (typeof reason === 'string' && reason.length > 500) throw new Error('"reason" is at most 500 characters');
  if (!(window.to > window.from)) throw new Error(`"to" (${iso(window.to)}) must be after "from" (${iso(window.from)})`);
  if (window.to - window.from > policy.maxReprocessMs) {
    throw new Error(`a reprocess window is at most ${Math.round(policy.maxReprocessMs / HOUR_MS)} hours (operator.maxReprocessDays); split longer ones`);
  }
  if (window.to > now) throw new Error(`"to" (${iso(window.to)}) is in the future (now ${iso(now)}): only collected events can be reprocessed`);
  if (window.from < now - policy.masterRetentionMs) {
    throw new Error(`"from" (${iso(window.from)}) is older than the master dataset's retention (${Math.round(policy.masterRetentionMs / 86_400_000)} days, operator.masterRetentionDays)`);
  }
  return window;
}

/** Overlapping or adjacent (one ends where the other starts). */
export function touches(a: TimeWindow, b: TimeWindow): boolean {
  return a.from <= b.to && b.from <= a.to;
}

/** The window split into child runs of at most `chunkMs`, on multiples of it (so retried splits agree). */
export function chunksOf(window: TimeWindow, chunkMs: number): TimeWindow[] {
  const out: TimeWindow[] = [];
  for (let from = window.from; from < window.to; ) {
    const to = Math.min(window.to, (Math.floor(from / chunkMs) + 1) * chunkMs);
    out.push({ from, to });
    from = to;
  }
  return out;
}

export interface Accepted {
  /** The reprocess the request started or joined. */
  id: string;
  joined: boolean;
  /** The job's window after coalescing. */
  window: { from: string; to: string };
}

/**
 * Adds a validated window to the operator's work: a window the running reprocess still has ahead
 * of it joins that run; one touching queued reprocesses merges them into the earliest of them
 * (which keeps its place in the queue); anything else is queued at the end.
 */
export function enqueueReprocess(state: OperatorState, window: TimeWindow, reason: string, now: number, policy: OperatorPolicy): Accepted {
  const out = (job: ReprocessJob, joined: boolean): Accepted => ({ id: job.id, joined, window: { from: iso(job.window.from), to: iso(job.window.to) } });
  const running = state.holder?.job;
  if (running) {
    // Chunks not started yet: the one in progress may have read its files already.
    const ahead = running.chunks.slice(running.chunksDone + 1);
    if (ahead.length && window.from >= ahead[0].from && window.to <= running.window.to) {
      running.reasons.push(reason);
      return out(running, true);
    }
  }
  const touching = state.queue.filter((q): q is Extract<QueueItem, { kind: 'reprocess' }> => q.kind === 'reprocess' && touches(q.job.window, window));
  if (touching.length) {
    const [first, ...rest] = touching;
    const job = first.job;
    for (const other of [{ window, reasons: [reason] }, ...rest.map((r) => r.job)]) {
      job.window = { from: Math.min(job.window.from, other.window.from), to: Math.max(job.window.to, other.window.to) };
      job.reasons.push(...other.reasons);
    }
    job.chunks = chunksOf(job.window, policy.chunkMs);
    state.queue = state.queue.filter((q) => !rest.includes(q as never));
    return out(job, true);
  }
  state.seq += 1;
  const job: ReprocessJob = {
    id: `rp-${iso(now).slice(0, 19).replace(/[-:]/g, '')}-${state.seq}`,
    window,
    reasons: [reason],
    requestedAt: now,
    chunks: chunksOf(window, policy.chunkMs),
    chunksDone: 0,
    loaded: 0,
  };
  state.queue.push({ kind: 'reprocess', job });
  return out(job, false);
}

export function remember<T>(list: T[], item: T, kept: number): void {
  list.push(item);
  if (list.length > kept) list.splice(0, list.length - kept);
}

/** What the `status` query answers: times as ISO strings, for people and the CLI. */
export function statusOf(state: OperatorState, policy: OperatorPolicy) {
  const w = (x?: TimeWindow) => (x ? { from: iso(x.from), to: iso(x.to) } : undefined);
  const job = (j: ReprocessJob) => ({
    id: j.id,
    window: w(j.window)!,
    reasons: j.reasons,
    requestedAt: iso(j.requestedAt),
    chunks: j.chunks.length,
    chunksDone: j.chunksDone,
    loaded: j.loaded,
  });
  return {
    watermark: state.watermark === null ? null : iso(state.watermark),
    running: state.holder
      ? { kind: state.holder.kind, id: state.holder.id, workflowId: state.holder.workflowId, since: iso(state.holder.since), ...(state.holder.job ? { reprocess: job(state.holder.job) } : {}) }
      : null,
    queued: state.queue.map((q) =>
      q.kind === 'lease'
        ? { kind: q.request.kind, id: q.request.id, workflowId: q.request.workflowId, requestedAt: iso(q.request.requestedAt) }
        : { kind: 'reprocess' as const, ...job(q.job) },
    ),
    skippedLoads: state.owed.map((o) => ({ runId: o.runId, ...w(o)!, reason: o.reason })),
    recent: state.recent.map((f) => ({ ...f, at: iso(f.at), window: w(f.window) })),
    lastFailures: state.failures.map((f) => ({ ...f, at: iso(f.at) })),
    policy: {
      maxReprocessHours: policy.maxReprocessMs / HOUR_MS,
      chunkHours: policy.chunkMs / HOUR_MS,
      masterRetentionDays: policy.masterRetentionMs / 86_400_000,
      reprocessOwedWindows: policy.reprocessOwedWindows,
    },
  };
}

export type OperatorStatus = ReturnType<typeof statusOf>;
