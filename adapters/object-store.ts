import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

// Thin adapter over the S3 API. The same calls run against the local S3-compatible server and S3.

export interface ObjectStore {
  bucket: string;
  put(key: string, body: Buffer | string, contentType?: string): Promise<void>;
  get(key: string): Promise<Buffer>;
  /** Every key under the prefix, in lexicographic order. */
  list(prefix: string): Promise<string[]>;
  /** Every object under the prefix with its size in bytes (and last-modified time, where known), in key order. */
  listSized(prefix: string): Promise<{ key: string; size: number; modifiedMs?: number }[]>;
  /** Server-side copy; the source stays (reprocessing reads the archive this way). */
  copy(from: string, to: string): Promise<void>;
  /** Copy then delete. Idempotent: moving a key that is already at its destination is a no-op. */
  move(from: string, to: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Deletes many keys, up to 1,000 per request (DeleteObjects). */
  deleteMany(keys: string[]): Promise<void>;
}

/**
 * Moves every `[from, to]` pair with up to `concurrency` requests in flight: moves are
 * latency-bound (a copy and a delete each), so one at a time wastes the store's throughput.
 */
export async function moveMany(store: ObjectStore, pairs: [string, string][], concurrency = 16, onProgress?: (done: number, total: number) => void): Promise<void> {
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < pairs.length) {
      const [from, to] = pairs[next++];
      await store.move(from, to);
      onProgress?.(++done, pairs.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, pairs.length) }, worker));
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

/** URL-encodes a key for CopySource, keeping `/` and `=` literal (s3rver does not decode `%3D`; S3 accepts both). */
export function copySourceKey(key: string): string {
  return encodeURIComponent(key).replace(/%2F/g, '/').replace(/%3D/g, '=');
}

export async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  }
}

export function s3ObjectStore(client: S3Client, bucket: string): ObjectStore {
  const store: ObjectStore = {
    bucket,
    async put(key, body, contentType) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
    },
    async get(key) {
      const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    },
    async list(prefix) {
      return (await store.listSized(prefix)).map((o) => o.key);
    },
    async listSized(prefix) {
      const objects: { key: string; size: number; modifiedMs?: number }[] = [];
      let token: string | undefined;
      do {
        const out = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of out.Contents ?? []) if (o.Key) objects.push({ key: o.Key, size: o.Size ?? 0, modifiedMs: o.LastModified?.getTime() });
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token);
      return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },
    async exists(key) {
      try {
        await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=0-0' }));
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        // An empty object cannot satisfy a range request; it still exists.
        if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 416) return true;
        throw err;
      }
    },
    async copy(from, to) {
      await client.send(new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: `${bucket}/${copySourceKey(from)}` }));
    },
    async move(from, to) {
      try {
        await client.send(
          new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: `${bucket}/${copySourceKey(from)}` }),
        );
      } catch (err) {
        // A retried move whose first attempt already deleted the source: done if the target is there.
        if (isNotFound(err) && (await store.exists(to))) return;
        throw err;
      }
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: from }));
    },
    async delete(key) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
    async deleteMany(keys) {
      for (let i = 0; i < keys.length; i += 1_000) {
        const out = await client.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1_000).map((Key) => ({ Key })), Quiet: true } }),
        );
        if (out.Errors?.length) throw new Error(`could not delete ${out.Errors.length} objects, e.g. ${out.Errors[0].Key}: ${out.Errors[0].Message}`);
      }
    },
  };
  return store;
}
