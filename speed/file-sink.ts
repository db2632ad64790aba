import type { StreamRecord } from '../adapters/kinesis';
import type { ObjectStore } from '../adapters/object-store';
import { compareSequence, type ShardProcessor } from './processor';

// A shard's records written to the object store as files, rotated by record count, size and age
// (the processor's flush policy). A file is named by its shard and first sequence number, so a
// retried flush of the same records rewrites the same key instead of adding a second copy. After
// each file the shard's progress marker records what the files now hold: the batch layer reads
// the markers to know how far its watermark may advance.

export interface SinkProgress {
  shardId: string;
  lastSequenceNumber?: string;
  /** Every record that reached the shard before this instant is in a file. */
  completeThroughMs: number;
}

/** What one kind of file sink writes: where, and how records become a file body. */
export interface FileSinkFormat {
  /** Top-level folder: files go to `<area>/in/`, markers to `<area>/progress/`. */
  area: string;
  extension: string;
  contentType: string;
  encode(records: StreamRecord[]): Buffer;
}

export const inPrefix = (area: string) => `${area}/in/`;
export const progressKey = (area: string, stream: string, shardId: string) => `${area}/progress/${stream}/${shardId}.json`;

export function sinkFileKey(format: Pick<FileSinkFormat, 'area' | 'extension'>, stream: string, shardId: string, firstSequence: string, firstArrivalMs: number): string {
  const day = new Date(firstArrivalMs).toISOString().slice(0, 10);
  // Zero-padded so that lexicographic order is sequence order within a shard.
  return `${inPrefix(format.area)}${day}/${stream}-${shardId}-${firstSequence.padStart(56, '0')}.${format.extension}`;
}

export async function readSinkProgress(store: ObjectStore, area: string, stream: string, shardIds: string[]): Promise<(SinkProgress | undefined)[]> {
  return Promise.all(
    shardIds.map(async (shardId) => {
      const key = progressKey(area, stream, shardId);
      return (await store.exists(key)) ? (JSON.parse((await store.get(key)).toString()) as SinkProgress) : undefined;
    }),
  );
}

export function fileSinkProcessor(
  name: string,
  store: ObjectStore,
  format: FileSinkFormat,
  limits: { maxRecords: number; maxBytes: number; maxAgeMs: number },
): ShardProcessor {
  // The workflow id is the lease on a shard, so this process is the marker's only writer.
  const lastWritten = new Map<string, SinkProgress>();
  return {
    name,
    flushPolicy: limits,
    async resume(stream, shardId) {
      const [progress] = await readSinkProgress(store, format.area, stream, [shardId]);
      return progress?.lastSequenceNumber;
    },
    async process(records, ctx, idle) {
      const cacheKey = `${ctx.stream}/${ctx.shardId}`;
      const previous = lastWritten.get(cacheKey) ?? (await readSinkProgress(store, format.area, ctx.stream, [ctx.shardId]))[0];
      let lastSequenceNumber = previous?.lastSequenceNumber;
      let completeThroughMs = previous?.completeThroughMs ?? 0;
      if (records.length > 0) {
        const first = records[0];
        const last = records[records.length - 1];
        await store.put(sinkFileKey(format, ctx.stream, ctx.shardId, first.sequenceNumber, first.arrivalMs), format.encode(records), format.contentType);
        if (!lastSequenceNumber || compareSequence(last.sequenceNumber, lastSequenceNumber) > 0) lastSequenceNumber = last.sequenceNumber;
        completeThroughMs = Math.max(completeThroughMs, last.arrivalMs);
      }
      if (idle.caughtUpAtMs !== undefined) completeThroughMs = Math.max(completeThroughMs, idle.caughtUpAtMs);
      // Idle progress is written at most every couple of seconds: markers are read per batch run, not per poll.
      if (records.length > 0 || completeThroughMs - (previous?.completeThroughMs ?? 0) >= 2_000) {
        const progress: SinkProgress = { shardId: ctx.shardId, lastSequenceNumber, completeThroughMs };
        await store.put(progressKey(format.area, ctx.stream, ctx.shardId), JSON.stringify(progress), 'application/json');
        lastWritten.set(cacheKey, progress);
      }
      return records.length > 0 ? records[records.length - 1].sequenceNumber : undefined;
    },
  };
}
