import { parentPort, workerData } from 'node:worker_threads';
import { makeS3Client } from '../adapters/aws-clients';
import { s3ObjectStore } from '../adapters/object-store';
import { jobs } from '../batch/jobs';
import type { SluiceConfig } from '../config';
import { configureJsonLimits } from '../codecs/bounded-json';
import type { JobName, TaskInput } from './job-types';

// One thread of the local engine: runs the tasks it is sent, one at a time, against the object store.
const config = workerData.config as SluiceConfig;
// The thread parses outside JSON with the run's limits, not whatever its own environment says.
configureJsonLimits({ maxDepth: config.input.jsonMaxDepth, maxBytes: config.input.jsonMaxBytes });
const store = s3ObjectStore(makeS3Client(config), config.s3.bucket);

parentPort!.on('message', async (msg: { id: number; job: JobName; task: TaskInput }) => {
  try {
    const result = await jobs[msg.job](store, msg.task);
    parentPort!.postMessage({ id: msg.id, result });
  } catch (err) {
    parentPort!.postMessage({ id: msg.id, error: (err as Error).stack ?? String(err) });
  }
});
