import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COLLECTOR_PAYLOAD_SCHEMA, decodeCollectorPayload, encodeCollectorPayload, type CollectorPayload } from '../../codecs/collector-payload';
import { writeCollectorPayload } from '../../collector/record-writer';

// The collector's hot-path writer must produce exactly the bytes of the reference encoder
// (codecs/collector-payload.ts, byte-identical to Snowplow's own on their test vectors).

// From snowplow/enrich ThriftLoaderSpec (also in tests/unit/collector-payload.test.ts).
const SPEC_FAKE_PARAMS_GET =
  'CwBkAAAACTEyNy4wLjAuMQoAyAAAAUOYhqgGCwDSAAAABVVURi04CwDcAAAAEHNzYy0wLjAuMS1TdGRvdXQLASwAAABoTW96aWxsYS81LjAgKFgxMTsgTGludXggeDg2XzY0KSBBcHBsZVdlYktpdC81MzcuMzYgKEtIVE1MLCBsaWtlIEdlY2tvKSBDaHJvbWUvMzEuMC4xNjUwLjYzIFNhZmFyaS81MzcuMzYLAUAAAAACL2kLAUoAAAAYdGVzdFBhcmFtPTMmdGVzdFBhcmFtMj00DwFeCwAAAAgAAAAvQ29va2llOiBzcD1jNWYzYTA5Zi03NWY4LTQzMDktYmVjNS1mZWE1NjBmNzg0NTUAAAAaQWNjZXB0LUxhbmd1YWdlOiBlbi1VUywgZW4AAAAkQWNjZXB0LUVuY29kaW5nOiBnemlwLCBkZWZsYXRlLCBzZGNoAAAAdFVzZXItQWdlbnQ6IE1vemlsbGEvNS4wIChYMTE7IExpbnV4IHg4Nl82NCkgQXBwbGVXZWJLaXQvNTM3LjM2IChLSFRNTCwgbGlrZSBHZWNrbykgQ2hyb21lLzMxLjAuMTY1MC42MyBTYWZhcmkvNTM3LjM2AAAAVkFjY2VwdDogdGV4dC9odG1sLCBhcHBsaWNhdGlvbi94aHRtbCt4bWwsIGFwcGxpY2F0aW9uL3htbDtxPTAuOSwgaW1hZ2Uvd2VicCwgKi8qO3E9MC44AAAAGENhY2hlLUNvbnRyb2w6IG1heC1hZ2U9MAAAABZDb25uZWN0aW9uOiBrZWVwLWFsaXZlAAAAFEhvc3Q6IDEyNy4wLjAuMTo4MDgwCwGQAAAACTEyNy4wLjAuMQsBmgAAACRjNWYzYTA5Zi03NWY4LTQzMDktYmVjNS1mZWE1NjBmNzg0NTULemkAAABBaWdsdTpjb20uc25vd3Bsb3dhbmFseXRpY3Muc25vd3Bsb3cvQ29sbGVjdG9yUGF5bG9hZC90aHJpZnQvMS0wLTAA';

const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const text = fc.string({ unit: 'binary', maxLength: 300 });
const payloadArb: fc.Arbitrary<CollectorPayload> = fc.record({
  schema: fc.constant(COLLECTOR_PAYLOAD_SCHEMA),
  ipAddress: text,
  timestamp: fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
  encoding: text,
  collector: text,
  userAgent: optional(text),
  refererUri: optional(text),
  path: optional(text),
  querystring: optional(text),
  body: optional(fc.string({ unit: 'binary', maxLength: 5_000 })),
  headers: optional(fc.array(text, { maxLength: 20 })),
  contentType: optional(text),
  hostname: optional(text),
  networkUserId: optional(text),
});

describe('writeCollectorPayload', () => {
  it("writes Snowplow's test vector byte for byte", () => {
    const vector = Buffer.from(SPEC_FAKE_PARAMS_GET, 'base64');
    expect(writeCollectorPayload(decodeCollectorPayload(vector)).equals(vector)).toBe(true);
  });

  it('writes the same bytes as the reference encoder for any payload', () => {
    fc.assert(
      fc.property(payloadArb, (p) => {
        expect(writeCollectorPayload(p).equals(encodeCollectorPayload(p))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('handles records larger than its scratch buffer, and returns independent buffers', () => {
    const big: CollectorPayload = { schema: COLLECTOR_PAYLOAD_SCHEMA, ipAddress: '1.2.3.4', timestamp: 1, encoding: 'UTF-8', collector: 'c', body: 'é'.repeat(200_000) };
    const a = writeCollectorPayload(big);
    expect(a.equals(encodeCollectorPayload(big))).toBe(true);
    const b = writeCollectorPayload({ ...big, body: 'x' });
    expect(decodeCollectorPayload(a).body).toBe(big.body);
    expect(decodeCollectorPayload(b).body).toBe('x');
  });

  it('refuses what the reference encoder refuses', () => {
    const ok: CollectorPayload = { schema: COLLECTOR_PAYLOAD_SCHEMA, ipAddress: 'x', timestamp: 1, encoding: 'UTF-8', collector: 'c' };
    expect(() => writeCollectorPayload({ ...ok, ipAddress: undefined as unknown as string })).toThrow(/ipAddress is required/);
    expect(() => writeCollectorPayload({ ...ok, timestamp: 1.5 })).toThrow(RangeError);
    expect(() => writeCollectorPayload({ ...ok, headers: [1 as unknown as string] })).toThrow(TypeError);
  });
});
