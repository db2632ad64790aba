import { writeLzop } from '../codecs/lzop';
import { frameRecords } from '../codecs/record-framing';
import type { ObjectStore } from '../adapters/object-store';
import type { Pool } from '../adapters/postgres';
import { fileSinkProcessor, inPrefix, readSinkProgress, sinkFileKey, type FileSinkFormat, type SinkProgress } from './file-sink';
import type { ShardProcessor } from './processor';

// The raw S3 sink: the master dataset. Raw records are written unchanged, length-framed, in lzop
// files under raw/in/ (speed/file-sink.ts does the naming, rotation and progress markers).
// The enriched S3 sink writes the enriched stream's TSV lines under enriched/in/, the input of
// the batch layer's stream-enrich mode.

export const RAW_FORMAT: FileSinkFormat = {
  area: 'raw',
  extension: 'lzo',
  contentType: 'application/x-lzop',
  encode: (records) => writeLzop(frameRecords(records.map((r) => r.data)), { mtimeMs: records[records.length - 1].arrivalMs }),
};

export const ENRICHED_FORMAT: FileSinkFormat = {
  area: 'enriched',
  extension: 'tsv',
  contentType: 'text/tab-separated-values',
  encode: (records) => Buffer.from(`${records.map((r) => r.data.toString('utf8')).join('\n')}\n`),
};

export const RAW_IN = inPrefix(RAW_FORMAT.area);
export const ENRICHED_IN = inPrefix(ENRICHED_FORMAT.area);
export type RawSinkProgress = SinkProgress;

export function rawFileKey(stream: string, shardId: string, firstSequence: string, firstArrivalMs: number, lastSequence?: string): string {
  return sinkFileKey(RAW_FORMAT, stream, shardId, firstSequence, firstArrivalMs, lastSequence);
}

export function readProgress(store: ObjectStore, stream: string, shardIds: string[]): Promise<(SinkProgress | undefined)[]> {
  return readSinkProgress(store, RAW_FORMAT.area, stream, shardIds);
}

export function rawSinkProcessor(store: ObjectStore, pool: Pool, limits: { maxRecords: number; maxBytes: number; maxAgeMs: number }): ShardProcessor {
  return fileSinkProcessor('raw-s3', store, RAW_FORMAT, limits, pool);
}

export function enrichedSinkProcessor(store: ObjectStore, pool: Pool, limits: { maxRecords: number; maxBytes: number; maxAgeMs: number }): ShardProcessor {
  return fileSinkProcessor('enriched-s3', store, ENRICHED_FORMAT, limits, pool);
}
