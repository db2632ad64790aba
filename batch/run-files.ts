import { promisify } from 'node:util';
import zlib from 'node:zlib';

// The text parts a batch run writes (enriched, shred interim, shredded rows) are gzipped TSV, as
// Snowplow's enriched and shredded outputs are: about 10× fewer bytes through the object store
// for a few percent of the CPU, and Redshift COPYs them with GZIP. Inputs are read by name, so the
// speed layer's plain `.tsv` enriched files (stream-enrich mode) are read as they are. Pure.

export const TEXT_PART_EXTENSION = 'tsv.gz';

// Level 1: the object store round trip, not the ratio, is what costs here (level 6 is ~3× slower
// for ~25% fewer bytes).
const GZIP_LEVEL = 1;

/** Lines as one gzipped part (a newline after each); no lines give a valid empty gzip file. */
export function gzipLines(lines: string[]): Buffer {
  return zlib.gzipSync(lines.length ? `${lines.join('\n')}\n` : '', { level: GZIP_LEVEL });
}

/** A part's bytes as text: gunzipped when its key ends in `.gz`. */
export function partText(key: string, body: Buffer): string {
  return (key.endsWith('.gz') && body.length ? zlib.gunzipSync(body) : body).toString('utf8');
}

/** The non-empty lines of a part (a trailing `\r` is dropped). */
export function partLines(key: string, body: Buffer): string[] {
  return partText(key, body).split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)).filter((l) => l.length > 0);
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
  return key.endsWith('.gz') && body.length ? gunzip(body, { chunkSize: 1 << 20 }) : body;
}
