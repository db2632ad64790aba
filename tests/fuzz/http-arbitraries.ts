// HTTP requests to the collector: the real trackers' requests (pixel GETs, tp2 POSTs, redirects,
// webhooks, preflights, health checks) and hostile ones (methods, paths, encodings, content
// types, cookies, origins, bodies at and around the body and record limits, random bytes).
import fc from 'fast-check';
import { around, byteMutation, contentType, deepJson, eventMutation, hostileKeysJson, hostileText, hostileValue, mutateBytes, mutateEvent } from './hostile-arbitraries';
import { padBody } from './payload-arbitraries';
import { PAYLOAD_DATA, TP2, percentEncode, pixelEvent, querystringOf, tp2Batch, webhookBody } from './tracker-arbitraries';

export const ALLOWED_REDIRECT_HOST = 'shop.example.com';

export interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** Built as a real tracker builds it: the events it carries must all come out good. */
  real: boolean;
  /** Events a real request carries. */
  events: number;
}

/**
 * A header value as latin1 text. Control characters are left in (Node's parser would answer 400
 * to them, but a proxy in front may not); only CR, LF and NUL, which no hop can forward, go.
 */
export const headerSafe = (s: string): string => Buffer.from(s, 'utf8').toString('latin1').replace(/[\r\n\0]/g, ' ');

const origin = fc.oneof(fc.constantFrom('https://www.acme.com', 'https://shop.example.com', 'null', 'https://a.com https://b.com', ''), fc.webUrl(), hostileText);
const cookie = fc.oneof(
  fc.uuid().map((id) => `sp=${id}`),
  fc.constantFrom('sp=a b', 'sp=%zz', 'sp=', 'sp="quoted"', `sp=${'x'.repeat(200)}`, 'dnt=yes', 'dnt=yes; sp=0f8b7c3e-9d1a-4c2b-8e5f-6a7b8c9d0e1f', '__proto__=1; constructor=2', 'sp=1; sp=2', ';;;', '=x'),
  hostileText.map((t) => `sp=${t}`),
);
const headersArb = fc.record({
  'user-agent': fc.oneof(fc.constant('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36'), hostileText),
  referer: fc.oneof(fc.webUrl(), hostileText),
  origin,
  cookie,
  'sp-anonymous': fc.constant('*'),
  'x-forwarded-for': fc.oneof(fc.ipV4(), fc.constant('1.2.3.4, 10.0.0.1'), hostileText),
  host: fc.oneof(fc.constant('collector.example.com'), fc.constant('collector.example.com:8080'), fc.constant('[::1]:80'), hostileText),
}, { requiredKeys: [] }).map((h) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, headerSafe(v)])));

const browserHeaders = fc.record({
  'user-agent': fc.constantFrom(
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
    'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0'),
  referer: fc.webUrl(),
  origin: fc.constantFrom('https://www.acme.com', 'https://shop.example.com'),
}, { requiredKeys: ['user-agent'] });

/** Path segments, with broken percent-encoding and traversal left raw as on the wire. */
const segment = fc.oneof(fc.constantFrom('i', 'ice.png', 'r', 'tp2', 'com.snowplowanalytics.snowplow', 'com.acme', 'v1', '..', '.', '%2e%2e', '%', '%zz', '%c3%28', '%00', ''), hostileText.map(percentEncode));

const redirectTarget = fc.oneof(
  fc.constantFrom(
    `https://${ALLOWED_REDIRECT_HOST}/landing?a=1`, `http://${ALLOWED_REDIRECT_HOST.toUpperCase()}/`, `https://${ALLOWED_REDIRECT_HOST}/\${SP_NUID}`,
    'https://evil.com/', `https://${ALLOWED_REDIRECT_HOST}.evil.com/`, `https://${ALLOWED_REDIRECT_HOST}@evil.com/`, `https://evil.com\\@${ALLOWED_REDIRECT_HOST}/`,
    `//evil.com/`, `/\\evil.com`, 'javascript:alert(1)', `data:text/html,x`, `https://evil.com/?${ALLOWED_REDIRECT_HOST}`, `https://${ALLOWED_REDIRECT_HOST}:443@evil.com`,
    `https://${ALLOWED_REDIRECT_HOST}/%0d%0aSet-Cookie:%20x=1`, `https://${ALLOWED_REDIRECT_HOST}/\r\nSet-Cookie: x=1`, `ftp://${ALLOWED_REDIRECT_HOST}/`,
    `https://xn--shp-example-com/`, `https://${ALLOWED_REDIRECT_HOST}./`, `http://[::1]/`, `https://${ALLOWED_REDIRECT_HOST}/${'a'.repeat(5_000)}`, '',
  ),
  fc.webUrl(),
  hostileText,
);

const pixel = fc.tuple(pixelEvent, fc.constantFrom('/i', '/ice.png', '/com.acme/v1', TP2), fc.constantFrom('GET', 'HEAD'))
  .map(([p, path, method]): Omit<FuzzRequest, 'headers'> => ({ method, url: `${path}?${p.querystring}`, real: path !== '/com.acme/v1', events: 1 }));

const tp2 = tp2Batch.map(({ events, body }): Omit<FuzzRequest, 'headers'> & { ct: string } => ({ method: 'POST', url: TP2, body, ct: 'application/json; charset=UTF-8', real: true, events: events.length }));

/** tp2 POSTs damaged in one way each, or padded to sizes around the body and record limits. */
const tp2Mutated = (bodyLimit: number, recordLimit: number) => fc.record({
  batch: tp2Batch,
  mutations: fc.array(fc.tuple(fc.nat(19), fc.array(eventMutation, { minLength: 1, maxLength: 3 })), { maxLength: 3 }),
  shape: fc.constantFrom('events', 'deep', 'hostile-keys', 'pad-body', 'pad-record', 'bytes', 'random', 'truncated', 'empty', 'custom-path'),
  size: fc.oneof(around(bodyLimit), around(recordLimit)),
  multibyte: fc.boolean(),
  deep: deepJson, hostileKeys: hostileKeysJson,
  bytes: fc.array(byteMutation, { minLength: 1, maxLength: 4 }),
  random: fc.uint8Array({ maxLength: 300 }),
  cut: fc.nat(),
  ct: contentType,
  qs: fc.option(fc.dictionary(fc.constantFrom('aid', 'e', 'ue_px', 'cx', 'nuid', 'u'), hostileValue, { maxKeys: 3 }), { nil: undefined }),
}).map((m): Omit<FuzzRequest, 'headers'> & { ct?: string } => {
  const events: Record<string, unknown>[] = m.batch.events.map((e) => ({ ...e }));
  for (const [i, ms] of m.mutations) events[i % events.length] = mutateEvent(events[i % events.length] as Record<string, string>, ms);
  const json = JSON.stringify({ schema: PAYLOAD_DATA, data: events });
  let body: string | Buffer = json;
  switch (m.shape) {
    case 'deep': body = m.deep; break;
    case 'hostile-keys': body = `{"schema":"${PAYLOAD_DATA}","data":[${m.hostileKeys}]}`; break;
    case 'pad-body': case 'pad-record': body = padBody(events, m.size, m.multibyte); break;
    case 'bytes': body = mutateBytes(Buffer.from(json), m.bytes); break;
    case 'random': body = Buffer.from(m.random); break;
    case 'truncated': body = json.slice(0, m.cut % (json.length + 1)); break;
    case 'empty': body = ''; break;
  }
  const path = m.shape === 'custom-path' ? '/com.acme/track' : TP2;
  return { method: 'POST', url: m.qs ? `${path}?${querystringOf(m.qs)}` : path, body, ct: m.ct, real: false, events: 0 };
});

const pixelMutated = fc.tuple(pixelEvent, fc.array(eventMutation, { minLength: 1, maxLength: 4 }), fc.array(fc.tuple(fc.constantFrom('e', 'cx', 'ue_px', 'nuid', 'url', 'x'), hostileText), { maxLength: 3 }), fc.constantFrom('/i', '/ice.png', TP2, '/r/tp2', '/com.acme/click'))
  .map(([p, ms, raw, path]): Omit<FuzzRequest, 'headers'> => {
    // Raw pairs are appended unencoded (only what cannot be in a request line is escaped).
    const tail = raw.map(([k, v]) => `&${k}=${v.replace(/[^\x21-\x7e]/g, (c) => percentEncode(c))}`).join('');
    return { method: 'GET', url: `${path}?${querystringOf(mutateEvent(p.event, ms))}${tail}`, real: false, events: 0 };
  });

const redirect = fc.tuple(redirectTarget, pixelEvent, fc.constantFrom('/r/tp2', '/com.acme/click', '/r/other'), fc.boolean())
  .map(([u, p, path, encode]): Omit<FuzzRequest, 'headers'> => ({
    method: 'GET', url: `${path}?u=${encode ? percentEncode(u) : u.replace(/[^\x21-\x7e]/g, (c) => percentEncode(c))}&${p.querystring}`, real: false, events: 0,
  }));

const webhook = fc.tuple(webhookBody, fc.array(byteMutation, { maxLength: 2 })).map(([w, ms]): Omit<FuzzRequest, 'headers'> & { ct: string } => ({
  method: 'POST', url: w.path, body: ms.length ? mutateBytes(Buffer.from(w.body), ms) : w.body, ct: w.contentType, real: false, events: 0,
}));

const operational = fc.constantFrom('/health', '/sink-health', '/robots.txt', '/crossdomain.xml', '/metrics', '/', '/favicon.ico')
  .map((url): Omit<FuzzRequest, 'headers'> => ({ method: 'GET', url, real: false, events: 0 }));

const anything = fc.record({
  method: fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'PATCH', 'TRACE'),
  segments: fc.array(segment, { minLength: 0, maxLength: 4 }),
  query: fc.option(fc.array(fc.tuple(fc.oneof(fc.constantFrom('e', 'u', 'nuid', 'cx', 'ue_px'), hostileText.map(percentEncode)), hostileValue.map(percentEncode)), { maxLength: 4 }), { nil: undefined }),
  body: fc.option(fc.oneof(fc.string({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), deepJson, hostileKeysJson), { nil: undefined }),
  ct: contentType,
}).map((r): Omit<FuzzRequest, 'headers'> & { ct?: string } => ({
  method: r.method,
  url: `/${r.segments.join('/')}${r.query ? `?${r.query.map(([k, v]) => `${k}=${v}`).join('&')}` : ''}`,
  body: r.method === 'GET' || r.method === 'HEAD' ? undefined : r.body,
  ct: r.ct, real: false, events: 0,
}));

/** Any request, weighted towards the real trackers' and their near misses. */
export function collectorRequest(limits: { bodyLimit: number; recordLimit: number }): fc.Arbitrary<FuzzRequest> {
  return fc.tuple(
    fc.oneof(
      { weight: 3, arbitrary: pixel }, { weight: 3, arbitrary: tp2 }, { weight: 5, arbitrary: tp2Mutated(limits.bodyLimit, limits.recordLimit) },
      { weight: 2, arbitrary: pixelMutated }, { weight: 2, arbitrary: redirect }, { weight: 1, arbitrary: webhook },
      { weight: 1, arbitrary: operational }, { weight: 2, arbitrary: anything },
    ),
    headersArb,
    fc.integer({ min: 0, max: 7 }).map((n) => n === 0), // one in eight becomes a preflight
    browserHeaders,
  ).map(([r, headers, preflight, browser]) => {
    const { ct, ...req } = r as FuzzRequest & { ct?: string };
    const h: Record<string, string> = { ...headers };
    if (ct !== undefined) h['content-type'] = headerSafe(ct);
    // A real tracker's request carries a browser's headers, nothing hostile.
    if (req.real) {
      for (const k of Object.keys(h)) delete h[k];
      Object.assign(h, browser);
      if (ct !== undefined) h['content-type'] = ct;
    }
    if (preflight && !req.real) return { ...req, method: 'OPTIONS', body: undefined, headers: h };
    return { ...req, headers: h };
  });
}
