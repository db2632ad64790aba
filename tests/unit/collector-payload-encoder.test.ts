import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COLLECTOR_PAYLOAD_SCHEMA, decodeCollectorPayload, encodeCollectorPayload, type CollectorPayload } from '../../codecs/collector-payload';
import { getRequest, postRequest, redirectRequest } from '../../bench/collector-scenarios';
import { thriftEncodeCollectorPayload } from '../helpers/collector-payload-reference';

// The one CollectorPayload encoder (codecs/collector-payload.ts, what the collector writes every
// raw record with) must produce exactly the bytes of the `thrift` package's TBinaryProtocol
// encoding, the reference (tests/helpers/collector-payload-reference.ts): on Snowplow's test
// vectors, on fixtures shaped like real tracker requests, and on generated payloads.

// From snowplow/enrich ThriftLoaderSpec (also in tests/unit/collector-payload.test.ts).
const SPEC_FAKE_PARAMS_GET =
  'CwBkAAAACTEyNy4wLjAuMQoAyAAAAUOYhqgGCwDSAAAABVVURi04CwDcAAAAEHNzYy0wLjAuMS1TdGRvdXQLASwAAABoTW96aWxsYS81LjAgKFgxMTsgTGludXggeDg2XzY0KSBBcHBsZVdlYktpdC81MzcuMzYgKEtIVE1MLCBsaWtlIEdlY2tvKSBDaHJvbWUvMzEuMC4xNjUwLjYzIFNhZmFyaS81MzcuMzYLAUAAAAACL2kLAUoAAAAYdGVzdFBhcmFtPTMmdGVzdFBhcmFtMj00DwFeCwAAAAgAAAAvQ29va2llOiBzcD1jNWYzYTA5Zi03NWY4LTQzMDktYmVjNS1mZWE1NjBmNzg0NTUAAAAaQWNjZXB0LUxhbmd1YWdlOiBlbi1VUywgZW4AAAAkQWNjZXB0LUVuY29kaW5nOiBnemlwLCBkZWZsYXRlLCBzZGNoAAAAdFVzZXItQWdlbnQ6IE1vemlsbGEvNS4wIChYMTE7IExpbnV4IHg4Nl82NCkgQXBwbGVXZWJLaXQvNTM3LjM2IChLSFRNTCwgbGlrZSBHZWNrbykgQ2hyb21lLzMxLjAuMTY1MC42MyBTYWZhcmkvNTM3LjM2AAAAVkFjY2VwdDogdGV4dC9odG1sLCBhcHBsaWNhdGlvbi94aHRtbCt4bWwsIGFwcGxpY2F0aW9uL3htbDtxPTAuOSwgaW1hZ2Uvd2VicCwgKi8qO3E9MC44AAAAGENhY2hlLUNvbnRyb2w6IG1heC1hZ2U9MAAAABZDb25uZWN0aW9uOiBrZWVwLWFsaXZlAAAAFEhvc3Q6IDEyNy4wLjAuMTo4MDgwCwGQAAAACTEyNy4wLjAuMQsBmgAAACRjNWYzYTA5Zi03NWY4LTQzMDktYmVjNS1mZWE1NjBmNzg0NTULemkAAABBaWdsdTpjb20uc25vd3Bsb3dhbmFseXRpY3Muc25vd3Bsb3cvQ29sbGVjdG9yUGF5bG9hZC90aHJpZnQvMS0wLTAA';

const identical = (p: CollectorPayload) => {
  const fast = encodeCollectorPayload(p);
  const reference = thriftEncodeCollectorPayload(p);
  if (!fast.equals(reference)) {
    expect(fast.toString('hex')).toBe(reference.toString('hex')); // shows where they differ
  }
  return fast;
};

// Strings of every kind: any code point, text with combining marks and emoji, lone surrogates
// (written as U+FFFD by both), and plain ASCII.
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const anyText = (maxLength: number) =>
  fc.oneof(
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: 'grapheme', maxLength }),
    fc.string({ unit: fc.oneof(fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 }), loneSurrogate), maxLength }),
    fc.string({ maxLength }),
  );
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 3 });
const text = anyText(200);

const payloadArb: fc.Arbitrary<CollectorPayload> = fc.record(
  {
    schema: fc.oneof(fc.constant(COLLECTOR_PAYLOAD_SCHEMA), text),
    ipAddress: fc.oneof(fc.ipV4(), fc.ipV6(), fc.constant('unknown'), fc.constant(''), text),
    timestamp: fc.oneof(
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
      fc.constantFrom(0, -1, 1, 2 ** 31 - 1, -(2 ** 31), 2 ** 32 - 1, 2 ** 32, -(2 ** 32), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
      fc.integer({ min: 1_000_000_000_000, max: 2_000_000_000_000 }),
    ),
    encoding: fc.oneof(fc.constant('UTF-8'), text),
    collector: fc.oneof(fc.constant('sluice-collector-0.1.0-kinesis'), text),
    userAgent: optional(text),
    refererUri: optional(fc.oneof(fc.webUrl(), text)),
    path: optional(fc.oneof(fc.constantFrom('/i', '/com.snowplowanalytics.snowplow/tp2', '/r/tp2', ''), text)),
    querystring: optional(anyText(2_000)),
    // Up to well past the writer's slab limit (32 KiB), and sometimes past the slab (256 KiB).
    body: optional(fc.oneof({ weight: 4, arbitrary: anyText(5_000) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 20_000, maxLength: 120_000 }) })),
    headers: optional(fc.oneof(fc.array(text, { maxLength: 20 }), fc.array(fc.string({ maxLength: 60 }), { minLength: 100, maxLength: 300 }), fc.constant<string[]>([]))),
    contentType: optional(text),
    hostname: optional(text),
    networkUserId: optional(fc.oneof(fc.uuid(), text)),
  },
  { requiredKeys: ['schema', 'ipAddress', 'timestamp', 'encoding', 'collector'] },
);

/** The payloads the collector builds for the benchmark's tracker requests (page view, 10-event POST, click redirect). */
function trackerFixtures(): CollectorPayload[] {
  const fromRequest = (raw: Buffer): CollectorPayload => {
    const text = raw.toString('utf8');
    const [head, body] = [text.slice(0, text.indexOf('\r\n\r\n')), text.slice(text.indexOf('\r\n\r\n') + 4)];
    const [requestLine, ...headerLines] = head.split('\r\n');
    const target = requestLine.split(' ')[1];
    const q = target.indexOf('?');
    const header = (name: string) => headerLines.find((h) => h.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim();
    const contentType = header('content-type')?.toLowerCase();
    return {
      schema: COLLECTOR_PAYLOAD_SCHEMA,
      ipAddress: '203.0.113.7',
      timestamp: 1_790_000_000_123,
      encoding: 'UTF-8',
      collector: 'sluice-collector-0.1.0-kinesis',
      userAgent: header('user-agent'),
      refererUri: header('referer'),
      path: q >= 0 ? target.slice(0, q) : target,
      querystring: q >= 0 ? target.slice(q + 1) : '',
      body: body || undefined,
      headers: [...headerLines, ...(contentType ? [contentType] : [])],
      contentType,
      hostname: 'collector.example.com',
      networkUserId: 'ecdff4d0-9175-40ac-a8bb-325c49733607',
    };
  };
  return [getRequest(1), getRequest(2), postRequest(1), redirectRequest(3)].map(fromRequest);
}

describe('encodeCollectorPayload is byte-identical to the thrift library', () => {
  it("writes Snowplow's test vector byte for byte", () => {
    const vector = Buffer.from(SPEC_FAKE_PARAMS_GET, 'base64');
    expect(identical(decodeCollectorPayload(vector)).equals(vector)).toBe(true);
  });

  it('on payloads shaped like real tracker requests (GET /i, POST tp2 with 10 events, a redirect)', () => {
    for (const p of trackerFixtures()) expect(decodeCollectorPayload(identical(p))).toEqual(JSON.parse(JSON.stringify(p)));
  });

  it('on the edge cases: minimal, empty strings, empty header list, unicode, extreme timestamps', () => {
    const minimal: CollectorPayload = { schema: COLLECTOR_PAYLOAD_SCHEMA, ipAddress: 'unknown', timestamp: 0, encoding: 'UTF-8', collector: 'c' };
    const cases: CollectorPayload[] = [
      minimal,
      { ...minimal, ipAddress: '', encoding: '', collector: '', schema: '', userAgent: '', refererUri: '', path: '', querystring: '', body: '', headers: [], contentType: '', hostname: '', networkUserId: '' },
      { ...minimal, body: '😀 é ü 中文 \u0000 \ud800 \udfff x\ud83d', headers: ['X-Ünï: cödé ✓', '', 'a'.repeat(70_000)] },
      { ...minimal, timestamp: Number.MAX_SAFE_INTEGER },
      { ...minimal, timestamp: Number.MIN_SAFE_INTEGER },
      { ...minimal, timestamp: -1 },
      { ...minimal, timestamp: 2 ** 32 },
      { ...minimal, body: 'é'.repeat(200_000) }, // larger than a slab, written through the scratch buffer
      { ...minimal, headers: Array.from({ length: 1_000 }, (_, i) => `H-${i}: ${'v'.repeat(i % 50)}`) },
    ];
    for (const p of cases) identical(p);
  });

  it('on any payload (property)', () => {
    fc.assert(
      fc.property(payloadArb, (p) => {
        identical(p);
      }),
      { numRuns: 2_000 },
    );
  });

  it('returns independent buffers (records share slabs, never bytes), across slab boundaries', () => {
    const base: CollectorPayload = { schema: COLLECTOR_PAYLOAD_SCHEMA, ipAddress: '1.2.3.4', timestamp: 1, encoding: 'UTF-8', collector: 'c' };
    const made: { p: CollectorPayload; buf: Buffer; copy: Buffer }[] = [];
    // ~600 KiB in records of 1–30 KiB: several slabs filled and replaced, some records through the scratch path.
    for (let i = 0; i < 120; i++) {
      const p = { ...base, body: String.fromCharCode(97 + (i % 26)).repeat(1_000 + ((i * 7919) % 30_000)), networkUserId: `n-${i}` };
      const buf = encodeCollectorPayload(p);
      made.push({ p, buf, copy: Buffer.from(buf) });
    }
    for (const { p, buf, copy } of made) {
      expect(buf.equals(copy)).toBe(true); // nothing written later overwrote it
      expect(decodeCollectorPayload(buf).body).toBe(p.body);
    }
  });

  it('refuses what the reference refuses, and a non-string where a string belongs', () => {
    const ok: CollectorPayload = { schema: COLLECTOR_PAYLOAD_SCHEMA, ipAddress: 'x', timestamp: 1, encoding: 'UTF-8', collector: 'c' };
    expect(() => encodeCollectorPayload({ ...ok, ipAddress: undefined as unknown as string })).toThrow(/ipAddress is required/);
    expect(() => encodeCollectorPayload({ ...ok, timestamp: 1.5 })).toThrow(RangeError);
    expect(() => encodeCollectorPayload({ ...ok, timestamp: Number.MAX_SAFE_INTEGER + 1 })).toThrow(RangeError);
    expect(() => encodeCollectorPayload({ ...ok, headers: [1 as unknown as string] })).toThrow(TypeError);
    expect(() => encodeCollectorPayload({ ...ok, headers: 'h' as unknown as string[] })).toThrow(TypeError);
    expect(() => encodeCollectorPayload({ ...ok, body: 5 as unknown as string })).toThrow(/body must be a string/);
  });
});
