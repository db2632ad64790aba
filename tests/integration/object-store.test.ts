import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeS3Client } from '../../adapters/aws-clients';
import { ensureBucket, moveMany, s3ObjectStore, type ObjectStore } from '../../adapters/object-store';
import type { SluiceConfig } from '../../config';
import type { ManagedProcess } from '../../stack/processes';
import { s3Spec } from '../../stack/standins';
import { startStandin, teardown, testConfig } from '../helpers/standins';

let config: SluiceConfig;
let s3: ManagedProcess;
let client: S3Client;
let store: ObjectStore;

/** Runs `fn` over `items` with at most `limit` in flight. */
async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

beforeAll(async () => {
  config = testConfig();
  s3 = await startStandin(s3Spec(config), config);
  client = makeS3Client(config);
  store = s3ObjectStore(client, config.s3.bucket);
});

afterAll(async () => {
  client?.destroy();
  await teardown(config, s3);
});

describe('object store (s3rver)', () => {
  it('ensureBucket is idempotent', async () => {
    await ensureBucket(client, config.s3.bucket);
    await ensureBucket(client, config.s3.bucket);
    await store.put('probe.txt', 'hello', 'text/plain');
    expect((await store.get('probe.txt')).toString()).toBe('hello');
  });

  it('put/get round-trips binary bytes', async () => {
    const bytes = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from([0, 0xff, 0x0d, 0x0a, 0])]);
    await store.put('bin/all-bytes.bin', bytes, 'application/octet-stream');
    const got = await store.get('bin/all-bytes.bin');
    expect(got.equals(bytes)).toBe(true);

    await store.put('bin/empty.bin', Buffer.alloc(0));
    expect((await store.get('bin/empty.bin')).length).toBe(0);
    expect(await store.exists('bin/empty.bin')).toBe(true);
  });

  it('lists every key under a prefix across pages (> 1000 keys), sorted, prefix-scoped', async () => {
    const keys = Array.from({ length: 1100 }, (_, i) => `many/part-${String(i).padStart(5, '0')}.txt`);
    await mapLimit(keys, 16, (key) => store.put(key, key));
    await store.put('many-not/x.txt', 'outside the prefix');
    await store.put('other/y.txt', 'outside the prefix');

    const listed = await store.list('many/');
    expect(listed).toHaveLength(1100);
    expect(listed).toEqual([...keys].sort());
    expect(await store.list('many/part-0109')).toEqual(keys.slice(1090, 1100));
    expect(await store.list('nothing-here/')).toEqual([]);
  });

  // Keys with URI-reserved characters other than '/' and '=' (e.g. '+', ',', '&') are not moved by
  // s3rver, which decodes x-amz-copy-source with decodeURI; Sluice's keys never contain them.
  it('moves keys with "=" and spaces, and a repeated move is a no-op', async () => {
    const cases = [
      ['raw/in/a b.lzo', 'raw/processing/run=20260101T000000Z/a b.lzo'],
      ['raw/in/k=v w=x.lzo', 'raw/processing/run=20260101T000000Z/k=v w=x.lzo'],
      ['raw/in/ünï cödé (1).lzo', 'raw/archive/run=20260101T000000Z/ünï cödé (1).lzo'],
    ] as const;
    for (const [from, to] of cases) {
      const body = Buffer.from(`body of ${from}`);
      await store.put(from, body);
      await store.move(from, to);
      expect(await store.exists(from)).toBe(false);
      expect(await store.exists(to)).toBe(true);
      expect((await store.get(to)).equals(body)).toBe(true);

      // A retried move after the first one completed.
      await expect(store.move(from, to)).resolves.toBeUndefined();
      expect(await store.exists(from)).toBe(false);
      expect((await store.get(to)).equals(body)).toBe(true);
    }
    expect(await store.list('raw/processing/run=20260101T000000Z/')).toEqual([
      'raw/processing/run=20260101T000000Z/a b.lzo',
      'raw/processing/run=20260101T000000Z/k=v w=x.lzo',
    ]);
    expect(await store.list('raw/in/')).toEqual([]);
  });

  it('a move whose source never existed (and no target) fails', async () => {
    await expect(store.move('raw/in/missing.lzo', 'raw/processing/missing.lzo')).rejects.toThrow();
  });

  it('exists is true for a stored key and false otherwise; delete removes', async () => {
    await store.put('exists/yes.txt', 'y');
    expect(await store.exists('exists/yes.txt')).toBe(true);
    expect(await store.exists('exists/no.txt')).toBe(false);
    expect(await store.exists('exists/yes.tx')).toBe(false);
    await store.delete('exists/yes.txt');
    expect(await store.exists('exists/yes.txt')).toBe(false);
  });

  it('moveMany moves every pair concurrently with progress; deleteMany deletes across requests; copy keeps the source', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `movemany/in/run=1/part-${String(i).padStart(3, '0')}.tsv`);
    await mapLimit(keys, 16, (key) => store.put(key, key));
    const seen: number[] = [];
    await moveMany(store, keys.map((k) => [k, k.replace('movemany/in/', 'movemany/out/')]), 8, (done) => seen.push(done));
    expect(await store.list('movemany/in/')).toEqual([]);
    const moved = await store.list('movemany/out/');
    expect(moved).toHaveLength(40);
    expect((await store.get(moved[7])).toString()).toBe(keys[7]);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));

    await store.copy(moved[0], 'movemany/copy.tsv');
    expect((await store.get('movemany/copy.tsv')).toString()).toBe(keys[0]);
    expect(await store.exists(moved[0])).toBe(true);

    await store.deleteMany([...moved, 'movemany/copy.tsv', 'movemany/never-existed.tsv']);
    expect(await store.list('movemany/')).toEqual([]);
    await store.deleteMany([]);
  });
});
