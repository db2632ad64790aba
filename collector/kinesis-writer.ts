import { Worker } from 'node:worker_threads';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { PutResult } from '../adapters/kinesis';
import type { SluiceConfig } from '../config';
import type { Logger } from '../observability/logger';
import { putRecordsDirect } from './kinesis-put';

// How a sink's PutRecords calls are made: directly on this thread with a Kinesis client, or in a
// worker thread (what the collector process uses) so that serialising and signing megabyte
// batches never stalls the event loop that answers trackers.

export interface PutRecord {
  data: Buffer;
  partitionKey: string;
}

export type PutRecordsFn = (stream: string, records: PutRecord[]) => Promise<PutResult>;

/** PutRecords calls on this thread, with the collector's lean serialisation (kinesis-put.ts). */
export function directPut(client: KinesisClient): PutRecordsFn {
  return (stream, records) => putRecordsDirect(client, stream, records);
}

interface Reply {
  id: number;
  failed?: number[];
  error?: { name: string; message: string };
}

const ENTRY = new URL('./put-worker.mjs', import.meta.url);

/** The worker's client settings: what adapters/aws-clients.ts' makeKinesisClient uses, as plain data. */
export interface WorkerClientSettings {
  region: string;
  maxAttempts: number;
  local: boolean;
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  connectionTimeout: number;
  requestTimeout: number;
}

export function workerClientSettings(config: SluiceConfig): WorkerClientSettings {
  return {
    region: config.region,
    maxAttempts: 3,
    local: config.kinesis.local,
    endpoint: config.kinesis.endpoint,
    credentials: { accessKeyId: config.aws.accessKeyId, secretAccessKey: config.aws.secretAccessKey },
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
  };
}

/** PutRecords in a worker thread; a worker that dies fails its calls (the sink retries) and is replaced. */
export class PutWorker {
  private worker?: Worker;
  private readonly pending = new Map<number, { resolve(r: PutResult): void; reject(e: Error): void }>();
  private nextId = 0;

  constructor(
    private readonly config: SluiceConfig,
    private readonly log: Logger,
  ) {}

  readonly put: PutRecordsFn = (stream, records) =>
    new Promise<PutResult>((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      // The records' bytes are views of shared buffers (pooled, or the sink's chunks), which can be
      // neither transferred nor cloned cheaply: they are packed into one buffer that is transferred.
      let total = 0;
      for (const r of records) total += r.data.length;
      const packed = new Uint8Array(total);
      const lengths = new Array<number>(records.length);
      const keys = new Array<string>(records.length);
      let o = 0;
      records.forEach((r, i) => {
        packed.set(r.data, o);
        o += r.data.length;
        lengths[i] = r.data.length;
        keys[i] = r.partitionKey;
      });
      this.ensure().postMessage({ id, stream, packed: packed.buffer, lengths, keys }, [packed.buffer]);
    });

  private ensure(): Worker {
    if (this.worker) return this.worker;
    // A small young generation: the worker's garbage is a few large, short-lived call buffers.
    const worker = new Worker(ENTRY, { workerData: { settings: workerClientSettings(this.config) }, resourceLimits: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 256 } });
    worker.on('message', (reply: Reply) => {
      const call = this.pending.get(reply.id);
      if (!call) return;
      this.pending.delete(reply.id);
      if (reply.error) call.reject(Object.assign(new Error(reply.error.message), { name: reply.error.name }));
      else call.resolve({ failed: reply.failed ?? [] });
    });
    const fail = (err: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const call of this.pending.values()) call.reject(err);
      this.pending.clear();
    };
    worker.on('error', (err) => {
      this.log.error({ err: err.message }, 'kinesis put worker failed');
      fail(err);
    });
    worker.on('exit', (code) => fail(new Error(`kinesis put worker exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }
}
