import type { Pool } from '../adapters/postgres';
import { currentJsonLimits, parseJsonBounded } from '../codecs/bounded-json';
import { MAX_BAD_ROW_BYTES } from '../enrich/bad-rows';
import { describeError, isRecordError } from './poison';
import type { StreamRecord } from '../adapters/kinesis';
import type { ObjectStore } from '../adapters/object-store';
import { fileSinkProcessor, type FileSinkFormat } from './file-sink';
import type { ShardProcessor } from './processor';

// The bad-rows sink: every record of the bad stream is kept twice, as the original JSON lines in
// files under bad/in/ (named by shard and sequence range, like the raw sink) and as a row of
// `sluice.bad_rows` that the serving API searches by type, schema, time and text (the job the
// Elasticsearch sink did for Snowplow). Both writes are idempotent, so a retried batch is stored once.

export const BAD_FORMAT: FileSinkFormat = {
  area: 'bad',
  extension: 'json',
  contentType: 'application/x-ndjson',
  encode: (records) => Buffer.from(`${records.map((r) => r.data.toString('utf8')).join('\n')}\n`),
};

export interface BadRowRecord {
  receivedAt: number;
  failureTstamp: number | null;
  type: string;
  schema: string | null;
  processor: string | null;
  summary: string;
  row: unknown;
}

const SUMMARY_MAX = 2_000;
const BAD_ROW_WRAPPING_DEPTH = 10;

/** Reads one bad-stream record into its searchable fields. Pure; never throws. */
export function describeBadRow(record: Pick<StreamRecord, 'data' | 'arrivalMs'>): BadRowRecord {
  const text = record.data.toString('utf8');
  let row: { schema?: unknown; data?: { processor?: { artifact?: string; version?: string }; failure?: Record<string, unknown> } } | null;
  // A bad row wraps its input a few levels down (failure.messages[i].json): room for that over the input's bound.
  const limits = currentJsonLimits();
  const parsed = parseJsonBounded(text, { maxDepth: limits.maxDepth + BAD_ROW_WRAPPING_DEPTH, maxBytes: Math.max(limits.maxBytes, MAX_BAD_ROW_BYTES) });
  row = parsed.ok ? (parsed.value as typeof row) : null;
  if (typeof row !== 'object' || row === null) {
    // Not JSON: kept whole (base64) so that nothing is lost, typed so it can be found.
    return { receivedAt: record.arrivalMs, failureTstamp: null, type: 'unparsable', schema: null, processor: null, summary: text.slice(0, SUMMARY_MAX), row: { base64: record.data.toString('base64') } };
  }
  const schema = typeof row.schema === 'string' ? row.schema : null;
  const type = (schema && /^iglu:[^/]+\/([^/]+)\/jsonschema\//.exec(schema)?.[1]) || 'unknown';
  const failure = row.data?.failure ?? {};
  const at = typeof failure.timestamp === 'string' ? Date.parse(failure.timestamp) : NaN;
  const detail = failure.messages ?? failure.errors ?? failure.message ?? failure.expectation ?? failure;
  const processor = row.data?.processor ? `${row.data.processor.artifact ?? '?'} ${row.data.processor.version ?? ''}`.trim() : null;
  return {
    receivedAt: record.arrivalMs,
    failureTstamp: Number.isFinite(at) ? at : null,
    type,
    schema,
    processor,
    summary: JSON.stringify(detail).slice(0, SUMMARY_MAX),
    row,
  };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

// jsonb refuses the NUL character and lone surrogates (SQLSTATE 22P05, 22P02), and text refuses
// NUL: the searchable copy holds U+FFFD instead, string by string (the files under bad/in/ keep
// the original bytes). A row PostgreSQL still refuses (a key holding them) is stored as
// `unstorable` with its bytes in base64, so one record can never stall the sink.
const wellFormed = (v: string): string => {
  const w = (v as string & { isWellFormed(): boolean; toWellFormed(): string }).isWellFormed() ? v : (v as string & { toWellFormed(): string }).toWellFormed();
  return w.includes('\u0000') ? w.replace(/\u0000/g, '\ufffd') : w;
};
const jsonbText = (row: unknown): string => JSON.stringify(row, (_k, v: unknown) => (typeof v === 'string' ? wellFormed(v) : v));
const text = (v: string | null): string | null => (v === null ? v : wellFormed(v));

type BadRowInput = Pick<StreamRecord, 'sequenceNumber' | 'data' | 'arrivalMs'>;
type DescribedRow = BadRowRecord & { seq: string };

async function insertDescribed(db: Pick<Pool, 'query'>, stream: string, shardId: string, rows: DescribedRow[]): Promise<void> {
  await db.query(
    `INSERT INTO "sluice"."bad_rows" ("stream", "shard_id", "sequence_number", "received_at", "failure_tstamp", "type", "schema", "processor", "summary", "row")
     SELECT $1, $2, * FROM unnest($3::text[], $4::timestamp[], $5::timestamp[], $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[])
     ON CONFLICT DO NOTHING`,
    [
      stream,
      shardId,
      rows.map((r) => r.seq),
      rows.map((r) => iso(r.receivedAt)),
      rows.map((r) => iso(r.failureTstamp)),
      rows.map((r) => text(r.type)),
      rows.map((r) => text(r.schema)),
      rows.map((r) => text(r.processor)),
      rows.map((r) => text(r.summary)),
      rows.map((r) => jsonbText(r.row)),
    ],
  );
}

function unstorable(r: BadRowInput, err: unknown): DescribedRow {
  return {
    seq: r.sequenceNumber, receivedAt: r.arrivalMs, failureTstamp: null, type: 'unstorable', schema: null, processor: null,
    summary: `PostgreSQL refused this row: ${describeError(err)}`.slice(0, SUMMARY_MAX), row: { base64: r.data.toString('base64') },
  };
}

/**
 * Stores bad-row records in `sluice.bad_rows`, keyed by where they were read (a repeat stores
 * nothing). Outside a transaction (`db` a pool), a batch PostgreSQL refuses for its content is
 * stored row by row, and a row still refused as `unstorable`.
 */
export async function insertBadRows(db: Pick<Pool, 'query'>, stream: string, shardId: string, records: BadRowInput[], inTransaction = false): Promise<void> {
  const rows = records.map((r) => ({ seq: r.sequenceNumber, ...describeBadRow(r) }));
  try {
    await insertDescribed(db, stream, shardId, rows);
  } catch (err) {
    if (inTransaction || !isRecordError(err)) throw err;
    for (const [i, row] of rows.entries()) {
      try {
        await insertDescribed(db, stream, shardId, [row]);
      } catch (one) {
        if (!isRecordError(one)) throw one;
        await insertDescribed(db, stream, shardId, [unstorable(records[i], one)]);
      }
    }
  }
}

export function badRowsSinkProcessor(store: ObjectStore, pool: Pool, limits: { maxRecords: number; maxBytes: number; maxAgeMs: number }): ShardProcessor {
  const files = fileSinkProcessor('bad-rows', store, BAD_FORMAT, limits, pool);
  return {
    ...files,
    async process(records, ctx, idle) {
      // The table first: if the file write then fails, the retry re-inserts nothing new.
      if (records.length > 0) await insertBadRows(pool, ctx.stream, ctx.shardId, records);
      return files.process(records, ctx, idle);
    },
  };
}
