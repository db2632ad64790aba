import { promisify } from 'node:util';
import zlib from 'node:zlib';

// The text parts a batch run writes (enriched, shred interim, shredded rows) are gzipped TSV, as
// Snowplow's enriched and shredded outputs are: about 10× fewer bytes through the object store
// for a few percent of the CPU, and Redshift COPYs them with GZIP. Inputs are read by name, so the
// speed layer's plain `.tsv` enriched files (stream-enrich mode) are read as they are. Pure.

export const TEXT_PART_EXTENSION = 'tsv.gz';

// The enriched parts a classic run writes (enrich task → shred-reduce, on the same engine) never
// leave the batch's own readers: no loader or warehouse reads them. Where the Node runtime has zstd
// (Node ≥ 22.15 / 23.8; the local engine on Node 24), they are zstd level 1 instead: on enriched TSV
// 3–4× the compression speed of gzip level 1 and ~1.6× its decompression speed, at a better ratio.
// An engine without zstd (the EMR bundle targets Node 20) writes gzip; readers go by the name.
// Shredded parts stay gzip: Redshift COPYs them with GZIP.
const zstd = typeof zlib.zstdCompressSync === 'function' && typeof zlib.zstdDecompressSync === 'function';
export const INTERMEDIATE_PART_EXTENSION = zstd ? 'tsv.zst' : TEXT_PART_EXTENSION;

// Level 1: the object store round trip, not the ratio, is what costs here (level 6 is ~3× slower
// for ~25% fewer bytes).
const GZIP_LEVEL = 1;

/** Lines as one gzipped part (a newline after each); no lines give a valid empty gzip file. */
export function gzipLines(lines: string[]): Buffer {
  return zlib.gzipSync(lines.length ? `${lines.join('\n')}\n` : '', { level: GZIP_LEVEL });
}

/** Lines as one intermediate part (INTERMEDIATE_PART_EXTENSION): zstd level 1 where the runtime has it, else as gzipLines. */
export function compressIntermediateLines(lines: string[]): Buffer {
  if (!zstd) return gzipLines(lines);
  const text = Buffer.from(lines.length ? `${lines.join('\n')}\n` : '', 'utf8');
  return zlib.zstdCompressSync(text, { params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 } });
}

function zstdDecompress(key: string, body: Buffer): Buffer {
  if (!zstd) throw new Error(`${key}: a zstd part, and this Node runtime (${process.version}) has no zstd`);
  return zlib.zstdDecompressSync(body);
}

/** A part's bytes as text: gunzipped when its key ends in `.gz`, zstd-decompressed when in `.zst`. */
export function partText(key: string, body: Buffer): string {
  if (!body.length) return '';
  if (key.endsWith('.gz')) return zlib.gunzipSync(body).toString('utf8');
  if (key.endsWith('.zst')) return zstdDecompress(key, body).toString('utf8');
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

/**
 * A part's bytes as they go into PostgreSQL's COPY: gunzipped when its key ends in `.gz`, off the
 * event loop (libuv's thread pool), so a loader feeding two COPYs at once never stalls one while
 * it unzips the other's next part.
 */
export async function partBytes(key: string, body: Buffer): Promise<Buffer> {
  // 1 MiB output chunks: with the default 16 KiB, each chunk is a round trip between the pool and
  // the event loop, and a 150 MB part unzips 2.5× slower than gunzipSync.
  if (key.endsWith('.zst') && body.length) return zstdDecompress(key, body);
  return key.endsWith('.gz') && body.length ? gunzip(body, { chunkSize: 1 << 20 }) : body;
}
