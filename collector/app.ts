import { randomUUID } from 'node:crypto';
import cookie from '@fastify/cookie';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { encodeCollectorPayload } from '../codecs/collector-payload';
import type { Logger } from '../observability/logger';
import { fastifyLogging } from '../observability/fastify';
import { toCollectorPayload } from './payload';
import type { CollectorMetrics } from './metrics';
import type { KinesisSink } from './sink';

// The collector's HTTP surface. Each request becomes one Thrift CollectorPayload on the raw stream.

export interface CollectorOptions {
  collectorName: string;
  bodyLimitBytes: number;
  cookie: { name: string; maxAgeDays: number; secure: boolean; sameSite: 'none' | 'lax' | 'strict' };
}

// 1×1 transparent GIF, as Snowplow's collector returns.
const PIXEL = Buffer.from('R0lGODlhAQABAPAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');
const NO_CACHE = 'no-cache, no-store, must-revalidate';
const TP2_PATH = '/com.snowplowanalytics.snowplow/tp2';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function buildCollectorApp(sink: KinesisSink, m: CollectorMetrics, opts: CollectorOptions, log: Logger): FastifyInstance {
  const app = Fastify({ ...fastifyLogging(log), bodyLimit: opts.bodyLimitBytes });

  // Bodies are kept verbatim: the raw record carries the body as the tracker sent it.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: opts.bodyLimitBytes }, (_req, body, done) => done(null, body));

  app.register(cookie);

  function networkUserId(req: FastifyRequest): string {
    const q = req.query as Record<string, string | undefined>;
    if (q.nuid && UUID.test(q.nuid)) return q.nuid;
    const fromCookie = req.cookies[opts.cookie.name];
    return fromCookie && UUID.test(fromCookie) ? fromCookie : randomUUID();
  }

  function sinkRequest(req: FastifyRequest, reply: FastifyReply, route: string): boolean {
    const nuid = networkUserId(req);
    const qIndex = req.url.indexOf('?');
    const headers: [string, string][] = [];
    for (let i = 0; i < req.raw.rawHeaders.length; i += 2) headers.push([req.raw.rawHeaders[i], req.raw.rawHeaders[i + 1]]);
    const payload = toCollectorPayload(
      {
        ipAddress: req.ip,
        timestamp: Date.now(),
        path: req.routeOptions.url ?? route,
        querystring: qIndex >= 0 ? req.url.slice(qIndex + 1) : undefined,
        body: typeof req.body === 'string' && req.body.length > 0 ? req.body : undefined,
        contentType: req.headers['content-type'],
        userAgent: req.headers['user-agent'],
        refererUri: req.headers.referer,
        hostname: req.hostname,
        networkUserId: nuid,
        headers,
      },
      opts.collectorName,
    );
    const data = encodeCollectorPayload(payload);
    if (!sink.offer([{ data, partitionKey: randomUUID() }])) {
      m.refused.inc();
      m.requests.inc({ route, status: 503 });
      void reply.code(503).header('retry-after', '5').send('sink buffer full');
      return false;
    }
    m.bytes.inc(data.length);
    m.buffered.set(sink.stats().bufferedRecords);
    void reply.setCookie(opts.cookie.name, nuid, {
      path: '/',
      maxAge: opts.cookie.maxAgeDays * 86_400,
      httpOnly: true,
      secure: opts.cookie.secure,
      sameSite: opts.cookie.sameSite,
    });
    m.requests.inc({ route, status: 200 });
    return true;
  }

  const pixel = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!sinkRequest(req, reply, '/i')) return reply;
    return reply.header('cache-control', NO_CACHE).type('image/gif').send(PIXEL);
  };
  app.get('/i', pixel);
  app.get('/ice.png', pixel);

  app.post(TP2_PATH, async (req, reply) => {
    if (!sinkRequest(req, reply, TP2_PATH)) return reply;
    return reply.type('text/plain').send('ok');
  });

  app.get('/health', async () => 'OK');
  app.get('/sink-health', async (_req, reply) => {
    const s = sink.stats();
    return reply.code(s.healthy ? 200 : 503).send(s);
  });
  app.get('/metrics', async (_req, reply) => {
    m.buffered.set(sink.stats().bufferedRecords);
    return reply.type(m.registry.contentType).send(await m.registry.metrics());
  });

  return app;
}
