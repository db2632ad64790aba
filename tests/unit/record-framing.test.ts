import { describe, expect, it } from 'vitest';
import { frameRecords, RecordFramingError, unframeRecords } from '../../codecs/record-framing';

describe('frameRecords / unframeRecords', () => {
  it('writes each record as a 4-byte big-endian length plus its bytes', () => {
    const framed = frameRecords([Buffer.from('ab'), Buffer.alloc(0), Buffer.from([0xff])]);
    expect([...framed]).toEqual([0, 0, 0, 2, 0x61, 0x62, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]);
  });

  it('frames nothing as an empty buffer and unframes it back to no records', () => {
    expect(frameRecords([]).length).toBe(0);
    expect(unframeRecords(Buffer.alloc(0))).toEqual([]);
  });

  it('round-trips records of assorted sizes, including empty and large ones', () => {
    const records = [Buffer.alloc(0), Buffer.from('x'), Buffer.alloc(70_000, 7), Buffer.from([0, 0, 0, 0]), Buffer.alloc(0)];
    const back = unframeRecords(frameRecords(records));
    expect(back).toHaveLength(records.length);
    back.forEach((r, i) => expect(r.equals(records[i])).toBe(true));
  });

  it('uses the full unsigned 32-bit range for lengths (no sign confusion)', () => {
    const buf = Buffer.from([0x80, 0, 0, 0, 1, 2, 3]);
    expect(() => unframeRecords(buf)).toThrow(/length says 2147483648 bytes but only 3 remain/);
  });

  it('returns copies that do not alias the input', () => {
    const framed = frameRecords([Buffer.from('abc')]);
    const [r] = unframeRecords(framed);
    framed[4] = 0x7a;
    expect(r.toString()).toBe('abc');
  });

  it('rejects every truncation of framed content with a clear error', () => {
    const framed = frameRecords([Buffer.from('hello'), Buffer.from('world!')]);
    const boundaries = new Set([0, 9, framed.length]); // cuts that land exactly between records are valid
    for (let i = 1; i < framed.length; i++) {
      if (boundaries.has(i)) continue;
      expect(() => unframeRecords(framed.subarray(0, i)), `cut at ${i}`).toThrow(RecordFramingError);
    }
    expect(() => unframeRecords(framed.subarray(0, 15))).toThrow(/truncated record #1 at offset 9: length says 6 bytes but only 2 remain/);
    expect(() => unframeRecords(framed.subarray(0, 2))).toThrow(/2 byte\(s\) at offset 0 where a 4-byte length was expected/);
    expect(unframeRecords(framed.subarray(0, 9)).map(String)).toEqual(['hello']);
  });
});
