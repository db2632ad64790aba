import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { CollectorOptions } from '../options';
import { shared } from './shared';

// CORS as Snowplow's collector does it: any OPTIONS preflight is granted for the requesting Origin
// with credentials (so browsers send and keep the cookie), and every tracking response (routes
// with `config: { cors: true }`, errors included) carries the same grant. The grant is written by
// whoever answers on those routes (track.ts, the redirect route, the app's error handler) with
// `grantCors`, rather than by an onSend hook that every response of every route would run.

declare module 'fastify' {
  interface FastifyContextConfig {
    cors?: boolean;
  }
}

/** The first origin of the request, echoed; `*` when there is none (not a browser). */
export function allowedOrigin(req: FastifyRequest): string {
  const origin = req.headers.origin;
  if (!origin) return '*';
  const space = origin.indexOf(' ');
  const first = space < 0 ? origin : origin.slice(0, space);
  // Only a value a header can carry is echoed (a control character would make the reply throw).
  return first && first !== 'null' && HEADER_SAFE.test(first) ? first : '*';
}

const HEADER_SAFE = /^[\x21-\x7e]{1,2048}$/;

/** Adds the CORS grant of tracking answers to a reply (call it last, before `send`). */
export function grantCors(reply: FastifyReply): FastifyReply {
  return reply.header('access-control-allow-origin', allowedOrigin(reply.request)).header('access-control-allow-credentials', 'true');
}

export const corsPlugin: FastifyPluginAsync<{ opts: CollectorOptions }> = shared(async (app, { opts }) => {
  const maxAge = String(opts.corsMaxAgeSeconds);
  app.options('/*', async (req, reply) => {
    return reply
      .header('access-control-allow-origin', allowedOrigin(req))
      .header('access-control-allow-credentials', 'true')
      .header('access-control-allow-headers', 'Content-Type, SP-Anonymous')
      .header('access-control-max-age', maxAge)
      .header('vary', 'Origin')
      .code(200)
      .send();
  });
});
