// CollectorPayloads as enrich receives them: the collector's records of real tracker requests,
// then the same with hostile mutations (parameters, bodies, sizes, encodings, fields the
// collector would never write but a raw stream written by anything else can hold).
import fc from 'fast-check';
import { COLLECTOR_PAYLOAD_SCHEMA, type CollectorPayload } from '../../codecs/collector-payload';
import { DEFAULT_JSON_LIMITS } from '../../codecs/bounded-json';
import {
  around, byteMutation, contentType, deepJson, eventMutation, hostileKeysJson, hostileText, hostileValue, mutateBytes, mutateEvent, oddNumber, padTo,
} from './hostile-arbitraries';
import { PAYLOAD_DATA, TP2, pixelEvent, querystringOf, tp2Batch, webhookBody } from './tracker-arbitraries';

export interface FuzzPayload {
  payload: CollectorPayload;
  /** Built as a real tracker builds it, untouched: every event must come out good. */
  real: boolean;
  /** Events the tracker sent (for real payloads). */
  events: number;
}

const T0 = 1_709_294_000_000;
const base = (over: Partial<CollectorPayload>): CollectorPayload => ({
  schema: COLLECTOR_PAYLOAD_SCHEMA, ipAddress: '81.2.69.160', timestamp: T0, encoding: 'UTF-8', collector: 'sluice-collector-0.1.0-kinesis',
  userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
  refererUri: 'https://www.google.com/search?q=shoes', hostname: 'collector.example.com', networkUserId: '0f8b7c3e-9d1a-4c2b-8e5f-6a7b8c9d0e1f',
  headers: ['Host: collector.example.com', 'Accept-Language: en-GB', 'Cookie: sp=0f8b7c3e-9d1a-4c2b-8e5f-6a7b8c9d0e1f; _ga=1'], ...over,
});

/** Real, untouched tracker requests as the collector records them. */
export const realPayload: fc.Arbitrary<FuzzPayload> = fc.oneof(
  pixelEvent.map(({ querystring }) => ({ payload: base({ path: '/i', querystring }), real: true, events: 1 })),
  tp2Batch.map(({ events, body }) => ({
    payload: base({ path: TP2, querystring: '', body, contentType: 'application/json; charset=utf-8', headers: ['Host: collector.example.com', 'Content-Type: application/json; charset=UTF-8', 'application/json; charset=utf-8'] }),
    real: true, events: events.length,
  })),
);

/** A JSON body padded (inside one event) so its UTF-8 size is exactly `bytes`, when it can be. */
export function padBody(events: Record<string, unknown>[], bytes: number, multibyte: boolean): string {
  const skeleton = JSON.stringify({ schema: PAYLOAD_DATA, data: [{ ...events[0], pad: '' }, ...events.slice(1)] });
  return JSON.stringify({ schema: PAYLOAD_DATA, data: [{ ...events[0], pad: padTo(bytes - Buffer.byteLength(skeleton), multibyte) }, ...events.slice(1)] });
}

const mutatedTp2 = fc.record({
  batch: tp2Batch,
  mutations: fc.array(fc.tuple(fc.nat(19), fc.array(eventMutation, { minLength: 1, maxLength: 3 })), { maxLength: 4 }),
  shape: fc.constantFrom('events', 'deep-body', 'hostile-keys', 'pad', 'bytes', 'not-array', 'empty-data', 'non-object-events'),
  size: around(DEFAULT_JSON_LIMITS.maxBytes),
  multibyte: fc.boolean(),
  deep: deepJson,
  hostileKeys: hostileKeysJson,
  bytes: fc.array(byteMutation, { minLength: 1, maxLength: 4 }),
  contentType,
  qs: fc.option(fc.dictionary(fc.constantFrom('aid', 'e', 'ue_px', 'cx', 'eid', 'p'), hostileValue, { maxKeys: 3 }), { nil: undefined }),
}).map((m): FuzzPayload => {
  const events: Record<string, unknown>[] = m.batch.events.map((e) => ({ ...e }));
  for (const [i, ms] of m.mutations) events[i % events.length] = mutateEvent(events[i % events.length] as Record<string, string>, ms);
  let body: string;
  switch (m.shape) {
    case 'deep-body': body = m.deep; break;
    case 'hostile-keys': body = `{"schema":"${PAYLOAD_DATA}","data":[${m.hostileKeys}]}`; break;
    case 'pad': body = padBody(events, m.size, m.multibyte); break;
    case 'bytes': body = mutateBytes(Buffer.from(JSON.stringify({ schema: PAYLOAD_DATA, data: events })), m.bytes).toString('utf8'); break;
    case 'not-array': body = JSON.stringify({ schema: PAYLOAD_DATA, data: events[0] }); break;
    case 'empty-data': body = JSON.stringify({ schema: PAYLOAD_DATA, data: [] }); break;
    case 'non-object-events': body = `{"schema":"${PAYLOAD_DATA}","data":[1,"x",null,[],${JSON.stringify(events[0])}]}`; break;
    default: body = JSON.stringify({ schema: PAYLOAD_DATA, data: events });
  }
  return { payload: base({ path: TP2, body, contentType: m.contentType, querystring: m.qs ? querystringOf(m.qs) : '' }), real: false, events: 0 };
});

const mutatedPixel = fc.record({
  pixel: pixelEvent,
  mutations: fc.array(eventMutation, { minLength: 1, maxLength: 4 }),
  raw: fc.option(fc.array(fc.tuple(fc.constantFrom('e', 'url', 'ue_px', 'cx', 'co', 'ue_pr', 'se_va', 'dtm', 'refr', 'x'), hostileText), { maxLength: 3 }), { nil: undefined }),
  path: fc.constantFrom('/i', '/ice.png', '/r/tp2', TP2, '/com.snowplowanalytics.iglu/v1', '/com.acme/v1', '/i/', '//i', '/com.snowplowanalytics.snowplow/tp2/', ''),
}).map((m): FuzzPayload => {
  const e = mutateEvent(m.pixel.event, m.mutations);
  // Raw pairs go in unencoded: broken percent-encoding as it arrives on the wire.
  const raw = m.raw ? m.raw.map(([k, v]) => `&${k}=${v}`).join('') : '';
  return { payload: base({ path: m.path, querystring: querystringOf(e) + raw }), real: false, events: 0 };
});

const webhook = fc.tuple(webhookBody, fc.array(byteMutation, { maxLength: 2 }), fc.option(fc.constantFrom('schema=iglu:com.acme/x/jsonschema/1-0-0', 'schema=nope', 'schema=iglu%3Acom.snowplowanalytics.snowplow%2Flink_click%2Fjsonschema%2F1-0-1'), { nil: undefined }), hostileKeysJson, deepJson)
  .map(([w, bytes, qs, hostile, deep]): FuzzPayload => {
    // No schema parameter: the webhook's own body, maybe damaged; with one: a hostile or deep JSON body.
    const own = bytes.length ? mutateBytes(Buffer.from(w.body), bytes).toString('utf8') : w.body;
    const body = qs === undefined ? own : qs === 'schema=nope' ? deep : hostile;
    return { payload: base({ path: w.path, body, contentType: w.contentType, querystring: qs ?? '' }), real: false, events: 0 };
  });

/** Fields no collector of ours writes, but a raw stream written by anything else can hold. */
const oddFields = fc.record({
  ipAddress: fc.oneof(fc.ipV4(), fc.ipV6(), hostileText, fc.constant('')),
  timestamp: fc.oneof(fc.constantFrom(0, -1, 1e15, -62_135_596_800_001, 253_402_300_800_000, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER), fc.integer()),
  encoding: fc.constantFrom('UTF-8', 'ISO-8859-1', '', 'x'),
  userAgent: fc.option(fc.oneof(hostileText, fc.constant('%E2%82%AC%zz'), fc.constant('a'.repeat(70_000))), { nil: undefined }),
  refererUri: fc.option(fc.oneof(hostileText, fc.webUrl()), { nil: undefined }),
  headers: fc.option(fc.array(fc.oneof(hostileText, fc.constant('Cookie: sp=%zz; __proto__=1'), fc.constant('X-Forwarded-For: 1.2.3.4, ::1, junk')), { maxLength: 6 }), { nil: undefined }),
  networkUserId: fc.option(fc.oneof(fc.uuid(), hostileText), { nil: undefined }),
  hostname: fc.option(hostileText, { nil: undefined }),
  schema: fc.constantFrom(COLLECTOR_PAYLOAD_SCHEMA, 'iglu:com.snowplowanalytics.snowplow/CollectorPayload/thrift/1-0-1', 'nope'),
});

const oddPayload = fc.tuple(fc.oneof(realPayload, mutatedPixel), oddFields, oddNumber).map(([p, f, n]): FuzzPayload => ({
  payload: { ...p.payload, ...Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)), querystring: `${p.payload.querystring ?? ''}&dtm=${encodeURIComponent(n)}&tr_tt=${encodeURIComponent(n)}` } as CollectorPayload,
  real: false, events: 0,
}));

/** Real payloads first, then each kind of damage. */
export const anyPayload: fc.Arbitrary<FuzzPayload> = fc.oneof(
  { weight: 3, arbitrary: realPayload },
  { weight: 4, arbitrary: mutatedTp2 },
  { weight: 3, arbitrary: mutatedPixel },
  { weight: 1, arbitrary: webhook },
  { weight: 2, arbitrary: oddPayload },
);

export const payloadBytes = (p: CollectorPayload): number =>
  Buffer.byteLength(p.body ?? '') + Buffer.byteLength(p.querystring ?? '') + Buffer.byteLength(p.userAgent ?? '') + (p.headers ?? []).reduce((n, h) => n + h.length, 0);
