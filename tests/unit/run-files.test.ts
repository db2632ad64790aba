import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compressIntermediateLines, gzipLines, INTERMEDIATE_PART_EXTENSION, partBytes, partLines, partText, TEXT_PART_EXTENSION } from '../../batch/run-files';

// The batch's text parts: gzip (what loaders and Redshift read), and the intermediate parts
// between enrich and shred-reduce, zstd where the runtime has it. Readers go by the key's name.

const lines = ['a\tb\tc', 'é\t🙂\t', 'x'.repeat(10_000)];

describe('batch text parts', () => {
  it('intermediate parts are zstd on a runtime with zstd, and read back by name', () => {
    expect(INTERMEDIATE_PART_EXTENSION).toBe(typeof zlib.zstdCompressSync === 'function' ? 'tsv.zst' : TEXT_PART_EXTENSION);
    const body = compressIntermediateLines(lines);
    const key = `enriched/good/run=r/bucket=00000/part-00000.${INTERMEDIATE_PART_EXTENSION}`;
    expect(partLines(key, body)).toEqual(lines);
    expect(partText(key, body)).toBe(`${lines.join('\n')}\n`);
    expect(partLines(key, compressIntermediateLines([]))).toEqual([]);
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
