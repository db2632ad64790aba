// Fuzz properties of the collector's HTTP surface, through app.inject. The sinks are the real
// KinesisSink (same record-size rule, same bounded buffer, same 503 when full) over a PutRecords
// function that accepts everything, recording what each request offered; a second app's sinks
// hold at most one byte, so every request that gets as far as the sink meets a full buffer.
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { decodeCollectorPayload, type CollectorPayload } from '../../codecs/collector-payload';
import { buildCollectorApp } from '../../collector/app';
import { CollectorMetrics } from '../../collector/metrics';
import { collectorOptions, sinkOptions } from '../../collector/options';
import { KinesisSink, type SinkRecord } from '../../collector/sink';
import { configSchema } from '../../config/schema';
import { MAX_BAD_ROW_BYTES, type BadRow } from '../../enrich/bad-rows';
import { enrichPayload } from '../../enrich/enrich';
import { createEnricher } from '../../enrich/default-enricher';
import { makeLogger } from '../../observability/logger';
import { ETL_VERSION } from '../../speed/stream-enrich';
import { ALLOWED_REDIRECT_HOST, type FuzzRequest, collectorRequest } from './http-arbitraries';
import { FuzzViolation, checkAccounting, checkBadRow, expectedEvents, must, noThrow, short } from './invariants';
import type { FuzzProperty } from './runner';
import { TP2 } from './tracker-arbitraries';

const log = makeLogger('fuzz-collector', 'silent');
const COOKIE_OCTETS = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;

/** The real sink, remembering every batch of records it accepted. */
class RecordingSink extends KinesisSink {
  accepted: SinkRecord[] = [];
  override offer(records: SinkRecord[]): boolean {
    const ok = super.offer(records);
    if (ok) this.accepted.push(...records);
    return ok;
  }
}

interface Harness { app: FastifyInstance; good: RecordingSink; bad: RecordingSink; full: boolean; maxRecordBytes: number }

export interface CollectorLimits { bodyLimit: number; recordLimit: number }

async function harness(limits: CollectorLimits, full: boolean): Promise<Harness> {
  const config = configSchema.parse({
    collector: {
      bodyLimitBytes: limits.bodyLimit,
      paths: { '/com.acme/track': TP2, '/com.acme/click': '/r/tp2' },
      doNotTrackCookie: { enabled: true, name: 'dnt', value: 'yes' },
      redirect: { enabled: true, allowedHosts: [ALLOWED_REDIRECT_HOST], macro: { enabled: true } },
      cookie: { domains: ['acme.com'] },
      sink: { maxRecordBytes: limits.recordLimit },
      buffer: full ? { maxBufferedBytes: 1 } : {},
    },
  });
  const metrics = new CollectorMetrics();
  const accept = async () => ({ failed: [] });
  const good = new RecordingSink(accept, sinkOptions(config, 'raw'), log, metrics.sinkHooks('good'));
  const bad = new RecordingSink(accept, sinkOptions(config, 'bad'), log, metrics.sinkHooks('bad'));
  const app = buildCollectorApp({ sinks: { good, bad }, metrics }, collectorOptions(config), log);
  await app.ready();
  return { app, good, bad, full, maxRecordBytes: limits.recordLimit };
}

interface Ctx { normal: Harness; full: Harness; enricher: ReturnType<typeof createEnricher> }

const header = (v: string | string[] | number | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [String(v)]);

/** What one request left in the sinks, and what enrich makes of it. */
function checkRecords(where: string, req: FuzzRequest, accepted: boolean, h: Harness, goodRecords: SinkRecord[], badRecords: SinkRecord[], ctx: Ctx, cookieNuid: string | undefined): void {
  let perEvent = 0;
  let badOut = 0;
  for (const r of goodRecords) {
    must(r.data.length <= h.maxRecordBytes, 'record-size', () => `${where}: a raw record of ${r.data.length} bytes > ${h.maxRecordBytes}`);
    let cp: CollectorPayload;
    try { cp = decodeCollectorPayload(r.data); } catch (err) { throw new FuzzViolation('record-decode', `${where}: a written record does not decode: ${(err as Error).message}`); }
    must(!cookieNuid || cp.networkUserId === cookieNuid, 'nuid-cookie', () => `${where}: record nuid ${cp.networkUserId} but cookie ${cookieNuid}`);
    const out = enrichPayload(cp, { etlTstamp: cp.timestamp, etlVersion: ETL_VERSION, enricher: ctx.enricher });
    for (const row of out.bad) checkBadRow(row, `${where} (enriched)`);
    perEvent += checkAccounting(`${where} (enriched)`, expectedEvents(cp), out, true).perEvent;
    badOut += out.bad.length;
  }
  for (const r of badRecords) {
    must(r.data.length <= MAX_BAD_ROW_BYTES, 'collector-bad-row-size', () => `${where}: a bad record of ${r.data.length} bytes`);
    let row: BadRow;
    try { row = JSON.parse(r.data.toString('utf8')); } catch { throw new FuzzViolation('collector-bad-row-json', `${where}: a bad record is not JSON`); }
    must(/size_violation/.test(row.schema), 'collector-bad-row-type', () => `${where}: the collector wrote a ${short(row.schema)} row`);
  }
  if (req.real && accepted) {
    // Every event a real tracker sent is a good event, or (too big for a record) a size violation.
    must(perEvent + badRecords.length === req.events || (goodRecords.length === 0 && badRecords.length === 1), 'collector-accounting',
      () => `${where}: ${req.events} events sent, ${perEvent} enriched outcomes + ${badRecords.length} size violations`);
    must(badOut === 0, 'real-event-bad', () => `${where}: a real request's events gave ${badOut} bad row(s) after the collector`);
  }
}

export async function checkRequest(req: FuzzRequest, useFull: boolean, ctx: Ctx): Promise<void> {
  const h = useFull ? ctx.full : ctx.normal;
  const where = `${req.method} ${req.url.slice(0, 120)}${useFull ? ' (full sink)' : ''}`;
  const [goodBefore, badBefore] = [h.good.accepted.length, h.bad.accepted.length];
  const res = await noThrow('app.inject', () => h.app.inject({ method: req.method as 'GET', url: req.url, headers: req.headers, payload: req.body }));
  const status = res.statusCode;
  const fullNow = !h.good.stats().healthy || !h.bad.stats().healthy;
  must(status < 500 || (status === 503 && fullNow), 'http-5xx', () => `${where}: answered ${status} ${short(res.body, 200)} (sink full: ${fullNow})`);
  const goodRecords = h.good.accepted.slice(goodBefore);
  const badRecords = h.bad.accepted.slice(badBefore);
  const wrote = goodRecords.length + badRecords.length;
  // As the router sees it: `/%2e%2e/r/` is `/r/` (dot segments resolved, as WHATWG URLs do).
  const path = (() => { try { return new URL(req.url, 'http://collector.test').pathname; } catch { return req.url.split('?')[0]; } })();
  const redirectRoute = path.startsWith('/r/') || path === '/com.acme/click';
  if (status === 503 || (status >= 400 && !redirectRoute)) must(wrote === 0, 'refused-but-written', () => `${where}: answered ${status} but wrote ${wrote} record(s)`);
  const tracked = (status === 200 && (res.headers['content-type'] === 'image/gif' || res.body === 'ok')) || status === 302;
  const dnt = /(^|;\s*)dnt=yes(;|$)/.test(req.headers.cookie ?? '');
  if (tracked && !dnt && req.method !== 'HEAD') must(wrote > 0, 'accepted-but-lost', () => `${where}: answered ${status} but wrote nothing`);
  // (An OPTIONS on a path Fastify cannot decode, `/%`, gets its 400 before any route: no grant.)
  if (tracked || (req.method === 'OPTIONS' && status === 200)) must(res.headers['access-control-allow-origin'] !== undefined, 'cors', () => `${where}: ${status} without Access-Control-Allow-Origin`);
  if (req.real) must(status === 200 || (useFull && status === 503), 'real-request-refused', () => `${where}: a real tracker request got ${status} ${short(res.body, 300)}`);

  // No open redirect: a Location only on a 302, only to an allowed http(s) host.
  const location = header(res.headers.location);
  must(status === 302 || location.length === 0, 'redirect-location', () => `${where}: ${status} with Location ${short(location)}`);
  if (status === 302) {
    let url: URL | undefined;
    try { url = new URL(location[0]); } catch { url = undefined; }
    must(url !== undefined && /^https?:$/.test(url.protocol) && url.hostname.toLowerCase() === ALLOWED_REDIRECT_HOST, 'open-redirect', () => `${where}: redirected to ${short(location[0])}`);
  }
  const spCookie = header(res.headers['set-cookie']).map((c) => /^sp=([^;]*)/.exec(c)?.[1]).find((v) => v !== undefined);
  must(spCookie === undefined || (COOKIE_OCTETS.test(spCookie) && spCookie.length <= 128), 'cookie-value', () => `${where}: Set-Cookie sp=${short(spCookie)}`);
  const anonymous = req.headers['sp-anonymous'] !== undefined;
  checkRecords(where, req, status === 200, h, goodRecords, badRecords, ctx, anonymous ? undefined : spCookie);
}

function collectorProperty(name: string, runs: number, limits: CollectorLimits): FuzzProperty<{ req: FuzzRequest; full: boolean }, Ctx> {
  return {
    name,
    runs,
    // One request in ten goes to the app whose sinks are full.
    arbitrary: fc.record({ req: collectorRequest(limits), full: fc.integer({ min: 0, max: 9 }).map((n) => n === 0) }),
    async setup() {
      return { normal: await harness(limits, false), full: await harness(limits, true), enricher: createEnricher() };
    },
    async teardown(ctx) {
      for (const h of [ctx.normal, ctx.full]) {
        await h.app.close();
        await h.good.close();
        await h.bad.close();
      }
    },
    inputBytes: ({ req }) => req.url.length + (req.body?.length ?? 0) + JSON.stringify(req.headers).length,
    async check({ req, full }, ctx) {
      // What the sinks accepted is checked per request; drop it so a long run holds nothing.
      await checkRequest(req, full, ctx);
      for (const h of [ctx.normal, ctx.full]) { h.good.accepted.length = 0; h.bad.accepted.length = 0; }
    },
  };
}

/** Small limits, so bodies and records at and around them are cheap to build: many cases. */
export const collectorSmallLimitsProperty = collectorProperty('collector: every route through app.inject (small limits)', 700, { bodyLimit: 32_768, recordLimit: 8_192 });
/** The shipped limits (2 MiB bodies, 1,000,000-byte records, the 1 MiB JSON bound): few, large cases. */
export const collectorDefaultLimitsProperty = collectorProperty('collector: every route through app.inject (shipped limits)', 40, { bodyLimit: 2_097_152, recordLimit: 1_000_000 });
