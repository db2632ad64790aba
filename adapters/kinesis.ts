import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordsCommand,
  type KinesisClient,
  type Shard,
} from '@aws-sdk/client-kinesis';

// Thin adapter over the Kinesis API. The same calls run against kinesalite and Amazon Kinesis.

export interface StreamRecord {
  sequenceNumber: string;
  partitionKey: string;
  data: Buffer;
  arrivalMs: number;
}

export interface ShardInfo {
  shardId: string;
  parentShardId?: string;
  adjacentParentShardId?: string;
  /** Set once the shard is closed (after a split or merge): reading past it returns nothing. */
  endingSequenceNumber?: string;
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
  | { type: 'AFTER_SEQUENCE_NUMBER'; sequenceNumber: string };

export async function shardIterator(
  client: KinesisClient,
  stream: string,
  shardId: string,
  from: StartPosition,
): Promise<string> {
  const out = await client.send(
    new GetShardIteratorCommand({
      StreamName: stream,
      ShardId: shardId,
      ShardIteratorType: from.type,
      StartingSequenceNumber: from.type === 'AFTER_SEQUENCE_NUMBER' ? from.sequenceNumber : undefined,
    }),
  );
  return out.ShardIterator!;
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
    records: (out.Records ?? []).map((r) => ({
      sequenceNumber: r.SequenceNumber!,
      partitionKey: r.PartitionKey!,
      data: Buffer.from(r.Data!),
      arrivalMs: r.ApproximateArrivalTimestamp?.getTime() ?? 0,
    })),
    next: out.NextShardIterator,
    millisBehindLatest: out.MillisBehindLatest ?? 0,
  };
}
