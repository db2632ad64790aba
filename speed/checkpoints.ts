import { inTransaction, type Pool, type PoolClient } from '../adapters/postgres';
import { StaleCheckpointError, sameCheckpoint, type ProcessorContext, type ShardProcessor } from './processor';

// Durable shard checkpoints in `sluice.stream_checkpoints`, one row per (stream, processor,
// shard). Processors move them forward with a compare-and-set inside the transaction that holds
// their effects (or right after an at-least-once effect); operators move them back by rewinding.

export interface CheckpointKey {
  stream: string;
  processor: string;
  shardId: string;
}

export interface CheckpointStore {
  read(key: CheckpointKey): Promise<string | undefined>;
  /** Sets (or, with undefined, removes) the checkpoint unconditionally: rewinds and first seeding. */
  set(key: CheckpointKey, sequenceNumber: string | undefined): Promise<void>;
  /** Moves the checkpoint from `expected` to `next`, or throws StaleCheckpointError. */
  advance(key: CheckpointKey, expected: string | undefined, next: string): Promise<void>;
}

const keyParams = (k: CheckpointKey) => [k.stream, k.processor, k.shardId];

export async function readCheckpoint(db: Pool | PoolClient, key: CheckpointKey, forUpdate = false): Promise<string | undefined> {
  const { rows } = await db.query(
    `SELECT "sequence_number" FROM "sluice"."stream_checkpoints" WHERE "stream" = $1 AND "processor" = $2 AND "shard_id" = $3${forUpdate ? ' FOR UPDATE' : ''}`,
    keyParams(key),
  );
  return rows[0]?.sequence_number as string | undefined;
}

/**
 * The compare-and-set, for use inside a caller's transaction. One statement each way, so that it
 * holds under concurrency: with no checkpoint yet, the INSERT of a second attempt waits for the
 * first's and then inserts nothing; otherwise the UPDATE matches only the expected value (a
 * SELECT … FOR UPDATE would lock nothing while the row does not exist).
 */
export async function advanceCheckpointIn(client: PoolClient, key: CheckpointKey, expected: string | undefined, next: string): Promise<void> {
  const res =
    expected === undefined
      ? await client.query(
          `INSERT INTO "sluice"."stream_checkpoints" ("stream", "processor", "shard_id", "sequence_number") VALUES ($1, $2, $3, $4)
           ON CONFLICT ("stream", "processor", "shard_id") DO NOTHING`,
          [...keyParams(key), next],
        )
      : await client.query(
          `UPDATE "sluice"."stream_checkpoints" SET "sequence_number" = $4, "updated_at" = now()
           WHERE "stream" = $1 AND "processor" = $2 AND "shard_id" = $3 AND "sequence_number" = $5`,
          [...keyParams(key), next, expected],
        );
  if (res.rowCount === 1) return;
  const committed = await readCheckpoint(client, key);
  throw new StaleCheckpointError(`checkpoint of ${key.processor}/${key.shardId} moved to ${committed ?? 'none'} (expected ${expected ?? 'none'})`);
}

export function pgCheckpointStore(pool: Pool): CheckpointStore {
  return {
    read: (key) => readCheckpoint(pool, key),
    async set(key, sequenceNumber) {
      if (sequenceNumber === undefined) {
        await pool.query('DELETE FROM "sluice"."stream_checkpoints" WHERE "stream" = $1 AND "processor" = $2 AND "shard_id" = $3', keyParams(key));
        return;
      }
      await pool.query(
        `INSERT INTO "sluice"."stream_checkpoints" ("stream", "processor", "shard_id", "sequence_number") VALUES ($1, $2, $3, $4)
         ON CONFLICT ("stream", "processor", "shard_id") DO UPDATE SET "sequence_number" = EXCLUDED."sequence_number", "updated_at" = now()`,
        [...keyParams(key), sequenceNumber],
      );
    },
    async advance(key, expected, next) {
      await inTransaction(pool, (client) => advanceCheckpointIn(client, key, expected, next));
    },
  };
}

/**
 * Gives an at-least-once processor (stream enrich) a durable checkpoint: moved after each batch's
 * effects, compared-and-set so that a stale attempt stops at its next batch. A crash between the
 * effects and the checkpoint repeats at most that one batch.
 */
export function withDurableCheckpoint(inner: ShardProcessor, store: CheckpointStore): ShardProcessor {
  return {
    ...inner,
    async resume(stream, shardId) {
      const own = await inner.resume?.(stream, shardId);
      return own ?? store.read({ stream, processor: inner.name, shardId });
    },
    async process(records, ctx, idle) {
      if (records.length === 0) return inner.process(records, ctx, idle);
      return fenced(ctx, () => inner.process(records, ctx, idle));
    },
    // A skipped poison record moves the durable checkpoint like any batch.
    ...(inner.skipPoison ? { skipPoison: (record, failure, ctx) => fenced(ctx, () => inner.skipPoison!(record, failure, ctx)) as Promise<string> } : {}),
  };

  async function fenced(ctx: ProcessorContext, effects: () => Promise<string | undefined>): Promise<string | undefined> {
    const key = { stream: ctx.stream, processor: inner.name, shardId: ctx.shardId };
    // Checked before the effects too, so that a stale attempt stops before it repeats anything.
    const current = await store.read(key);
    if (!sameCheckpoint(current, ctx.after)) {
      throw new StaleCheckpointError(`checkpoint of ${inner.name}/${ctx.shardId} moved to ${current ?? 'none'} (expected ${ctx.after ?? 'none'})`);
    }
    const committed = await effects();
    if (committed !== undefined && !sameCheckpoint(committed, ctx.after)) {
      await store.advance(key, ctx.after, committed);
    }
    return committed;
  }
}
