import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeS3Client } from '../../adapters/aws-clients';
import { type ObjectStore, s3ObjectStore } from '../../adapters/object-store';
import type { SluiceConfig } from '../../config';
import type { Logger } from '../../observability/logger';
import { Executor } from './executor';
import { ApiError, handlers } from './protocol';
import { DEFAULT_STORE_LIMITS, StatementStore, type StoreLimits } from './statements';

// A local Amazon Redshift Data API endpoint: the AWS JSON 1.1 protocol the SDK speaks (POST /,
// `X-Amz-Target: RedshiftData.<Op>`, JSON in and out, errors as `{"__type", "message"}`), so
// `@aws-sdk/client-redshift-data` talks to it unchanged; the statements run on the local
// PostgreSQL (executor.ts) and COPY reads the object store (copy-from-s3.ts). Requests are not
// authenticated (it listens on loopback); the SDK's signature is ignored. GET /health answers 200.

export interface RedshiftLocalOptions {
  postgresUrl: string;
  storeFor: (bucket: string) => ObjectStore;
  log: Logger;
  host?: string;
  /** 0: any free port. */
  port: number;
  strict?: boolean;
  pageRows?: number;
  concurrency?: number;
  maxActive?: number;
  maxBodyBytes?: number;
  maxResultBytes?: number;
  limits?: Partial<StoreLimits>;
}

export interface RedshiftLocal {
  url: string;
  port: number;
  close(): Promise<void>;
}

const JSON_TYPE = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'RedshiftData.';

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': randomUUID() });
  res.end(text);
}

function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > max) return reject(new ApiError('ValidationException', `request body over ${max} bytes`, 413));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        // Stop reading; the reply closes the connection (server below).
        req.pause();
        reject(new ApiError('ValidationException', `request body over ${max} bytes`, 413));
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startRedshiftLocal(opts: RedshiftLocalOptions): Promise<RedshiftLocal> {
  const log = opts.log;
  const store = new StatementStore({ ...DEFAULT_STORE_LIMITS, ...opts.limits });
  const executor = new Executor(
    { postgresUrl: opts.postgresUrl, storeFor: opts.storeFor, log, concurrency: opts.concurrency ?? 16, maxResultBytes: opts.maxResultBytes ?? 100 * 1024 * 1024 },
    store,
  );
  const ops = handlers({ store, executor, strict: opts.strict ?? true, pageRows: opts.pageRows ?? 1000, maxActive: opts.maxActive ?? 500 });
  const maxBody = opts.maxBodyBytes ?? 16 * 1024 * 1024;
  // Finished statements age out even when no new ones arrive.
  const sweep = setInterval(() => store.evict(), 60_000).unref();

  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/health') return reply(res, 200, { status: 'ok' });
    if (req.method !== 'POST' || (req.url ?? '/').split('?')[0] !== '/') return reply(res, 404, { __type: 'UnknownOperationException', message: 'not found' });
    const started = Date.now();
    const target = String(req.headers['x-amz-target'] ?? '');
    const op = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : '';
    void (async () => {
      try {
        if (!String(req.headers['content-type'] ?? '').startsWith(JSON_TYPE)) throw new ApiError('ValidationException', `Content-Type must be ${JSON_TYPE}`);
        const handler = Object.hasOwn(ops, op) ? ops[op] : undefined;
        if (!handler) throw new ApiError('UnknownOperationException', `unknown operation ${JSON.stringify(target.slice(0, 100))}`);
        const raw = (await readBody(req, maxBody)).toString('utf8');
        let body: unknown;
        try {
          body = raw ? JSON.parse(raw) : {};
        } catch {
          throw new ApiError('SerializationException', 'the request body is not JSON');
        }
        if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ApiError('SerializationException', 'the request body must be a JSON object');
        const out = await handler(body as Record<string, unknown>);
        reply(res, 200, out);
        log.debug({ op, ms: Date.now() - started }, 'request');
      } catch (err) {
        if (err instanceof ApiError) {
          log.info({ op, error: err.type, message: err.message.slice(0, 500) }, 'request refused');
          if (err.status === 413) {
            res.setHeader('connection', 'close');
            res.once('finish', () => req.destroy());
          }
          reply(res, err.status, { __type: err.type, message: err.message });
        } else {
          log.error({ op, err: (err as Error).message }, 'request failed');
          reply(res, 500, { __type: 'InternalServerException', message: 'internal error' });
        }
      }
    })();
  });
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${opts.host ?? '127.0.0.1'}:${port}`;
  log.info({ url, strict: opts.strict ?? true }, 'Redshift Data API endpoint listening');
  return {
    url,
    port,
    async close() {
      clearInterval(sweep);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await executor.close();
      await closed;
    },
  };
}

/** The endpoint for a Sluice config: PostgreSQL from warehouse.postgresUrl, COPY through the configured S3. */
export async function redshiftLocalFromConfig(config: SluiceConfig, log: Logger, overrides: Partial<RedshiftLocalOptions> = {}): Promise<RedshiftLocal> {
  const s3 = makeS3Client(config);
  const stores = new Map<string, ObjectStore>();
  const storeFor = (bucket: string) => {
    let st = stores.get(bucket);
    if (!st) stores.set(bucket, (st = s3ObjectStore(s3, bucket)));
    return st;
  };
  const local = await startRedshiftLocal({ postgresUrl: config.warehouse.postgresUrl, storeFor, log, port: config.warehouse.redshift.localPort, ...overrides });
  return {
    ...local,
    async close() {
      await local.close();
      s3.destroy();
    },
  };
}
