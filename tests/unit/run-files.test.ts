import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compressLines, gzipLines, PART_EXTENSION, partBytes, partCompression, partLines, partText, TEXT_PART_EXTENSION } from '../../batch/run-files';
import { copyCompression } from '../../warehouse/redshift-loader';

// The batch's text parts: zstd where the runtime has it, else gzip; both warehouses read either
// (Redshift's COPY with ZSTD or GZIP). Readers go by the key's name.

const lines = ['a\tb\tc', 'é\t🙂\t', 'x'.repeat(10_000)];

describe('batch text parts', () => {
  it('parts are zstd on a runtime with zstd, and read back by name', async () => {
    expect(PART_EXTENSION).toBe(typeof zlib.zstdCompressSync === 'function' ? 'tsv.zst' : TEXT_PART_EXTENSION);
    const body = compressLines(lines);
    const key = `enriched/good/run=r/bucket=00000/part-00000.${PART_EXTENSION}`;
    expect(partLines(key, body)).toEqual(lines);
    expect(partText(key, body)).toBe(`${lines.join('\n')}\n`);
    expect((await partBytes(key, body)).toString()).toBe(`${lines.join('\n')}\n`);
    expect(partLines(key, compressLines([]))).toEqual([]);
    expect(partCompression(key)).toBe(PART_EXTENSION === 'tsv.zst' ? 'zstd' : 'gzip');
  });

  it("Redshift's COPY option follows the parts' names, one kind per prefix", () => {
    expect(copyCompression(['p/part-00000.tsv.zst', 'p/part-00001.tsv.zst'])).toBe('ZSTD');
    expect(copyCompression(['p/part-00000.tsv.gz'])).toBe('GZIP');
    expect(() => copyCompression(['p/part-00000.tsv.gz', 'p/part-00001.tsv.zst'])).toThrow(/must all be gzip or all zstd/);
    expect(() => copyCompression(['p/part-00000.tsv'])).toThrow(/must all be gzip or all zstd/);
  });

  it('gzip, zstd and plain parts read alike; partBytes unpacks both codecs', async () => {
    const text = `${lines.join('\n')}\n`;
    expect(partText('p.tsv.gz', gzipLines(lines))).toBe(text);
    expect(partText('p.tsv', Buffer.from(text))).toBe(text);
    expect((await partBytes('p.tsv.gz', gzipLines(lines))).toString()).toBe(text);
    if (typeof zlib.zstdCompressSync === 'function') {
      expect((await partBytes('p.tsv.zst', zlib.zstdCompressSync(Buffer.from(text)))).toString()).toBe(text);
    }
    expect(partText('p.tsv.gz', Buffer.alloc(0))).toBe('');
  });

  it('partLines drops empty lines and a trailing \\r, as before', () => {
    const body = Buffer.from('a\r\n\r\n\nb\nc\r\r\n\n d \r');
    expect(partLines('p.tsv', body)).toEqual(['a', 'b', 'c\r', ' d ']);
    expect(partLines('p.tsv', Buffer.from('no newline'))).toEqual(['no newline']);
    expect(partLines('p.tsv', Buffer.from('\n\n'))).toEqual([]);
  });
});
