import { parseEnrichedTsv, parseTstamp } from '../codecs/enriched-tsv';
import { inTransaction, type Pool } from '../adapters/postgres';
import { countByMinute } from '../views/minute-counts';
import { StaleCheckpointError, compareSequence, type ShardProcessor } from './processor';

// Realtime views: per-minute counts of good enriched events, committed in the same PostgreSQL
// transaction as the shard's checkpoint. The checkpoint row is compared-and-set, so a stale or
// overlapping attempt of the same shard's activity cannot count a record twice.

export function minuteCountsOfEnriched(records: { data: Buffer }[]): Map<number, number> {
  const tstamps: number[] = [];
  for (const r of records) {
    const e = parseEnrichedTsv(r.data.toString('utf8'));
    if (e.collector_tstamp) tstamps.push(parseTstamp(e.collector_tstamp));
  }
  return countByMinute(tstamps);
}

export function realtimeViewsProcessor(pool: Pool): ShardProcessor {
  const name = 'realtime-views';
  return {
    name,
    flushPolicy: { maxRecords: 1, maxBytes: 1, maxAgeMs: 0 },
    async resume(stream, shardId) {
      const { rows } = await pool.query(
        'SELECT "sequence_number" FROM "sluice"."stream_checkpoints" WHERE "stream" = $1 AND "processor" = $2 AND "shard_id" = $3',
        [stream, name, shardId],
      );
      return rows[0]?.sequence_number as string | undefined;
    },
    async process(records, ctx) {
      if (records.length === 0) return undefined;
      const last = records[records.length - 1].sequenceNumber;
      const counts = minuteCountsOfEnriched(records);
      await inTransaction(pool, async (client) => {
        const { rows } = await client.query(
          'SELECT "sequence_number" FROM "sluice"."stream_checkpoints" WHERE "stream" = $1 AND "processor" = $2 AND "shard_id" = $3 FOR UPDATE',
          [ctx.stream, name, ctx.shardId],
        );
        const committed = rows[0]?.sequence_number as string | undefined;
        if (committed !== ctx.after && !(committed && ctx.after && compareSequence(committed, ctx.after) === 0)) {
          throw new StaleCheckpointError(`checkpoint moved to ${committed ?? 'none'} (expected ${ctx.after ?? 'none'})`);
        }
        for (const [minute, count] of counts) {
          await client.query(
            `INSERT INTO "sluice"."realtime_minute_counts" ("minute", "event_count") VALUES ($1, $2)
             ON CONFLICT ("minute") DO UPDATE SET "event_count" = "realtime_minute_counts"."event_count" + EXCLUDED."event_count"`,
            [new Date(minute), count],
          );
        }
        await client.query(
          `INSERT INTO "sluice"."stream_checkpoints" ("stream", "processor", "shard_id", "sequence_number") VALUES ($1, $2, $3, $4)
           ON CONFLICT ("stream", "processor", "shard_id") DO UPDATE SET "sequence_number" = EXCLUDED."sequence_number", "updated_at" = now()`,
          [ctx.stream, name, ctx.shardId, last],
        );
      });
      return last;
    },
  };
}
