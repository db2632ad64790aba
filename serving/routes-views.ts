import type { FastifyInstance } from 'fastify';
import type { Pool } from '../adapters/postgres';
import { postgresBatchViewsStore } from '../views/batch-views-postgres';
import type { BatchViewsStore } from '../views/batch-views-store';
import { GRAINS, METRICS, type Grain, type Metric } from '../views/definitions';
import { mergedEventBreakdown, mergedSeries, type Range } from './queries';

// Time-series and breakdown queries over the merged views. Every answer says where the
// watermark is and which layer answered each bucket.

const MAX_RANGE_MS = 31 * 24 * 3600_000;
/** Minute buckets are fine-grained: cap the range so one answer stays small. */
const MAX_MINUTE_RANGE_MS = 2 * 24 * 3600_000;

const rangeProps = {
  from: { type: 'string', format: 'date-time' },
  to: { type: 'string', format: 'date-time' },
} as const;
const grainProp = { type: 'string', enum: [...GRAINS], default: 'minute' } as const;

const seriesSchema = {
  querystring: {
    type: 'object',
    properties: { ...rangeProps, metric: { type: 'string', enum: [...METRICS], default: 'events' }, grain: grainProp },
    required: ['from', 'to'],
    additionalProperties: false,
  },
} as const;
const breakdownSchema = {
  querystring: { type: 'object', properties: { ...rangeProps, grain: grainProp }, required: ['from', 'to'], additionalProperties: false },
} as const;
const countsSchema = {
  querystring: { type: 'object', properties: rangeProps, required: ['from', 'to'], additionalProperties: false },
} as const;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
/** Windows whose batch load was skipped: their buckets are answered by the realtime views until reprocessed. */
const owedOut = (owed: { runId: string; from: number; to: number; reason: string }[]) =>
  owed.map((w) => ({ runId: w.runId, from: iso(w.from), to: iso(w.to), reason: w.reason }));

/** Parses and bounds a range; returns an error message for a bad one. */
function rangeOf(q: { from: string; to: string }, grain: Grain): Range | string {
  const range = { from: Date.parse(q.from), to: Date.parse(q.to) };
  const max = grain === 'minute' ? MAX_MINUTE_RANGE_MS : MAX_RANGE_MS;
  if (!(range.to > range.from) || range.to - range.from > max) {
    return `\`to\` must be after \`from\`, at most ${max / 86_400_000} days later for ${grain} buckets`;
  }
  return range;
}

/** `pool`: the realtime views; `warehouse`: the batch views and the watermark (PostgreSQL on `pool` by default). */
export function viewRoutes(pool: Pool, warehouse: BatchViewsStore = postgresBatchViewsStore(pool)) {
  return async function plugin(app: FastifyInstance) {
    app.get('/v1/series', { schema: seriesSchema }, async (req, reply) => {
      const q = req.query as { from: string; to: string; metric: Metric; grain: Grain };
      const range = rangeOf(q, q.grain);
      if (typeof range === 'string') return reply.code(400).send({ error: range });
      const s = await mergedSeries(pool, q.metric, q.grain, range, warehouse);
      return {
        metric: q.metric,
        grain: q.grain,
        watermark: iso(s.watermark),
        batchOwed: owedOut(s.owed),
        totals: s.totals,
        points: s.points.map((p) => ({ bucket: iso(p.bucket), value: p.value, source: p.source, ...(p.owed ? { batchOwed: true } : {}) })),
      };
    });

    app.get('/v1/breakdown/events', { schema: breakdownSchema }, async (req, reply) => {
      const q = req.query as { from: string; to: string; grain: Grain };
      const range = rangeOf(q, q.grain);
      if (typeof range === 'string') return reply.code(400).send({ error: range });
      const b = await mergedEventBreakdown(pool, q.grain, range, warehouse);
      return { watermark: iso(b.watermark), batchOwed: owedOut(b.owed), rows: b.rows.map((r) => ({ eventName: r.key, events: r.value, batch: r.batch, realtime: r.realtime })) };
    });

    // The first API (events per minute), kept for existing clients.
    app.get('/v1/counts/minutes', { schema: countsSchema }, async (req, reply) => {
      const range = rangeOf(req.query as { from: string; to: string }, 'minute');
      if (typeof range === 'string') return reply.code(400).send({ error: range });
      const s = await mergedSeries(pool, 'events', 'minute', range, warehouse);
      return {
        watermark: iso(s.watermark),
        batchOwed: owedOut(s.owed),
        totals: s.totals,
        points: s.points.map((p) => ({ minute: iso(p.bucket), count: p.value, source: p.source, ...(p.owed ? { batchOwed: true } : {}) })),
      };
    });
  };
}
