// The lzop file container (as read and written by the `lzop` tool), with LZO1X-1 blocks.
// Writing compresses with the native `lzo` addon; reading decompresses with `lzo-wasm`.
// Layout follows lzop's src/lzop.c (write_header/read_header) and src/lzo.c (block loop).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import zlib from 'node:zlib';
import lzo from 'lzo';
import type { LzoWasmModule } from 'lzo-wasm/lzo-wasm.js';

export class LzopFormatError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LzopFormatError';
  }
}

const MAGIC = Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a]);
const LZOP_VERSION = 0x1030; // the container version we write
const MAX_NEEDED_VERSION = 0x1040; // newest "version needed to extract" we accept (lzop 1.04)
const VERSION_NEEDED = 0x0940; // what lzop writes when no filter/CRC/path options are used
const M_LZO1X_1 = 1;
const LEVEL_LZO1X_1 = 5; // the level byte lzop writes for M_LZO1X_1
const LZO1X_METHODS = new Set([1, 2, 3]); // M_LZO1X_1, M_LZO1X_1_15, M_LZO1X_999: same decoder

const F_ADLER32_D = 0x1;
const F_ADLER32_C = 0x2;
const F_H_EXTRA_FIELD = 0x40;
const F_CRC32_D = 0x100;
const F_CRC32_C = 0x200;
const F_H_FILTER = 0x800;
const F_H_CRC32 = 0x1000;
const F_OS_UNIX = 0x03000000;
const F_RESERVED = 0x000fc000; // bits outside F_MASK | F_OS_MASK | F_CS_MASK must be zero

const DEFAULT_BLOCK = 256 * 1024;
const LZOP_MAX_BLOCK = 64 * 1024 * 1024; // lzop's MAX_BLOCK_SIZE: larger lengths mean corruption
// lzo-wasm has a fixed 32 MiB heap; input + output of one block must fit in it.
const WASM_MAX_BLOCK = 8 * 1024 * 1024;

export interface WriteLzopOptions {
  /** Original file name stored in the header (≤ 255 bytes); default none. */
  name?: string;
  /** Modification time stored in the header; default 0 (unknown) so output is deterministic. */
  mtimeMs?: number;
  /** Uncompressed bytes per block; default 256 KiB like lzop, at most 8 MiB. */
  blockSize?: number;
}

export function writeLzop(data: Buffer, opts: WriteLzopOptions = {}): Buffer {
  const blockSize = opts.blockSize ?? DEFAULT_BLOCK;
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > WASM_MAX_BLOCK) {
    throw new RangeError(`lzop blockSize must be an integer in 1..${WASM_MAX_BLOCK}, got ${blockSize}`);
  }
  const name = Buffer.from(opts.name ?? '', 'utf8');
  if (name.length > 255) throw new RangeError(`lzop file name is ${name.length} bytes; the header allows 255`);
  const mtime = Math.floor((opts.mtimeMs ?? 0) / 1000);
  if (!Number.isSafeInteger(mtime) || mtime < 0) throw new RangeError(`lzop mtimeMs must be a non-negative time, got ${opts.mtimeMs}`);

  const header = Buffer.alloc(29 + name.length); // 25 fixed bytes + name + 4-byte checksum
  let o = 0;
  o = header.writeUInt16BE(LZOP_VERSION, o);
  o = header.writeUInt16BE(lzoLibVersion(), o);
  o = header.writeUInt16BE(VERSION_NEEDED, o);
  o = header.writeUInt8(M_LZO1X_1, o);
  o = header.writeUInt8(LEVEL_LZO1X_1, o);
  o = header.writeUInt32BE((F_ADLER32_D | F_ADLER32_C | F_OS_UNIX) >>> 0, o);
  o = header.writeUInt32BE(0o100644, o); // mode of a regular rw-r--r-- file, as lzop records it
  o = header.writeUInt32BE(mtime % 0x100000000, o);
  o = header.writeUInt32BE(Math.floor(mtime / 0x100000000), o);
  o = header.writeUInt8(name.length, o);
  o += name.copy(header, o);
  header.writeUInt32BE(adler32(header.subarray(0, o)), o); // header checksum covers everything after the magic

  const parts: Buffer[] = [MAGIC, header];
  for (let off = 0; off < data.length; off += blockSize) {
    const block = data.subarray(off, Math.min(off + blockSize, data.length));
    const compressed = lzo.compress(block);
    const stored = compressed.length >= block.length; // keep incompressible blocks as-is
    const meta = Buffer.alloc(stored ? 12 : 16);
    meta.writeUInt32BE(block.length, 0);
    meta.writeUInt32BE(stored ? block.length : compressed.length, 4);
    meta.writeUInt32BE(adler32(block), 8);
    if (!stored) meta.writeUInt32BE(adler32(compressed), 12); // F_ADLER32_C only for compressed blocks
    parts.push(meta, stored ? block : compressed);
  }
  parts.push(Buffer.alloc(4)); // uncompressed length 0 ends the file
  return Buffer.concat(parts);
}

export async function readLzop(file: Buffer): Promise<Buffer> {
  const r = new Reader(file);
  const out: Buffer[] = [];
  if (file.length === 0) throw new LzopFormatError('not an lzop file: input is empty');
  do {
    await readMember(r, out);
    // lzop -d accepts concatenated files and ignores trailing zero bytes; anything else is garbage.
  } while (r.remaining() >= MAGIC.length && r.peek(MAGIC.length).equals(MAGIC));
  if (r.remaining() > 0 && r.rest().some((b) => b !== 0)) {
    throw new LzopFormatError(`trailing garbage: ${r.remaining()} byte(s) after the end of the lzop stream at offset ${r.pos}`);
  }
  return Buffer.concat(out);
}

async function readMember(r: Reader, out: Buffer[]): Promise<void> {
  const start = r.pos;
  if (r.remaining() < MAGIC.length || !r.peek(MAGIC.length).equals(MAGIC)) {
    throw new LzopFormatError(`not an lzop file: bad magic at offset ${start}`);
  }
  r.take(MAGIC.length, 'magic');
  const hStart = r.pos;
  const version = r.u16('header version');
  if (version < 0x0900) throw new LzopFormatError(`unsupported lzop header version 0x${version.toString(16)}`);
  r.u16('library version');
  if (version >= 0x0940) {
    const needed = r.u16('version needed to extract');
    if (needed > MAX_NEEDED_VERSION || needed < 0x0900) {
      throw new LzopFormatError(`lzop file needs version 0x${needed.toString(16)} to extract; supported up to 0x${MAX_NEEDED_VERSION.toString(16)}`);
    }
  }
  const method = r.u8('method');
  if (version >= 0x0940) r.u8('level');
  const flags = r.u32('flags');
  if (flags & F_H_FILTER) throw new LzopFormatError('lzop files with a filter (F_H_FILTER) are not supported');
  r.u32('mode');
  r.u32('mtime');
  if (version >= 0x0940) r.u32('mtime high');
  r.take(r.u8('name length'), 'file name');
  const expected = headerChecksum(flags, r.slice(hStart, r.pos));
  const actual = r.u32('header checksum');
  if (actual !== expected) throw new LzopFormatError(`lzop header checksum mismatch (stored 0x${hex(actual)}, computed 0x${hex(expected)})`);
  if (!LZO1X_METHODS.has(method)) throw new LzopFormatError(`unsupported lzop compression method ${method} (only LZO1X is supported)`);
  if (flags & F_RESERVED) throw new LzopFormatError(`lzop header has reserved flag bits set (flags 0x${hex(flags)})`);
  if (flags & F_H_EXTRA_FIELD) {
    const xStart = r.pos;
    r.take(r.u32('extra field length'), 'extra field');
    const xExpected = headerChecksum(flags, r.slice(xStart, r.pos));
    if (r.u32('extra field checksum') !== xExpected) throw new LzopFormatError('lzop extra field checksum mismatch');
  }
  // lzo-wasm cannot tell a short decode from a full one, so every block must be verifiable.
  if (!(flags & (F_ADLER32_D | F_CRC32_D))) {
    throw new LzopFormatError('lzop file has no checksum of uncompressed data (written with --no-checksum?); cannot verify its blocks');
  }

  for (let n = 0; ; n++) {
    const at = r.pos;
    const dstLen = r.u32(`block ${n} uncompressed length`);
    if (dstLen === 0) return;
    if (dstLen === 0xffffffff) throw new LzopFormatError('split (multi-volume) lzop files are not supported');
    if (dstLen > LZOP_MAX_BLOCK) throw new LzopFormatError(`lzop file corrupted: block ${n} at offset ${at} claims ${dstLen} uncompressed bytes`);
    const srcLen = r.u32(`block ${n} compressed length`);
    if (srcLen === 0 || srcLen > dstLen) {
      throw new LzopFormatError(`lzop file corrupted: block ${n} at offset ${at} has compressed length ${srcLen} for ${dstLen} bytes`);
    }
    const compressed = srcLen < dstLen;
    const dAdler = flags & F_ADLER32_D ? r.u32(`block ${n} checksum`) : undefined;
    const dCrc = flags & F_CRC32_D ? r.u32(`block ${n} checksum`) : undefined;
    const cAdler = flags & F_ADLER32_C && compressed ? r.u32(`block ${n} checksum`) : undefined;
    const cCrc = flags & F_CRC32_C && compressed ? r.u32(`block ${n} checksum`) : undefined;
    const payload = r.take(srcLen, `block ${n} data`);
    if (cAdler !== undefined && adler32(payload) !== cAdler) throw blockError(n, at, 'compressed-data Adler-32');
    if (cCrc !== undefined && zlib.crc32(payload) !== cCrc) throw blockError(n, at, 'compressed-data CRC-32');
    let data = payload;
    if (compressed) {
      if (dstLen > WASM_MAX_BLOCK) throw new LzopFormatError(`lzop block ${n} holds ${dstLen} bytes; this reader supports blocks up to ${WASM_MAX_BLOCK}`);
      data = await lzo1xDecompress(payload, dstLen, n);
    }
    if (dAdler !== undefined && adler32(data) !== dAdler) throw blockError(n, at, 'uncompressed-data Adler-32');
    if (dCrc !== undefined && zlib.crc32(data) !== dCrc) throw blockError(n, at, 'uncompressed-data CRC-32');
    out.push(Buffer.from(data)); // copy so the result never aliases the input file
  }
}

function blockError(n: number, at: number, what: string): LzopFormatError {
  return new LzopFormatError(`lzop file corrupted: ${what} mismatch in block ${n} at offset ${at}`);
}

function headerChecksum(flags: number, bytes: Buffer): number {
  return flags & F_H_CRC32 ? zlib.crc32(bytes) : adler32(bytes);
}

/** Bounds-checked big-endian cursor; every shortfall is a truncation error. */
class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  remaining(): number {
    return this.buf.length - this.pos;
  }
  peek(n: number): Buffer {
    return this.buf.subarray(this.pos, this.pos + n);
  }
  rest(): Buffer {
    return this.buf.subarray(this.pos);
  }
  slice(from: number, to: number): Buffer {
    return this.buf.subarray(from, to);
  }
  take(n: number, what: string): Buffer {
    if (this.remaining() < n) {
      throw new LzopFormatError(`truncated lzop file: needed ${n} byte(s) for ${what} at offset ${this.pos}, ${this.remaining()} left`);
    }
    this.pos += n;
    return this.buf.subarray(this.pos - n, this.pos);
  }
  u8(what: string): number {
    return this.take(1, what).readUInt8(0);
  }
  u16(what: string): number {
    return this.take(2, what).readUInt16BE(0);
  }
  u32(what: string): number {
    return this.take(4, what).readUInt32BE(0);
  }
}

const hex = (n: number) => n.toString(16).padStart(8, '0');

export function adler32(buf: Uint8Array): number {
  let a = 1;
  let b = 0;
  // 5552 is the largest run before the sums can overflow 2^32 (zlib's NMAX).
  for (let i = 0; i < buf.length; ) {
    const end = Math.min(i + 5552, buf.length);
    for (; i < end; i++) {
      a += buf[i];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

// "2.09" -> 0x2090, the encoding lzop stores (LZO 2.10 is 0x20a0).
function lzoLibVersion(): number {
  const m = /^(\d+)\.(\d+)/.exec(String(lzo.version ?? ''));
  return m ? ((Number(m[1]) & 0xf) << 12) | ((Number(m[2]) & 0xff) << 4) : 0x2090;
}

type WasmDecoder = { M: LzoWasmModule; decompress: (inPtr: number, inLen: number, outLen: number) => number };
let wasm: Promise<WasmDecoder> | undefined;

function loadWasm(): Promise<WasmDecoder> {
  if (!wasm) {
    const loading = (async () => {
      // lzo-wasm's index.js imports the .wasm file as a module, which Node can't; load the emscripten glue directly.
      const { default: createModule } = await import('lzo-wasm/lzo-wasm.js');
      const wasmPath = createRequire(import.meta.url).resolve('lzo-wasm/lzo-wasm.wasm');
      const M = await createModule({ wasmBinary: fs.readFileSync(wasmPath) });
      return { M, decompress: M.cwrap('decompress', 'number', ['number', 'number', 'number']) };
    })();
    loading.catch(() => {
      if (wasm === loading) wasm = undefined; // let a later call retry a failed load
    });
    wasm = loading;
  }
  return wasm;
}

// lzo-wasm's FFmpeg decoder may read 8 bytes past the input; pad with zeros so those reads are deterministic.
const INPUT_PADDING = 8;

async function lzo1xDecompress(src: Buffer, outLen: number, n: number): Promise<Buffer> {
  const { M, decompress } = await loadWasm();
  const inPtr = M._malloc(src.length + INPUT_PADDING);
  if (!inPtr) throw new LzopFormatError(`out of wasm memory decompressing block ${n}`);
  let outPtr = 0;
  try {
    M.HEAPU8.set(src, inPtr);
    M.HEAPU8.fill(0, inPtr + src.length, inPtr + src.length + INPUT_PADDING);
    outPtr = decompress(inPtr, src.length, outLen);
  } catch (err) {
    // The C side throws mid-call, leaking its output buffer and stack frame: start a fresh instance next time.
    wasm = undefined;
    throw new LzopFormatError(`lzop file corrupted: LZO1X data in block ${n} does not decompress to ${outLen} bytes`, { cause: err });
  } finally {
    M._free(inPtr);
  }
  try {
    return Buffer.from(M.HEAPU8.subarray(outPtr, outPtr + outLen)); // copies out of the wasm heap
  } finally {
    M._free(outPtr);
  }
}
