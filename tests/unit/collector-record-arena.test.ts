import { describe, expect, it } from 'vitest';
import { RecordArena } from '../../collector/record-arena';

// The sink's record storage: copies that stay intact until released, chunks reused once every
// record in them is released, big records kept as they are.

const record = (n: number, fill: number) => Buffer.alloc(n, fill);

describe('RecordArena', () => {
  it('keeps every stored record intact while later ones are stored and others released', () => {
    const arena = new RecordArena(64 * 1024, 2);
    const held: { stored: ReturnType<RecordArena['store']>; fill: number }[] = [];
    for (let i = 0; i < 2_000; i++) {
      const fill = i % 251;
      held.push({ stored: arena.store(record(100 + (i % 900), fill)), fill });
      // Release an older one now and then, as calls complete.
      if (i % 3 === 0 && i > 10) arena.release(held[i - 10].stored);
    }
    held.forEach(({ stored, fill }, i) => {
      if (i % 3 === 0 && i + 10 < 2_000) return; // released above
      expect(stored.data.every((b) => b === fill)).toBe(true);
    });
  });

  it('reuses a chunk once all its records are released, and keeps at most `keepFree` spare', () => {
    const arena = new RecordArena(4_096, 1);
    const first = Array.from({ length: 4 }, (_, i) => arena.store(record(1_000, i)));
    const chunk = first[0].data.buffer;
    arena.store(record(1_000, 9)); // fills the first chunk's room: a second chunk starts
    for (const s of first) arena.release(s);
    expect(arena.freeChunks).toBe(1);
    const filler = Array.from({ length: 3 }, () => arena.store(record(1_000, 7))); // fills the second chunk
    const next = arena.store(record(1_000, 8)); // the third: the reused first one
    expect(next.data.buffer).toBe(chunk);
    expect(filler.every((s) => s.data.every((b) => b === 7))).toBe(true);
  });

  it('keeps records bigger than a quarter of a chunk as they are', () => {
    const arena = new RecordArena(4_096, 1);
    const big = record(2_000, 3);
    const stored = arena.store(big);
    expect(stored.data).toBe(big);
    expect(stored.chunk).toBeUndefined();
    arena.release(stored); // a no-op
  });

  it('ignores a second release of the same record', () => {
    const arena = new RecordArena(4_096, 4);
    const a = arena.store(record(1_000, 1));
    const b = arena.store(record(1_000, 2));
    arena.release(a);
    arena.release(a);
    for (let i = 0; i < 3; i++) arena.store(record(1_000, 4)); // the third starts a second chunk; the first still holds b
    expect(arena.freeChunks).toBe(0);
    expect(b.data.every((x) => x === 2)).toBe(true);
  });
});
