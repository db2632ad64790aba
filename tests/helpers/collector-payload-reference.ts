import thrift from 'thrift';
import type { CollectorPayload } from '../../codecs/collector-payload';

// The reference encoding of a CollectorPayload: the `thrift` package's TBinaryProtocol over a
// TBufferedTransport, field by field as Thrift-generated writers emit them (ascending ids, schema
// 31337 last, unset optional fields left out). This was Sluice's encoder before the one-pass
// writer in codecs/collector-payload.ts replaced it; tests hold that writer byte-identical to this.

const T_I64 = thrift.Thrift.Type.I64;
const T_STRING = thrift.Thrift.Type.STRING;
const T_LIST = thrift.Thrift.Type.LIST;

const FIELDS: ReadonlyArray<{ id: number; name: keyof CollectorPayload; type: number }> = [
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

export function thriftEncodeCollectorPayload(p: CollectorPayload): Buffer {
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
      proto.writeString(value as string);
    }
    proto.writeFieldEnd();
  }
  proto.writeFieldStop();
  proto.writeStructEnd();
  proto.flush();
  if (!out) throw new Error('thrift transport produced no output');
  return out;
}
