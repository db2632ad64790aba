import {
  BatchExecuteStatementCommand, CancelStatementCommand, DescribeStatementCommand, type DescribeStatementResponse,
  ExecuteStatementCommand, type Field, GetStatementResultCommand, RedshiftDataClient, type SqlParameter,
} from '@aws-sdk/client-redshift-data';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { SluiceConfig } from '../config';

// Redshift through the Data API: submit a statement (or a batch, which Redshift runs as one
// transaction), poll DescribeStatement until it is FINISHED, FAILED or ABORTED (each poll
// reports progress, for activity heartbeats), then read results with GetStatementResult.

export interface RedshiftTarget {
  /** Serverless. */
  workgroupName?: string;
  /** Provisioned cluster. */
  clusterIdentifier?: string;
  database: string;
  secretArn?: string;
  dbUser?: string;
}

export function redshiftTarget(config: SluiceConfig): RedshiftTarget {
  const r = config.warehouse.redshift;
  if (!r.workgroupName && !r.clusterIdentifier) {
    throw new Error('warehouse.redshift needs workgroupName (serverless) or clusterIdentifier (provisioned)');
  }
  return { workgroupName: r.workgroupName, clusterIdentifier: r.clusterIdentifier, database: r.database, secretArn: r.secretArn, dbUser: r.dbUser };
}

// The local endpoint (warehouse/redshift-local/) checks no signature: fixed dummy credentials, so
// no AWS credential chain is needed on a laptop. mode=aws takes the SDK's default chain.
const LOCAL_CREDENTIALS = { accessKeyId: 'SLUICELOCAL', secretAccessKey: 'sluice-local-not-a-secret' };

export function makeRedshiftDataClient(config: SluiceConfig): RedshiftDataClient {
  const { endpoint, mode } = config.warehouse.redshift;
  return new RedshiftDataClient({
    region: config.region,
    maxAttempts: 3,
    ...(endpoint ? { endpoint, requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 30_000 }) } : {}),
    ...(mode === 'local' ? { credentials: LOCAL_CREDENTIALS } : {}),
  });
}

export class RedshiftStatementError extends Error {
  override name = 'RedshiftStatementError';
  constructor(
    message: string,
    readonly statementId: string,
    readonly status: string,
    /** Index (0-based) of the failed statement within a batch. */
    readonly failedIndex?: number,
  ) {
    super(message);
  }
}

export interface PollOptions {
  pollMs: number;
  /** Called after every poll with the statement's description (heartbeat here). */
  onPoll?: (d: DescribeStatementResponse) => void;
  /** Aborting cancels the statement on Redshift. */
  signal?: AbortSignal;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

async function waitFor(client: RedshiftDataClient, id: string, opts: PollOptions): Promise<DescribeStatementResponse> {
  for (;;) {
    if (opts.signal?.aborted) {
      await client.send(new CancelStatementCommand({ Id: id })).catch(() => undefined);
      throw new RedshiftStatementError(`statement ${id} cancelled`, id, 'ABORTED');
    }
    const d = await client.send(new DescribeStatementCommand({ Id: id }));
    opts.onPoll?.(d);
    if (d.Status === 'FINISHED') return d;
    if (d.Status === 'FAILED' || d.Status === 'ABORTED') {
      const subs = d.SubStatements ?? [];
      const failedIndex = subs.findIndex((s) => s.Status === 'FAILED' || s.Status === 'ABORTED');
      const failed = failedIndex >= 0 ? subs[failedIndex] : undefined;
      const what = failed ? ` (statement ${failedIndex + 1} of ${subs.length}: ${(failed.QueryString ?? '').slice(0, 300)})` : '';
      throw new RedshiftStatementError(`Redshift statement ${id} ${d.Status}: ${failed?.Error ?? d.Error ?? 'no error message'}${what}`, id, d.Status, failedIndex >= 0 ? failedIndex : undefined);
    }
    await sleep(opts.pollMs, opts.signal);
  }
}

function targetParams(t: RedshiftTarget) {
  return {
    Database: t.database,
    ...(t.workgroupName ? { WorkgroupName: t.workgroupName } : { ClusterIdentifier: t.clusterIdentifier }),
    ...(t.secretArn ? { SecretArn: t.secretArn } : t.dbUser ? { DbUser: t.dbUser } : {}),
  };
}

export async function executeStatement(client: RedshiftDataClient, target: RedshiftTarget, sql: string, parameters: SqlParameter[] | undefined, opts: PollOptions): Promise<DescribeStatementResponse> {
  const { Id } = await client.send(new ExecuteStatementCommand({ ...targetParams(target), Sql: sql, Parameters: parameters?.length ? parameters : undefined, StatementName: 'sluice' }));
  return waitFor(client, Id!, opts);
}

/** Runs the statements as one transaction (BatchExecuteStatement); a failure rolls back all of them. */
export async function executeBatch(client: RedshiftDataClient, target: RedshiftTarget, sqls: string[], opts: PollOptions): Promise<DescribeStatementResponse> {
  const { Id } = await client.send(new BatchExecuteStatementCommand({ ...targetParams(target), Sqls: sqls, StatementName: 'sluice' }));
  return waitFor(client, Id!, opts);
}

/**
 * Idempotent DDL (CREATE … IF NOT EXISTS) run as one batch the first time the returned function is
 * called, and again on the next call after a failure; concurrent callers share the one run.
 */
export function ddlOnce(client: RedshiftDataClient, target: RedshiftTarget, sqls: () => string[], opts: () => PollOptions): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= executeBatch(client, target, sqls(), opts()).then(
      () => undefined,
      (err) => {
        done = undefined;
        throw err;
      },
    );
    return done;
  };
}

function fieldValue(f: Field): unknown {
  if (f.isNull) return null;
  if (f.stringValue !== undefined) return f.stringValue;
  if (f.longValue !== undefined) return f.longValue;
  if (f.booleanValue !== undefined) return f.booleanValue;
  if (f.doubleValue !== undefined) return f.doubleValue;
  return null;
}

/** Every row of a finished statement's result, as objects keyed by column name. */
export async function fetchRows(client: RedshiftDataClient, id: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  let token: string | undefined;
  do {
    const out = await client.send(new GetStatementResultCommand({ Id: id, NextToken: token }));
    const names = (out.ColumnMetadata ?? []).map((c, i) => c.name ?? c.label ?? `col${i}`);
    for (const rec of out.Records ?? []) rows.push(Object.fromEntries(rec.map((f, i) => [names[i], fieldValue(f)])));
    token = out.NextToken;
  } while (token);
  return rows;
}
