import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { SluiceConfig } from '../config';

// The local stand-ins speak HTTP/1.1 only, while the Kinesis client defaults to HTTP/2; an
// explicit NodeHttpHandler keeps both stand-ins and AWS on the same client code.
function localOptions(config: SluiceConfig, endpoint: string) {
  return {
    endpoint,
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 30_000 }),
    credentials: { accessKeyId: config.aws.accessKeyId, secretAccessKey: config.aws.secretAccessKey },
  };
}

export function makeKinesisClient(config: SluiceConfig): KinesisClient {
  const local = config.kinesis.local ? localOptions(config, config.kinesis.endpoint) : {};
  return new KinesisClient({ region: config.region, maxAttempts: 3, ...local });
}

export function makeS3Client(config: SluiceConfig): S3Client {
  const local = config.s3.local ? { ...localOptions(config, config.s3.endpoint), forcePathStyle: true } : {};
  return new S3Client({ region: config.region, ...local });
}
