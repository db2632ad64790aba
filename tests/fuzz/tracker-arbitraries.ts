// Real tracker payloads, built the way Snowplow's JavaScript tracker builds them: page views,
// page pings, struct events, self-describing events (ue_pr plain JSON or ue_px URL-safe base64),
// contexts (co / cx), transactions and their items, sent as a GET pixel querystring or as a tp2
// POST batch of 1..20 events. These are the seeds the hostile mutations start from.
import fc from 'fast-check';

export const SP = 'com.snowplowanalytics.snowplow';
export const PAYLOAD_DATA = `iglu:${SP}/payload_data/jsonschema/1-0-4`;
export const TP2 = `/${SP}/tp2`;
const UNSTRUCT = `iglu:${SP}/unstruct_event/jsonschema/1-0-0`;
const CONTEXTS = `iglu:${SP}/contexts/jsonschema/1-0-0`;

/** One event's parameters, every value a string (what payload_data 1-0-4 allows). */
export type TrackerEvent = Record<string, string>;

/** As the JS tracker encodes: URL-safe base64 with the padding stripped (or standard, as older trackers). */
export function base64Json(value: unknown, urlSafe: boolean): string {
  const b = Buffer.from(JSON.stringify(value), 'utf8');
  return urlSafe ? b.toString('base64url') : b.toString('base64');
}

const word = fc.stringMatching(/^[a-z][a-z0-9_-]{0,11}$/);
const text = fc.string({ maxLength: 30, unit: 'grapheme' });
const epochMs = fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 });
const decimal = fc.tuple(fc.integer({ min: 0, max: 99_999 }), fc.integer({ min: 0, max: 99 })).map(([a, b]) => `${a}.${String(b).padStart(2, '0')}`);
const url = fc.webUrl({ withQueryParameters: true, withFragments: true });
const campaignUrl = fc.tuple(url, fc.constantFrom('google', 'newsletter', 'bing'), fc.constantFrom('cpc', 'email', 'social'))
  .map(([u, source, medium]) => `${u.split('#')[0]}${u.includes('?') ? '&' : '?'}utm_source=${source}&utm_medium=${medium}&utm_campaign=spring`);
const referrer = fc.oneof(url, fc.constantFrom('https://www.google.com/search?q=shoes', 'https://www.bing.com/search?q=red+shoes', 'https://t.co/abc', ''));

const webPage = fc.uuid().map((id) => ({ schema: `iglu:${SP}/web_page/jsonschema/1-0-0`, data: { id } }));
const clientSession = fc.record({ userId: fc.uuid(), sessionId: fc.uuid(), sessionIndex: fc.integer({ min: 1, max: 9_999 }) })
  .map((d) => ({ schema: `iglu:${SP}/client_session/jsonschema/1-0-2`, data: { ...d, storageMechanism: 'COOKIE_1', previousSessionId: null } }));
const linkClick = fc.record({ targetUrl: url, elementId: word, elementClasses: fc.array(word, { maxLength: 3 }), elementContent: text })
  .map((data) => ({ schema: `iglu:${SP}/link_click/jsonschema/1-0-1`, data }));

/** The contexts of an event: absent, plain JSON in `co`, or base64 in `cx`. */
const contexts = fc.option(fc.tuple(fc.array(fc.oneof(webPage, clientSession), { minLength: 1, maxLength: 3 }), fc.constantFrom('co', 'cx', 'cx-std')), { nil: undefined })
  .map((c): TrackerEvent => {
    if (!c) return {};
    const [items, field] = c;
    const wrapper = { schema: CONTEXTS, data: items };
    return field === 'co' ? { co: JSON.stringify(wrapper) } : { cx: base64Json(wrapper, field === 'cx') };
  });

/** The fields every JS tracker event carries. */
const common = fc.record({
  p: fc.constantFrom('web', 'mob', 'app'),
  tv: fc.constantFrom('js-3.24.2', 'js-4.1.0', 'node-4.8.0'),
  aid: word,
  eid: fc.uuid(),
  dtm: epochMs.map(String),
  tz: fc.constantFrom('Europe/London', 'America/New_York', 'Asia/Tokyo'),
  lang: fc.constantFrom('en-GB', 'fr-FR', 'ja'),
  cs: fc.constant('UTF-8'),
  res: fc.constantFrom('1920x1080', '1280x720', '390x844'),
  vp: fc.constantFrom('1903x969', '1200x600'),
  cd: fc.constant('24'),
  cookie: fc.constant('1'),
  duid: fc.uuid(),
  vid: fc.integer({ min: 1, max: 500 }).map(String),
  sid: fc.uuid(),
  url: fc.oneof(url, campaignUrl),
  refr: referrer,
  uid: fc.option(fc.emailAddress(), { nil: undefined }),
}).map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as TrackerEvent);

const pageView = fc.record({ page: text }).map((r): TrackerEvent => ({ e: 'pv', ...r }));
const pagePing = fc.tuple(fc.nat(2_000), fc.nat(2_000), fc.nat(9_000), fc.nat(9_000))
  .map(([a, b, c, d]): TrackerEvent => ({ e: 'pp', pp_mix: String(Math.min(a, b)), pp_max: String(Math.max(a, b)), pp_miy: String(Math.min(c, d)), pp_may: String(Math.max(c, d)) }));
const structEvent = fc.record({ se_ca: word, se_ac: word, se_la: text, se_pr: word, se_va: decimal })
  .map((r): TrackerEvent => ({ e: 'se', ...r }));
const selfDescribing = fc.tuple(linkClick, fc.constantFrom('ue_pr', 'ue_px', 'ue_px-std'))
  .map(([event, field]): TrackerEvent => {
    const wrapper = { schema: UNSTRUCT, data: event };
    return field === 'ue_pr' ? { e: 'ue', ue_pr: JSON.stringify(wrapper) } : { e: 'ue', ue_px: base64Json(wrapper, field === 'ue_px') };
  });
const transaction = fc.record({ tr_id: word, tr_af: word, tr_tt: decimal, tr_tx: decimal, tr_sh: decimal, tr_ci: word, tr_st: word, tr_co: word, tr_cu: fc.constantFrom('GBP', 'USD', 'EUR') })
  .map((r): TrackerEvent => ({ e: 'tr', ...r }));
const transactionItem = fc.record({ ti_id: word, ti_sk: word, ti_nm: text, ti_ca: word, ti_pr: decimal, ti_qu: fc.integer({ min: 1, max: 99 }).map(String), ti_cu: fc.constantFrom('GBP', 'USD') })
  .map((r): TrackerEvent => ({ e: 'ti', ...r }));

/** One real tracker event of any kind, with the common fields and maybe contexts. */
export const trackerEvent: fc.Arbitrary<TrackerEvent> = fc
  .tuple(common, fc.oneof(pageView, pagePing, structEvent, selfDescribing, transaction, transactionItem), contexts)
  .map(([c, e, ctx]) => ({ ...e, ...c, ...ctx }));

/** A tp2 POST body: 1..20 events, each stamped with the batch's send time, as the JS tracker does. */
export const tp2Batch: fc.Arbitrary<{ events: TrackerEvent[]; body: string }> = fc
  .tuple(fc.array(trackerEvent, { minLength: 1, maxLength: 20 }), epochMs)
  .map(([events, stm]) => {
    const stamped = events.map((e) => ({ ...e, stm: String(stm) }));
    return { events: stamped, body: JSON.stringify({ schema: PAYLOAD_DATA, data: stamped }) };
  });

const UNRESERVED = /[A-Za-z0-9\-_.!~*'()]/;
/** encodeURIComponent that does not throw on lone surrogates (they go out as U+FFFD's bytes, as a browser sends them). */
export function percentEncode(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += byte < 0x80 && UNRESERVED.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A GET pixel querystring, encoded as the JS tracker does (encodeURIComponent of each value). */
export function querystringOf(event: Record<string, unknown>): string {
  return Object.entries(event).map(([k, v]) => `${percentEncode(k)}=${percentEncode(typeof v === 'string' ? v : JSON.stringify(v) ?? '')}`).join('&');
}

export const pixelEvent: fc.Arbitrary<{ event: TrackerEvent; querystring: string }> = trackerEvent.map((event) => {
  const e = { ...event, stm: event.dtm };
  return { event: e, querystring: querystringOf(e) };
});

/** A webhook body as a third party posts it (Iglu webhook: a self-describing JSON or a form). */
export const webhookBody = fc.oneof(
  linkClick.map((sd) => ({ path: '/com.snowplowanalytics.iglu/v1', contentType: 'application/json', body: JSON.stringify(sd) })),
  fc.tuple(word, word).map(([a, b]) => ({ path: '/com.mailchimp/v1', contentType: 'application/x-www-form-urlencoded', body: `type=subscribe&data%5Bemail%5D=${a}%40${b}.com` })),
);
