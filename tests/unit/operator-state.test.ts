import { describe, expect, it } from 'vitest';
import { chunksOf, emptyState, enqueueReprocess, remember, statusOf, touches, validateWindow, type OperatorPolicy } from '../../workflows/operator-state';
import { isOwed } from '../../views/owed-windows';
import { mergeViews, sourceOf } from '../../views/definitions';

const H = 3_600_000;
const NOW = Date.parse('2026-12-03T12:00:00Z');
const policy: OperatorPolicy = { maxReprocessMs: 31 * 24 * H, chunkMs: 24 * H, masterRetentionMs: 400 * 24 * H, reprocessOwedWindows: true, historyLimit: 10_000 };
const at = (s: string) => Date.parse(s);

describe('validateWindow', () => {
  it('accepts ISO times with a zone and returns [from, to) in ms', () => {
    expect(validateWindow({ from: '2026-12-01T10:00:00Z', to: '2026-12-01T11:00:00+00:00', reason: 'fix' }, NOW, policy)).toEqual({ from: at('2026-12-01T10:00:00Z'), to: at('2026-12-01T11:00:00Z') });
    expect(validateWindow({ from: '2026-12-01T10:00Z', to: '2026-12-01T10:30:00.500Z' }, NOW, policy).to).toBe(at('2026-12-01T10:30:00.500Z'));
  });

  it.each([
    [null, /JSON object/],
    [[1, 2], /JSON object/],
    ['2026-12-01', /JSON object/],
    [{ from: 'yesterday', to: '2026-12-01T11:00:00Z' }, /"from" must be an ISO 8601 time/],
    [{ from: '2026-12-01T10:00:00', to: '2026-12-01T11:00:00Z' }, /"from" must be an ISO 8601 time with a zone/],
    [{ from: '2026-12-01T10:00:00Z' }, /"to" must be an ISO 8601/],
    [{ from: 1764583200000, to: '2026-12-01T11:00:00Z' }, /"from" must be/],
    [{ from: '2026-12-01T11:00:00Z', to: '2026-12-01T10:00:00Z' }, /"to" \(2026-12-01T10:00:00.000Z\) must be after "from"/],
    [{ from: '2026-12-01T10:00:00Z', to: '2026-12-01T10:00:00Z' }, /must be after/],
    [{ from: '2026-10-01T00:00:00Z', to: '2026-11-02T00:00:00Z' }, /at most 744 hours/],
    [{ from: '2026-12-03T11:00:00Z', to: '2026-12-03T13:00:00Z' }, /in the future/],
    [{ from: '2025-01-01T00:00:00Z', to: '2025-01-02T00:00:00Z' }, /older than the master dataset's retention \(400 days/],
    [{ from: '2026-12-01T10:00:00Z', to: '2026-12-01T11:00:00Z', reason: 7 }, /"reason" must be a string/],
    [{ from: '2026-12-01T10:00:00Z', to: '2026-12-01T11:00:00Z', reason: 'x'.repeat(501) }, /at most 500/],
  ])('refuses %j', (body, message) => {
    expect(() => validateWindow(body, NOW, policy)).toThrow(message);
  });
});

describe('chunksOf', () => {
  it('splits on multiples of the chunk, so a retried split gives the same child runs', () => {
    expect(chunksOf({ from: at('2026-12-01T20:00:00Z'), to: at('2026-12-03T02:00:00Z') }, 24 * H)).toEqual([
      { from: at('2026-12-01T20:00:00Z'), to: at('2026-12-02T00:00:00Z') },
      { from: at('2026-12-02T00:00:00Z'), to: at('2026-12-03T00:00:00Z') },
      { from: at('2026-12-03T00:00:00Z'), to: at('2026-12-03T02:00:00Z') },
    ]);
    expect(chunksOf({ from: 10, to: 20 }, 24 * H)).toEqual([{ from: 10, to: 20 }]);
  });
});

describe('enqueueReprocess', () => {
  it('queues a new window, merges overlapping and adjacent ones into the earliest job, and keeps apart ones apart', () => {
    const s = emptyState();
    const a = enqueueReprocess(s, { from: 10 * H, to: 11 * H }, 'a', NOW, policy);
    const far = enqueueReprocess(s, { from: 20 * H, to: 21 * H }, 'far', NOW, policy);
    const adjacent = enqueueReprocess(s, { from: 11 * H, to: 12 * H }, 'b', NOW, policy);
    const inside = enqueueReprocess(s, { from: 10 * H + 5, to: 10 * H + 10 }, 'c', NOW, policy);
    expect(a.joined).toBe(false);
    expect(far.joined).toBe(false);
    expect(far.id).not.toBe(a.id);
    expect(adjacent).toMatchObject({ id: a.id, joined: true });
    expect(inside).toMatchObject({ id: a.id, joined: true });
    expect(s.queue.map((q) => (q.kind === 'reprocess' ? [q.job.id, q.job.window, q.job.reasons] : null))).toEqual([
      [a.id, { from: 10 * H, to: 12 * H }, ['a', 'b', 'c']],
      [far.id, { from: 20 * H, to: 21 * H }, ['far']],
    ]);
    // A window bridging both merges them into the first; the second leaves the queue.
    const bridge = enqueueReprocess(s, { from: 12 * H, to: 20 * H }, 'bridge', NOW, policy);
    expect(bridge).toMatchObject({ id: a.id, joined: true, window: { from: new Date(10 * H).toISOString(), to: new Date(21 * H).toISOString() } });
    expect(s.queue).toHaveLength(1);
    expect(s.queue[0].kind === 'reprocess' && s.queue[0].job.reasons).toEqual(['a', 'b', 'c', 'bridge', 'far']);
  });

  it('keeps lease requests in their place: a reprocess merges only with reprocesses', () => {
    const s = emptyState();
    const a = enqueueReprocess(s, { from: 0, to: H }, 'a', NOW, policy);
    s.queue.push({ kind: 'lease', request: { kind: 'batch', id: 'run-1', workflowId: 'batch-run/run-1', requestedAt: NOW } });
    enqueueReprocess(s, { from: H, to: 2 * H }, 'b', NOW, policy);
    expect(s.queue.map((q) => q.kind)).toEqual(['reprocess', 'lease']);
    expect(s.queue[0].kind === 'reprocess' && s.queue[0].job).toMatchObject({ id: a.id, window: { from: 0, to: 2 * H } });
  });

  it('joins the running reprocess only for a window in the child runs it has not started', () => {
    const s = emptyState();
    const day = 24 * H;
    enqueueReprocess(s, { from: 0, to: 3 * day }, 'big', NOW, policy);
    const item = s.queue.shift()!;
    if (item.kind !== 'reprocess') throw new Error('expected the reprocess');
    const job = item.job;
    s.holder = { kind: 'reprocess', id: job.id, workflowId: 'pipeline-operator', since: NOW, job };
    job.chunksDone = 0; // the first child run is in progress
    expect(enqueueReprocess(s, { from: day + H, to: day + 2 * H }, 'ahead', NOW, policy)).toMatchObject({ id: job.id, joined: true });
    expect(job.reasons).toEqual(['big', 'ahead']);
    const behind = enqueueReprocess(s, { from: H, to: 2 * H }, 'in the running chunk', NOW, policy);
    expect(behind.joined).toBe(false);
    expect(s.queue).toHaveLength(1);
  });
});

describe('status and bookkeeping', () => {
  it('keeps the last N entries and reports times as ISO strings', () => {
    const list: number[] = [];
    for (let i = 0; i < 15; i++) remember(list, i, 10);
    expect(list).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    const s = emptyState();
    s.watermark = at('2026-12-03T11:00:00Z');
    s.owed.push({ runId: 'r1', from: at('2026-12-03T09:00:00Z'), to: at('2026-12-03T09:30:00Z'), reason: 'skipped' });
    enqueueReprocess(s, { from: at('2026-12-03T09:00:00Z'), to: at('2026-12-03T09:30:00Z') }, 'owed', NOW, policy);
    const status = statusOf(s, policy);
    expect(status).toMatchObject({
      watermark: '2026-12-03T11:00:00.000Z',
      running: null,
      queued: [{ kind: 'reprocess', window: { from: '2026-12-03T09:00:00.000Z', to: '2026-12-03T09:30:00.000Z' }, chunks: 1, chunksDone: 0 }],
      skippedLoads: [{ runId: 'r1', from: '2026-12-03T09:00:00.000Z', to: '2026-12-03T09:30:00.000Z', reason: 'skipped' }],
      policy: { maxReprocessHours: 744, chunkHours: 24, masterRetentionDays: 400, reprocessOwedWindows: true },
    });
  });

  it('touches: overlapping or adjacent', () => {
    expect(touches({ from: 0, to: 10 }, { from: 10, to: 20 })).toBe(true);
    expect(touches({ from: 0, to: 10 }, { from: 11, to: 20 })).toBe(false);
    expect(touches({ from: 5, to: 6 }, { from: 0, to: 10 })).toBe(true);
  });
});

describe('owed windows in the merge', () => {
  const M = 60_000;
  it('answers a bucket a skipped load owes from the realtime views, even below the watermark', () => {
    const owed = [{ from: 2 * M + 30_000, to: 3 * M }];
    expect(isOwed(2 * M, M, owed)).toBe(true);
    expect(isOwed(3 * M, M, owed)).toBe(false);
    expect(sourceOf('minute', 2 * M, 10 * M, owed)).toBe('realtime');
    expect(sourceOf('minute', 1 * M, 10 * M, owed)).toBe('batch');
    expect(sourceOf('hour', 0, 2 * H, owed)).toBe('realtime');
    const batch = [1, 2, 3].map((m) => ({ bucket: m * M, key: '', value: 100 }));
    const realtime = [1, 2, 3].map((m) => ({ bucket: m * M, key: '', value: 7 }));
    expect(mergeViews(batch, realtime, 10 * M, 'minute', { from: M, to: 4 * M }, owed).map((v) => [v.bucket / M, v.value, v.source])).toEqual([
      [1, 100, 'batch'],
      [2, 7, 'realtime'],
      [3, 100, 'batch'],
    ]);
  });
});
