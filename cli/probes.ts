import { makeKinesisClient, makeS3Client } from '../adapters/aws-clients';
import { listShards } from '../adapters/kinesis';
import { s3ObjectStore } from '../adapters/object-store';
import type { SluiceConfig } from '../config';
import { readProgress } from '../speed/raw-sink';

// Probes of a running pipeline, shared by the demo and the end-to-end tests.

/** Polls `probe` until it yields a value; a probe that throws counts as "not yet". */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000, intervalMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface MergedAnswer {
  watermark: string | null;
  totals: { batch: number; realtime: number; all: number };
  points: { minute: string; count: number; source: string; batchOwed?: true }[];
  /** Windows whose batch load was skipped: answered by the realtime views until reprocessed. */
  batchOwed: { runId: string; from: string; to: string; reason: string }[];
}

/** The serving API's merged per-minute counts for [from, to); throws on any non-2xx answer. */
export async function fetchMergedCounts(servingUrl: string, from: number, to: number, token?: string): Promise<MergedAnswer> {
  const q = new URLSearchParams({ from: new Date(from).toISOString(), to: new Date(to).toISOString() });
  // The serving API's token, when one is configured (it is required off loopback).
  const res = await fetch(`${servingUrl}/v1/counts/minutes?${q}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  if (!res.ok) throw new Error(`serving API answered ${res.status}`);
  return (await res.json()) as MergedAnswer;
}

/** Waits until every open raw shard's sink has flushed everything that arrived before `t`. */
export async function waitForRawSink(config: SluiceConfig, t: number): Promise<void> {
  const kinesis = makeKinesisClient(config);
  const s3 = makeS3Client(config);
  const store = s3ObjectStore(s3, config.s3.bucket);
  try {
    const shards = (await listShards(kinesis, config.kinesis.streams.raw)).filter((s) => !s.endingSequenceNumber);
    await waitFor('the raw S3 sink', async () => {
      const markers = await readProgress(store, config.kinesis.streams.raw, shards.map((s) => s.shardId));
      return markers.every((m) => m && m.completeThroughMs >= t) ? true : undefined;
    });
  } finally {
    kinesis.destroy();
    s3.destroy();
  }
}
