// Snowplow's raw record: Thrift `CollectorPayload` (schemas/thrift/collector-payload.thrift) in
// TBinaryProtocol, encoded/decoded with the `thrift` package's protocol and transport classes.
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

export function encodeCollectorPayload(p: CollectorPayload): Buffer {
  for (const key of REQUIRED) {
    if (p[key] === undefined || p[key] === null) throw new TypeError(`CollectorPayload.${key} is required`);
  }
  if (!Number.isSafeInteger(p.timestamp)) {
    throw new RangeError(`CollectorPayload.timestamp must be an integer epoch-ms value, got ${p.timestamp}`);
  }
  let out: Buffer | undefined;
  // TBufferedTransport hands the accumulated bytes to its callback on flush().
  const transport = new thrift.TBufferedTransport(undefined, (msg) => {
    out = msg;
  });
  const proto = new thrift.TBinaryProtocol(transport);
  proto.writeStructBegin('CollectorPayload');
  for (const f of FIELDS) {
    const value = p[f.name];
    if (value === undefined || value === null) continue;
    proto.writeFieldBegin(f.name, f.type, f.id);
    if (f.type === T_I64) {
      proto.writeI64(value as number);
    } else if (f.type === T_LIST) {
      const list = value as string[];
      proto.writeListBegin(T_STRING, list.length);
      for (const h of list) proto.writeString(h);
      proto.writeListEnd();
    } else {
      if (typeof value !== 'string') throw new TypeError(`CollectorPayload.${f.name} must be a string`);
      proto.writeString(value);
    }
    proto.writeFieldEnd();
  }
  proto.writeFieldStop();
  proto.writeStructEnd();
  proto.flush();
  if (!out) throw new Error('thrift transport produced no output'); // unreachable: a STOP byte is always written
  return out;
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
