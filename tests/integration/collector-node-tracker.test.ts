import type { KinesisClient } from '@aws-sdk/client-kinesis';
import {
  buildEcommerceTransaction,
  buildEcommerceTransactionItem,
  buildPageView,
  buildSelfDescribingEvent,
  buildStructEvent,
  newTracker,
} from '@snowplow/node-tracker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sinks } from '../../collector/ingest';
import type { SluiceConfig } from '../../config';
import { configSchema } from '../../config/schema';
import { makeLogger } from '../../observability/logger';
import { CONTEXTS, SCENARIO } from '../browser/scenario';
import { eventsFromRecord, eventsFromRequest, expectSameEvents, expectScenario, readRawRecords, type SentRequest } from '../browser/tracker-checks';
import { startCollectorOnKinesalite, type TestCollector } from '../helpers/collector';
import { testConfig } from '../helpers/standins';

// The real @snowplow/node-tracker against the collector, in GET and POST modes: the same events
// as the browser test, found field for field in the decoded raw Kinesis records. The tracker's
// fetch is wrapped to see what it sends and to keep the collector's cookie (a small cookie jar,
// as a browser would), set here with non-default attributes.

const log = makeLogger('test-node-tracker', 'silent');
const COOKIE = { name: 'sp_nuid', expirationDays: 30, fallbackDomain: 'collector.example.com', secure: false, httpOnly: true, sameSite: 'Lax' };

let config: SluiceConfig;
let client: KinesisClient;
let sinks: Sinks;
let port: number;

let collector: TestCollector | undefined;

beforeAll(async () => {
  const base = testConfig();
  config = configSchema.parse({ ...base, collector: { ...base.collector, cookie: COOKIE } });
  collector = await startCollectorOnKinesalite(config, log);
  ({ client, sinks, port } = collector);
});

afterAll(async () => {
  await collector?.stop();
});

describe('@snowplow/node-tracker', () => {
  for (const method of ['get', 'post'] as const) {
    it(`${method.toUpperCase()}: page view, structured, self-describing with contexts, transaction and items`, async () => {
      const appId = `node-${method}`;
      const sent: SentRequest[] = [];
      const setCookies: string[] = [];
      let jar: string | undefined;
      let failures = 0;
      const tracker = newTracker(
        { namespace: 'sluice-test', appId, encodeBase64: method === 'get' },
        {
          endpoint: '127.0.0.1',
          protocol: 'http',
          port,
          eventMethod: method,
          bufferSize: 1,
          onRequestFailure: () => void failures++,
          customFetch: async (input: Request, init?: RequestInit) => {
            const req = new Request(input, init);
            if (jar) req.headers.set('cookie', jar);
            sent.push({ method: req.method, url: req.url, body: req.method === 'POST' ? await req.clone().text() : null });
            const res = await fetch(req);
            for (const c of res.headers.getSetCookie()) {
              setCookies.push(c);
              jar = c.split(';')[0];
            }
            return res;
          },
        },
      );
      tracker.track(buildPageView({ pageUrl: 'https://shop.example.com/p/1', pageTitle: SCENARIO.pageTitle, referrer: 'https://www.google.com/' }), CONTEXTS);
      await tracker.flush();
      tracker.track(buildStructEvent(SCENARIO.struct), CONTEXTS);
      tracker.track(buildSelfDescribingEvent({ event: SCENARIO.selfDescribing }), CONTEXTS);
      tracker.track(buildEcommerceTransaction(SCENARIO.transaction), CONTEXTS);
      for (const item of SCENARIO.items) tracker.track(buildEcommerceTransactionItem(item), CONTEXTS);
      await tracker.flush();
      expect(failures).toBe(0);

      // The cookie as configured, the same id throughout (the jar sent it back).
      const nuid = /^sp_nuid=([0-9a-f-]{36});/.exec(setCookies[0])?.[1];
      expect(nuid).toBeDefined();
      for (const c of setCookies) {
        expect(c).toMatch(new RegExp(`^sp_nuid=${nuid}; Max-Age=2592000; Domain=collector\\.example\\.com; Path=/; Expires=[A-Z][a-z]{2}, \\d{2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT; HttpOnly; SameSite=Lax$`));
        const expires = Date.parse(/Expires=([^;]+)/.exec(c)![1]);
        expect(Math.abs(expires - (Date.now() + 30 * 86_400_000))).toBeLessThan(60_000);
      }

      await sinks.good.flush();
      const records = (await readRawRecords(client, config.kinesis.streams.raw)).filter((p) => eventsFromRecord(p).some((e) => e.aid === appId));
      const stored = records.flatMap(eventsFromRecord);
      expectSameEvents(sent.flatMap(eventsFromRequest), stored);
      expectScenario(stored, appId);
      for (const p of records) {
        expect(p.networkUserId).toBe(nuid);
        expect(p.ipAddress).toBe('127.0.0.1');
        expect(p.hostname).toBe('127.0.0.1');
        expect(p.path).toBe(method === 'get' ? '/i' : '/com.snowplowanalytics.snowplow/tp2');
        if (method === 'post') expect(p.contentType).toBe('application/json; charset=utf-8');
      }
    });
  }
});
