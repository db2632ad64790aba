import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Pool } from '../adapters/postgres';
import type { Logger } from '../observability/logger';
import { fastifyLogging } from '../observability/fastify';
import { mergedMinuteCounts } from './queries';

// The serving layer's HTTP API: one merged answer from the batch and realtime views.

const MAX_RANGE_MS = 31 * 24 * 3600_000;

const countsSchema = {
  querystring: {
    type: 'object',
    properties: {
      from: { type: 'string', format: 'date-time' },
      to: { type: 'string', format: 'date-time' },
    },
    required: ['from', 'to'],
    additionalProperties: false,
  },
} as const;

export function buildServingApp(pool: Pool, log: Logger, opts: { token?: string } = {}): FastifyInstance {
  // Unknown query parameters are an error, not silently dropped (Fastify's default strips them).
  const app = Fastify({ ...fastifyLogging(log), bodyLimit: 64 * 1024, ajv: { customOptions: { removeAdditional: false } } });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  app.addHook('onRequest', async (req, reply) => {
    if (!opts.token || req.url === '/health') return;
    const given = Buffer.from(req.headers.authorization ?? '');
    const expected = Buffer.from(`Bearer ${opts.token}`);
    // Constant-time comparison, so response timing does not reveal the token.
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return reply.code(401).send({ error: 'unauthorized' });
    }
  });

  app.get('/health', async () => 'OK');
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));

  app.get('/v1/counts/minutes', { schema: countsSchema }, async (req, reply) => {
    const q = req.query as { from: string; to: string };
    const range = { from: Date.parse(q.from), to: Date.parse(q.to) };
    if (!(range.to > range.from) || range.to - range.from > MAX_RANGE_MS) {
      return reply.code(400).send({ error: '`to` must be after `from`, at most 31 days later' });
    }
    const merged = await mergedMinuteCounts(pool, range);
    return {
      watermark: merged.watermark === null ? null : new Date(merged.watermark).toISOString(),
      totals: merged.totals,
      points: merged.points.map((p) => ({ minute: new Date(p.minute).toISOString(), count: p.count, source: p.source })),
    };
  });

  return app;
}
