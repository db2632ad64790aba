import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { fastifyLogging } from '../observability/fastify';
import type { Logger } from '../observability/logger';
import { makeClientErrorHandler } from './client-errors';
import { Ingest, type Sinks } from './ingest';
import type { CollectorMetrics } from './metrics';
import type { CollectorOptions } from './options';
import { corsPlugin, grantCors } from './plugins/cors';
import { healthRoutes } from './plugins/health';
import { identityPlugin } from './plugins/identity';
import { redirectRoutes } from './plugins/redirect';
import { trackingRoutes } from './plugins/tracking';
import { lazyQuery } from './query';
import { makeTrack } from './track';

// The collector's HTTP surface: one plugin per concern (identity/cookie, CORS, tracking routes,
// redirects, health/metrics) over one Ingest step that turns each request into raw records.

export interface CollectorDeps {
  sinks: Sinks;
  metrics: CollectorMetrics;
}

export function buildCollectorApp({ sinks, metrics }: CollectorDeps, opts: CollectorOptions, log: Logger): FastifyInstance {
  const app = Fastify({
    ...fastifyLogging(log),
    bodyLimit: opts.bodyLimitBytes,
    trustProxy: opts.trustProxy,
    // Request line + headers over this get 431 from Node's parser, before any route runs.
    http: { maxHeaderSize: opts.maxHeaderBytes },
    // …and the parser's refusals get a status line any client can read (client-errors.ts).
    clientErrorHandler: makeClientErrorHandler(metrics, log),
    // Bounds a slow upload; trackers send small bodies.
    requestTimeout: 30_000,
    // No child logger per request: nothing here logs per request (and a pino child with the
    // redaction paths costs a few µs to make).
    childLoggerFactory: (logger) => logger,
    // `request.query` is parsed on first use only: the tracking routes read their few parameters
    // from the raw querystring (query.ts), so the full parse would be wasted on every request.
    routerOptions: { querystringParser: lazyQuery },
  });

  // Bodies are kept verbatim: the raw record carries the body as the tracker sent it.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: opts.bodyLimitBytes }, (_req, body, done) => done(null, body));

  app.addHook('onResponse', (req, reply, done) => {
    metrics.countRequest(req.routeOptions.url ?? 'unmatched', reply.statusCode);
    done();
  });
  // Malformed requests get a clear 4xx (never a stack trace); anything else is logged as a 500.
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) log.error({ err: err.message, code: err.code, route: req.routeOptions.url }, 'request failed');
    reply.code(status).type('text/plain');
    if (req.routeOptions.config?.cors) grantCors(reply);
    return reply.send(status >= 500 ? 'internal error' : err.message);
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).type('text/plain').send('404 not found'));

  metrics.watch({ good: sinks.good, bad: sinks.bad });
  const ingest = new Ingest(sinks, opts.maxRecordBytes, opts.processor, metrics);
  const track = makeTrack({ ingest, opts, metrics });

  app.register(identityPlugin, { opts });
  app.register(corsPlugin, { opts });
  app.register(trackingRoutes, { opts, track });
  app.register(redirectRoutes, { opts, track });
  app.register(healthRoutes, { opts, sinks, metrics });
  return app;
}
