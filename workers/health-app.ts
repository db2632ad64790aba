import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { requireToken } from '../observability/access';
import { fastifyLogging } from '../observability/fastify';
import type { Logger } from '../observability/logger';

// The worker process's own HTTP endpoint: /health (open, for supervisors and load balancers) and
// /metrics (shard lag, records/s, consume errors: behind workers.token or auth.token when set).

/** What /health reports: each worker's state as the Temporal SDK names it (RUNNING when healthy). */
export type WorkerStates = () => { speed: string; batch: string };

export function buildWorkerHealthApp(log: Logger, registry: Registry, states: WorkerStates, token: string | undefined): FastifyInstance {
  const app = Fastify(fastifyLogging(log));
  app.get('/health', async (_req, reply) => {
    const s = states();
    return reply.code(s.speed === 'RUNNING' && s.batch === 'RUNNING' ? 200 : 503).send(s);
  });
  app.register(async (ops) => {
    await requireToken(ops, token);
    ops.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  });
  return app;
}
