import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Pool } from '../adapters/postgres';
import type { Logger } from '../observability/logger';
import { fastifyLogging } from '../observability/fastify';
import { badRowRoutes } from './routes-badrows';
import { DASHBOARD_PATHS, dashboardRoutes } from './routes-dashboard';
import { streamRoutes, type ShardStatusRow } from './routes-streams';
import { viewRoutes } from './routes-views';

// The serving layer's HTTP API: one merged answer from the batch and realtime views, bad-row
// search, and the dashboard page.

/** Reachable without the token: health, and the dashboard page (it holds no data itself). */
const OPEN_PATHS = new Set(['/health', ...DASHBOARD_PATHS]);

export function buildServingApp(pool: Pool, log: Logger, opts: { token?: string; streamStatus?: () => Promise<ShardStatusRow[]> } = {}): FastifyInstance {
  // Unknown query parameters are an error, not silently dropped (Fastify's default strips them).
  const app = Fastify({ ...fastifyLogging(log), bodyLimit: 64 * 1024, ajv: { customOptions: { removeAdditional: false } } });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  app.addHook('onRequest', async (req, reply) => {
    if (!opts.token || OPEN_PATHS.has(req.url.split('?')[0])) return;
    const given = Buffer.from(req.headers.authorization ?? '');
    const expected = Buffer.from(`Bearer ${opts.token}`);
    // Constant-time comparison, so response timing does not reveal the token.
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return reply.code(401).send({ error: 'unauthorized' });
    }
  });

  app.get('/health', async () => 'OK');
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));

  app.register(viewRoutes(pool));
  app.register(badRowRoutes(pool));
  app.register(streamRoutes(opts.streamStatus));
  app.register(dashboardRoutes);

  return app;
}
