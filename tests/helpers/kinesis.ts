import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards, readBatch, shardIterator, type StreamRecord } from '../../adapters/kinesis';

/** Every record of the stream, per shard, from TRIM_HORIZON until a read comes back empty. */
export async function readStreamByShard(client: KinesisClient, stream: string, limit?: number): Promise<Map<string, StreamRecord[]>> {
  const out = new Map<string, StreamRecord[]>();
  for (const { shardId } of await listShards(client, stream)) {
    const records: StreamRecord[] = [];
    let it: string | undefined = await shardIterator(client, stream, shardId, { type: 'TRIM_HORIZON' });
    while (it) {
      const batch = await readBatch(client, it, limit);
      if (batch.records.length === 0) break;
      records.push(...batch.records);
      it = batch.next;
    }
    out.set(shardId, records);
  }
  return out;
}

/** Every record's data, shard after shard. */
export async function readStreamRecords(client: KinesisClient, stream: string): Promise<Buffer[]> {
  return [...(await readStreamByShard(client, stream)).values()].flat().map((r) => r.data);
}
