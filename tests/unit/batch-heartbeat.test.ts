import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { heartbeatWhile } from '../../activities/batch';
import { sleep } from '../helpers/standins';

// The batch steps heartbeat from their progress and repeat the last heartbeat while a task is
// still running: one shred-reduce task on a starved core outlasted the 15 s heartbeat timeout.

const quiet = new DefaultLogger('ERROR');

function environment() {
  const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 15_000 }, { logger: quiet });
  const beats: Record<string, unknown>[] = [];
  env.on('heartbeat', (d: Record<string, unknown>) => beats.push(d));
  return { env, beats };
}

describe('heartbeatWhile', () => {
  it('repeats the last progress while a long task runs, and stops when the step returns', async () => {
    const { env, beats } = environment();
    const result = await env.run(() =>
      heartbeatWhile('shred', async (beat) => {
        await sleep(120); // no progress yet: the step says it is waiting
        beat(1, 4, 'shred-reduce');
        await sleep(250); // one long task: its heartbeat is repeated meanwhile
        beat(2, 4, 'shred-reduce');
        return 'done';
      }, 40),
    );
    expect(result).toBe('done');
    expect(beats[0]).toEqual({ step: 'shred', waiting: true });
    const first = beats.findIndex((b) => b.done === 1);
    const second = beats.findIndex((b) => b.done === 2);
    expect(first).toBeGreaterThan(0);
    expect(second).toBeGreaterThan(first);
    // Between the two task completions, the first one's progress went out again several times.
    const repeats = beats.slice(first + 1, second);
    expect(repeats.length).toBeGreaterThanOrEqual(3);
    for (const b of repeats) expect(b).toEqual({ step: 'shred-reduce', done: 1, total: 4 });
    const count = beats.length;
    await sleep(150);
    expect(beats.length).toBe(count);
  });

  it('passes the step name when no phase is given, and stops heartbeating when the step fails', async () => {
    const { env, beats } = environment();
    await expect(
      env.run(() =>
        heartbeatWhile('load', async (beat) => {
          beat(3, 5);
          await sleep(100);
          throw new Error('COPY failed');
        }, 30),
      ),
    ).rejects.toThrow('COPY failed');
    expect(beats.filter((b) => b.done === 3).length).toBeGreaterThanOrEqual(2);
    expect(beats.every((b) => b.step === 'load')).toBe(true);
    const count = beats.length;
    await sleep(100);
    expect(beats.length).toBe(count);
  });
});
