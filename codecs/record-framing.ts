// Framing for raw (S3 sink) files: the uncompressed content is a sequence of records, each
// written as a 4-byte big-endian length followed by that many bytes.

export class RecordFramingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecordFramingError';
  }
}

const LENGTH_BYTES = 4;
const MAX_RECORD = 0xffffffff;

export function frameRecords(records: Buffer[]): Buffer {
  let total = 0;
  for (const r of records) {
    if (r.length > MAX_RECORD) throw new RecordFramingError(`record of ${r.length} bytes does not fit a 4-byte length`);
    total += LENGTH_BYTES + r.length;
  }
  const out = Buffer.allocUnsafe(total);
  let off = 0;
  for (const r of records) {
    out.writeUInt32BE(r.length, off);
    off += LENGTH_BYTES;
    r.copy(out, off);
    off += r.length;
  }
  return out;
}

/** Splits framed content back into records (copies, so they don't pin `buf`). */
export function unframeRecords(buf: Buffer): Buffer[] {
  const records: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < LENGTH_BYTES) {
      throw new RecordFramingError(
        `truncated record framing: ${buf.length - off} byte(s) at offset ${off} where a 4-byte length was expected (record #${records.length})`,
      );
    }
    const len = buf.readUInt32BE(off);
    const start = off + LENGTH_BYTES;
    if (buf.length - start < len) {
      throw new RecordFramingError(
        `truncated record #${records.length} at offset ${off}: length says ${len} bytes but only ${buf.length - start} remain`,
      );
    }
    records.push(Buffer.from(buf.subarray(start, start + len)));
    off = start + len;
  }
  return records;
}
