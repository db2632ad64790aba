// The collector as it runs, over real HTTP on loopback into a real kinesalite: requests from the
// same generator as the inject fuzz, plus raw bytes on a socket (not HTTP, oversized headers,
// raw UTF-8 and broken escapes in the request line). Each case's records are read back from
// the streams, decoded and enriched.
import http from 'node:http';
import net from 'node:net';
import fc from 'fast-check';
import type { StreamRecord } from '../../adapters/kinesis';
import { listShards, readBatch, shardIterator } from '../../adapters/kinesis';
import { decodeCollectorPayload } from '../../codecs/collector-payload';
import { MAX_BAD_ROW_BYTES } from '../../enrich/bad-rows';
import { createEnricher } from '../../enrich/default-enricher';
import { enrichPayload } from '../../enrich/enrich';
import { makeLogger } from '../../observability/logger';
import { ETL_VERSION } from '../../speed/stream-enrich';
import { type TestCollector, startCollectorOnKinesalite } from '../helpers/collector';
import { testConfig } from '../helpers/standins';
import { ALLOWED_REDIRECT_HOST, type FuzzRequest, collectorRequest } from './http-arbitraries';
import { FuzzViolation, checkAccounting, checkBadRow, expectedEvents, must, short } from './invariants';
import type { FuzzProperty } from './runner';
import { TP2 } from './tracker-arbitraries';

const log = makeLogger('fuzz-kinesalite', 'silent');
const LIMITS = { bodyLimit: 65_536, recordLimit: 16_384 };
const MAX_HEADER_BYTES = 8_192;

interface Ctx { c: TestCollector; iterators: Map<string, string>; enricher: ReturnType<typeof createEnricher> }

/** Records that arrived on a stream since the last call (iterators kept per shard). */
async function newRecords(ctx: Ctx, stream: string): Promise<StreamRecord[]> {
  const out: StreamRecord[] = [];
  for (const { shardId } of await listShards(ctx.c.client, stream)) {
    const key = `${stream}/${shardId}`;
    let it = ctx.iterators.get(key) ?? (await shardIterator(ctx.c.client, stream, shardId, { type: 'TRIM_HORIZON' }));
    for (;;) {
      const batch = await readBatch(ctx.c.client, it);
      if (batch.next) it = batch.next;
      out.push(...batch.records);
      if (batch.records.length === 0 || !batch.next) break;
    }
    ctx.iterators.set(key, it);
  }
  return out;
}

function send(url: string, req: FuzzRequest): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string } | 'unsendable'> {
  return new Promise((resolve, reject) => {
    let r: http.ClientRequest;
    try {
      // Node's client frames no body for OPTIONS or TRACE unless told its length (it would go out as a second request).
      const headers = req.body === undefined ? req.headers : { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)) };
      r = http.request(`${url}${req.url}`, { method: req.method, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
    } catch {
      resolve('unsendable'); // Node's own client refuses it (a path or header it cannot write): nothing reached the server
      return;
    }
    // Every request gets an answer its client can read, a refusal by the HTTP parser too (a HEAD
    // over the header limit once broke here: client-errors.ts).
    r.on('error', (err) => reject(new FuzzViolation('connection-dropped', `${req.method} ${short(req.url, 100)}: ${err.message}`)));
    r.end(req.body);
  });
}

/** Raw bytes on a socket; resolves with the status line (or '' when the server just closed). */
function sendRaw(port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(bytes));
    let data = '';
    s.on('data', (c) => { data += c.toString('latin1'); });
    s.on('close', () => resolve(data.split('\r\n')[0]));
    s.on('error', () => resolve(data.split('\r\n')[0]));
    s.setTimeout(5_000, () => s.destroy());
  });
}

const rawRequest = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => Buffer.from(b)),
  fc.constant(Buffer.from(`GET /i?e=pv HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(MAX_HEADER_BYTES + 10)}\r\n\r\n`)),
  fc.constantFrom('/i?e=pv&url=caf\u00e9', '/i?e=%c3%28&x=%', '/r/tp2?u=https://evil.com/', '/\u00ff\u00fe', '/i?e=pv&\u0000=1', '/i?e=pv\ud800')
    .map((path) => Buffer.concat([Buffer.from('GET '), Buffer.from(path, 'utf8'), Buffer.from(' HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n')])),
  fc.constantFrom('POST /com.snowplowanalytics.snowplow/tp2 HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"schema":', 'GET / HTTP/9.9\r\n\r\n', 'HELLO\r\n\r\n')
    .map((t) => Buffer.from(t)),
);

type Input = { kind: 'http'; req: FuzzRequest } | { kind: 'raw'; bytes: Buffer };

export const kinesaliteProperty: FuzzProperty<Input, Ctx> = {
  name: 'collector: real HTTP into kinesalite, records read back and enriched',
  runs: 200,
  arbitrary: fc.oneof(
    { weight: 4, arbitrary: collectorRequest(LIMITS).map((req): Input => ({ kind: 'http', req })) },
    { weight: 1, arbitrary: rawRequest.map((bytes): Input => ({ kind: 'raw', bytes })) },
  ),
  async setup() {
    const config = testConfig({
      SLUICE_COLLECTOR__BODY_LIMIT_BYTES: String(LIMITS.bodyLimit),
      SLUICE_COLLECTOR__SINK__MAX_RECORD_BYTES: String(LIMITS.recordLimit),
      SLUICE_COLLECTOR__MAX_HEADER_BYTES: String(MAX_HEADER_BYTES),
      SLUICE_COLLECTOR__REDIRECT__ENABLED: 'true',
      SLUICE_COLLECTOR__REDIRECT__ALLOWED_HOSTS: ALLOWED_REDIRECT_HOST,
      SLUICE_COLLECTOR__REDIRECT__MACRO__ENABLED: 'true',
      SLUICE_COLLECTOR__PATHS: JSON.stringify({ '/com.acme/track': TP2, '/com.acme/click': '/r/tp2' }),
      SLUICE_COLLECTOR__DO_NOT_TRACK_COOKIE__ENABLED: 'true',
      SLUICE_COLLECTOR__DO_NOT_TRACK_COOKIE__NAME: 'dnt',
      SLUICE_COLLECTOR__DO_NOT_TRACK_COOKIE__VALUE: 'yes',
    });
    return { c: await startCollectorOnKinesalite(config, log), iterators: new Map(), enricher: createEnricher() };
  },
  async teardown(ctx) { await ctx.c.stop(); },
  inputBytes: (i) => (i.kind === 'raw' ? i.bytes.length : i.req.url.length + (i.req.body?.length ?? 0)),
  async check(input, ctx) {
    if (input.kind === 'raw') {
      const line = await sendRaw(ctx.c.port, input.bytes);
      must(!/^HTTP\/1\.[01] 5\d\d/.test(line), 'http-5xx', () => `raw ${short(input.bytes.toString('latin1'), 120)}: ${line}`);
    } else {
      const res = await send(ctx.c.url, input.req);
      if (res === 'unsendable') return;
      const unhealthy = !ctx.c.sinks.good.stats().healthy || !ctx.c.sinks.bad.stats().healthy;
      must(res.status < 500 || (res.status === 503 && unhealthy), 'http-5xx', () => `${input.req.method} ${short(input.req.url, 120)}: ${res.status} ${short(res.body, 200)}`);
      if (input.req.real) must(res.status === 200, 'real-request-refused', () => `${input.req.method} ${short(input.req.url, 120)}: a real request got ${res.status} ${short(res.body, 200)}`);
      if (res.status === 302) {
        const host = (() => { try { return new URL(String(res.headers.location)).hostname; } catch { return ''; } })();
        must(host === ALLOWED_REDIRECT_HOST, 'open-redirect', () => `redirected to ${short(res.headers.location)}`);
      }
    }
    // The server is still there, and what it wrote reads back.
    const health = await send(ctx.c.url, { method: 'GET', url: '/health', headers: {}, real: false, events: 0 });
    must(health !== 'unsendable' && health.status === 200, 'collector-alive', () => `/health answered ${health === 'unsendable' ? 'nothing' : health.status} after the case`);
    await ctx.c.sinks.good.flush();
    await ctx.c.sinks.bad.flush();
    const raw = await newRecords(ctx, ctx.c.sinks.good.stream);
    const bad = await newRecords(ctx, ctx.c.sinks.bad.stream);
    let perEvent = 0;
    for (const r of raw) {
      must(r.data.length <= LIMITS.recordLimit, 'record-size', () => `a raw record of ${r.data.length} bytes`);
      const cp = decodeCollectorPayload(r.data);
      const out = enrichPayload(cp, { etlTstamp: cp.timestamp, etlVersion: ETL_VERSION, enricher: ctx.enricher });
      for (const row of out.bad) checkBadRow(row, 'kinesalite record (enriched)');
      perEvent += checkAccounting('kinesalite record (enriched)', expectedEvents(cp), out, true).perEvent;
      if (input.kind === 'http' && input.req.real) must(out.bad.length === 0, 'real-event-bad', () => `a real request's record gave a bad row: ${short(out.bad[0], 800)}`);
    }
    for (const r of bad) must(r.data.length <= MAX_BAD_ROW_BYTES, 'collector-bad-row-size', () => `a bad record of ${r.data.length} bytes`);
    if (input.kind === 'http' && input.req.real) {
      must(perEvent + bad.length === input.req.events || (raw.length === 0 && bad.length === 1), 'collector-accounting', () => `${input.req.events} events sent, ${perEvent} outcomes + ${bad.length} size violations read back`);
    }
  },
};
