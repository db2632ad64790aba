import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import * as esbuild from 'esbuild';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sinks } from '../../collector/ingest';
import type { SluiceConfig } from '../../config';
import { makeLogger } from '../../observability/logger';
import { projectRoot } from '../../stack/standins';
import { launchChromium } from '../helpers/chromium';
import { startCollectorOnKinesalite, type TestCollector } from '../helpers/collector';
import { testConfig, waitFor } from '../helpers/standins';
import { eventsFromRecord, eventsFromRequest, expectSameEvents, expectScenario, readRawRecords, type Params, type SentRequest } from './tracker-checks';

// The real @snowplow/browser-tracker in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core), on a test page served on loopback, sending to the collector in GET and in POST
// mode. The raw Kinesis records are decoded and every event found, field for field, with the `sp`
// cookie set as configured (the defaults: Secure, HttpOnly, SameSite=None, 365 days).

const require = createRequire(import.meta.url);
const log = makeLogger('test-browser-tracker', 'silent');

let config: SluiceConfig;
let client: KinesisClient;
let sinks: Sinks;
let collectorUrl: string;
let pageServer: http.Server;
let pageUrl: string;
let browser: Browser;
let bundleDir: string;

/** Bundles the test page's script. tr/ti builders come from the tracker-core the browser tracker ships. */
async function bundlePage(): Promise<string> {
  bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-browser-'));
  const fromBrowserTracker = createRequire(require.resolve('@snowplow/browser-tracker'));
  const corePkg = fromBrowserTracker.resolve('@snowplow/tracker-core/package.json');
  const coreModule = path.join(path.dirname(corePkg), (JSON.parse(fs.readFileSync(corePkg, 'utf8')) as { module: string }).module);
  const outfile = path.join(bundleDir, 'tracker-page.js');
  await esbuild.build({
    entryPoints: [path.join(projectRoot, 'tests', 'browser', 'page', 'tracker-page.ts')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    outfile,
    logLevel: 'silent',
    plugins: [{ name: 'browser-tracker-core', setup: (b) => b.onResolve({ filter: /^@snowplow\/tracker-core$/ }, () => ({ path: coreModule })) }],
  });
  return fs.readFileSync(outfile, 'utf8');
}

function servePage(script: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/tracker-page.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
      return;
    }
    if (url.pathname !== '/') {
      res.writeHead(404).end();
      return;
    }
    const pageConfig = { collector: collectorUrl, method: url.searchParams.get('method'), appId: url.searchParams.get('app') };
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(
      `<!doctype html><html><head><meta charset="utf-8"><title>tracker test</title>` +
        `<script>window.SLUICE_PAGE = ${JSON.stringify(pageConfig)};</script>` +
        `<script src="/tracker-page.js"></script></head><body><p>Sluice</p></body></html>`,
    );
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

let collector: TestCollector | undefined;

beforeAll(async () => {
  config = testConfig();
  collector = await startCollectorOnKinesalite(config, log);
  ({ client, sinks } = collector);
  collectorUrl = collector.url;
  pageServer = await servePage(await bundlePage());
  pageUrl = `http://127.0.0.1:${(pageServer.address() as net.AddressInfo).port}`;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => (pageServer ? pageServer.close(r) : r(undefined)));
  if (bundleDir) fs.rmSync(bundleDir, { recursive: true, force: true });
  await collector?.stop();
});

describe('@snowplow/browser-tracker in headless Chromium', () => {
  for (const method of ['get', 'post'] as const) {
    it(`${method.toUpperCase()} mode: page view, structured, self-describing with contexts, transaction and items`, async () => {
      const appId = `browser-${method}`;
      const context = await browser.newContext();
      const page = await context.newPage();
      const sent: SentRequest[] = [];
      const statuses: number[] = [];
      page.on('request', (r) => {
        if (r.url().startsWith(collectorUrl) && r.method() !== 'OPTIONS') sent.push({ method: r.method(), url: r.url(), body: r.postData() });
      });
      page.on('response', (r) => {
        if (r.url().startsWith(collectorUrl) && r.request().method() !== 'OPTIONS') statuses.push(r.status());
      });
      await page.goto(`${pageUrl}/?method=${method}&app=${appId}`);
      // The page view first: its answer sets the cookie every later request carries.
      await page.evaluate(() => (globalThis as unknown as { sluiceTrack: { pageView(): void } }).sluiceTrack.pageView());
      await waitFor(() => statuses.length >= 1, 30_000);
      await page.evaluate(() => (globalThis as unknown as { sluiceTrack: { rest(): void } }).sluiceTrack.rest());
      // GET sends one event per request; POST batches what queued up while a request was out.
      const eventsSent = () => sent.flatMap(eventsFromRequest).length;
      await waitFor(() => eventsSent() >= 6 && statuses.length === sent.length, 30_000);
      expect(eventsSent()).toBe(6);
      expect(statuses.every((s) => s === 200)).toBe(true);
      if (method === 'get') expect(sent).toHaveLength(6);
      expect(new Set(sent.map((r) => r.method))).toEqual(new Set([method.toUpperCase()]));
      const userAgent = await page.evaluate(() => (globalThis as unknown as { navigator: { userAgent: string } }).navigator.userAgent);

      // The page's own first-party cookies (_sp_id…) share the host; the collector's is `sp`.
      const cookies = (await context.cookies(collectorUrl)).filter((c) => c.name === 'sp');
      expect(cookies).toHaveLength(1);
      const [cookie] = cookies;
      expect(cookie).toMatchObject({ name: 'sp', domain: '127.0.0.1', path: '/', httpOnly: true, secure: true, sameSite: 'None' });
      expect(cookie.expires * 1000).toBeGreaterThan(Date.now() + 364 * 86_400_000);
      expect(cookie.expires * 1000).toBeLessThan(Date.now() + 366 * 86_400_000);
      await context.close();

      await sinks.good.flush();
      const records = (await readRawRecords(client, config.kinesis.streams.raw)).filter((p) => eventsFromRecord(p).some((e) => e.aid === appId));
      const stored: Params[] = records.flatMap(eventsFromRecord);
      const sentEvents = sent.flatMap(eventsFromRequest);
      expectSameEvents(sentEvents, stored);
      expectScenario(stored, appId);

      const pageOrigin = new URL(pageUrl).origin;
      for (const p of records) {
        expect(p.networkUserId).toBe(cookie.value);
        expect(p.ipAddress).toBe('127.0.0.1');
        expect(p.userAgent).toBe(userAgent);
        expect(p.hostname).toBe('127.0.0.1');
        expect(p.refererUri?.startsWith(pageOrigin)).toBe(true);
        if (method === 'get') {
          expect(p.path).toBe('/i');
          expect(p.body).toBeUndefined();
          expect(p.contentType).toBeUndefined();
        } else {
          expect(p.path).toBe('/com.snowplowanalytics.snowplow/tp2');
          expect(p.contentType).toBe('application/json; charset=utf-8');
          expect(p.headers).toContainEqual(expect.stringMatching(new RegExp(`^origin: ${pageOrigin}$`, 'i')));
          expect(p.headers![p.headers!.length - 1]).toBe('application/json; charset=utf-8');
        }
      }
      // Every request but the first carried back the cookie the first answer set.
      const carried = records.filter((p) => p.headers!.some((h) => /^cookie: /i.test(h) && h.includes(`sp=${cookie.value}`)));
      expect(carried).toHaveLength(records.length - 1);
    });
  }
});
