// Snowplow's raw record: Thrift `CollectorPayload` (schemas/thrift/collector-payload.thrift) in
// TBinaryProtocol. Encoded by the writer below (one pass into a shared slab); decoded with the
// `thrift` package's protocol and transport classes, which are also the encoder's reference.
import thrift from 'thrift';

export const COLLECTOR_PAYLOAD_SCHEMA = 'iglu:com.snowplowanalytics.snowplow/CollectorPayload/thrift/1-0-0';

export interface CollectorPayload {
  schema: string;
  ipAddress: string;
  /** Collector time, epoch milliseconds. */
  timestamp: number;
  encoding: string;
  collector: string;
  userAgent?: string;
  refererUri?: string;
  path?: string;
  querystring?: string;
  body?: string;
  headers?: string[];
  contentType?: string;
  hostname?: string;
  networkUserId?: string;
}

export class CollectorPayloadDecodeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CollectorPayloadDecodeError';
  }
}

// Thrift wire type codes (TBinaryProtocol), as in thrift.Thrift.Type.
const T_STOP = 0;
const T_I64 = 10;
const T_STRING = 11;
const T_LIST = 15;

type OptionalStringKey =
  | 'userAgent' | 'refererUri' | 'path' | 'querystring' | 'body' | 'contentType' | 'hostname' | 'networkUserId';
type RequiredStringKey = 'schema' | 'ipAddress' | 'encoding' | 'collector';

// Field table in ascending id order: the writer walks it as-is, so 31337 (schema) goes last like Snowplow's.
const FIELDS: ReadonlyArray<
  | { id: number; name: RequiredStringKey | OptionalStringKey; type: typeof T_STRING }
  | { id: number; name: 'timestamp'; type: typeof T_I64 }
  | { id: number; name: 'headers'; type: typeof T_LIST }
> = [
  { id: 100, name: 'ipAddress', type: T_STRING },
  { id: 200, name: 'timestamp', type: T_I64 },
  { id: 210, name: 'encoding', type: T_STRING },
  { id: 220, name: 'collector', type: T_STRING },
  { id: 300, name: 'userAgent', type: T_STRING },
  { id: 310, name: 'refererUri', type: T_STRING },
  { id: 320, name: 'path', type: T_STRING },
  { id: 330, name: 'querystring', type: T_STRING },
  { id: 340, name: 'body', type: T_STRING },
  { id: 350, name: 'headers', type: T_LIST },
  { id: 360, name: 'contentType', type: T_STRING },
  { id: 400, name: 'hostname', type: T_STRING },
  { id: 410, name: 'networkUserId', type: T_STRING },
  { id: 31337, name: 'schema', type: T_STRING },
];
const FIELD_BY_ID = new Map(FIELDS.map((f) => [f.id, f]));
const REQUIRED: ReadonlyArray<keyof CollectorPayload> = ['schema', 'ipAddress', 'timestamp', 'encoding', 'collector'];

// ---------------------------------------------------------------------------------------------
// The encoder: the one way Sluice writes a CollectorPayload (the collector on every request, the
// benches and test fixtures). TBinaryProtocol as the `thrift` package writes it, field by field in
// ascending id order: each field a type byte and a big-endian i16 id, strings a big-endian i32
// byte length and their UTF-8, the timestamp a big-endian i64, the headers a list header (element
// type, i32 count) then the strings, and a STOP byte. It writes straight into a shared slab and
// returns a view of the record, with no per-field allocation: ~10× faster than the library's
// TBufferedTransport/TBinaryProtocol, which stays the reference it is proven byte-identical to
// (tests/unit/collector-payload-encoder.test.ts: Snowplow's test vectors, fixtures and generated
// payloads) and the decoder below.

// Records are written into slabs of this size and returned as views of them (a slab is freed when
// the last record in it is). Records bigger than an eighth of a slab get a buffer of their own.
const SLAB_BYTES = 256 * 1024;
const SLAB_RECORD_LIMIT = SLAB_BYTES / 8;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabUsed = 0;
// Bigger records are written here first (it grows to the largest bound seen), then copied out.
let scratch = Buffer.allocUnsafeSlow(0);
const TWO_32 = 2 ** 32;

// Buffer#utf8Write (what Buffer#write calls for 'utf8', without the argument juggling), when present.
type Utf8Write = (this: Buffer, s: string, offset: number) => number;
const utf8Write: Utf8Write =
  (Buffer.prototype as unknown as { utf8Write?: Utf8Write }).utf8Write ??
  function (this: Buffer, s: string, offset: number) {
    return this.write(s, offset, 'utf8');
  };

function putI32(buf: Buffer, o: number, n: number): void {
  buf[o] = n >>> 24;
  buf[o + 1] = (n >>> 16) & 0xff;
  buf[o + 2] = (n >>> 8) & 0xff;
  buf[o + 3] = n & 0xff;
}

function putString(buf: Buffer, o: number, id: number, s: string): number {
  buf[o] = T_STRING;
  buf[o + 1] = id >> 8;
  buf[o + 2] = id & 0xff;
  const n = utf8Write.call(buf, s, o + 7);
  putI32(buf, o + 3, n);
  return o + 7 + n;
}

function stringBound(p: CollectorPayload, key: keyof CollectorPayload): number {
  const v = p[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'string') throw new TypeError(`CollectorPayload.${key} must be a string`);
  // field header (3) + length (4) + at most 3 UTF-8 bytes per UTF-16 unit
  return 7 + v.length * 3;
}

/** An upper bound of the encoded size; checks the field types on the way (the order the fields are written in). */
function encodedBound(p: CollectorPayload): number {
  let bound = 1 + stringBound(p, 'ipAddress') + 11 + stringBound(p, 'encoding') + stringBound(p, 'collector');
  bound += stringBound(p, 'userAgent') + stringBound(p, 'refererUri') + stringBound(p, 'path');
  bound += stringBound(p, 'querystring') + stringBound(p, 'body');
  const headers = p.headers;
  if (headers !== undefined && headers !== null) {
    if (!Array.isArray(headers)) throw new TypeError('CollectorPayload.headers must be a list of strings');
    bound += 8;
    for (let i = 0; i < headers.length; i++) {
      const h = headers[i];
      if (typeof h !== 'string') throw new TypeError('CollectorPayload.headers must be a list of strings');
      bound += 4 + h.length * 3;
    }
  }
  bound += stringBound(p, 'contentType') + stringBound(p, 'hostname') + stringBound(p, 'networkUserId');
  return bound + stringBound(p, 'schema');
}

function writeFields(p: CollectorPayload, buf: Buffer, start: number): number {
  let o = putString(buf, start, 100, p.ipAddress);
  // i64: the high and low 32 bits of a safe integer (two's complement for negatives)
  const ts = p.timestamp;
  const hi = Math.floor(ts / TWO_32);
  buf[o] = T_I64;
  buf[o + 1] = 0;
  buf[o + 2] = 200;
  putI32(buf, o + 3, hi);
  putI32(buf, o + 7, ts - hi * TWO_32);
  o += 11;
  o = putString(buf, o, 210, p.encoding);
  o = putString(buf, o, 220, p.collector);
  if (p.userAgent != null) o = putString(buf, o, 300, p.userAgent);
  if (p.refererUri != null) o = putString(buf, o, 310, p.refererUri);
  if (p.path != null) o = putString(buf, o, 320, p.path);
  if (p.querystring != null) o = putString(buf, o, 330, p.querystring);
  if (p.body != null) o = putString(buf, o, 340, p.body);
  const headers = p.headers;
  if (headers != null) {
    buf[o] = T_LIST;
    buf[o + 1] = 350 >> 8;
    buf[o + 2] = 350 & 0xff;
    buf[o + 3] = T_STRING;
    putI32(buf, o + 4, headers.length);
    o += 8;
    for (let i = 0; i < headers.length; i++) {
      const n = utf8Write.call(buf, headers[i], o + 4);
      putI32(buf, o, n);
      o += 4 + n;
    }
  }
  if (p.contentType != null) o = putString(buf, o, 360, p.contentType);
  if (p.hostname != null) o = putString(buf, o, 400, p.hostname);
  if (p.networkUserId != null) o = putString(buf, o, 410, p.networkUserId);
  o = putString(buf, o, 31337, p.schema);
  buf[o++] = T_STOP;
  return o;
}

/**
 * The record's TBinaryProtocol bytes. The Buffer may be a view of a larger shared one (as Node's
 * own small Buffers are): use its bytes, do not transfer or reuse its `.buffer`.
 */
export function encodeCollectorPayload(p: CollectorPayload): Buffer {
  for (const key of REQUIRED) {
    if (p[key] === undefined || p[key] === null) throw new TypeError(`CollectorPayload.${key} is required`);
  }
  if (!Number.isSafeInteger(p.timestamp)) {
    throw new RangeError(`CollectorPayload.timestamp must be an integer epoch-ms value, got ${p.timestamp}`);
  }
  const bound = encodedBound(p);
  if (bound > SLAB_RECORD_LIMIT) {
    // Written at the bound's size, then copied out at its own (a body can be megabytes).
    if (scratch.length < bound) scratch = Buffer.allocUnsafeSlow(Math.max(bound, scratch.length * 2));
    const end = writeFields(p, scratch, 0);
    const out = Buffer.allocUnsafeSlow(end);
    scratch.copy(out, 0, 0, end);
    return out;
  }
  if (slabUsed + bound > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const start = slabUsed;
  const end = writeFields(p, slab, start);
  slabUsed = (end + 7) & ~7;
  return slab.subarray(start, end);
}

export function decodeCollectorPayload(buf: Buffer): CollectorPayload {
  if (!Buffer.isBuffer(buf)) throw new CollectorPayloadDecodeError('CollectorPayload input is not a Buffer');
  if (buf.length === 0) throw new CollectorPayloadDecodeError('CollectorPayload record is empty');
  let decoded: { value: Partial<CollectorPayload>; consumed: number } | undefined;
  try {
    // The receiver loads `buf` into a TBufferedTransport and calls back synchronously.
    thrift.TBufferedTransport.receiver((transport) => {
      const value = readStruct(new thrift.TBinaryProtocol(transport), buf.length);
      // borrow() (untyped in @types/thrift) exposes the read cursor, to spot trailing bytes.
      const { readIndex } = (transport as unknown as { borrow(): { readIndex: number } }).borrow();
      decoded = { value, consumed: readIndex };
    }, 0)(buf);
  } catch (err) {
    if (err instanceof CollectorPayloadDecodeError) throw err;
    throw new CollectorPayloadDecodeError(`invalid CollectorPayload Thrift record: ${describe(err)}`, { cause: err });
  }
  if (!decoded) throw new CollectorPayloadDecodeError('invalid CollectorPayload Thrift record: nothing decoded');
  const { value, consumed } = decoded;
  if (consumed !== buf.length) {
    throw new CollectorPayloadDecodeError(
      `invalid CollectorPayload Thrift record: ${buf.length - consumed} trailing byte(s) after the struct end`,
    );
  }
  for (const key of REQUIRED) {
    if (value[key] === undefined) {
      throw new CollectorPayloadDecodeError(`invalid CollectorPayload Thrift record: required field ${key} is missing`);
    }
  }
  if (value.schema !== COLLECTOR_PAYLOAD_SCHEMA) {
    throw new CollectorPayloadDecodeError(
      `unexpected CollectorPayload schema: expected ${COLLECTOR_PAYLOAD_SCHEMA}, found ${value.schema}`,
    );
  }
  return value as CollectorPayload;
}

// Reads the struct's fields; every iteration consumes at least one byte, so garbage ends in an
// underrun or a type error rather than a loop. `size` bounds list lengths before allocating.
function readStruct(proto: thrift.TBinaryProtocol, size: number): Partial<CollectorPayload> {
  const value: Partial<CollectorPayload> = {};
  const seen = new Set<number>();
  proto.readStructBegin();
  for (;;) {
    const { ftype, fid } = proto.readFieldBegin();
    if (ftype === T_STOP) break;
    const field = FIELD_BY_ID.get(fid);
    if (field && seen.has(fid)) {
      throw new CollectorPayloadDecodeError(`invalid CollectorPayload Thrift record: field ${field.name} (${fid}) repeated`);
    }
    if (!field || field.type !== ftype) {
      // Unknown ids or mismatched types are skipped, as Thrift-generated readers do.
      proto.skip(ftype);
    } else if (field.type === T_I64) {
      const n = proto.readI64().toNumber(false);
      if (!Number.isFinite(n)) throw new CollectorPayloadDecodeError('CollectorPayload timestamp is outside the safe integer range');
      value.timestamp = n;
    } else if (field.type === T_LIST) {
      const { etype, size: count } = proto.readListBegin();
      if (etype !== T_STRING) throw new CollectorPayloadDecodeError(`CollectorPayload headers list has element type ${etype}, expected string`);
      if (count < 0 || count * 4 > size) throw new CollectorPayloadDecodeError(`CollectorPayload headers list has impossible length ${count}`);
      const headers: string[] = [];
      for (let i = 0; i < count; i++) headers.push(proto.readString());
      proto.readListEnd();
      value.headers = headers;
    } else {
      value[field.name] = proto.readString();
    }
    if (field) seen.add(fid);
    proto.readFieldEnd();
  }
  proto.readStructEnd();
  return value;
}

function describe(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { name?: string; message?: string };
    // thrift's InputBufferUnderrunError carries no message.
    if (e.name === 'InputBufferUnderrunError') return 'truncated (ran out of bytes)';
    if (e.message) return e.message;
  }
  return String(err);
}
