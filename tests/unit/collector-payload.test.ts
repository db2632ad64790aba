import { describe, expect, it } from 'vitest';
import { mulberry32 as rng } from '../helpers/prng';
import {
  COLLECTOR_PAYLOAD_SCHEMA,
  CollectorPayloadDecodeError,
  decodeCollectorPayload,
  encodeCollectorPayload,
  type CollectorPayload,
} from '../../codecs/collector-payload';

// Records and expected fields from snowplow/enrich ThriftLoaderSpec
// (modules/common/src/test/scala/com.snowplowanalytics.snowplow.enrich.common/loaders/ThriftLoaderSpec.scala).
const SPEC_FAKE_PARAMS_GET =
  'CwBkAAAACTEyNy4wLjAuMQoAyAAAAUOYhqgGCwDSAAAABVVURi04CwDcAAAAEHNzYy0wLjAuMS1TdGRvdXQLASwAAABoTW96aWxsYS81LjAgKFgxMTsgTGludXggeDg2XzY0KSBBcHBsZVdlYktpdC81MzcuMzYgKEtIVE1MLCBsaWtlIEdlY2tvKSBDaHJvbWUvMzEuMC4xNjUwLjYzIFNhZmFyaS81MzcuMzYLAUAAAAACL2kLAUoAAAAYdGVzdFBhcmFtPTMmdGVzdFBhcmFtMj00DwFeCwAAAAgAAAAvQ29va2llOiBzcD1jNWYzYTA5Zi03NWY4LTQzMDktYmVjNS1mZWE1NjBmNzg0NTUAAAAaQWNjZXB0LUxhbmd1YWdlOiBlbi1VUywgZW4AAAAkQWNjZXB0LUVuY29kaW5nOiBnemlwLCBkZWZsYXRlLCBzZGNoAAAAdFVzZXItQWdlbnQ6IE1vemlsbGEvNS4wIChYMTE7IExpbnV4IHg4Nl82NCkgQXBwbGVXZWJLaXQvNTM3LjM2IChLSFRNTCwgbGlrZSBHZWNrbykgQ2hyb21lLzMxLjAuMTY1MC42MyBTYWZhcmkvNTM3LjM2AAAAVkFjY2VwdDogdGV4dC9odG1sLCBhcHBsaWNhdGlvbi94aHRtbCt4bWwsIGFwcGxpY2F0aW9uL3htbDtxPTAuOSwgaW1hZ2Uvd2VicCwgKi8qO3E9MC44AAAAGENhY2hlLUNvbnRyb2w6IG1heC1hZ2U9MAAAABZDb25uZWN0aW9uOiBrZWVwLWFsaXZlAAAAFEhvc3Q6IDEyNy4wLjAuMTo4MDgwCwGQAAAACTEyNy4wLjAuMQsBmgAAACRjNWYzYTA5Zi03NWY4LTQzMDktYmVjNS1mZWE1NjBmNzg0NTULemkAAABBaWdsdTpjb20uc25vd3Bsb3dhbmFseXRpY3Muc25vd3Bsb3cvQ29sbGVjdG9yUGF5bG9hZC90aHJpZnQvMS0wLTAA';

const SPEC_PAGE_PING_GET =
  'CwBkAAAACDEwLjAuMi4yCgDIAAABQ9pNXggLANIAAAAFVVRGLTgLANwAAAAQc3NjLTAuMC4xLVN0ZG91dAsBLAAAAFFNb3ppbGxhLzUuMCAoTWFjaW50b3NoOyBJbnRlbCBNYWMgT1MgWCAxMC45OyBydjoyNi4wKSBHZWNrby8yMDEwMDEwMSBGaXJlZm94LzI2LjALAUAAAAACL2kLAUoAAAKYZT1wcCZwYWdlPUFzeW5jaHJvbm91cyt3ZWJzaXRlJTJGd2ViYXBwK2V4YW1wbGVzK2Zvcitzbm93cGxvdy5qcyZwcF9taXg9MCZwcF9tYXg9MCZwcF9taXk9MCZwcF9tYXk9MCZjbz0lN0IlMjJwYWdlJTIyJTNBJTdCJTIycGFnZV90eXBlJTIyJTNBJTIydGVzdCUyMiUyQyUyMmxhc3RfdXBkYXRlZCUyNHRtcyUyMiUzQTEzOTMzNzI4MDAwMDAlN0QlMkMlMjJ1c2VyJTIyJTNBJTdCJTIydXNlcl90eXBlJTIyJTNBJTIydGVzdGVyJTIyJTdEJTdEJmR0bT0xMzkwOTM2OTM4ODU1JnRpZD03OTc3NDMmdnA9MjU2MHg5NjEmZHM9MjU2MHg5NjEmdmlkPTcmZHVpZD0zYzE3NTc1NDRlMzliY2E0JnA9bW9iJnR2PWpzLTAuMTMuMSZmcD0yNjk1OTMwODAzJmFpZD1DRmUyM2EmbGFuZz1lbi1VUyZjcz1VVEYtOCZ0ej1FdXJvcGUlMkZMb25kb24mdWlkPWFsZXgrMTIzJmZfcGRmPTAmZl9xdD0xJmZfcmVhbHA9MCZmX3dtYT0wJmZfZGlyPTAmZl9mbGE9MSZmX2phdmE9MCZmX2dlYXJzPTAmZl9hZz0wJnJlcz0yNTYweDE0NDAmY2Q9MjQmY29va2llPTEmdXJsPWZpbGUlM0ElMkYlMkZmaWxlJTNBJTJGJTJGJTJGVXNlcnMlMkZhbGV4JTJGRGV2ZWxvcG1lbnQlMkZkZXYtZW52aXJvbm1lbnQlMkZkZW1vJTJGMS10cmFja2VyJTJGZXZlbnRzLmh0bWwlMkZvdmVycmlkZGVuLXVybCUyRg8BXgsAAAAHAAAAFkNvbm5lY3Rpb246IGtlZXAtYWxpdmUAAAJwQ29va2llOiBfX3V0bWE9MTExODcyMjgxLjg3ODA4NDQ4Ny4xMzkwMjM3MTA3LjEzOTA4NDg0ODcuMTM5MDkzMTUyMS42OyBfX3V0bXo9MTExODcyMjgxLjEzOTAyMzcxMDcuMS4xLnV0bWNzcj0oZGlyZWN0KXx1dG1jY249KGRpcmVjdCl8dXRtY21kPShub25lKTsgX3NwX2lkLjFmZmY9Yjg5YTZmYTYzMWVlZmFjMi4xMzkwMjM3MTA3LjYuMTM5MDkzMTU0NS4xMzkwODQ4NjQxOyBoYmxpZD1DUGpqdWh2RjA1emt0UDdKN001Vm8zTklHUExKeTFTRjsgb2xmc2s9b2xmc2s1NjI5MjM2MzU2MTc1NTQ7IF9fdXRtYz0xMTE4NzIyODE7IHdjc2lkPXVNbG9nMVFKVkQ3anVoRlo3TTVWb0JDeVBQeWlCeVNTOyBfb2tsdj0xMzkwOTMxNTg1NDQ1JTJDdU1sb2cxUUpWRDdqdWhGWjdNNVZvQkN5UFB5aUJ5U1M7IF9vaz05NzUyLTUwMy0xMC01MjI3OyBfb2tiaz1jZDQlM0R0cnVlJTJDdmk1JTNEMCUyQ3ZpNCUzRDEzOTA5MzE1MjExMjMlMkN2aTMlM0RhY3RpdmUlMkN2aTIlM0RmYWxzZSUyQ3ZpMSUzRGZhbHNlJTJDY2Q4JTNEY2hhdCUyQ2NkNiUzRDAlMkNjZDUlM0Rhd2F5JTJDY2QzJTNEZmFsc2UlMkNjZDIlM0QwJTJDY2QxJTNEMCUyQzsgc3A9NzVhMTM1ODMtNWM5OS00MGUzLTgxZmMtNTQxMDg0ZGZjNzg0AAAAHkFjY2VwdC1FbmNvZGluZzogZ3ppcCwgZGVmbGF0ZQAAABpBY2NlcHQtTGFuZ3VhZ2U6IGVuLVVTLCBlbgAAACtBY2NlcHQ6IGltYWdlL3BuZywgaW1hZ2UvKjtxPTAuOCwgKi8qO3E9MC41AAAAXVVzZXItQWdlbnQ6IE1vemlsbGEvNS4wIChNYWNpbnRvc2g7IEludGVsIE1hYyBPUyBYIDEwLjk7IHJ2OjI2LjApIEdlY2tvLzIwMTAwMTAxIEZpcmVmb3gvMjYuMAAAABRIb3N0OiBsb2NhbGhvc3Q6NDAwMQsBkAAAAAlsb2NhbGhvc3QLAZoAAAAkNzVhMTM1ODMtNWM5OS00MGUzLTgxZmMtNTQxMDg0ZGZjNzg0C3ppAAAAQWlnbHU6Y29tLnNub3dwbG93YW5hbHl0aWNzLnNub3dwbG93L0NvbGxlY3RvclBheWxvYWQvdGhyaWZ0LzEtMC0wAA==';

const SPEC_WRONG_SCHEMA =
  'CwBkAAAACTEyNy4wLjAuMQoAyAAAAUOYhqgGCwDSAAAABVVURi04CwDcAAAAEHNzYy0wLjAuMS1TdGRvdXQLASwAAABoTW96aWxsYS81LjAgKFgxMTsgTGludXggeDg2XzY0KSBBcHBsZVdlYktpdC81MzcuMzYgKEtIVE1MLCBsaWtlIEdlY2tvKSBDaHJvbWUvMzEuMC4xNjUwLjYzIFNhZmFyaS81MzcuMzYLAUAAAAACL2kPAV4LAAAACAAAAC9Db29raWU6IHNwPWM1ZjNhMDlmLTc1ZjgtNDMwOS1iZWM1LWZlYTU2MGY3ODQ1NQAAABpBY2NlcHQtTGFuZ3VhZ2U6IGVuLVVTLCBlbgAAACRBY2NlcHQtRW5jb2Rpbmc6IGd6aXAsIGRlZmxhdGUsIHNkY2gAAAB0VXNlci1BZ2VudDogTW96aWxsYS81LjAgKFgxMTsgTGludXggeDg2XzY0KSBBcHBsZVdlYktpdC81MzcuMzYgKEtIVE1MLCBsaWtlIEdlY2tvKSBDaHJvbWUvMzEuMC4xNjUwLjYzIFNhZmFyaS81MzcuMzYAAABWQWNjZXB0OiB0ZXh0L2h0bWwsIGFwcGxpY2F0aW9uL3hodG1sK3htbCwgYXBwbGljYXRpb24veG1sO3E9MC45LCBpbWFnZS93ZWJwLCAqLyo7cT0wLjgAAAAYQ2FjaGUtQ29udHJvbDogbWF4LWFnZT0wAAAAFkNvbm5lY3Rpb246IGtlZXAtYWxpdmUAAAAUSG9zdDogMTI3LjAuMC4xOjgwODALAZAAAAAJbG9jYWxob3N0CwGaAAAAJGM1ZjNhMDlmLTc1ZjgtNDMwOS1iZWM1LWZlYTU2MGY3ODQ1NQt6aQAAAD1pZ2x1OmNvbS5zbm93cGxvd2FuYWx5dGljcy5zbm93cGxvdy93cm9uZy1zY2hlbWEvdGhyaWZ0LzEtMC0wAA==';

const PP_QUERYSTRING =
  'e=pp&page=Asynchronous+website%2Fwebapp+examples+for+snowplow.js&pp_mix=0&pp_max=0&pp_miy=0&pp_may=0' +
  '&co=%7B%22page%22%3A%7B%22page_type%22%3A%22test%22%2C%22last_updated%24tms%22%3A1393372800000%7D%2C%22user%22%3A%7B%22user_type%22%3A%22tester%22%7D%7D' +
  '&dtm=1390936938855&tid=797743&vp=2560x961&ds=2560x961&vid=7&duid=3c1757544e39bca4&p=mob&tv=js-0.13.1&fp=2695930803' +
  '&aid=CFe23a&lang=en-US&cs=UTF-8&tz=Europe%2FLondon&uid=alex+123&f_pdf=0&f_qt=1&f_realp=0&f_wma=0&f_dir=0&f_fla=1' +
  '&f_java=0&f_gears=0&f_ag=0&res=2560x1440&cd=24&cookie=1' +
  '&url=file%3A%2F%2Ffile%3A%2F%2F%2FUsers%2Falex%2FDevelopment%2Fdev-environment%2Fdemo%2F1-tracker%2Fevents.html%2Foverridden-url%2F';

const FIREFOX_26 = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10.9; rv:26.0) Gecko/20100101 Firefox/26.0';
const COOKIE_LOCALHOST =
  'Cookie: __utma=111872281.878084487.1390237107.1390848487.1390931521.6; __utmz=111872281.1390237107.1.1.utmcsr=(direct)|utmccn=(direct)|utmcmd=(none); _sp_id.1fff=b89a6fa631eefac2.1390237107.6.1390931545.1390848641; hblid=CPjjuhvF05zktP7J7M5Vo3NIGPLJy1SF; olfsk=olfsk562923635617554; __utmc=111872281; wcsid=uMlog1QJVD7juhFZ7M5VoBCyPPyiBySS; _oklv=1390931585445%2CuMlog1QJVD7juhFZ7M5VoBCyPPyiBySS; _ok=9752-503-10-5227; _okbk=cd4%3Dtrue%2Cvi5%3D0%2Cvi4%3D1390931521123%2Cvi3%3Dactive%2Cvi2%3Dfalse%2Cvi1%3Dfalse%2Ccd8%3Dchat%2Ccd6%3D0%2Ccd5%3Daway%2Ccd3%3Dfalse%2Ccd2%3D0%2Ccd1%3D0%2C; sp=75a13583-5c99-40e3-81fc-541084dfc784';

const b64 = (s: string) => Buffer.from(s, 'base64');

const FULL: CollectorPayload = {
  schema: COLLECTOR_PAYLOAD_SCHEMA,
  ipAddress: '203.0.113.7',
  timestamp: 1_717_171_717_123,
  encoding: 'UTF-8',
  collector: 'sluice-0.1.0-kinesis',
  userAgent: 'curl/8.0 ünïcödé ✓',
  refererUri: 'https://example.com/a?b=c',
  path: '/com.snowplowanalytics.snowplow/tp2',
  querystring: 'e=pv&aid=x',
  body: '{"schema":"iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4","data":[{"e":"pv"}]}',
  headers: ['Host: collector.example.com', 'X-Forwarded-For: 203.0.113.7', 'application/json'],
  contentType: 'application/json',
  hostname: 'collector.example.com',
  networkUserId: '00000000-0000-0000-0000-000000000000',
};
const MINIMAL: CollectorPayload = {
  schema: COLLECTOR_PAYLOAD_SCHEMA,
  ipAddress: 'unknown',
  timestamp: 0,
  encoding: 'UTF-8',
  collector: 'c',
};

function randomBytes(next: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
  return b;
}
// Decoding garbage must either succeed or throw CollectorPayloadDecodeError, never anything else.
function decodeOrDecodeError(buf: Buffer): CollectorPayload | CollectorPayloadDecodeError {
  try {
    return decodeCollectorPayload(buf);
  } catch (err) {
    expect(err).toBeInstanceOf(CollectorPayloadDecodeError);
    return err as CollectorPayloadDecodeError;
  }
}

describe('decodeCollectorPayload: Snowplow ThriftLoaderSpec vectors', () => {
  it('decodes the "fake tracker protocol GET parameters" record', () => {
    expect(decodeCollectorPayload(b64(SPEC_FAKE_PARAMS_GET))).toEqual({
      schema: COLLECTOR_PAYLOAD_SCHEMA,
      ipAddress: '127.0.0.1',
      timestamp: Date.parse('2014-01-16T00:49:58.278+00:00'),
      encoding: 'UTF-8',
      collector: 'ssc-0.0.1-Stdout',
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/31.0.1650.63 Safari/537.36',
      path: '/i',
      querystring: 'testParam=3&testParam2=4',
      headers: [
        'Cookie: sp=c5f3a09f-75f8-4309-bec5-fea560f78455',
        'Accept-Language: en-US, en',
        'Accept-Encoding: gzip, deflate, sdch',
        'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/31.0.1650.63 Safari/537.36',
        'Accept: text/html, application/xhtml+xml, application/xml;q=0.9, image/webp, */*;q=0.8',
        'Cache-Control: max-age=0',
        'Connection: keep-alive',
        'Host: 127.0.0.1:8080',
      ],
      hostname: '127.0.0.1',
      networkUserId: 'c5f3a09f-75f8-4309-bec5-fea560f78455',
    });
  });

  it('decodes the "valid page ping GET payload" record', () => {
    const p = decodeCollectorPayload(b64(SPEC_PAGE_PING_GET));
    expect(p).toEqual({
      schema: COLLECTOR_PAYLOAD_SCHEMA,
      ipAddress: '10.0.2.2',
      timestamp: Date.parse('2014-01-28T19:22:20.040+00:00'),
      encoding: 'UTF-8',
      collector: 'ssc-0.0.1-Stdout',
      userAgent: FIREFOX_26,
      path: '/i',
      querystring: PP_QUERYSTRING,
      headers: [
        'Connection: keep-alive',
        COOKIE_LOCALHOST,
        'Accept-Encoding: gzip, deflate',
        'Accept-Language: en-US, en',
        'Accept: image/png, image/*;q=0.8, */*;q=0.5',
        `User-Agent: ${FIREFOX_26}`,
        'Host: localhost:4001',
      ],
      hostname: 'localhost',
      networkUserId: '75a13583-5c99-40e3-81fc-541084dfc784',
    });
    // Spot-check the decoded querystring the way enrich's spec states it.
    const q = new URLSearchParams(p.querystring);
    expect(q.get('e')).toBe('pp');
    expect(q.get('uid')).toBe('alex 123');
    expect(q.get('co')).toBe('{"page":{"page_type":"test","last_updated$tms":1393372800000},"user":{"user_type":"tester"}}');
  });

  it('re-encodes the Snowplow records byte-for-byte', () => {
    for (const raw of [SPEC_FAKE_PARAMS_GET, SPEC_PAGE_PING_GET]) {
      expect(encodeCollectorPayload(decodeCollectorPayload(b64(raw))).toString('base64')).toBe(raw);
    }
  });

  it('rejects the spec record carrying a wrong schema', () => {
    expect(() => decodeCollectorPayload(b64(SPEC_WRONG_SCHEMA))).toThrow(CollectorPayloadDecodeError);
    expect(() => decodeCollectorPayload(b64(SPEC_WRONG_SCHEMA))).toThrow(
      /expected iglu:com\.snowplowanalytics\.snowplow\/CollectorPayload\/thrift\/1-0-0, found iglu:com\.snowplowanalytics\.snowplow\/wrong-schema\/thrift\/1-0-0/,
    );
  });
});

describe('encodeCollectorPayload', () => {
  it('round-trips a payload with every field', () => {
    expect(decodeCollectorPayload(encodeCollectorPayload(FULL))).toEqual(FULL);
  });

  it('round-trips a minimal payload without inventing optional fields', () => {
    const decoded = decodeCollectorPayload(encodeCollectorPayload(MINIMAL));
    expect(decoded).toEqual(MINIMAL);
    expect(Object.keys(decoded).sort()).toEqual(Object.keys(MINIMAL).sort());
  });

  it('round-trips empty strings, an empty header list and large/negative timestamps', () => {
    const cases: CollectorPayload[] = [
      { ...MINIMAL, ipAddress: '', body: '', headers: [] },
      { ...MINIMAL, timestamp: Number.MAX_SAFE_INTEGER },
      { ...MINIMAL, timestamp: -1 },
      { ...MINIMAL, body: 'x'.repeat(1_000_000) },
    ];
    for (const c of cases) expect(decodeCollectorPayload(encodeCollectorPayload(c))).toEqual(c);
  });

  it('starts with field 100 (0b 00 64) and writes fields in ascending id order, schema (31337) last', () => {
    const buf = encodeCollectorPayload(FULL);
    expect([...buf.subarray(0, 3)]).toEqual([0x0b, 0x00, 0x64]);
    // Walk the top-level fields by hand to collect (type, id) in wire order.
    const ids: number[] = [];
    let off = 0;
    for (;;) {
      const type = buf[off++];
      if (type === 0) break;
      ids.push(buf.readInt16BE(off));
      off += 2;
      if (type === 11) off += 4 + buf.readInt32BE(off);
      else if (type === 10) off += 8;
      else if (type === 15) {
        const n = buf.readInt32BE(off + 1);
        off += 5;
        for (let i = 0; i < n; i++) off += 4 + buf.readInt32BE(off);
      } else throw new Error(`unexpected type ${type}`);
    }
    expect(off).toBe(buf.length);
    expect(ids).toEqual([100, 200, 210, 220, 300, 310, 320, 330, 340, 350, 360, 400, 410, 31337]);
    expect(buf.subarray(buf.length - 1 - COLLECTOR_PAYLOAD_SCHEMA.length - 7, buf.length - 1 - COLLECTOR_PAYLOAD_SCHEMA.length - 4))
      .toEqual(Buffer.from([0x0b, 0x7a, 0x69]));
  });

  it('writes the timestamp as a big-endian i64 of epoch ms', () => {
    const buf = encodeCollectorPayload({ ...MINIMAL, ipAddress: '', timestamp: 1_389_833_398_278 });
    // 0b 0064 00000000 | 0a 00c8 <8 bytes>
    expect(buf.subarray(7, 10)).toEqual(Buffer.from([0x0a, 0x00, 0xc8]));
    expect(buf.readBigInt64BE(10)).toBe(1_389_833_398_278n);
  });

  it('rejects missing required fields and non-integer timestamps', () => {
    const { collector: _omit, ...noCollector } = MINIMAL;
    expect(() => encodeCollectorPayload(noCollector as CollectorPayload)).toThrow(/collector is required/);
    expect(() => encodeCollectorPayload({ ...MINIMAL, timestamp: 1.5 })).toThrow(RangeError);
    expect(() => encodeCollectorPayload({ ...MINIMAL, timestamp: Number.NaN })).toThrow(RangeError);
  });
});

describe('decodeCollectorPayload: invalid input', () => {
  it('rejects an empty buffer', () => {
    expect(() => decodeCollectorPayload(Buffer.alloc(0))).toThrow(CollectorPayloadDecodeError);
  });

  it('rejects every proper prefix of valid records', () => {
    for (const buf of [b64(SPEC_FAKE_PARAMS_GET), encodeCollectorPayload(FULL), encodeCollectorPayload(MINIMAL)]) {
      for (let i = 0; i < buf.length; i++) {
        expect(() => decodeCollectorPayload(buf.subarray(0, i)), `prefix of ${i} bytes`).toThrow(CollectorPayloadDecodeError);
      }
    }
  });

  it('says "truncated" for a cut-off record', () => {
    const buf = encodeCollectorPayload(FULL);
    expect(() => decodeCollectorPayload(buf.subarray(0, 40))).toThrow(/truncated/);
  });

  it('rejects trailing bytes after the struct', () => {
    const buf = Buffer.concat([encodeCollectorPayload(MINIMAL), Buffer.from([0])]);
    expect(() => decodeCollectorPayload(buf)).toThrow(/trailing byte/);
  });

  it('rejects a record missing a required field', () => {
    const buf = encodeCollectorPayload(MINIMAL);
    const collectorField = Buffer.from([0x0b, 0x00, 0xdc, 0, 0, 0, 1, 0x63]); // 220: "c"
    const at = buf.indexOf(collectorField);
    expect(at).toBeGreaterThan(0);
    const without = Buffer.concat([buf.subarray(0, at), buf.subarray(at + collectorField.length)]);
    expect(() => decodeCollectorPayload(without)).toThrow(/required field collector is missing/);
  });

  it('rejects a record that repeats a known field', () => {
    const buf = encodeCollectorPayload(MINIMAL);
    const ip = Buffer.from([0x0b, 0x00, 0x64, 0, 0, 0, 7, ...Buffer.from('unknown')]);
    const twice = Buffer.concat([ip, buf]);
    expect(() => decodeCollectorPayload(twice)).toThrow(/field ipAddress \(100\) repeated/);
  });

  it('rejects any other schema, including other 1-0-x versions', () => {
    for (const schema of ['iglu:com.snowplowanalytics.snowplow/CollectorPayload/thrift/1-0-1', '', 'nonsense']) {
      expect(() => decodeCollectorPayload(encodeCollectorPayload({ ...MINIMAL, schema }))).toThrow(/unexpected CollectorPayload schema/);
    }
  });

  it('skips unknown fields like Thrift-generated readers do', () => {
    const minimal = encodeCollectorPayload(MINIMAL);
    // Insert an unknown i32 field (id 999) and an unknown list<i64> before the STOP byte.
    const extra = Buffer.from([0x08, 0x03, 0xe7, 0, 0, 0, 42, 0x0f, 0x03, 0xe8, 0x0a, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9]);
    const buf = Buffer.concat([minimal.subarray(0, minimal.length - 1), extra, Buffer.from([0])]);
    expect(decodeCollectorPayload(buf)).toEqual(MINIMAL);
  });

  it('rejects headers lists with a wrong element type or an impossible length', () => {
    const minimal = encodeCollectorPayload(MINIMAL);
    const body = minimal.subarray(0, minimal.length - 1);
    const wrongType = Buffer.from([0x0f, 0x01, 0x5e, 0x08, 0, 0, 0, 1, 0, 0, 0, 5, 0]);
    const huge = Buffer.from([0x0f, 0x01, 0x5e, 0x0b, 0x7f, 0xff, 0xff, 0xff, 0]);
    const negative = Buffer.from([0x0f, 0x01, 0x5e, 0x0b, 0xff, 0xff, 0xff, 0xff, 0]);
    expect(() => decodeCollectorPayload(Buffer.concat([body, wrongType]))).toThrow(/element type 8/);
    expect(() => decodeCollectorPayload(Buffer.concat([body, huge]))).toThrow(/impossible length/);
    expect(() => decodeCollectorPayload(Buffer.concat([body, negative]))).toThrow(CollectorPayloadDecodeError);
  });

  it('rejects huge and negative string lengths without allocating', () => {
    for (const len of [[0x7f, 0xff, 0xff, 0xff], [0xff, 0xff, 0xff, 0xfe]]) {
      expect(() => decodeCollectorPayload(Buffer.from([0x0b, 0x00, 0x64, ...len, 0x41]))).toThrow(CollectorPayloadDecodeError);
    }
  });

  it('rejects deeply nested unknown structs', () => {
    const nested = Buffer.concat([Buffer.from([0x0c, 0x03, 0xe7]), Buffer.alloc(200 * 3, Buffer.from([0x0c, 0x00, 0x01])), Buffer.alloc(201, 0)]);
    expect(() => decodeCollectorPayload(nested)).toThrow(CollectorPayloadDecodeError);
  });

  it('only ever throws CollectorPayloadDecodeError on random buffers', () => {
    const next = rng(42);
    for (let i = 0; i < 3000; i++) {
      const buf = randomBytes(next, Math.floor(next() * 300));
      // Half of them look like a record start so the decoder gets past the first field.
      if (i % 2 === 0 && buf.length >= 3) buf.set([0x0b, 0x00, 0x64], 0);
      const result = decodeOrDecodeError(buf);
      expect(result).toBeInstanceOf(CollectorPayloadDecodeError);
    }
  });

  it('only ever throws CollectorPayloadDecodeError on bit-flipped valid records', () => {
    const next = rng(7);
    const good = encodeCollectorPayload(FULL);
    for (let i = 0; i < 3000; i++) {
      const buf = Buffer.from(good);
      const flips = 1 + Math.floor(next() * 4);
      for (let f = 0; f < flips; f++) buf[Math.floor(next() * buf.length)] ^= 1 << Math.floor(next() * 8);
      decodeOrDecodeError(buf);
    }
  });
});
