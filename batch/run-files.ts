import { promisify } from 'node:util';
import zlib from 'node:zlib';

// The text parts a batch run writes (enriched, shred interim, shredded rows) are compressed TSV:
// about 10× fewer bytes through the object store for a few percent of the CPU. Inputs are read by
// name, so the speed layer's plain `.tsv` enriched files (stream-enrich mode) are read as they are.
// Pure.

/** gzip, what Snowplow's enriched and shredded outputs are and what an engine without zstd writes. */
export const TEXT_PART_EXTENSION = 'tsv.gz';

// Where the Node runtime has zstd (Node ≥ 22.15 / 23.8; the local engine on Node 24), the parts
// are zstd level 1: on enriched TSV and atomic rows 3–4× the compression speed of gzip level 1 and
// ~2× its decompression speed, at a better ratio. Both warehouses read it: PostgreSQL's loader
// unpacks by name, Redshift COPYs with ZSTD (copyCompression). An engine without zstd (the EMR
// bundle targets the cluster's Node 20) writes gzip, and readers go by the name.
const zstd = typeof zlib.zstdCompressSync === 'function' && typeof zlib.zstdDecompressSync === 'function';
export const PART_EXTENSION = zstd ? 'tsv.zst' : TEXT_PART_EXTENSION;

// Level 1: the object store round trip, not the ratio, is what costs here (level 6 is ~3× slower
// for ~25% fewer bytes).
const GZIP_LEVEL = 1;

const text = (lines: string[]) => (lines.length ? `${lines.join('\n')}\n` : '');

/** Lines as one gzipped part (a newline after each); no lines give a valid empty gzip file. */
export function gzipLines(lines: string[]): Buffer {
  return zlib.gzipSync(text(lines), { level: GZIP_LEVEL });
}

/** Lines as one part named with PART_EXTENSION: zstd level 1 where the runtime has it, else as gzipLines. */
export function compressLines(lines: string[]): Buffer {
  if (!zstd) return gzipLines(lines);
  return zlib.zstdCompressSync(text(lines), { params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 } });
}

/** The compression a part's name says it has. */
export function partCompression(key: string): 'gzip' | 'zstd' | 'none' {
  return key.endsWith('.gz') ? 'gzip' : key.endsWith('.zst') ? 'zstd' : 'none';
}

function zstdDecompress(key: string, body: Buffer): Buffer {
  if (!zstd) throw new Error(`${key}: a zstd part, and this Node runtime (${process.version}) has no zstd`);
  return zlib.zstdDecompressSync(body);
}

/** A part's bytes as text, unpacked as its name says (partCompression). */
export function partText(key: string, body: Buffer): string {
  if (!body.length) return '';
  const compression = partCompression(key);
  if (compression === 'gzip') return zlib.gunzipSync(body).toString('utf8');
  if (compression === 'zstd') return zstdDecompress(key, body).toString('utf8');
  return body.toString('utf8');
}

/** The non-empty lines of a part (a trailing `\r` is dropped). */
export function partLines(key: string, body: Buffer): string[] {
  const text = partText(key, body);
  const lines: string[] = [];
  // One pass (no split, map and filter arrays): parts hold up to a few hundred thousand lines.
  for (let start = 0; start < text.length;) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const stop = end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end;
    if (stop > start) lines.push(text.slice(start, stop));
    start = end + 1;
  }
  return lines;
}

const gunzip = promisify(zlib.gunzip);
const unzstd = zstd ? promisify(zlib.zstdDecompress) : undefined;

/**
 * A part's bytes as they go into PostgreSQL's COPY: unpacked as its name says, off the
 * event loop (libuv's thread pool), so a loader feeding two COPYs at once never stalls one while
 * it unpacks the other's next part.
 */
export async function partBytes(key: string, body: Buffer): Promise<Buffer> {
  // 1 MiB output chunks: with the default 16 KiB, each chunk is a round trip between the pool and
  // the event loop, and a 150 MB part unzips 2.5× slower than gunzipSync.
  if (!body.length) return body;
  const compression = partCompression(key);
  if (compression === 'zstd') return unzstd ? unzstd(body, { chunkSize: 1 << 20 }) : zstdDecompress(key, body);
  return compression === 'gzip' ? gunzip(body, { chunkSize: 1 << 20 }) : body;
}
