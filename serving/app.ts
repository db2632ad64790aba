import Fastify, { type FastifyInstance } from 'fastify';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Pool } from '../adapters/postgres';
import type { Logger } from '../observability/logger';
import type { BatchViewsStore } from '../views/batch-views-store';
import { accessPolicy, requireToken } from '../observability/access';
import { fastifyLogging } from '../observability/fastify';
import { badRowRoutes } from './routes-badrows';
import { dashboardRoutes } from './routes-dashboard';
import { streamRoutes, type ShardStatusRow } from './routes-streams';
import { viewRoutes } from './routes-views';

// The serving layer's HTTP API: one merged answer from the batch and realtime views, bad-row
// search, and the dashboard page.

export interface ServingAppOptions {
  /** The address it will listen on: off loopback a token is required (or this throws). */
  host?: string;
  /** serving.token, else auth.token (observability/access.ts serviceToken). */
  token?: string;
  streamStatus?: () => Promise<ShardStatusRow[]>;
  /** The batch views and the watermark (views/batch-views-store.ts makeBatchViewsStore); PostgreSQL on `pool` by default. */
  warehouse?: BatchViewsStore;
}

export function buildServingApp(pool: Pool, log: Logger, opts: ServingAppOptions = {}): FastifyInstance {
  const token = accessPolicy(opts.host ?? '127.0.0.1', opts.token, { host: 'serving.host', tokens: ['serving.token', 'auth.token'] });
  // Unknown query parameters are an error, not silently dropped (Fastify's default strips them).
  const app = Fastify({ ...fastifyLogging(log), bodyLimit: 64 * 1024, ajv: { customOptions: { removeAdditional: false } } });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  // Public: health, and the dashboard page (it holds no data itself; its script asks for the token).
  app.get('/health', async () => 'OK');
  app.register(dashboardRoutes);

  // Everything else is behind the token when one is set.
  app.register(async (api) => {
    await requireToken(api, token);
    api.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
    api.register(viewRoutes(pool, opts.warehouse));
    api.register(badRowRoutes(pool));
    api.register(streamRoutes(opts.streamStatus));
  });

  return app;
}
