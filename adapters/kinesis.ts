import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  MergeShardsCommand,
  PutRecordsCommand,
  SplitShardCommand,
  type KinesisClient,
  type _Record,
  type Shard,
} from '@aws-sdk/client-kinesis';

// Thin adapter over the Kinesis API. The same calls run against kinesalite and Amazon Kinesis.

export interface StreamRecord {
  sequenceNumber: string;
  partitionKey: string;
  data: Buffer;
  arrivalMs: number;
}

/** A record of a GetRecords answer, as the speed layer handles it. */
export function toStreamRecord(r: _Record): StreamRecord {
  return { sequenceNumber: r.SequenceNumber!, partitionKey: r.PartitionKey!, data: Buffer.from(r.Data!), arrivalMs: r.ApproximateArrivalTimestamp?.getTime() ?? 0 };
}

export interface ShardInfo {
  shardId: string;
  parentShardId?: string;
  adjacentParentShardId?: string;
  /** Set once the shard is closed (after a split or merge): reading past it returns nothing. */
  endingSequenceNumber?: string;
  hashKeyRange?: { start: string; end: string };
}

export interface ReadResult {
  records: StreamRecord[];
  /** Milliseconds the reader is behind the tip of the shard, as Kinesis reports it. */
  millisBehindLatest: number;
  /** True when the shard is closed and every record in it has been returned. */
  shardEnded: boolean;
}

export async function ensureStream(client: KinesisClient, name: string, shardCount: number): Promise<void> {
  try {
    await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shardCount }));
  } catch (err) {
    if ((err as Error).name !== 'ResourceInUseException') throw err;
  }
  await waitForActive(client, name);
}

/** Waits until the stream is ACTIVE (after a create, split or merge). */
export async function waitForActive(client: KinesisClient, name: string): Promise<void> {
  for (let i = 0; i < 120; i++) {
    const out = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (out.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`stream ${name} did not become ACTIVE`);
}

function toShardInfo(s: Shard): ShardInfo {
  return {
    shardId: s.ShardId!,
    parentShardId: s.ParentShardId,
    adjacentParentShardId: s.AdjacentParentShardId,
    endingSequenceNumber: s.SequenceNumberRange?.EndingSequenceNumber,
    hashKeyRange: s.HashKeyRange ? { start: s.HashKeyRange.StartingHashKey!, end: s.HashKeyRange.EndingHashKey! } : undefined,
  };
}

export async function listShards(client: KinesisClient, stream: string): Promise<ShardInfo[]> {
  const shards: ShardInfo[] = [];
  let nextToken: string | undefined;
  do {
    const out = await client.send(
      new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: stream }),
    );
    shards.push(...(out.Shards ?? []).map(toShardInfo));
    nextToken = out.NextToken;
  } while (nextToken);
  return shards;
}

export interface PutResult {
  /** Indexes (into the input) of records Kinesis did not accept, e.g. throttled. */
  failed: number[];
}

export async function putRecords(
  client: KinesisClient,
  stream: string,
  records: { data: Buffer; partitionKey: string; explicitHashKey?: string }[],
): Promise<PutResult> {
  if (records.length === 0) return { failed: [] };
  const out = await client.send(
    new PutRecordsCommand({
      StreamName: stream,
      Records: records.map((r) => ({ Data: r.data, PartitionKey: r.partitionKey, ExplicitHashKey: r.explicitHashKey })),
    }),
  );
  const failed: number[] = [];
  (out.Records ?? []).forEach((r, i) => {
    if (r.ErrorCode) failed.push(i);
  });
  return { failed };
}

export type StartPosition =
  | { type: 'TRIM_HORIZON' }
  | { type: 'LATEST' }
  | { type: 'AT_TIMESTAMP'; timestampMs: number }
  | { type: 'AT_SEQUENCE_NUMBER'; sequenceNumber: string }
  | { type: 'AFTER_SEQUENCE_NUMBER'; sequenceNumber: string };

export async function shardIterator(
  client: KinesisClient,
  stream: string,
  shardId: string,
  from: StartPosition,
  opts: { abortSignal?: AbortSignal } = {},
): Promise<string> {
  const out = await client.send(
    new GetShardIteratorCommand({
      StreamName: stream,
      ShardId: shardId,
      ShardIteratorType: from.type,
      StartingSequenceNumber: 'sequenceNumber' in from ? from.sequenceNumber : undefined,
      Timestamp: from.type === 'AT_TIMESTAMP' ? new Date(from.timestampMs) : undefined,
    }),
    opts,
  );
  return out.ShardIterator!;
}

/**
 * An iterator at `from`. AT_TIMESTAMP gets a LATEST iterator first and falls back to it when the
 * AT_TIMESTAMP call does not answer within `atTimestampWaitMs`: kinesalite never answers when no
 * record at or after the timestamp exists yet. That fallback is exact: no record at or after the
 * timestamp existed when the call was made, so none arrived after the LATEST iterator was taken
 * either (the timestamp lies in the past).
 */
export async function openShardIterator(
  client: KinesisClient,
  stream: string,
  shardId: string,
  from: StartPosition,
  atTimestampWaitMs = 2_000,
): Promise<string> {
  if (from.type !== 'AT_TIMESTAMP') return shardIterator(client, stream, shardId, from);
  const latest = await shardIterator(client, stream, shardId, { type: 'LATEST' });
  // Kinesis refuses a timestamp in the future; such a start is the tip.
  if (from.timestampMs >= Date.now()) return latest;
  try {
    return await shardIterator(client, stream, shardId, from, { abortSignal: AbortSignal.timeout(atTimestampWaitMs) });
  } catch (err) {
    if ((err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError') return latest;
    throw err;
  }
}

/**
 * One GetRecords call. Returns the records and the next iterator (undefined when the shard is
 * closed and fully read).
 */
export async function readBatch(
  client: KinesisClient,
  iterator: string,
  limit = 1000,
): Promise<{ records: StreamRecord[]; next?: string; millisBehindLatest: number }> {
  const out = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: limit }));
  return {
    records: (out.Records ?? []).map(toStreamRecord),
    next: out.NextShardIterator,
    millisBehindLatest: out.MillisBehindLatest ?? 0,
  };
}

/** Splits a shard at the middle of its hash key range (or at `newStartingHashKey`). */
export async function splitShard(client: KinesisClient, stream: string, shardId: string, newStartingHashKey?: string): Promise<void> {
  let key = newStartingHashKey;
  if (!key) {
    const shard = (await listShards(client, stream)).find((s) => s.shardId === shardId);
    if (!shard?.hashKeyRange) throw new Error(`shard ${shardId} of ${stream} not found`);
    key = ((BigInt(shard.hashKeyRange.start) + BigInt(shard.hashKeyRange.end) + 1n) / 2n).toString();
  }
  await client.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: shardId, NewStartingHashKey: key }));
  await waitForActive(client, stream);
}

/** Merges two adjacent shards into one. */
export async function mergeShards(client: KinesisClient, stream: string, shardId: string, adjacentShardId: string): Promise<void> {
  await client.send(new MergeShardsCommand({ StreamName: stream, ShardToMerge: shardId, AdjacentShardToMerge: adjacentShardId }));
  await waitForActive(client, stream);
}

/** What went wrong with a Kinesis call, as far as a consumer needs to know. */
export type KinesisFailure = 'expired-iterator' | 'throttled' | 'not-found' | 'unavailable' | 'other';

export function classifyKinesisError(err: unknown): KinesisFailure {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  switch (e?.name) {
    case 'ExpiredIteratorException':
      return 'expired-iterator';
    case 'ProvisionedThroughputExceededException':
    case 'LimitExceededException':
    case 'ThrottlingException':
      return 'throttled';
    case 'ResourceNotFoundException':
      return 'not-found';
  }
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return 'unavailable';
  // Connection refused or reset, timeouts: the service (or the local stand-in) is not reachable.
  const code = e?.code ?? (err as { cause?: { code?: string } })?.cause?.code;
  if (code && /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN)$/.test(code)) return 'unavailable';
  if (e?.name === 'TimeoutError' || e?.name === 'RequestTimeout' || e?.name === 'AbortError') return 'unavailable';
  return 'other';
}
