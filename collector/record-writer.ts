import type { CollectorPayload } from '../codecs/collector-payload';

// The collector's hot-path writer of the raw record: the same TBinaryProtocol bytes as
// codecs/collector-payload.ts (the `thrift` package), written into one buffer sized up front.
// The generic encoder allocates per field and costs ~10 µs a record, a large share of a
// request's budget; this one writes into a reused scratch buffer and copies the record out. tests/unit/collector-record-writer.test.ts holds the two
// byte-identical on Snowplow's test vectors and on generated payloads; codecs/ stays the
// reference (and the decoder enrich uses).

const T_STOP = 0;
const T_I64 = 10;
const T_STRING = 11;
const T_LIST = 15;

type StringKey = 'ipAddress' | 'encoding' | 'collector' | 'userAgent' | 'refererUri' | 'path' | 'querystring' | 'body' | 'contentType' | 'hostname' | 'networkUserId' | 'schema';

// Field order of the IDL (ascending ids), as the thrift writer emits them.
const FIELDS: ReadonlyArray<{ id: number; key: StringKey | 'timestamp' | 'headers' }> = [
  { id: 100, key: 'ipAddress' },
  { id: 200, key: 'timestamp' },
  { id: 210, key: 'encoding' },
  { id: 220, key: 'collector' },
  { id: 300, key: 'userAgent' },
  { id: 310, key: 'refererUri' },
  { id: 320, key: 'path' },
  { id: 330, key: 'querystring' },
  { id: 340, key: 'body' },
  { id: 350, key: 'headers' },
  { id: 360, key: 'contentType' },
  { id: 400, key: 'hostname' },
  { id: 410, key: 'networkUserId' },
  { id: 31337, key: 'schema' },
];
const REQUIRED = ['schema', 'ipAddress', 'timestamp', 'encoding', 'collector'] as const;

// One scratch buffer, reused: each record is written here, then copied out at its exact size.
let scratch = Buffer.allocUnsafe(64 * 1024);

function writeString(buf: Buffer, o: number, s: string): number {
  const n = buf.write(s, o + 4, 'utf8');
  buf.writeInt32BE(n, o);
  return o + 4 + n;
}

function writeHeader(buf: Buffer, o: number, type: number, id: number): number {
  buf[o] = type;
  buf.writeInt16BE(id, o + 1);
  return o + 3;
}

export function writeCollectorPayload(p: CollectorPayload): Buffer {
  for (const key of REQUIRED) {
    if (p[key] === undefined || p[key] === null) throw new TypeError(`CollectorPayload.${key} is required`);
  }
  if (!Number.isSafeInteger(p.timestamp)) throw new RangeError(`CollectorPayload.timestamp must be an integer epoch-ms value, got ${p.timestamp}`);

  // An upper bound (3 UTF-8 bytes per UTF-16 unit) decides whether the scratch buffer suffices.
  let bound = 1;
  for (const f of FIELDS) {
    const v = p[f.key];
    if (v === undefined || v === null) continue;
    if (f.key === 'timestamp') bound += 11;
    else if (f.key === 'headers') {
      if (!Array.isArray(v)) throw new TypeError('CollectorPayload.headers must be a list of strings');
      bound += 8;
      for (const h of v) {
        if (typeof h !== 'string') throw new TypeError('CollectorPayload.headers must be a list of strings');
        bound += 4 + h.length * 3;
      }
    } else {
      if (typeof v !== 'string') throw new TypeError(`CollectorPayload.${f.key} must be a string`);
      bound += 7 + v.length * 3;
    }
  }
  if (bound > scratch.length) scratch = Buffer.allocUnsafe(Math.max(bound, scratch.length * 2));

  const buf = scratch;
  let o = 0;
  for (const f of FIELDS) {
    const v = p[f.key];
    if (v === undefined || v === null) continue;
    if (f.key === 'timestamp') {
      o = writeHeader(buf, o, T_I64, f.id);
      buf.writeBigInt64BE(BigInt(v as number), o);
      o += 8;
    } else if (f.key === 'headers') {
      const list = v as string[];
      o = writeHeader(buf, o, T_LIST, f.id);
      buf[o] = T_STRING;
      buf.writeInt32BE(list.length, o + 1);
      o += 5;
      for (const h of list) o = writeString(buf, o, h);
    } else {
      o = writeHeader(buf, o, T_STRING, f.id);
      o = writeString(buf, o, v as string);
    }
  }
  buf[o++] = T_STOP;
  const out = Buffer.allocUnsafe(o);
  buf.copy(out, 0, 0, o);
  return out;
}
