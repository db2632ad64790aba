import type { StreamRecord } from '../adapters/kinesis';
import { genericError, processorFor, type BadRow } from '../enrich/bad-rows';
import { truncateUtf8 } from '../codecs/bounded-json';

// Poison records: a record that makes a processor throw for a reason tied to the record itself
// would otherwise be retried forever and stall its shard. The consumer tells the two kinds of
// failure apart (isRecordError), retries a record-tied failure record by record a bounded number
// of times, and then hands the record to the processor's skipPoison, which commits it as a bad
// row together with the checkpoint. Infrastructure failures (Kinesis, S3, PostgreSQL down) are
// never skipped: they keep retrying with backoff.

export interface PoisonFailure {
  /** The last error, as `Name: message`. */
  error: string;
  attempts: number;
  processor: string;
}

// PostgreSQL SQLSTATE classes raised by the data itself: 22 data exception (bad value, NUL in
// jsonb, numeric overflow), 23 integrity constraint, 54 program limit (jsonb too deep or large).
const DATA_SQLSTATE = /^(22|23|54)[0-9A-Z]{3}$/;

/**
 * True when the error comes from a record's content, not from the infrastructure. Only errors
 * that data can cause count: JavaScript's own errors for impossible values (RangeError for a
 * stack overflow, TypeError, SyntaxError, URIError) and PostgreSQL's data classes. Anything else
 * (network, service, a plain Error from an adapter) is infrastructure.
 */
export function isRecordError(err: unknown): boolean {
  if (err instanceof RangeError || err instanceof TypeError || err instanceof SyntaxError || err instanceof URIError) {
    // Node reports sockets and the AWS SDK some client failures as TypeErrors with a code
    // (e.g. fetch failed, ERR_INVALID_URL): those are not the record's fault.
    return (err as { code?: unknown }).code === undefined && !(err as { cause?: unknown }).cause && !('$metadata' in err);
  }
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && DATA_SQLSTATE.test(code) && typeof (err as { severity?: unknown }).severity === 'string';
}

// Failures that say the service behind a processor is away or busy, and will likely come back:
// sockets refused or cut, PostgreSQL's connection class 08, shutting down or starting (57P01-03),
// too many connections (53300), lock_timeout (55P03: a batch load holds the warehouse write lock),
// serialization failures and deadlocks (40001, 40P01); the AWS SDK's throttling and 5xx.
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', '57P01', '57P02', '57P03', '53300', '55P03', '40001', '40P01']);

/** True when a processor failed because a service it writes to is unavailable for now (park and retry, do not fail the attempt). */
export function isUnavailableError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; message?: unknown; name?: unknown; $metadata?: { httpStatusCode?: number }; $retryable?: unknown; cause?: unknown; errors?: unknown[] };
  if (typeof e.code === 'string' && (UNAVAILABLE_CODES.has(e.code) || /^08[0-9A-Z]{3}$/.test(e.code))) return true;
  if (typeof e.message === 'string' && /^(Connection terminated|timeout exceeded when trying to connect)/.test(e.message)) return true;
  if (e.$metadata && (e.$retryable || (e.$metadata.httpStatusCode ?? 0) >= 500 || /Throttl/.test(String(e.name)))) return true;
  // AggregateError (a connect that tried several addresses) and wrapped causes.
  if (Array.isArray(e.errors) && e.errors.some(isUnavailableError)) return true;
  return e.cause !== undefined && e.cause !== err && isUnavailableError(e.cause);
}

export const describeError = (err: unknown): string =>
  err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 2_000) : String(err).slice(0, 2_000);

/**
 * The bad row of a skipped record: Snowplow's generic_error, the record's bytes as the payload
 * (UTF-8 when they are text, else base64; cut to fit the bad-row bound), and where it was read.
 */
export function poisonBadRow(record: StreamRecord, where: { stream: string; shardId: string }, failure: PoisonFailure, version: string, at = Date.now()): BadRow {
  const text = record.data.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(record.data);
  const payload = truncateUtf8(isText ? text : `base64:${record.data.toString('base64')}`, 500_000);
  return genericError(processorFor(version), at, payload, [
    `${failure.processor} gave up on record ${record.sequenceNumber} of ${where.stream}/${where.shardId} after ${failure.attempts} attempts: ${failure.error}`,
  ]);
}

export interface IsolationSteps {
  /** Processes records after a checkpoint; returns the committed checkpoint. */
  run(records: StreamRecord[], after: string | undefined): Promise<string | undefined>;
  /** Commits one record as bad, with the checkpoint; returns it. */
  skip(record: StreamRecord, failure: PoisonFailure, after: string | undefined): Promise<string>;
  onPoison?(record: StreamRecord, failure: PoisonFailure): void;
  /** After each record committed (good or skipped): the consumer heartbeats here. */
  onCommitted?(checkpoint: string): void;
}

/**
 * Records skipped in a row after which isolation gives up and fails the attempt: a bug that
 * fails every record alike is not the records' fault. The activity then retries with backoff,
 * so such a run is slowed to this many bad rows per attempt and shows in the metrics and logs.
 */
export const MAX_SKIPPED_IN_A_ROW = 10;

export class PoisonRunError extends Error {
  override name = 'PoisonRunError';
}

/**
 * After a batch failed with a record error: the records one at a time, each retried up to
 * `maxAttempts` times while it fails with a record error, then skipped as bad. Returns the last
 * checkpoint committed. Any other error ends the isolation and propagates (what was committed
 * so far stays committed, so the retry continues after it).
 */
export async function isolatePoison(records: StreamRecord[], after: string | undefined, steps: IsolationSteps, opts: { maxAttempts: number; processor: string }): Promise<string | undefined> {
  let checkpoint = after;
  let skippedInARow = 0;
  for (const record of records) {
    let lastError: unknown;
    let attempts = 0;
    let committed: string | undefined;
    while (committed === undefined && attempts < opts.maxAttempts) {
      attempts += 1;
      try {
        committed = await steps.run([record], checkpoint);
        if (committed === undefined) throw new Error(`${opts.processor} did not commit record ${record.sequenceNumber}: it cannot isolate poison records`);
      } catch (err) {
        if (!isRecordError(err)) throw err;
        lastError = err;
      }
    }
    if (committed === undefined) {
      const failure: PoisonFailure = { error: describeError(lastError), attempts, processor: opts.processor };
      if (++skippedInARow > MAX_SKIPPED_IN_A_ROW) {
        throw new PoisonRunError(`${opts.processor}: ${MAX_SKIPPED_IN_A_ROW} records in a row failed alike, the next with ${failure.error}; not skipping more in this attempt`);
      }
      committed = await steps.skip(record, failure, checkpoint);
      steps.onPoison?.(record, failure);
    } else skippedInARow = 0;
    checkpoint = committed;
    steps.onCommitted?.(committed);
  }
  return checkpoint;
}
