import type { PoolClient } from 'pg';
import { NOT_OWED_BUCKET } from '../views/owed-windows';
import { parseEnrichedTsv, parseTstamp } from '../codecs/enriched-tsv';
import { inTransaction, type Pool } from '../adapters/postgres';
import type { StreamRecord } from '../adapters/kinesis';
import { qualified } from '../warehouse/sql';
import { GRAIN_MS, floorTo, retireBefore, viewDelta, viewEventOf, type ViewEvent } from '../views/definitions';
import { advanceCheckpointIn } from './checkpoints';
import { badRowJson } from '../enrich/bad-rows';
import { insertBadRows } from './bad-rows-sink';
import { poisonBadRow } from './poison';
import type { ShardProcessor } from './processor';

// Realtime views: the increments of each batch of enriched records, committed in the same
// PostgreSQL transaction as the shard's checkpoint. The checkpoint row is compared-and-set, so a
// stale or overlapping attempt of the same shard's activity cannot apply anything; events are
// de-duplicated by (event_id, fingerprint), so a record the enriched stream carries twice is
// counted once.

export const REALTIME_PROCESSOR = 'realtime-views';
const REALTIME_VERSION = 'sluice-realtime-views-0.1.0';

/** Parses enriched records into view events; lines that do not parse are returned apart. */
export function viewEventsOfRecords(records: { data: Buffer }[]): { events: ViewEvent[]; unparsable: number } {
  const events: ViewEvent[] = [];
  let unparsable = 0;
  for (const r of records) {
    try {
      const e = parseEnrichedTsv(r.data.toString('utf8')) as Record<string, string | undefined>;
      if (!e.collector_tstamp) throw new Error('no collector_tstamp');
      events.push(viewEventOf(e, parseTstamp(e.collector_tstamp)));
    } catch {
      unparsable++;
    }
  }
  return { events, unparsable };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Records the events as seen; returns those not seen before (first occurrence of each key). */
async function firstSightings(client: PoolClient, events: ViewEvent[]): Promise<ViewEvent[]> {
  if (events.length === 0) return [];
  const { rows } = await client.query<{ minute: Date; event_key: string }>(
    `INSERT INTO "sluice"."realtime_seen_events" ("minute", "event_key")
     SELECT * FROM unnest($1::timestamp[], $2::text[]) ON CONFLICT DO NOTHING RETURNING "minute", "event_key"`,
    [events.map((e) => iso(floorTo('minute', e.collectorTstamp))), events.map((e) => e.dedupeKey)],
  );
  const fresh = new Set(rows.map((r) => `${r.minute.getTime()}|${r.event_key}`));
  return events.filter((e) => fresh.delete(`${floorTo('minute', e.collectorTstamp)}|${e.dedupeKey}`));
}

export async function applyViewDelta(client: PoolClient, events: ViewEvent[]): Promise<void> {
  const { counts, members } = viewDelta(events);
  if (counts.length > 0) {
    await client.query(
      `INSERT INTO "sluice"."realtime_view_events" ("grain", "bucket", "event_name", "events")
       SELECT * FROM unnest($1::text[], $2::timestamp[], $3::text[], $4::bigint[])
       ON CONFLICT ("grain", "bucket", "event_name") DO UPDATE SET "events" = "realtime_view_events"."events" + EXCLUDED."events"`,
      [counts.map((c) => c.grain), counts.map((c) => iso(c.bucket)), counts.map((c) => c.eventName), counts.map((c) => c.count)],
    );
  }
  if (members.length > 0) {
    await client.query(
      `INSERT INTO "sluice"."realtime_view_members" ("grain", "bucket", "kind", "member")
       SELECT * FROM unnest($1::text[], $2::timestamp[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING`,
      [members.map((m) => m.grain), members.map((m) => iso(m.bucket)), members.map((m) => m.kind), members.map((m) => m.member)],
    );
  }
}

/**
 * Deletes realtime rows the batch views now answer (their bucket ends at or before the
 * watermark). Seen-event keys are kept an hour longer, so a late replay is still recognised.
 */
export async function retireRealtimeRows(client: PoolClient, watermark: number): Promise<number> {
  let deleted = 0;
  for (const grain of ['minute', 'hour'] as const) {
    const before = iso(retireBefore(grain, watermark));
    for (const table of ['realtime_view_events', 'realtime_view_members']) {
      // Buckets of an owed window (a skipped load) keep answering from these rows until it is loaded.
      const res = await client.query(`DELETE FROM ${qualified('sluice', table)} WHERE "grain" = $1 AND "bucket" < $2 AND ${NOT_OWED_BUCKET}`, [grain, before]);
      deleted += res.rowCount ?? 0;
    }
  }
  await client.query('DELETE FROM "sluice"."realtime_seen_events" WHERE "minute" < $1', [iso(watermark - GRAIN_MS.hour)]);
  return deleted;
}

export interface RealtimeHooks {
  /** Called with the number of records that were not parsable enriched events (they are logged, not counted). */
  onUnparsable?(count: number, shardId: string): void;
}

export function realtimeViewsProcessor(pool: Pool, hooks: RealtimeHooks = {}): ShardProcessor {
  const name = REALTIME_PROCESSOR;
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
    async process(records: StreamRecord[], ctx) {
      if (records.length === 0) return undefined;
      const last = records[records.length - 1].sequenceNumber;
      const { events, unparsable } = viewEventsOfRecords(records);
      if (unparsable > 0) hooks.onUnparsable?.(unparsable, ctx.shardId);
      await inTransaction(pool, async (client) => {
        // Compare-and-set first (it locks the row, or finds another attempt's first checkpoint), then the effects.
        await advanceCheckpointIn(client, { stream: ctx.stream, processor: name, shardId: ctx.shardId }, ctx.after, last);
        await applyViewDelta(client, await firstSightings(client, events));
      });
      return last;
    },
    async skipPoison(record, failure, ctx) {
      // The bad row and the checkpoint in one fenced transaction: the record is counted once, as bad.
      const row = poisonBadRow(record, ctx, failure, REALTIME_VERSION);
      await inTransaction(pool, async (client) => {
        await advanceCheckpointIn(client, { stream: ctx.stream, processor: name, shardId: ctx.shardId }, ctx.after, record.sequenceNumber);
        await insertBadRows(client, ctx.stream, ctx.shardId, [{ sequenceNumber: record.sequenceNumber, arrivalMs: record.arrivalMs, data: Buffer.from(badRowJson(row)) }], true);
      });
      return record.sequenceNumber;
    },
  };
}
