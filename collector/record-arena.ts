// Where a sink keeps the bytes of the records it holds: a few large chunks, reused, rather than
// one buffer per record.
//
// Records wait in the sink for up to `timeLimitMs` and then for their PutRecords call, long
// enough to outlive two young-generation collections, so each record's own buffer would be
// promoted and then freed only by a full (mark-compact) collection. V8 counts that external
// memory against the old generation's limit, and at the collector's rates (20 MB/s of records
// for tp2 POSTs) it set off a mark-compact every half second: a quarter of the collector's CPU.
// Chunks that are reused keep the external memory flat. A record is copied into the current
// chunk; a chunk goes back to the free list when the last record in it has been released (after
// Kinesis took it). Records bigger than a quarter of a chunk keep their own buffer.

export const ARENA_CHUNK_BYTES = 1024 * 1024;

export interface Chunk {
  buf: Buffer;
  used: number;
  /** Records stored in it and not released yet. */
  live: number;
}

/** A record's bytes as stored: a view of a chunk (or the caller's own buffer, when big). */
export interface Stored {
  data: Buffer;
  chunk?: Chunk;
}

export class RecordArena {
  private current: Chunk;
  private readonly free: Chunk[] = [];

  /** `keepFree`: chunks kept for reuse beyond the current one (the rest go back to the GC). */
  constructor(
    private readonly chunkBytes = ARENA_CHUNK_BYTES,
    private readonly keepFree = 8,
  ) {
    this.current = this.newChunk();
  }

  private newChunk(): Chunk {
    return this.free.pop() ?? { buf: Buffer.allocUnsafeSlow(this.chunkBytes), used: 0, live: 0 };
  }

  /** A copy of `data` in the arena (or `data` itself when it is big). */
  store(data: Buffer): Stored {
    const n = data.length;
    if (n > this.chunkBytes / 4) return { data };
    let chunk = this.current;
    if (chunk.used + n > this.chunkBytes) {
      const full = chunk;
      chunk = this.current = this.newChunk();
      if (full.live === 0) this.recycle(full);
    }
    const start = chunk.used;
    data.copy(chunk.buf, start);
    chunk.used = (start + n + 7) & ~7;
    chunk.live++;
    return { data: chunk.buf.subarray(start, start + n), chunk };
  }

  /** The record's bytes are no longer needed (its view must not be read again). */
  release(stored: Stored): void {
    const chunk = stored.chunk;
    if (!chunk) return;
    stored.chunk = undefined;
    if (--chunk.live === 0 && chunk !== this.current) this.recycle(chunk);
  }

  private recycle(chunk: Chunk): void {
    chunk.used = 0;
    if (this.free.length < this.keepFree) this.free.push(chunk);
  }

  /** Chunks held (current, in use, and free): for tests and diagnostics. */
  get freeChunks(): number {
    return this.free.length;
  }
}
