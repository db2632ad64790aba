import type { FastifyPluginAsync } from 'fastify';
import { requireToken } from '../../observability/access';
import type { Sinks } from '../ingest';
import type { CollectorMetrics } from '../metrics';
import type { CollectorOptions } from '../options';

// Operations routes: liveness, sink health (503, with the reasons, while a sink cannot write or
// its buffer is full), Prometheus metrics, robots.txt and the optional Flash crossdomain.xml.
// /sink-health and /metrics are behind collector.token (or auth.token) when one is set; the rest is
// public, like the tracking routes.

export const healthRoutes: FastifyPluginAsync<{ opts: CollectorOptions; sinks: Sinks; metrics: CollectorMetrics }> = async (
  app,
  { opts, sinks, metrics },
) => {
  app.get('/health', async (_req, reply) => reply.type('text/plain').send('OK'));

  app.register(async (ops) => {
    await requireToken(ops, opts.token);
    ops.get('/sink-health', async (_req, reply) => {
      const good = sinks.good.stats();
      const bad = sinks.bad.stats();
      const healthy = good.healthy && bad.healthy;
      const reasons = [['good', good] as const, ['bad', bad] as const].filter(([, s]) => s.reason).map(([label, s]) => `${label} stream ${s.stream}: ${s.reason}`);
      return reply.code(healthy ? 200 : 503).send({ healthy, reasons, sinks: { good, bad } });
    });

    ops.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  });

  app.get('/robots.txt', async (_req, reply) => reply.type('text/plain').send('User-agent: *\nDisallow: /'));

  app.get('/crossdomain.xml', async (_req, reply) => {
    const cd = opts.crossDomain;
    if (!cd) return reply.code(404).type('text/plain').send('404 not found');
    const allow = cd.domains.map((d) => `  <allow-access-from domain="${xmlAttr(d)}" secure="${cd.secure}" />`).join('\n');
    return reply.type('text/xml; charset=ISO-8859-1').send(`<?xml version="1.0"?>\n<cross-domain-policy>\n${allow}\n</cross-domain-policy>`);
  });
};

function xmlAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}
