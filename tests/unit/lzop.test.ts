import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adler32, LzopFormatError, readLzop, writeLzop } from '../../codecs/lzop';

const MAGIC = Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a]);
const KiB = 1024;

const text = (n: number) => {
  const line = Buffer.from('2024-06-01\tpage_view\thttps://example.com/some/page?x=1\tMozilla/5.0\n');
  const out = Buffer.alloc(n);
  for (let o = 0; o < n; o += line.length) line.copy(out, o);
  return out;
};
function random(n: number): Buffer {
  // Deterministic incompressible bytes: SHA-256 in counter mode.
  const out = Buffer.alloc(n);
  for (let o = 0, i = 0; o < n; o += 32, i++) crypto.createHash('sha256').update(`blk${i}`).digest().copy(out, o);
  return out;
}

// The external-tool tests must fail loudly (not skip) when lzop is missing; CI installs it.
function lzop(args: string[], input?: Buffer): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync('lzop', args, { input, maxBuffer: 1 << 30 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error('the `lzop` binary is not on PATH: install it (e.g. `apt-get install -y lzop`) to run these tests');
  }
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

// Header field offsets for a file written by writeLzop without a name.
const OFF_METHOD = 9 + 6;
const OFF_FLAGS = 9 + 8;
const HEADER_END = 9 + 25; // header checksum lives here when the name is empty
function withHeaderChecksum(file: Buffer): Buffer {
  const out = Buffer.from(file);
  out.writeUInt32BE(adler32(out.subarray(9, HEADER_END)), HEADER_END);
  return out;
}

async function expectFormatError(file: Buffer, message?: RegExp): Promise<void> {
  const p = readLzop(file);
  await expect(p).rejects.toBeInstanceOf(LzopFormatError);
  if (message) await expect(p).rejects.toThrow(message);
}

describe('adler32', () => {
  it('matches known values', () => {
    expect(adler32(Buffer.from('Wikipedia'))).toBe(0x11e60398);
    expect(adler32(Buffer.alloc(0))).toBe(1);
    expect(adler32(Buffer.from('abc'))).toBe(0x024d0127); // as in `printf abc | lzop -c`
    // Long runs of 0xff exercise the deferred modulo.
    expect(adler32(Buffer.alloc(100_000, 0xff))).toBe(adler32Reference(Buffer.alloc(100_000, 0xff)));
  });
});
function adler32Reference(buf: Buffer): number {
  let a = 1;
  let b = 0;
  for (const x of buf) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

describe('writeLzop / readLzop round trip', () => {
  const cases: Array<[string, Buffer, { blockSize?: number }?]> = [
    ['empty', Buffer.alloc(0)],
    ['1 byte', Buffer.from([0x42])],
    ['small text', Buffer.from('hello hello hello hello\n')],
    ['exactly one default block', text(256 * KiB)],
    ['one block plus one byte', text(256 * KiB + 1)],
    ['several default blocks', text(1024 * KiB + 17)],
    ['incompressible random data over several blocks', random(600 * KiB)],
    ['mixed compressible and random blocks', Buffer.concat([text(300 * KiB), random(300 * KiB), text(10)])],
    ['tiny blocks', text(10 * KiB), { blockSize: 100 }],
    ['1-byte blocks', Buffer.from('abcdef'), { blockSize: 1 }],
    ['large 8 MiB blocks', text(9 * 1024 * KiB), { blockSize: 8 * 1024 * KiB }],
  ];
  for (const [name, data, opts] of cases) {
    it(`round-trips ${name} (${data.length} bytes)`, async () => {
      const file = writeLzop(data, opts);
      const back = await readLzop(file);
      expect(back.length).toBe(data.length);
      expect(back.equals(data)).toBe(true);
    });
  }

  it('compresses compressible data', () => {
    expect(writeLzop(text(1024 * KiB)).length).toBeLessThan(100 * KiB);
  });
});

describe('writeLzop format', () => {
  it('writes the lzop magic and the documented header fields', () => {
    const file = writeLzop(Buffer.from('x'), { name: 'raw.bin', mtimeMs: 1_700_000_000_999 });
    expect(file.subarray(0, 9)).toEqual(MAGIC);
    expect(file.readUInt16BE(9)).toBe(0x1030); // version
    expect(file.readUInt16BE(11)).toBe(0x2090); // LZO lib version (minilzo 2.09)
    expect(file.readUInt16BE(13)).toBe(0x0940); // version needed to extract
    expect(file[OFF_METHOD]).toBe(1); // M_LZO1X_1
    expect(file[OFF_METHOD + 1]).toBe(5); // level
    expect(file.readUInt32BE(OFF_FLAGS)).toBe(0x03000003); // F_OS_UNIX | F_ADLER32_C | F_ADLER32_D
    expect(file.readUInt32BE(21)).toBe(0o100644); // mode
    expect(file.readUInt32BE(25)).toBe(1_700_000_000); // mtime low (seconds)
    expect(file.readUInt32BE(29)).toBe(0); // mtime high
    expect(file[33]).toBe(7);
    expect(file.subarray(34, 41).toString()).toBe('raw.bin');
    expect(file.readUInt32BE(41)).toBe(adler32(file.subarray(9, 41)));
  });

  it('writes just the header and the 0 terminator for empty input', () => {
    const file = writeLzop(Buffer.alloc(0));
    expect(file.length).toBe(HEADER_END + 4 + 4);
    expect(file.readUInt32BE(file.length - 4)).toBe(0);
  });

  it('stores an incompressible block raw, without the compressed-data checksum', () => {
    const data = random(1000);
    const file = writeLzop(data);
    const at = HEADER_END + 4;
    expect(file.readUInt32BE(at)).toBe(1000); // uncompressed length
    expect(file.readUInt32BE(at + 4)).toBe(1000); // "compressed" length == uncompressed => stored
    expect(file.readUInt32BE(at + 8)).toBe(adler32(data));
    expect(file.subarray(at + 12, at + 12 + 1000).equals(data)).toBe(true);
    expect(file.readUInt32BE(at + 1012)).toBe(0);
    expect(file.length).toBe(at + 1016);
  });

  it('writes both checksums for a compressed block', () => {
    const data = text(5000);
    const file = writeLzop(data);
    const at = HEADER_END + 4;
    const clen = file.readUInt32BE(at + 4);
    expect(clen).toBeLessThan(5000);
    expect(file.readUInt32BE(at + 8)).toBe(adler32(data));
    expect(file.readUInt32BE(at + 12)).toBe(adler32(file.subarray(at + 16, at + 16 + clen)));
    expect(file.length).toBe(at + 16 + clen + 4);
  });

  it('is deterministic by default (mtime 0, no name)', () => {
    expect(writeLzop(text(1000)).equals(writeLzop(text(1000)))).toBe(true);
    expect(writeLzop(Buffer.alloc(0)).readUInt32BE(25)).toBe(0);
  });

  it('rejects bad options', () => {
    expect(() => writeLzop(Buffer.from('x'), { blockSize: 0 })).toThrow(RangeError);
    expect(() => writeLzop(Buffer.from('x'), { blockSize: 8 * 1024 * KiB + 1 })).toThrow(RangeError);
    expect(() => writeLzop(Buffer.from('x'), { name: 'n'.repeat(256) })).toThrow(/255/);
    expect(() => writeLzop(Buffer.from('x'), { mtimeMs: -5000 })).toThrow(RangeError);
  });
});

describe('interop with the lzop binary', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-lzop-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const samples: Array<[string, Buffer, Parameters<typeof writeLzop>[1]?]> = [
    ['empty', Buffer.alloc(0)],
    ['1 byte', Buffer.from('z')],
    ['multi-block text', text(700 * KiB + 3), { name: 'events.tsv', mtimeMs: Date.UTC(2024, 5, 1) }],
    ['random', random(300 * KiB)],
    ['small blocks', text(20 * KiB), { blockSize: 1000 }],
  ];
  for (const [name, data, opts] of samples) {
    it(`lzop -t accepts and lzop -dc restores our ${name} file`, () => {
      const file = path.join(dir, `ours-${name.replace(/\W/g, '_')}.lzo`);
      fs.writeFileSync(file, writeLzop(data, opts));
      const test = lzop(['-t', file]);
      expect(test.status).toBe(0);
      expect(test.stderr).toMatch(/ OK\s*$/); // lzop -t reports "testing <file> OK", with no warnings
      expect(test.stderr).not.toMatch(/warning|error|corrupt/i);
      const dec = lzop(['-dc', file]);
      expect(dec.status).toBe(0);
      expect(dec.stdout.equals(data)).toBe(true);
    });
  }

  it('lzop --info reports LZO1X-1 and our header fields', () => {
    const file = path.join(dir, 'info.lzo');
    fs.writeFileSync(file, writeLzop(text(1000), { name: 'info' }));
    const info = lzop(['--info', file]);
    expect(info.status).toBe(0);
    expect(info.stdout.toString()).toMatch(/LZO1X-1\s+1000\b/);
    expect(info.stdout.toString()).toMatch(/Fl: 0x03000003\s+Mo: 000000100644\s+Me: 1\/5/);
  });

  const lzopCases: Array<[string, Buffer, string[]]> = [
    ['default level, multi-block', text(900 * KiB), []],
    ['-1 (LZO1X-1_15)', text(300 * KiB), ['-1']],
    ['-9 (LZO1X-999)', text(300 * KiB), ['-9']],
    ['--crc32 (CRC-32 header and block checksums)', Buffer.concat([text(300 * KiB), random(100 * KiB)]), ['--crc32']],
    ['incompressible', random(400 * KiB), []],
    ['empty', Buffer.alloc(0), []],
    ['1 byte', Buffer.from('q'), []],
  ];
  for (const [name, data, flags] of lzopCases) {
    it(`reads lzop ${name} output`, async () => {
      const r = lzop(['-c', ...flags], data);
      expect(r.status).toBe(0);
      expect((await readLzop(r.stdout)).equals(data)).toBe(true);
    });
  }

  it('reads a named file compressed by lzop on disk', async () => {
    const src = path.join(dir, 'raw.bin');
    const data = Buffer.concat([random(50 * KiB), text(400 * KiB)]);
    fs.writeFileSync(src, data);
    expect(lzop(['-f', '-o', `${src}.lzo`, src]).status).toBe(0);
    expect((await readLzop(fs.readFileSync(`${src}.lzo`))).equals(data)).toBe(true);
  });

  it('reads concatenated lzop files as their concatenated contents, like lzop -dc', async () => {
    const a = text(10 * KiB);
    const b = random(5 * KiB);
    const cat = Buffer.concat([lzop(['-c'], a).stdout, writeLzop(b)]);
    expect((await readLzop(cat)).equals(Buffer.concat([a, b]))).toBe(true);
    const file = path.join(dir, 'cat.lzo');
    fs.writeFileSync(file, cat);
    expect(lzop(['-dc', file]).stdout.equals(Buffer.concat([a, b]))).toBe(true);
  });

  it('rejects lzop files written without checksums (-F), which it cannot verify', async () => {
    const r = lzop(['-c', '-F'], text(5000));
    await expectFormatError(r.stdout, /no checksum of uncompressed data/);
  });
});

describe('readLzop rejects corrupt and truncated files', () => {
  const data = Buffer.concat([text(3000), random(700), text(2000)]);
  const file = writeLzop(data, { blockSize: 1000 });

  it('rejects empty input and a bad magic', async () => {
    await expectFormatError(Buffer.alloc(0), /empty/);
    const bad = Buffer.from(file);
    bad[1] = 0x4d;
    await expectFormatError(bad, /bad magic/);
    await expectFormatError(Buffer.from('plain text, not lzop at all'), /bad magic/);
  });

  it('rejects every truncation of a valid file', async () => {
    for (let i = 0; i < file.length; i++) {
      await expect(readLzop(file.subarray(0, i)), `prefix of ${i} bytes`).rejects.toBeInstanceOf(LzopFormatError);
    }
    await expectFormatError(file.subarray(0, file.length - 1), /truncated lzop file: needed 4 byte\(s\) for block 6 uncompressed length/);
  });

  it('rejects a header checksum mismatch', async () => {
    const bad = Buffer.from(file);
    bad[27] ^= 0x01; // inside mtime
    await expectFormatError(bad, /header checksum mismatch/);
  });

  it('detects a flipped bit anywhere in the block area', async () => {
    // Flip one bit at a spread of positions after the header; each must be caught by a check.
    for (let pos = HEADER_END + 4; pos < file.length - 4; pos += 7) {
      const bad = Buffer.from(file);
      bad[pos] ^= 1 << (pos % 8);
      await expect(readLzop(bad), `flip at ${pos}`).rejects.toBeInstanceOf(LzopFormatError);
    }
  });

  it('reports checksum mismatches for compressed and stored blocks', async () => {
    const compressible = writeLzop(text(5000));
    const bad = Buffer.from(compressible);
    bad[bad.length - 10] ^= 0x20; // inside the compressed payload
    await expectFormatError(bad, /compressed-data Adler-32 mismatch in block 0/);
    const stored = writeLzop(random(500));
    const bad2 = Buffer.from(stored);
    bad2[bad2.length - 10] ^= 0x20;
    await expectFormatError(bad2, /uncompressed-data Adler-32 mismatch in block 0/);
  });

  it('rejects LZO data that does not decode, even with matching compressed checksum, and keeps working after', async () => {
    const good = writeLzop(text(5000));
    const at = HEADER_END + 4;
    const clen = good.readUInt32BE(at + 4);
    const bad = Buffer.from(good);
    bad.fill(0xff, at + 16, at + 16 + clen); // garbage LZO stream
    bad.writeUInt32BE(adler32(bad.subarray(at + 16, at + 16 + clen)), at + 12);
    await expectFormatError(bad, /LZO1X data in block 0 does not decompress|uncompressed-data Adler-32 mismatch/);
    // The wasm decoder is re-created after a failure; normal reads still succeed.
    expect((await readLzop(good)).equals(text(5000))).toBe(true);
  });

  it('rejects impossible block lengths', async () => {
    const at = HEADER_END + 4;
    const huge = Buffer.from(file);
    huge.writeUInt32BE(64 * 1024 * KiB + 1, at);
    await expectFormatError(huge, /claims 67108865 uncompressed bytes/);
    const bigger = Buffer.from(file);
    bigger.writeUInt32BE(bigger.readUInt32BE(at) + 1, at + 4);
    await expectFormatError(bigger, /compressed length 1001 for 1000 bytes/);
    const zero = Buffer.from(file);
    zero.writeUInt32BE(0, at + 4);
    await expectFormatError(zero, /compressed length 0/);
    const split = Buffer.from(file);
    split.writeUInt32BE(0xffffffff, at);
    await expectFormatError(split, /split/);
  });

  it('rejects unsupported methods, filters and reserved flags', async () => {
    const method = Buffer.from(file);
    method[OFF_METHOD] = 128; // M_ZLIB
    await expectFormatError(withHeaderChecksum(method), /unsupported lzop compression method 128/);
    const reserved = Buffer.from(file);
    reserved.writeUInt32BE(reserved.readUInt32BE(OFF_FLAGS) | 0x4000, OFF_FLAGS);
    await expectFormatError(withHeaderChecksum(reserved), /reserved flag bits/);
    const filter = Buffer.from(file);
    filter.writeUInt32BE(filter.readUInt32BE(OFF_FLAGS) | 0x800, OFF_FLAGS);
    await expectFormatError(filter, /filter/);
  });

  it('rejects trailing garbage but tolerates trailing zero bytes (as lzop does)', async () => {
    await expectFormatError(Buffer.concat([file, Buffer.from('junk')]), /trailing garbage: 4 byte/);
    expect((await readLzop(Buffer.concat([file, Buffer.alloc(16)]))).equals(data)).toBe(true);
  });
});
