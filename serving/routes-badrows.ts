import type { FastifyInstance } from 'fastify';
import type { Pool } from '../adapters/postgres';

// GET /v1/badrows: search the bad rows (type, schema, time, text) for debugging, with the counts
// by type for the same filter. Every value is a bound parameter; text search is a LIKE whose
// wildcards in the user's text are escaped.

const badRowsSchema = {
  querystring: {
    type: 'object',
    properties: {
      type: { type: 'string', pattern: '^[a-z_]{1,64}$' },
      schema: { type: 'string', maxLength: 512 },
      from: { type: 'string', format: 'date-time' },
      to: { type: 'string', format: 'date-time' },
      q: { type: 'string', minLength: 1, maxLength: 200 },
      limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
    },
    additionalProperties: false,
  },
} as const;

interface BadRowsQuery { type?: string; schema?: string; from?: string; to?: string; q?: string; limit: number }

export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** WHERE clause and parameters for a search; `typeFilter` false leaves the type out (for counts by type). */
function where(q: BadRowsQuery, typeFilter: boolean): { sql: string; params: unknown[] } {
  const conds: string[] = [];
  const params: unknown[] = [];
  const add = (sql: (n: string) => string, value: unknown) => {
    params.push(value);
    conds.push(sql(`$${params.length}`));
  };
  if (typeFilter && q.type) add((p) => `"type" = ${p}`, q.type);
  if (q.schema) add((p) => `"schema" = ${p}`, q.schema);
  if (q.from) add((p) => `"received_at" >= ${p}`, new Date(Date.parse(q.from!)).toISOString());
  if (q.to) add((p) => `"received_at" < ${p}`, new Date(Date.parse(q.to!)).toISOString());
  if (q.q) add((p) => `("summary" ILIKE ${p} OR "row"::text ILIKE ${p})`, likePattern(q.q));
  return { sql: conds.length ? `WHERE ${conds.join(' AND ')}` : '', params };
}

export function badRowRoutes(pool: Pool) {
  return async function plugin(app: FastifyInstance) {
    app.get('/v1/badrows', { schema: badRowsSchema }, async (req) => {
      const q = req.query as BadRowsQuery;
      const w = where(q, true);
      const counts = where(q, false);
      const [rows, byType] = await Promise.all([
        pool.query(
          `SELECT "stream", "shard_id", "sequence_number", "received_at", "failure_tstamp", "type", "schema", "processor", "summary", "row"
           FROM "sluice"."bad_rows" ${w.sql} ORDER BY "received_at" DESC, "sequence_number" DESC LIMIT ${Number(q.limit)}`,
          w.params,
        ),
        pool.query(`SELECT "type", count(*) AS "count" FROM "sluice"."bad_rows" ${counts.sql} GROUP BY 1 ORDER BY 2 DESC, 1`, counts.params),
      ]);
      return {
        counts: byType.rows.map((r) => ({ type: r.type as string, count: Number(r.count) })),
        rows: rows.rows.map((r) => ({
          stream: r.stream,
          shardId: r.shard_id,
          sequenceNumber: r.sequence_number,
          receivedAt: (r.received_at as Date).toISOString(),
          failureTstamp: r.failure_tstamp ? (r.failure_tstamp as Date).toISOString() : null,
          type: r.type,
          schema: r.schema,
          processor: r.processor,
          summary: r.summary,
          row: r.row,
        })),
      };
    });
  };
}
