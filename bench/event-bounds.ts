// What one hostile event costs enrich: for each class of event a client can send (deep JSON, huge
// exponents, a 1 MB field, many contexts, thousands of query parameters, a huge user agent, a
// JavaScript enrichment that loops or allocates without end), per event: input bytes, CPU time
// (process.cpuUsage over N events: every thread of the process, the JS enrichment's workers too),
// heap the kept results hold after GC, heap left once they are dropped (memos), heap high-water of
// one event, their ratios to the input, and the outcome. Each repetition varies the event, so memos (UA, URL) count too.
//   npm run bench:bounds    (or npx tsx bench/event-bounds.ts: restarts itself with --expose-gc)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { COLLECTOR_PAYLOAD_SCHEMA, type CollectorPayload } from '../codecs/collector-payload';
import { badRowType } from '../enrich/bad-rows';
import { PROJECT_ROOT, createEnricher } from '../enrich/default-enricher';
import { type EnrichResult, type Enricher, enrichPayload } from '../enrich/enrich';

// Not --max-semi-space-size (it would make one event's high-water exact): V8 flags override the
// JS enrichment worker's resourceLimits, and with it an out-of-memory script aborts the process.
const NODE_FLAGS = ['--expose-gc'];
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  const r = spawnSync(process.execPath, [...NODE_FLAGS, '--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const SP = 'iglu:com.snowplowanalytics.snowplow';
const T = Date.UTC(2026, 10, 21, 12, 0, 0);
const b64 = (s: string) => Buffer.from(s).toString('base64url');
const nested = (depth: number, leaf = '1') => '['.repeat(depth) + leaf + ']'.repeat(depth);
const uaPlain = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36';

const get = (params: Record<string, string>, over: Partial<CollectorPayload> = {}): CollectorPayload => ({
  schema: COLLECTOR_PAYLOAD_SCHEMA, ipAddress: '203.0.113.9', timestamp: T, encoding: 'UTF-8', collector: 'ssc-3.4.0-kinesis',
  userAgent: uaPlain, path: '/i', querystring: new URLSearchParams({ p: 'web', tv: 'js-3.17.0', aid: 'shop', ...params }).toString(),
  headers: ['Host: c.test'], hostname: 'c.test', networkUserId: 'ecdff4d0-9175-40ac-a8bb-325c49733607', ...over,
});
const post = (body: string): CollectorPayload => ({
  ...get({}), path: '/com.snowplowanalytics.snowplow/tp2', querystring: undefined, contentType: 'application/json; charset=UTF-8', body,
});
const payloadData = (events: Record<string, string>[]) => JSON.stringify({ schema: `${SP}/payload_data/jsonschema/1-0-4`, data: events.map((e) => ({ p: 'web', tv: 'js-3.17.0', ...e })) });
const contexts = (items: unknown[]) => JSON.stringify({ schema: `${SP}/contexts/jsonschema/1-0-1`, data: items });
const webPage = (i: number) => ({ schema: `${SP}/web_page/jsonschema/1-0-0`, data: { id: `0a8bfd3b-0a25-4c5e-8a14-${String(i).padStart(12, '0')}` } });
const unstruct = (data: string) => `{"schema":"${SP}/unstruct_event/jsonschema/1-0-0","data":{"schema":"${SP}/link_click/jsonschema/1-0-1","data":${data}}}`;

interface Case { name: string; n: number; enricher: 'default' | 'js-trivial' | 'js-loop' | 'js-grow'; build: (i: number) => CollectorPayload }
const DEPTH = 100_000;
const CASES: Case[] = [
  { name: 'page view (baseline)', n: 400, enricher: 'default', build: (i) => get({ e: 'pv', url: `https://shop.test/p/${i}?utm_source=news`, refr: 'https://www.google.com/search?q=shoes' }) },
  { name: `ue_pr nested ${DEPTH / 1000}k deep`, n: 40, enricher: 'default', build: (i) => get({ e: 'ue', tna: `t${i}`, ue_pr: unstruct(nested(DEPTH)) }) },
  { name: `cx (base64) nested ${DEPTH / 1000}k deep`, n: 40, enricher: 'default', build: (i) => get({ e: 'pv', tna: `t${i}`, cx: b64(`{"schema":"${SP}/contexts/jsonschema/1-0-1","data":[{"schema":"${SP}/web_page/jsonschema/1-0-0","data":${nested(DEPTH)}}]}`) }) },
  { name: `tp2 body nested ${DEPTH / 1000}k deep`, n: 40, enricher: 'default', build: (i) => post(`{"schema":"${SP}/payload_data/jsonschema/1-0-4","data":[{"e":"pv","p":"web","tv":"t${i}","x":${nested(DEPTH)}}]}`) },
  { name: 'se_va=1e99999999', n: 200, enricher: 'default', build: (i) => get({ e: 'se', se_ca: 'c', se_ac: `a${i}`, se_va: '1e99999999' }) },
  { name: 'tr_tt=1e99999999', n: 200, enricher: 'default', build: (i) => get({ e: 'tr', tr_id: `o${i}`, tr_tt: '1e99999999' }) },
  { name: 'ti_pr=-1e-99999999', n: 200, enricher: 'default', build: (i) => get({ e: 'ti', ti_id: `o${i}`, ti_sk: 'sku', ti_pr: '-1e-99999999', ti_qu: '1' }) },
  { name: '1 MB string field (page)', n: 20, enricher: 'default', build: (i) => post(payloadData([{ e: 'pv', page: `${i}${'x'.repeat(1_000_000)}` }])) },
  { name: '5,000 small contexts', n: 20, enricher: 'default', build: (i) => get({ e: 'pv', tna: `t${i}`, cx: b64(contexts(Array.from({ length: 5_000 }, (_, k) => webPage(k)))) }) },
  { name: 'URL with 5,000 query params', n: 40, enricher: 'default', build: (i) => get({ e: 'pv', url: `https://shop.test/p/${i}?${Array.from({ length: 5_000 }, (_, k) => `utm_p${k}=v${k}`).join('&')}&utm_source=x` }) },
  { name: '100 KB user agent', n: 40, enricher: 'default', build: (i) => get({ e: 'pv' }, { userAgent: `Mozilla/5.0 (${'Windows NT 10.0; '.repeat(6_000)}${i}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36` }) },
  { name: 'JS enrichment, trivial script', n: 400, enricher: 'js-trivial', build: (i) => get({ e: 'pv', url: `https://shop.test/p/${i}` }) },
  { name: 'JS enrichment loops forever', n: 3, enricher: 'js-loop', build: (i) => get({ e: 'pv', url: `https://shop.test/p/${i}` }) },
  { name: 'JS enrichment allocates without end', n: 3, enricher: 'js-grow', build: (i) => get({ e: 'pv', url: `https://shop.test/p/${i}` }) },
];

const SCRIPTS = {
  'js-trivial': 'function process(e) { e.user_id = "js:" + e.app_id; return []; }',
  'js-loop': 'function process(e) { for (;;) {} }',
  'js-grow': 'function process(e) { var a = []; for (;;) a.push({ n: a.length, s: "x" + a.length }); }',
} as const;

function enricherFor(kind: Case['enricher'], dirs: string[]): Enricher {
  if (kind === 'default') return createEnricher();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bounds-'));
  dirs.push(dir);
  const shipped = path.join(PROJECT_ROOT, 'config/enrichments');
  // The shipped configs, their relative database URIs made absolute (they resolve against the config's folder).
  for (const f of fs.readdirSync(shipped)) {
    if (f === 'javascript_script_config.json' || !f.endsWith('.json')) continue;
    const text = fs.readFileSync(path.join(shipped, f), 'utf8')
      .replace(/"file:(?!\/\/)([^"]*)"/g, (_m, rel: string) => JSON.stringify(pathToFileURL(path.resolve(shipped, rel)).href));
    fs.writeFileSync(path.join(dir, f), text);
  }
  fs.writeFileSync(path.join(dir, 'javascript_script_config.json'), JSON.stringify({
    schema: `${SP}/javascript_script_config/jsonschema/1-0-0`,
    data: { vendor: 'com.snowplowanalytics.snowplow', name: 'javascript_script_config', enabled: true, parameters: { script: b64(SCRIPTS[kind]) } },
  }));
  // The growing script gets a long time limit, so that the memory limit is what stops it.
  return createEnricher({ enrichmentsDir: dir, jsTimeoutMs: kind === 'js-grow' ? 30_000 : undefined });
}

const inputBytes = (p: CollectorPayload) => Buffer.byteLength(p.querystring ?? '') + Buffer.byteLength(p.body ?? '') + Buffer.byteLength(p.userAgent ?? '');
const why = (b: EnrichResult['bad'][number]) => {
  const text = JSON.stringify(b.data);
  return text.includes('ran for more than') ? ' (time limit)' : text.includes('memory limit') ? ' (memory limit)' : '';
};
const outcome = (r: EnrichResult) => [...(r.good.length ? [`good${r.good.length > 1 ? ` x${r.good.length}` : ''}`] : []), ...r.bad.map((b) => badRowType(b) + why(b))].join(', ') || 'nothing';
const heap = () => process.memoryUsage().heapUsed;
const collect = () => { gc!(); gc!(); };

// GCs seen during a window, so a high-water reading taken after a collection can be flagged "≥".
const gcTimes: number[] = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) gcTimes.push(e.startTime); }).observe({ entryTypes: ['gc'] });
const tick = () => new Promise((r) => setImmediate(r));

interface Row { name: string; input: number; cpuUs: number; wallMs: number; retained: number; left: number; peak: number; peakExact: boolean; outcome: string }

async function measure(c: Case, enricher: Enricher): Promise<Row> {
  const ctx = { etlTstamp: T + 5_000, etlVersion: 'sluice-enrich-0.1.0', enricher };
  const payloads = Array.from({ length: c.n + 2 }, (_, i) => c.build(i));
  for (const p of payloads.slice(c.n)) enrichPayload(p, ctx); // warm-up (and the JIT), then the measured ones
  const work = payloads.slice(0, c.n);
  // High-water of one event: heap right after it; marked ≥ when a collection ran during it.
  collect();
  await tick();
  const before = heap();
  const t0 = performance.now();
  const first = enrichPayload(work[0], ctx);
  const peak = heap() - before;
  const t1 = performance.now();
  await tick();
  const peakExact = !gcTimes.some((t) => t >= t0 && t <= t1);
  // Retained: every result kept alive, after full collections.
  const kept: EnrichResult[] = [first];
  collect();
  const start = heap();
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  for (let i = 1; i < work.length; i++) kept.push(enrichPayload(work[i], ctx));
  const wall = performance.now() - w0;
  const cpu = process.cpuUsage(cpu0);
  collect();
  const withResults = heap();
  kept.length = 0;
  collect();
  // What the kept results hold, apart from the heap's other changes meanwhile (memo entries stay).
  const after = heap();
  const retained = (withResults - after) / work.length;
  // What stays once the results are gone: memo entries and the like.
  const left = (after - start) / work.length;
  const row: Row = {
    name: c.name, input: inputBytes(work[0]), cpuUs: (cpu.user + cpu.system) / Math.max(1, work.length - 1),
    wallMs: wall / Math.max(1, work.length - 1), retained, left, peak, peakExact, outcome: outcome(first),
  };
  return row;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(1)}x` : '-');

async function main(): Promise<void> {
  const only = process.argv[2];
  const dirs: string[] = [];
  const enrichers = new Map<Case['enricher'], Enricher>();
  const rows: Row[] = [];
  for (const c of CASES.filter((x) => !only || x.name.includes(only))) {
    let e = enrichers.get(c.enricher);
    if (!e) { e = enricherFor(c.enricher, dirs); enrichers.set(c.enricher, e); }
    rows.push(await measure(c, e));
    process.stderr.write(`  ${c.name}: done\n`);
  }
  for (const e of enrichers.values()) e.enrichments.javascriptScript?.enrichment.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  console.log(`\nenrich, one hostile event at a time (node ${process.version}, ${os.cpus().length} cores, ${new Date().toISOString().slice(0, 10)})\n`);
  console.log('| event | input bytes | CPU µs/event | wall ms/event | results retained bytes/event | retained/input | left after results dropped, bytes/event | heap high-water (one event) | high-water/input | outcome |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of rows) {
    console.log(`| ${r.name} | ${fmt(r.input)} | ${fmt(r.cpuUs)} | ${r.wallMs.toFixed(2)} | ${fmt(r.retained)} | ${ratio(r.retained, r.input)} | ${fmt(r.left)} | ${r.peakExact ? '' : '≥ '}${fmt(r.peak)} | ${ratio(r.peak, r.input)} | ${r.outcome} |`);
  }
}

await main();
