import { writeLzop } from '../codecs/lzop';
import { frameRecords } from '../codecs/record-framing';
import type { StreamRecord } from '../adapters/kinesis';
import type { ObjectStore } from '../adapters/object-store';
import { compareSequence, type ShardProcessor } from './processor';

// The raw S3 sink: the master dataset. Raw records are written unchanged, length-framed, in lzop
// files under raw/in/. A file is named by its shard and first sequence number, so a retried flush
// of the same records rewrites the same key instead of adding a second copy. After each file the
// shard's progress marker records what the master dataset now holds: the batch layer reads the
// markers to know how far its watermark may advance.

export const RAW_IN = 'raw/in/';

export interface RawSinkProgress {
  shardId: string;
  lastSequenceNumber?: string;
  /** Every record that reached the shard before this instant is in a raw file. */
  completeThroughMs: number;
}

export const progressKey = (stream: string, shardId: string) => `raw/progress/${stream}/${shardId}.json`;

export function rawFileKey(stream: string, shardId: string, firstSequence: string, firstArrivalMs: number): string {
  const day = new Date(firstArrivalMs).toISOString().slice(0, 10);
  // Zero-padded so that lexicographic order is sequence order within a shard.
  return `${RAW_IN}${day}/${stream}-${shardId}-${firstSequence.padStart(56, '0')}.lzo`;
}

export async function readProgress(store: ObjectStore, stream: string, shardIds: string[]): Promise<(RawSinkProgress | undefined)[]> {
  return Promise.all(
    shardIds.map(async (shardId) => {
      const key = progressKey(stream, shardId);
      return (await store.exists(key)) ? (JSON.parse((await store.get(key)).toString()) as RawSinkProgress) : undefined;
    }),
  );
}

export function rawSinkProcessor(
  store: ObjectStore,
  limits: { maxRecords: number; maxBytes: number; maxAgeMs: number },
): ShardProcessor {
  // The workflow id is the lease on a shard, so this process is the marker's only writer.
  const lastWritten = new Map<string, RawSinkProgress>();
  return {
    name: 'raw-s3',
    flushPolicy: limits,
    async resume(stream, shardId) {
      const [progress] = await readProgress(store, stream, [shardId]);
      return progress?.lastSequenceNumber;
    },
    async process(records, ctx, idle) {
      const cacheKey = `${ctx.stream}/${ctx.shardId}`;
      const previous = lastWritten.get(cacheKey) ?? (await readProgress(store, ctx.stream, [ctx.shardId]))[0];
      let lastSequenceNumber = previous?.lastSequenceNumber;
      let completeThroughMs = previous?.completeThroughMs ?? 0;
      if (records.length > 0) {
        const first = records[0];
        const last: StreamRecord = records[records.length - 1];
        const body = writeLzop(frameRecords(records.map((r) => r.data)), { mtimeMs: last.arrivalMs });
        await store.put(rawFileKey(ctx.stream, ctx.shardId, first.sequenceNumber, first.arrivalMs), body, 'application/x-lzop');
        if (!lastSequenceNumber || compareSequence(last.sequenceNumber, lastSequenceNumber) > 0) lastSequenceNumber = last.sequenceNumber;
        completeThroughMs = Math.max(completeThroughMs, last.arrivalMs);
      }
      if (idle.caughtUpAtMs !== undefined) completeThroughMs = Math.max(completeThroughMs, idle.caughtUpAtMs);
      // Idle progress is written at most every couple of seconds: markers are read per batch run, not per poll.
      if (records.length > 0 || completeThroughMs - (previous?.completeThroughMs ?? 0) >= 2_000) {
        const progress: RawSinkProgress = { shardId: ctx.shardId, lastSequenceNumber, completeThroughMs };
        await store.put(progressKey(ctx.stream, ctx.shardId), JSON.stringify(progress), 'application/json');
        lastWritten.set(cacheKey, progress);
      }
      return records.length > 0 ? records[records.length - 1].sequenceNumber : undefined;
    },
  };
}
