import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { ObjectStore } from '../../adapters/object-store';
import type { ConsumeInput, ConsumeResult, ShardLabels, SpeedActivities, SpeedMetrics } from '../../activities/speed';
import { decodeCollectorPayload } from '../../codecs/collector-payload';
import { readLzop } from '../../codecs/lzop';
import { unframeRecords } from '../../codecs/record-framing';
import { ReadBudget } from '../../speed/read-budget';
import { ShardReads } from '../../speed/shard-feed';

// Helpers for the speed-layer tests: run a consume activity in Temporal's activity test
// environment (a real activity Context: heartbeats, cancellation), inject faults the stand-ins
// cannot produce on demand (throttling, iterator expiry) into the real Kinesis client, read back
// the raw files a sink wrote.

const quietLogger = new DefaultLogger('ERROR');

export interface ConsumeRun {
  result: Promise<ConsumeResult>;
  heartbeats: unknown[];
  cancel(): void;
}

/**
 * Shard reads with a read budget far above Kinesis's, for tests of the consume loop and the
 * processors under short time budgets (the real budget has its own tests: tests/unit/read-budget.test.ts,
 * tests/integration/speed-shard-feed.test.ts, tests/e2e/speed-read-budget.test.ts).
 */
export function unpacedReads(kinesis: KinesisClient): ShardReads {
  return new ShardReads({ kinesis, budget: new ReadBudget({ callsPerSecond: 100, bytesPerSecond: 1e9, guardMs: 0, joinDelayMs: 0 }) });
}

export function startConsume(activities: SpeedActivities, input: ConsumeInput): ConsumeRun {
  const env = new MockActivityEnvironment({ activityType: 'consumeShard', heartbeatTimeoutMs: 10_000 }, { logger: quietLogger });
  const heartbeats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => heartbeats.push(d));
  return { result: env.run(activities.consumeShard, input), heartbeats, cancel: () => env.cancel() };
}

export function runActivity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment({}, { logger: quietLogger }).run(fn, ...args);
}

/** Counts what the consumer reports, per kind of failure. */
export function recordingMetrics(): SpeedMetrics & { failures: Record<string, number>; polls: number; endedShards: string[] } {
  const failures: Record<string, number> = {};
  const m = {
    failures,
    polls: 0,
    endedShards: [] as string[],
    polled() {
      m.polls += 1;
    },
    failed(_labels: ShardLabels, kind: string) {
      failures[kind] = (failures[kind] ?? 0) + 1;
    },
    ended(labels: ShardLabels) {
      m.endedShards.push(labels.shard);
    },
  };
  return m;
}

/**
 * Makes the next `times` calls of `command` on the real client fail with `error` (before they
 * are sent), and records every command sent.
 */
export function faultInjector(client: KinesisClient) {
  const plan: { command: string; error: () => Error; times: number }[] = [];
  const sent: { command: string; input: Record<string, unknown> }[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = (context as { commandName?: string }).commandName ?? '?';
      sent.push({ command, input: args.input as Record<string, unknown> });
      const fault = plan.find((p) => p.command === command && p.times > 0);
      if (fault) {
        fault.times -= 1;
        throw fault.error();
      }
      return next(args);
    },
    { step: 'initialize', name: 'sluiceTestFaults' },
  );
  return {
    sent,
    failNext(command: string, error: () => Error, times = 1) {
      plan.push({ command, error, times });
    },
  };
}

/** Every file under `prefix`: its key and the records in it (lzop → length frames). */
export async function readRawFiles(store: ObjectStore, prefix: string): Promise<{ key: string; records: Buffer[] }[]> {
  const files = [];
  for (const key of await store.list(prefix)) files.push({ key, records: unframeRecords(await readLzop(await store.get(key))) });
  return files;
}

/** The event ids in raw Thrift CollectorPayload records (tp2 POST bodies and GET querystrings). */
export function eventIdsOfRawRecords(records: Buffer[]): string[] {
  const ids: string[] = [];
  for (const record of records) {
    const payload = decodeCollectorPayload(record);
    if (payload.body) {
      const body = JSON.parse(payload.body) as { data?: { eid?: string }[] };
      for (const e of body.data ?? []) if (e.eid) ids.push(e.eid);
    } else if (payload.querystring) {
      const eid = new URLSearchParams(payload.querystring).get('eid');
      if (eid) ids.push(eid);
    }
  }
  return ids;
}

/** How many times each value occurs. */
export function occurrences(values: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}
