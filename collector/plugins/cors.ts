import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { CollectorOptions } from '../options';
import { shared } from './shared';

// CORS as Snowplow's collector does it: any OPTIONS preflight is granted for the requesting Origin
// with credentials (so browsers send and keep the cookie), and every tracking response (routes
// with `config: { cors: true }`, errors included) carries the same grant.

declare module 'fastify' {
  interface FastifyContextConfig {
    cors?: boolean;
  }
}

/** The first origin of the request, echoed; `*` when there is none (not a browser). */
export function allowedOrigin(req: FastifyRequest): string {
  const origin = req.headers.origin;
  if (!origin) return '*';
  const first = origin.split(' ')[0];
  // Only a value a header can carry is echoed (a control character would make the reply throw).
  return first && first !== 'null' && HEADER_SAFE.test(first) ? first : '*';
}

const HEADER_SAFE = /^[\x21-\x7e]{1,2048}$/;

export const corsPlugin: FastifyPluginAsync<{ opts: CollectorOptions }> = shared(async (app, { opts }) => {
  app.options('/*', async (req, reply) => {
    return reply
      .header('access-control-allow-origin', allowedOrigin(req))
      .header('access-control-allow-credentials', 'true')
      .header('access-control-allow-headers', 'Content-Type, SP-Anonymous')
      .header('access-control-max-age', String(opts.corsMaxAgeSeconds))
      .header('vary', 'Origin')
      .code(200)
      .send();
  });

  app.addHook('onSend', (req, reply, payload, done) => {
    if (req.routeOptions.config?.cors) {
      reply.header('access-control-allow-origin', allowedOrigin(req));
      reply.header('access-control-allow-credentials', 'true');
    }
    done(null, payload);
  });
});
