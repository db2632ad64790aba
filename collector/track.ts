import type { FastifyReply, FastifyRequest } from 'fastify';
import { partitionKeyFor, type Identity } from './identity';
import type { Ingest } from './ingest';
import type { CollectorMetrics } from './metrics';
import { REDIRECT_PATH, TP2_PATH, type CollectorOptions } from './options';
import { collectorPayloadOf, normaliseContentType } from './payload';
import { allowedOrigin, grantCors } from './plugins/cors';
import { querystringOf } from './plugins/identity';
import { redirectTarget } from './redirect';
import { checkBase64Fields, checkTp2Post, type Verdict } from './validate';

// The handler behind every tracking route (pixel, tp2, webhooks, redirect): check the request,
// resolve the identity, sink one CollectorPayload (or refuse with 503 when the buffer is full),
// set the cookie, answer as Snowplow's collector does (with the CORS grant of tracking answers).

export interface TrackDeps {
  ingest: Ingest;
  opts: CollectorOptions;
  metrics: CollectorMetrics;
}

export type Track = (req: FastifyRequest, reply: FastifyReply, path: string) => FastifyReply;

// 1×1 transparent GIF, as Snowplow's collector returns.
export const PIXEL = Buffer.from('R0lGODlhAQABAPAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');
const PIXEL_BODY = PIXEL.toString('latin1');
const NO_CACHE = 'no-cache, no-store, must-revalidate';
const OK: Verdict = { ok: true };
// Paths that carry the tracker protocol, whose parameters are checked here; webhook bodies are
// left to enrich's adapters.
const PROTOCOL_PATHS = new Set(['/i', '/ice.png', TP2_PATH, REDIRECT_PATH]);

// With SP-Anonymous, Snowplow keeps no header that identifies the client.
function isAnonymousDrop(name: string): boolean {
  const n = name.length;
  if (n !== 6 && n !== 9 && n !== 15) return false;
  const lower = name.toLowerCase();
  return lower === 'cookie' || lower === 'x-real-ip' || lower === 'x-forwarded-for';
}

/** Every request header as `Name: value` (as received), SP-Anonymous' drops left out. */
function requestHeaders(req: FastifyRequest, anonymous: boolean): string[] {
  const raw = req.raw.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (anonymous && isAnonymousDrop(raw[i])) continue;
    out.push(`${raw[i]}: ${raw[i + 1]}`);
  }
  return out;
}

function check(req: FastifyRequest, path: string, querystring: string, body: string | undefined): Verdict {
  if (!PROTOCOL_PATHS.has(path)) return OK;
  if (querystring) {
    const verdict = checkBase64Fields(req.trackerParams, 'querystring');
    if (!verdict.ok) return verdict;
  }
  if (path === TP2_PATH && req.method === 'POST') return checkTp2Post(req.headers['content-type'], body, querystring !== '');
  return OK;
}

/**
 * A tracking answer written straight to Node's response, in one piece: the headers Fastify's
 * reply would have written for it, in the same order (Node adds Date and the keep-alive ones as
 * for any answer). The reply is hijacked, so Fastify's send path is skipped; its onResponse hook
 * (the request metrics) still runs when the response finishes. HEAD answers get the headers only.
 */
function answer(reply: FastifyReply, status: number, cookie: string | undefined, headers: string[], body: string): FastifyReply {
  const origin = allowedOrigin(reply.request);
  const res = reply.hijack().raw;
  const all = cookie === undefined ? headers : ['set-cookie', cookie, ...headers];
  all.push('access-control-allow-origin', origin, 'access-control-allow-credentials', 'true', 'content-length', String(Buffer.byteLength(body, 'latin1')));
  try {
    res.writeHead(status, all);
  } catch {
    // Unreachable (every value is checked or built to be header-safe); answered as the error handler would.
    res.writeHead(500, ['content-type', 'text/plain', 'content-length', '14']);
    res.end('internal error');
    return reply;
  }
  // latin1: the pixel's bytes as they are (the other bodies are ASCII).
  res.end(body, 'latin1');
  return reply;
}

export function makeTrack({ ingest, opts, metrics }: TrackDeps): Track {
  const refuse = (reply: FastifyReply, status: number, message: string) => grantCors(reply.code(status).type('text/plain')).send(message);

  function respond(req: FastifyRequest, reply: FastifyReply, path: string, identity: Identity): FastifyReply {
    if (path.startsWith('/r/')) {
      const target = redirectTarget(req.trackerParams.u, opts.redirect, identity.nuid);
      if (!target.ok) return refuse(reply.setIdentityCookie(identity), 400, target.reason);
      return answer(reply, 302, reply.identityCookie(identity), ['location', target.location], '');
    }
    if (req.method === 'POST') return answer(reply, 200, reply.identityCookie(identity), ['content-type', 'text/plain'], 'ok');
    return answer(reply, 200, reply.identityCookie(identity), ['cache-control', NO_CACHE, 'content-type', 'image/gif'], PIXEL_BODY);
  }

  return function track(req, reply, path) {
    const isPost = req.method === 'POST';
    const querystring = querystringOf(req.url);
    const body = isPost && typeof req.body === 'string' && req.body.length > 0 ? req.body : undefined;
    if (body) metrics.tally.requestBytes.inc(Number(req.headers['content-length']) || Buffer.byteLength(body));

    const verdict = check(req, path, querystring, body);
    if (!verdict.ok) return refuse(reply, verdict.status, verdict.message);

    const identity = req.identity;
    if (identity.doNotTrack) {
      metrics.tally.doNotTrack.inc();
      return respond(req, reply, path, identity);
    }
    const headers = req.headers;
    const contentType = isPost ? normaliseContentType(headers['content-type']) : undefined;
    const payload = collectorPayloadOf(
      {
        ipAddress: identity.ip,
        timestamp: Date.now(),
        path,
        querystring,
        body,
        contentType,
        userAgent: headers['user-agent'],
        refererUri: headers.referer,
        hostname: req.hostname,
        networkUserId: identity.nuid,
        headerLines: requestHeaders(req, identity.anonymous),
      },
      opts.collectorName,
    );
    if (ingest.accept(payload, partitionKeyFor(identity, opts.partitionKey)) === 'full') {
      return grantCors(reply.code(503).header('retry-after', '5').type('text/plain')).send('sink buffer full: retry later');
    }
    return respond(req, reply, path, identity);
  };
}
