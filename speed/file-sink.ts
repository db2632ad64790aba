import type { StreamRecord } from '../adapters/kinesis';
import type { ObjectStore } from '../adapters/object-store';
import { inTransaction, type Pool } from '../adapters/postgres';
import { advanceCheckpointIn, readCheckpoint, type CheckpointKey } from './checkpoints';
import { StaleCheckpointError, compareSequence, sameCheckpoint, type RewindPoint, type ShardProcessor } from './processor';

// A shard's records written to the object store as files, rotated by record count, size and age
// (the processor's flush policy). After each file the shard's progress marker records what the
// files now hold: the batch layer reads the markers to know how far its watermark may advance.
//
// Exactly once, even with two overlapping attempts of one shard's consumer:
// 1. the file is written under `<area>/pending/` (a name no batch run reads);
// 2. one PostgreSQL transaction compares-and-sets the shard's checkpoint from the record before
//    the file to its last record, and records the file in `sluice.sink_files` (the catalog);
// 3. the file is put under its key in `<area>/in/` and the catalog row marked published (the
//    pending copy is deleted ten minutes later).
// A stale attempt fails step 2, so its file never leaves pending/. A crash after step 2 is
// finished by the next attempt's resume(). The catalog also fixes every file's boundaries: a
// rewind re-reads from the start of a recorded file and cuts on the recorded boundaries, so a
// file it puts back has the same key and bytes, and no record ever lands in a second file.

export interface SinkProgress {
  shardId: string;
  lastSequenceNumber?: string;
  /** Every record that reached the shard before this instant is in a file. */
  completeThroughMs: number;
}

/** What one kind of file sink writes: where, and how records become a file body. */
export interface FileSinkFormat {
  /** Top-level folder: files go to `<area>/in/`, markers to `<area>/progress/`. */
  area: string;
  extension: string;
  contentType: string;
  /** Must be deterministic: the same records give the same bytes. */
  encode(records: StreamRecord[]): Buffer;
}

export const inPrefix = (area: string) => `${area}/in/`;
export const pendingPrefix = (area: string) => `${area}/pending/`;
export const progressKey = (area: string, stream: string, shardId: string) => `${area}/progress/${stream}/${shardId}.json`;

// Zero-padded so that lexicographic order is sequence order within a shard.
const padded = (sequence: string) => sequence.padStart(56, '0');

/** `<area>/in/<day>/<stream>-<shard>-<first sequence>[-<last sequence>].<ext>`, the day from the first record's arrival. */
export function sinkFileKey(format: Pick<FileSinkFormat, 'area' | 'extension'>, stream: string, shardId: string, firstSequence: string, firstArrivalMs: number, lastSequence?: string): string {
  const day = new Date(firstArrivalMs).toISOString().slice(0, 10);
  const range = lastSequence === undefined ? padded(firstSequence) : `${padded(firstSequence)}-${padded(lastSequence)}`;
  return `${inPrefix(format.area)}${day}/${stream}-${shardId}-${range}.${format.extension}`;
}

function pendingKey(format: FileSinkFormat, stream: string, shardId: string, first: string, last: string): string {
  return `${pendingPrefix(format.area)}${stream}/${shardId}/${padded(first)}-${padded(last)}.${format.extension}`;
}

export async function readSinkProgress(store: ObjectStore, area: string, stream: string, shardIds: string[]): Promise<(SinkProgress | undefined)[]> {
  return Promise.all(
    shardIds.map(async (shardId) => {
      const key = progressKey(area, stream, shardId);
      return (await store.exists(key)) ? (JSON.parse((await store.get(key)).toString()) as SinkProgress) : undefined;
    }),
  );
}

/** One file of the catalog. */
interface CatalogRow {
  first: string;
  last: string;
  after: string | null;
  objectKey: string;
  published: boolean;
}

const CATALOG_COLUMNS = `"first_sequence"::text AS "first", "last_sequence"::text AS "last", "after_sequence"::text AS "after", "object_key" AS "objectKey", "published"`;
const SHARD_FILTER = `"stream" = $1 AND "processor" = $2 AND "shard_id" = $3`;

/** The index of the first record whose sequence number is above `seq` (records are in order). */
function indexAfter(records: StreamRecord[], seq: string): number {
  const i = records.findIndex((r) => compareSequence(r.sequenceNumber, seq) > 0);
  return i < 0 ? records.length : i;
}

export function fileSinkProcessor(
  name: string,
  store: ObjectStore,
  format: FileSinkFormat,
  limits: { maxRecords: number; maxBytes: number; maxAgeMs: number },
  pool: Pool,
): ShardProcessor {
  const lastMarker = new Map<string, SinkProgress>();
  const ckKey = (stream: string, shardId: string): CheckpointKey => ({ stream, processor: name, shardId });

  async function catalogAround(stream: string, shardId: string, seq: string): Promise<{ covering?: CatalogRow; nextFirst?: string }> {
    const params = [stream, name, shardId, seq];
    const [covering, next] = await Promise.all([
      pool.query<CatalogRow>(`SELECT ${CATALOG_COLUMNS} FROM "sluice"."sink_files" WHERE ${SHARD_FILTER} AND "first_sequence" <= $4::numeric ORDER BY "first_sequence" DESC LIMIT 1`, params),
      pool.query<{ first: string | null }>(`SELECT min("first_sequence")::text AS "first" FROM "sluice"."sink_files" WHERE ${SHARD_FILTER} AND "first_sequence" > $4::numeric`, params),
    ]);
    return { covering: covering.rows[0], nextFirst: next.rows[0]?.first ?? undefined };
  }

  /** True when a batch run has claimed the key (the file is in the master dataset already). */
  async function staged(objectKey: string): Promise<boolean> {
    const { rowCount } = await pool.query('SELECT 1 FROM "sluice"."staged_files" WHERE "key" = $1', [objectKey]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * Puts a committed file in place under its key: done already when the key holds it or a batch
   * run claimed it; else from the bytes in hand (the committing attempt), else copied from
   * pending/ (an attempt finishing a crashed one's commit). Nothing is deleted here: a copy onto
   * a key while its source disappears can destroy the key on some S3-compatible servers, so
   * pending copies are tidied only long after (see resume).
   */
  async function publish(stream: string, shardId: string, row: Pick<CatalogRow, 'first' | 'last' | 'objectKey'>, body?: Buffer): Promise<void> {
    if (!(await store.exists(row.objectKey)) && !(await staged(row.objectKey))) {
      const pending = pendingKey(format, stream, shardId, row.first, row.last);
      if (body) await store.put(row.objectKey, body, format.contentType);
      else if (await store.exists(pending)) await store.copy(pending, row.objectKey);
      else throw new Error(`${name}: committed file ${row.objectKey} is neither in place nor under ${pendingPrefix(format.area)}`);
    }
    await pool.query(`UPDATE "sluice"."sink_files" SET "published" = true WHERE ${SHARD_FILTER} AND "first_sequence" = $4::numeric`, [stream, name, shardId, row.first]);
  }

  /** Deletes the pending copies of files published more than ten minutes ago. */
  async function tidy(stream: string, shardId: string): Promise<void> {
    const { rows } = await pool.query<CatalogRow>(
      `UPDATE "sluice"."sink_files" SET "pending_deleted" = true
       WHERE ${SHARD_FILTER} AND "published" AND NOT "pending_deleted" AND "committed_at" < now() - interval '10 minutes'
       RETURNING ${CATALOG_COLUMNS}`,
      [stream, name, shardId],
    );
    for (const row of rows) await store.delete(pendingKey(format, stream, shardId, row.first, row.last));
  }

  /** Commits one file with the checkpoint and puts it in place; returns the new checkpoint. */
  async function writeFile(records: StreamRecord[], stream: string, shardId: string, after: string | undefined, recorded?: CatalogRow): Promise<string> {
    const first = records[0];
    const last = records[records.length - 1];
    const key = ckKey(stream, shardId);
    const body = format.encode(records);
    if (recorded) {
      // A file recorded before (a rewind, or a retry after a crash): nothing is written before
      // the checkpoint moves, and then only a file that is missing (a lost one is restored).
      await inTransaction(pool, (client) => advanceCheckpointIn(client, key, after, last.sequenceNumber));
      await publish(stream, shardId, recorded, body);
      return last.sequenceNumber;
    }
    const objectKey = sinkFileKey(format, stream, shardId, first.sequenceNumber, first.arrivalMs, last.sequenceNumber);
    await store.put(pendingKey(format, stream, shardId, first.sequenceNumber, last.sequenceNumber), body, format.contentType);
    await inTransaction(pool, async (client) => {
      await advanceCheckpointIn(client, key, after, last.sequenceNumber);
      await client.query(
        `INSERT INTO "sluice"."sink_files" ("stream", "processor", "shard_id", "first_sequence", "last_sequence", "after_sequence", "object_key", "records", "published")
         VALUES ($1, $2, $3, $4::numeric, $5::numeric, $6::numeric, $7, $8, false)`,
        [stream, name, shardId, first.sequenceNumber, last.sequenceNumber, after ?? null, objectKey, records.length],
      );
    });
    await publish(stream, shardId, { first: first.sequenceNumber, last: last.sequenceNumber, objectKey }, body);
    return last.sequenceNumber;
  }

  async function writeMarker(stream: string, shardId: string, progress: SinkProgress): Promise<void> {
    await store.put(progressKey(format.area, stream, shardId), JSON.stringify(progress), 'application/json');
    lastMarker.set(`${stream}/${shardId}`, progress);
  }

  return {
    name,
    flushPolicy: limits,

    async resume(stream, shardId) {
      const unpublished = await pool.query<CatalogRow>(
        `SELECT ${CATALOG_COLUMNS} FROM "sluice"."sink_files" WHERE ${SHARD_FILTER} AND NOT "published" ORDER BY "first_sequence"`,
        [stream, name, shardId],
      );
      for (const row of unpublished.rows) await publish(stream, shardId, row);
      await tidy(stream, shardId);
      const checkpoint = await readCheckpoint(pool, ckKey(stream, shardId));
      if (checkpoint !== undefined) return checkpoint;
      // A shard sunk before checkpoints and the catalog moved to PostgreSQL: continue after its
      // marker's record. (With catalogued files, no checkpoint means a rewind to the shard's start.)
      const catalogued = await pool.query(`SELECT 1 FROM "sluice"."sink_files" WHERE ${SHARD_FILTER} LIMIT 1`, [stream, name, shardId]);
      if (catalogued.rowCount) return undefined;
      const [marker] = await readSinkProgress(store, format.area, stream, [shardId]);
      if (!marker?.lastSequenceNumber) return undefined;
      try {
        await inTransaction(pool, (client) => advanceCheckpointIn(client, ckKey(stream, shardId), undefined, marker.lastSequenceNumber!));
        return marker.lastSequenceNumber;
      } catch (err) {
        if (!(err instanceof StaleCheckpointError)) throw err;
        return readCheckpoint(pool, ckKey(stream, shardId)); // another attempt got there first
      }
    },

    async process(records, ctx, idle) {
      const { stream, shardId } = ctx;
      const previous = lastMarker.get(`${stream}/${shardId}`) ?? (await readSinkProgress(store, format.area, stream, [shardId]))[0];
      let after = ctx.after;
      let completeThroughMs = previous?.completeThroughMs ?? 0;
      const assertCurrent = async () => {
        const committed = await readCheckpoint(pool, ckKey(stream, shardId));
        if (!sameCheckpoint(committed, after)) throw new StaleCheckpointError(`checkpoint of ${name}/${shardId} moved to ${committed ?? 'none'} (expected ${after ?? 'none'})`);
      };
      // A stale attempt stops here, before it writes anything (the commit is fenced besides).
      if (records.length > 0) await assertCurrent();
      for (let i = 0; i < records.length; ) {
        const { covering, nextFirst } = await catalogAround(stream, shardId, records[i].sequenceNumber);
        let end: number;
        let recorded: CatalogRow | undefined;
        if (covering && sameCheckpoint(covering.first, records[i].sequenceNumber)) {
          // A file recorded before (a rewind, or a retry after a crash): the same boundaries again.
          if (compareSequence(records[records.length - 1].sequenceNumber, covering.last) < 0) break; // not all read yet
          recorded = covering;
          end = indexAfter(records, covering.last);
        } else if (covering && compareSequence(covering.last, records[i].sequenceNumber) >= 0) {
          await assertCurrent(); // another attempt committed that file just now
          throw new Error(`${name}: record ${records[i].sequenceNumber} of ${shardId} lies inside ${covering.objectKey}; refusing to write it into a second file`);
        } else {
          // A new file, which must stop before the next recorded one.
          end = nextFirst ? records.findIndex((r) => compareSequence(r.sequenceNumber, nextFirst) >= 0) : -1;
          if (end < 0) end = records.length;
        }
        const chunk = records.slice(i, end);
        after = await writeFile(chunk, stream, shardId, after, recorded);
        completeThroughMs = Math.max(completeThroughMs, chunk[chunk.length - 1].arrivalMs);
        i = end;
      }
      const wrote = !sameCheckpoint(after, ctx.after);
      if (wrote) {
        await writeMarker(stream, shardId, { shardId, lastSequenceNumber: after, completeThroughMs });
      } else if (records.length === 0 && idle.caughtUpAtMs !== undefined && idle.caughtUpAtMs - completeThroughMs >= 2_000) {
        // Idle progress, at most every couple of seconds (markers are read per batch run, not
        // per poll), and only while this attempt still holds the checkpoint.
        if (sameCheckpoint(await readCheckpoint(pool, ckKey(stream, shardId)), ctx.after)) {
          await writeMarker(stream, shardId, { shardId, lastSequenceNumber: ctx.after, completeThroughMs: idle.caughtUpAtMs });
        }
      }
      return wrote ? after : undefined;
    },

    async rewindPoint(stream, shardId, firstSequence): Promise<RewindPoint> {
      const params = [stream, name, shardId, firstSequence];
      const holding = await pool.query<CatalogRow>(
        `SELECT ${CATALOG_COLUMNS} FROM "sluice"."sink_files" WHERE ${SHARD_FILTER} AND "first_sequence" <= $4::numeric AND "last_sequence" >= $4::numeric`,
        params,
      );
      const row = holding.rows[0];
      if (row) return { after: row.after ?? undefined, startSequence: row.first };
      // Past every recorded file: continue right after the last one before it.
      const before = await pool.query<{ last: string }>(
        `SELECT "last_sequence"::text AS "last" FROM "sluice"."sink_files" WHERE ${SHARD_FILTER} AND "last_sequence" < $4::numeric ORDER BY "last_sequence" DESC LIMIT 1`,
        params,
      );
      return { after: before.rows[0]?.last, startSequence: firstSequence };
    },
  };
}
