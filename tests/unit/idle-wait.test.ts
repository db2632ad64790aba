import { describe, expect, it } from 'vitest';
import { idleWait } from '../../activities/speed';

describe('idleWait (a shard consumer between empty reads)', () => {
  it('doubles from pollMs after each empty read in a row, up to idlePollMs', () => {
    expect([1, 2, 3, 4, 5, 50, 5000].map((n) => idleWait(250, 1_000, n))).toEqual([250, 500, 1_000, 1_000, 1_000, 1_000, 1_000]);
    expect([1, 2, 3].map((n) => idleWait(100, 300, n))).toEqual([100, 200, 300]);
  });

  it('keeps pollMs when idlePollMs is unset or below it', () => {
    expect(idleWait(250, undefined, 7)).toBe(250);
    expect(idleWait(250, 100, 7)).toBe(250);
    expect(idleWait(250, 1_000, 0)).toBe(250);
  });
});
