import { PutRecordsCommand, type KinesisClient, type PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import type { PutResult } from '../adapters/kinesis';

// PutRecords for the collector's sink, through the SDK client (its endpoint, credentials, SigV4
// signing, retries and HTTP handler are all kept), without the SDK's per-record work.
//
// The SDK serialises a PutRecords call field by field: each record's data is base64-encoded by a
// JavaScript loop into a buffer that grows by doubling, the input and output are walked again for
// the (no-op) log filter, and the answer's 500 entries are deserialised one by one. For the
// collector that was a fifth of its CPU per request. Here the JSON body is written in one buffer
// of its exact size (base64 by Node's native encoder), put in place of the SDK's serialisation of
// an empty call, and the answer is read for its failed entries only: the bytes sent are the JSON
// the SDK would send for the same records, the result is what adapters/kinesis.ts' putRecords
// returns. Errors (a refused call, a network failure) go through the SDK unchanged.

export interface PutEntry {
  data: Buffer;
  partitionKey: string;
}

const EMPTY_JSON = Buffer.from('{}');
const ERROR_CODE = Buffer.from('"ErrorCode"');

// Call bodies are a megabyte or more, and a call can outlive two young-generation collections:
// a fresh buffer per call would then be promoted and freed only by a full collection, and its
// external memory counted against the old generation's limit set those off every second or two.
// Bodies are written into pooled buffers instead, returned to the pool once Kinesis answered 200
// (it has read the whole body then, so no write of it is pending).
const POOL_UNIT = 1024 * 1024;
const POOL_KEEP = 4;
const pool: Buffer[] = [];

function takeBuffer(size: number): Buffer {
  for (let i = 0; i < pool.length; i++) {
    if (pool[i].length >= size) return pool.splice(i, 1)[0];
  }
  return Buffer.allocUnsafeSlow(Math.ceil(size / POOL_UNIT) * POOL_UNIT);
}

function giveBack(buf: Buffer): void {
  if (pool.length < POOL_KEEP) pool.push(buf);
}

/**
 * The PutRecords JSON body for these records, as the SDK writes it (`Records` first, then
 * `StreamName`): a view of `into` when it is big enough, else of a buffer of its own.
 */
export function putRecordsBody(stream: string, records: readonly PutEntry[], into?: (size: number) => Buffer): Buffer {
  const tail = `],"StreamName":${JSON.stringify(stream)}}`;
  const keys: string[] = new Array(records.length);
  let size = 12 + Buffer.byteLength(tail); // {"Records":[ … tail
  for (let i = 0; i < records.length; i++) {
    const key = JSON.stringify(records[i].partitionKey);
    keys[i] = key;
    // {"Data":"…","PartitionKey":…} and a comma
    size += 27 + 4 * Math.ceil(records[i].data.length / 3) + Buffer.byteLength(key) + (i > 0 ? 1 : 0);
  }
  const body = into ? into(size).subarray(0, size) : Buffer.allocUnsafe(size);
  let o = body.write('{"Records":[', 0, 'latin1');
  for (let i = 0; i < records.length; i++) {
    o += body.write(i > 0 ? ',{"Data":"' : '{"Data":"', o, 'latin1');
    o += body.write(records[i].data.toString('base64'), o, 'latin1');
    o += body.write('","PartitionKey":', o, 'latin1');
    o += body.write(keys[i], o, 'utf8');
    body[o++] = 0x7d; // }
  }
  o += body.write(tail, o, 'utf8');
  if (o !== size) throw new Error(`PutRecords body: wrote ${o} of ${size} bytes`); // unreachable
  return body;
}

/** Indexes of the entries Kinesis refused, from a PutRecords answer's JSON. */
export function failedEntries(answer: Buffer): number[] {
  // A refused entry carries an ErrorCode: without one anywhere there is nothing to parse.
  if (answer.indexOf(ERROR_CODE) < 0) return [];
  const parsed = JSON.parse(answer.toString('utf8')) as { Records?: { ErrorCode?: string }[] };
  const failed: number[] = [];
  (parsed.Records ?? []).forEach((r, i) => {
    if (r?.ErrorCode) failed.push(i);
  });
  return failed;
}

async function readAll(body: unknown): Promise<Buffer> {
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer | string>) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/** Whether the client was given a logger (the SDK's default is a NoOpLogger). */
function hasLogger(client: KinesisClient): boolean {
  const logger = (client.config as { logger?: { constructor?: { name?: string } } }).logger;
  return logger !== undefined && logger.constructor?.name !== 'NoOpLogger';
}

/** What a lean call carries on its command's input (a symbol key: the SDK's serializer ignores it). */
const kLean = Symbol('sluice.putRecords');
interface Lean {
  body: Buffer;
  failed: number[];
  answered: boolean;
}
type LeanInput = PutRecordsCommandInput & { [kLean]?: Lean };

interface Exchange {
  input: LeanInput;
  request: { body?: unknown };
}
interface Answer {
  response: { statusCode?: number; body?: unknown };
}

type Add = <A, R>(
  middleware: (next: (args: A) => Promise<R>) => (args: A) => Promise<R>,
  options: { name: string; step: 'initialize' | 'build' | 'deserialize'; priority?: 'high' | 'low'; override?: boolean },
) => void;

const installed = new WeakSet<KinesisClient>();

/**
 * The lean call's two steps, added once to the client's middleware stack (a command of its own
 * would make the SDK resolve its stack anew on every call). Both act only on a call marked with
 * `kLean`; every other command of the client goes through them untouched.
 */
function install(client: KinesisClient): void {
  if (installed.has(client)) return;
  installed.add(client);
  // The SDK's typings tie each step to its own handler types; these are typed by hand.
  const add = client.middlewareStack.add.bind(client.middlewareStack) as unknown as Add;
  // First thing after the SDK's serializer: the body of the empty call becomes the real one
  // (content length and signature are computed from it by the SDK's later steps).
  add(
    (next: (args: Exchange) => Promise<unknown>) => async (args: Exchange): Promise<unknown> => {
      const lean = args.input[kLean];
      if (lean) args.request.body = lean.body;
      return next(args);
    },
    { name: 'sluicePutRecordsBody', step: 'build', priority: 'high' },
  );
  // Last thing before the HTTP handler: a successful answer is read here for its failed entries
  // and the SDK's deserializer gets `{}`; any other answer reaches it untouched (errors, retries).
  add(
    (next: (args: Exchange) => Promise<Answer>) => async (args: Exchange): Promise<Answer> => {
      const out = await next(args);
      const lean = args.input[kLean];
      if (lean && out.response.statusCode === 200) {
        lean.failed = failedEntries(await readAll(out.response.body));
        lean.answered = true;
        out.response.body = EMPTY_JSON;
      }
      return out;
    },
    { name: 'sluicePutRecordsAnswer', step: 'deserialize', priority: 'low' },
  );
  // The SDK's logger middleware walks every input and output for its log filter even when there
  // is no logger to log to (its NoOpLogger): a tenth of a PutRecords call. Without a logger it
  // has nothing to do, and is replaced by a pass-through.
  if (!hasLogger(client)) add((next: (args: unknown) => Promise<unknown>) => next, { name: 'loggerMiddleware', step: 'initialize', override: true });
}

/** PutRecords of `records` to `stream` with this client; resolves the refused entries' indexes. */
export async function putRecordsDirect(client: KinesisClient, stream: string, records: readonly PutEntry[]): Promise<PutResult> {
  if (records.length === 0) return { failed: [] };
  install(client);
  let pooled: Buffer | undefined;
  const lean: Lean = { body: putRecordsBody(stream, records, (size) => (pooled = takeBuffer(size))), failed: [], answered: false };
  const input: LeanInput = { StreamName: stream, Records: [], [kLean]: lean };
  await client.send(new PutRecordsCommand(input));
  if (lean.answered && pooled) giveBack(pooled);
  return { failed: lean.failed };
}
