// Worker-thread side of kinesis-writer.ts: one Kinesis client making PutRecords calls on request,
// so that the SDK's per-call work (JSON and base64 of up to 5 MiB, SigV4 hashing, HTTP) runs off
// the thread that answers trackers.
//
// Plain JavaScript on purpose: a worker thread does not inherit the tsx loader, and loading tsx
// (with its esbuild service thread) in here would cost ~35 MB of resident memory, a seventh of the
// collector's budget. The client is built exactly as adapters/aws-clients.ts builds it, from the
// plain settings kinesis-writer.ts passes; the call is adapters/kinesis.ts' putRecords.
import { parentPort, workerData } from 'node:worker_threads';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

const { region, maxAttempts, local, endpoint, credentials, connectionTimeout, requestTimeout } = workerData.settings;
const client = new KinesisClient({
  region,
  maxAttempts,
  ...(local ? { endpoint, credentials, requestHandler: new NodeHttpHandler({ connectionTimeout, requestTimeout }) } : {}),
});

// A call's records arrive packed in one transferred buffer (kinesis-writer.ts): their lengths and
// partition keys say where each one is.
parentPort.on('message', ({ id, stream, packed, lengths, keys }) => {
  const bytes = new Uint8Array(packed);
  const records = [];
  let o = 0;
  for (let i = 0; i < lengths.length; i++) {
    records.push({ Data: bytes.subarray(o, o + lengths[i]), PartitionKey: keys[i] });
    o += lengths[i];
  }
  client
    .send(new PutRecordsCommand({ StreamName: stream, Records: records }))
    .then(
      (out) => {
        const failed = [];
        (out.Records ?? []).forEach((r, i) => {
          if (r.ErrorCode) failed.push(i);
        });
        parentPort.postMessage({ id, failed });
      },
      (err) => parentPort.postMessage({ id, error: { name: err?.name ?? 'Error', message: err?.message ?? String(err) } }),
    );
});
