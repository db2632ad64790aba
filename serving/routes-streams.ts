import type { FastifyInstance } from 'fastify';

// GET /v1/streams: per shard consumer, its checkpoint, lag and throughput (for the dashboard and
// for scripts). The rows come from the shard workflows' queries, through `source`.

export interface ShardStatusRow {
  stream: string;
  processor: string;
  shardId: string;
  checkpoint?: string;
  millisBehindLatest?: number;
  recordsPerSecond?: number;
  state: string;
}

export function streamRoutes(source: (() => Promise<ShardStatusRow[]>) | undefined) {
  return async function plugin(app: FastifyInstance) {
    app.get('/v1/streams', { schema: { querystring: { type: 'object', additionalProperties: false } } }, async (_req, reply) => {
      if (!source) return reply.code(503).send({ error: 'no stream status source configured' });
      return { shards: await source() };
    });
  };
}
