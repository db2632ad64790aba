import type { FastifyReply, FastifyRequest } from 'fastify';
import { partitionKeyFor, type Identity } from './identity';
import type { Ingest } from './ingest';
import type { CollectorMetrics } from './metrics';
import { REDIRECT_PATH, TP2_PATH, type CollectorOptions } from './options';
import { normaliseContentType, toCollectorPayload } from './payload';
import { redirectTarget } from './redirect';
import { checkBase64Fields, checkTp2Post, type Verdict } from './validate';

// The handler behind every tracking route (pixel, tp2, webhooks, redirect): check the request,
// resolve the identity, sink one CollectorPayload (or refuse with 503 when the buffer is full),
// set the cookie, answer as Snowplow's collector does.

export interface TrackDeps {
  ingest: Ingest;
  opts: CollectorOptions;
  metrics: CollectorMetrics;
}

export type Track = (req: FastifyRequest, reply: FastifyReply, path: string) => FastifyReply;

// 1×1 transparent GIF, as Snowplow's collector returns.
export const PIXEL = Buffer.from('R0lGODlhAQABAPAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');
const NO_CACHE = 'no-cache, no-store, must-revalidate';
// Paths that carry the tracker protocol, whose parameters are checked here; webhook bodies are
// left to enrich's adapters.
const PROTOCOL_PATHS = new Set(['/i', '/ice.png', TP2_PATH, REDIRECT_PATH]);
// With SP-Anonymous, Snowplow keeps no header that identifies the client.
const ANONYMOUS_DROPS = new Set(['x-forwarded-for', 'x-real-ip', 'cookie']);

function requestHeaders(req: FastifyRequest, anonymous: boolean): [string, string][] {
  const raw = req.raw.rawHeaders;
  const out: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (anonymous && ANONYMOUS_DROPS.has(raw[i].toLowerCase())) continue;
    out.push([raw[i], raw[i + 1]]);
  }
  return out;
}

function check(req: FastifyRequest, path: string, querystring: string, body: string | undefined): Verdict {
  if (!PROTOCOL_PATHS.has(path)) return { ok: true };
  if (querystring) {
    const verdict = checkBase64Fields(req.query as Record<string, unknown>, 'querystring');
    if (!verdict.ok) return verdict;
  }
  if (req.method === 'POST' && path === TP2_PATH) return checkTp2Post(req.headers['content-type'], body, querystring !== '');
  return { ok: true };
}

export function makeTrack({ ingest, opts, metrics }: TrackDeps): Track {
  function respond(req: FastifyRequest, reply: FastifyReply, path: string, identity: Identity): FastifyReply {
    reply.setIdentityCookie(identity);
    if (path.startsWith('/r/')) {
      const target = redirectTarget((req.query as Record<string, unknown>).u, opts.redirect, identity.nuid);
      if (!target.ok) return reply.code(400).type('text/plain').send(target.reason);
      return reply.code(302).header('location', target.location).send();
    }
    if (req.method === 'POST') return reply.type('text/plain').send('ok');
    return reply.header('cache-control', NO_CACHE).type('image/gif').send(PIXEL);
  }

  return function track(req, reply, path) {
    const isPost = req.method === 'POST';
    const q = req.url.indexOf('?');
    const querystring = q >= 0 ? req.url.slice(q + 1) : '';
    const body = isPost && typeof req.body === 'string' && req.body.length > 0 ? req.body : undefined;
    if (body) metrics.requestBytes.inc(Number(req.headers['content-length']) || Buffer.byteLength(body));

    const verdict = check(req, path, querystring, body);
    if (!verdict.ok) return reply.code(verdict.status).type('text/plain').send(verdict.message);

    const identity = req.identity;
    if (identity.doNotTrack) {
      metrics.doNotTrack.inc();
      return respond(req, reply, path, identity);
    }
    const payload = toCollectorPayload(
      {
        ipAddress: identity.ip,
        timestamp: Date.now(),
        path,
        querystring,
        body,
        contentType: isPost ? normaliseContentType(req.headers['content-type']) : undefined,
        userAgent: req.headers['user-agent'],
        refererUri: req.headers.referer,
        hostname: req.hostname,
        networkUserId: identity.nuid,
        headers: requestHeaders(req, identity.anonymous),
      },
      opts.collectorName,
    );
    if (ingest.accept(payload, partitionKeyFor(identity, opts.partitionKey)) === 'full') {
      return reply.code(503).header('retry-after', '5').type('text/plain').send('sink buffer full: retry later');
    }
    return respond(req, reply, path, identity);
  };
}
