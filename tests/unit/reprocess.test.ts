import { describe, expect, it } from 'vitest';
import { archivedRawInWindow, openRuns } from '../../activities/reprocess';
import { runIdOf } from '../../workflows/batch-run';

describe('reprocess input selection', () => {
  const keys = [
    'archive/raw/run=a/2026-11-19/sluice-raw-shardId-0-1.lzo',
    'archive/raw/run=a/2026-11-20/sluice-raw-shardId-0-2.lzo',
    'archive/raw/run=b/2026-11-21/sluice-raw-shardId-1-3.lzo',
    'archive/raw/run=c/2026-11-23/sluice-raw-shardId-1-4.lzo',
    'archive/raw/run=c/not-a-day/x.lzo',
  ];

  it('takes the days of the window plus the day before (a file can run past midnight)', () => {
    const window = { from: Date.parse('2026-11-21T00:30:00Z'), to: Date.parse('2026-11-21T02:00:00Z') };
    expect(archivedRawInWindow(keys, window)).toEqual([keys[1], keys[2]]);
    const wide = { from: Date.parse('2026-11-20T12:00:00Z'), to: Date.parse('2026-11-23T00:00:00Z') };
    expect(archivedRawInWindow(keys, wide)).toEqual(keys.slice(0, 4));
  });

  it('finds runs that still hold staged files, other than the reprocess itself', () => {
    expect(openRuns(['raw/processing/run=r1/2026-11-21/a.lzo', 'raw/processing/run=r1/2026-11-21/b.lzo', 'raw/processing/run=self/x.lzo', 'raw/processing/run=r0/y.lzo'], 'self'))
      .toEqual(['r0', 'r1']);
    expect(openRuns([], 'self')).toEqual([]);
  });

  it('derives run ids from workflow ids, scheduled ones included', () => {
    expect(runIdOf('batch-run/20261121T220000Z')).toBe('20261121T220000Z');
    expect(runIdOf('batch-run/scheduled-2026-11-21T22:54:02Z')).toBe('scheduled-2026-11-21T22-54-02Z');
  });
});
