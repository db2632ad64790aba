import { randomUUID } from 'node:crypto';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { type CollectorPayload, CollectorPayloadDecodeError, decodeCollectorPayload } from '../codecs/collector-payload';
import { putRecords, type StreamRecord } from '../adapters/kinesis';
import { badRowJson, cpFormatViolation, genericError, processorFor, type BadRow } from '../enrich/bad-rows';
import { type Enricher, enrichPayloads } from '../enrich/enrich';
import { getEnricher } from '../enrich/default-enricher';
import { poisonBadRow } from './poison';
import type { ShardProcessor } from './processor';

// Stream enrich: raw CollectorPayload records → enriched TSV on the enriched stream, bad rows on
// the bad stream. Every raw record ends as good events, bad rows, or both; none is dropped.

export const ETL_VERSION = 'sluice-enrich-0.1.0';

/** Decodes and enriches records; the enricher defaults to the one the Sluice config describes. */
export async function enrichRecords(records: StreamRecord[], etlTstamp: number, enricher: Enricher = getEnricher()): Promise<{ good: string[]; bad: BadRow[] }> {
  const good: string[] = [];
  const bad: BadRow[] = [];
  const payloads: CollectorPayload[] = [];
  for (const record of records) {
    try {
      payloads.push(decodeCollectorPayload(record.data));
    } catch (err) {
      const raw = record.data.toString('base64');
      bad.push(
        err instanceof CollectorPayloadDecodeError
          ? cpFormatViolation(processorFor(ETL_VERSION), etlTstamp, raw, { error: err.message })
          : genericError(processorFor(ETL_VERSION), etlTstamp, raw, [(err as Error).message]),
      );
    }
  }
  for (const result of await enrichPayloads(payloads, { etlTstamp, etlVersion: ETL_VERSION, enricher, keepEvents: false })) {
    for (const line of result.lines) good.push(line);
    for (const row of result.bad) bad.push(row);
  }
  return { good, bad };
}

async function putAll(client: KinesisClient, stream: string, records: { data: Buffer; partitionKey: string }[]): Promise<void> {
  let pending = records;
  for (let attempt = 0; pending.length > 0; attempt++) {
    const chunks: (typeof pending)[] = [];
    for (let i = 0; i < pending.length; i += 500) chunks.push(pending.slice(i, i + 500));
    const retry: typeof pending = [];
    for (const chunk of chunks) {
      const { failed } = await putRecords(client, stream, chunk);
      for (const i of failed) retry.push(chunk[i]);
    }
    if (retry.length > 0 && attempt >= 20) throw new Error(`${retry.length} records refused by ${stream} after retries`);
    if (retry.length > 0) await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** attempt)));
    pending = retry;
  }
}

export function streamEnrichProcessor(client: KinesisClient, streams: { enriched: string; bad: string }): ShardProcessor {
  return {
    name: 'enrich',
    flushPolicy: { maxRecords: 1, maxBytes: 1, maxAgeMs: 0 },
    async process(records) {
      if (records.length === 0) return undefined;
      const { good, bad } = await enrichRecords(records, Date.now());
      await putAll(client, streams.enriched, good.map((line) => ({ data: Buffer.from(line), partitionKey: randomUUID() })));
      await putAll(client, streams.bad, bad.map((row) => ({ data: Buffer.from(badRowJson(row)), partitionKey: randomUUID() })));
      return records[records.length - 1].sequenceNumber;
    },
    async skipPoison(record, failure, ctx) {
      // At least once, as every bad row of this processor: the bad stream, then the checkpoint.
      const row = poisonBadRow(record, ctx, failure, ETL_VERSION);
      await putAll(client, streams.bad, [{ data: Buffer.from(badRowJson(row)), partitionKey: randomUUID() }]);
      return record.sequenceNumber;
    },
  };
}
