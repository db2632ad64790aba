import { randomUUID } from 'node:crypto';
import { redshiftSqlProblems } from '../redshift-dialect';
import { UnsafeIdentifierError, quoteIdent } from '../sql';
import { CopyOptionError, isCopyStatement, parseCopy } from './copy-from-s3';
import type { Executor } from './executor';
import { pageToken, readPageToken, resultPage } from './results';
import { type Statement, type StatementStore, type SubStatement, type Target, TERMINAL } from './statements';
import { type DataApiParameter, TranslateError, translateSql } from './translate';

// The Data API operations (ExecuteStatement, BatchExecuteStatement, DescribeStatement,
// GetStatementResult, CancelStatement, ListStatements): inputs validated as the Data API does,
// statements prepared at submit (translated, COPY parsed, checked for PostgreSQL-only SQL when
// strict) and handed to the executor; answers shaped as the SDK expects (times in epoch seconds).

export class ApiError extends Error {
  constructor(readonly type: string, message: string, readonly status = 400) {
    super(message);
  }
}

export interface ProtocolContext {
  store: StatementStore;
  executor: Executor;
  /** Refuse statements with PostgreSQL-only SQL (redshiftSqlProblems). */
  strict: boolean;
  pageRows: number;
  /** Statements not yet ended, beyond which submits are refused (the Data API allows 500). */
  maxActive: number;
}

type Body = Record<string, unknown>;

const MAX_SQL_BYTES = 100 * 1024;
const MAX_BATCH = 40;
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const invalid = (message: string) => new ApiError('ValidationException', message);

function optString(b: Body, key: string, max = 2048): string | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw invalid(`${key} must be a non-empty string of at most ${max} characters`);
  return v;
}

function target(b: Body): Target {
  const database = optString(b, 'Database', 127);
  if (!database) throw invalid('Database is required');
  try {
    quoteIdent(database);
  } catch (err) {
    if (err instanceof UnsafeIdentifierError) throw invalid(`Database ${JSON.stringify(database)} is not a plain database name`);
    throw err;
  }
  const workgroupName = optString(b, 'WorkgroupName', 64);
  const clusterIdentifier = optString(b, 'ClusterIdentifier', 63);
  if (!workgroupName === !clusterIdentifier) throw invalid('exactly one of WorkgroupName (serverless) and ClusterIdentifier (provisioned) is required');
  for (const unsupported of ['SessionId', 'SessionKeepAliveSeconds']) {
    if (b[unsupported] !== undefined) throw invalid(`${unsupported} is not supported by the local Data API endpoint: every statement runs in a session of its own`);
  }
  if (b.ResultFormat !== undefined && b.ResultFormat !== 'JSON') throw invalid('only ResultFormat JSON is supported by the local Data API endpoint');
  return { database, workgroupName, clusterIdentifier, dbUser: optString(b, 'DbUser', 128), secretArn: optString(b, 'SecretArn') };
}

function sqlText(v: unknown, what: string): string {
  if (typeof v !== 'string' || !v.trim()) throw invalid(`${what} must be a non-empty string`);
  if (Buffer.byteLength(v) > MAX_SQL_BYTES) throw invalid(`${what} is over ${MAX_SQL_BYTES} bytes`);
  return v;
}

function parameters(v: unknown): DataApiParameter[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length > 1000) throw invalid('Parameters must be a list of at most 1000 {name, value}');
  return v.map((p) => {
    if (!p || typeof p.name !== 'string' || typeof p.value !== 'string') throw invalid('each parameter needs a string name and a string value');
    return { name: p.name, value: p.value };
  });
}

function prepare(sql: string, params: DataApiParameter[] | undefined, ctx: ProtocolContext, queryId: number): SubStatement {
  if (ctx.strict) {
    const problems = redshiftSqlProblems(sql);
    if (problems.length) throw invalid(`not Redshift SQL (PostgreSQL-only): ${problems.join('; ')}: ${sql.slice(0, 200)}`);
  }
  let run: SubStatement['run'];
  try {
    if (isCopyStatement(sql)) {
      if (params?.length) throw invalid('COPY takes no parameters');
      run = { kind: 'copy', spec: parseCopy(sql) };
    } else {
      const t = translateSql(sql, params ?? []);
      run = { kind: 'sql', sql: t.sql, values: t.values, after: t.after };
    }
  } catch (err) {
    if (err instanceof TranslateError || err instanceof CopyOptionError) throw invalid(err.message);
    throw err;
  }
  const now = Date.now();
  return { sql, run, status: 'SUBMITTED', resultRows: -1, hasResultSet: false, queryId, createdAt: now, updatedAt: now };
}

const secs = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);
const nanos = (from?: number, to?: number) => (from === undefined ? -1 : ((to ?? Date.now()) - from) * 1_000_000);

function targetFields(t: Target) {
  return { Database: t.database, WorkgroupName: t.workgroupName, ClusterIdentifier: t.clusterIdentifier, DbUser: t.dbUser, SecretArn: t.secretArn };
}

function describeSub(s: Statement, sub: SubStatement, i: number) {
  return {
    Id: `${s.id}:${i + 1}`, Status: sub.status, Error: sub.error, QueryString: sub.sql, HasResultSet: sub.hasResultSet,
    ResultRows: sub.resultRows, ResultSize: sub.result?.bytes ?? -1, RedshiftQueryId: sub.queryId,
    CreatedAt: secs(sub.createdAt), UpdatedAt: secs(sub.updatedAt), Duration: nanos(sub.startedAt, sub.endedAt),
  };
}

function describe(s: Statement) {
  const one = s.subs[0];
  return {
    Id: s.id, Status: s.status, Error: s.error, CreatedAt: secs(s.createdAt), UpdatedAt: secs(s.updatedAt),
    Duration: nanos(s.startedAt, s.endedAt), RedshiftPid: s.pid, ...targetFields(s.target),
    HasResultSet: s.subs.some((x) => x.hasResultSet),
    ...(s.isBatch
      ? { SubStatements: s.subs.map((sub, i) => describeSub(s, sub, i)), ResultRows: -1 }
      : { QueryString: one.sql, ResultRows: one.resultRows, ResultSize: one.result?.bytes ?? -1, RedshiftQueryId: one.queryId, QueryParameters: s.parameters }),
  };
}

function lookup(ctx: ProtocolContext, b: Body): { s: Statement; sub?: number } {
  const raw = b.Id;
  const m = typeof raw === 'string' ? /^(.{36})(?::(\d{1,3}))?$/.exec(raw) : null;
  if (!m || !ID.test(m[1])) throw invalid('Id must be a statement id (a UUID, or <id>:<n> for a batch sub-statement)');
  const s = ctx.store.get(m[1]);
  if (!s) throw new ApiError('ResourceNotFoundException', `Query does not exist: ${raw}`);
  const sub = m[2] === undefined ? undefined : Number(m[2]);
  if (sub !== undefined && (!s.isBatch || sub < 1 || sub > s.subs.length)) throw new ApiError('ResourceNotFoundException', `Query does not exist: ${raw}`);
  return { s, sub };
}

function submit(ctx: ProtocolContext, b: Body, sqls: string[], isBatch: boolean, params?: DataApiParameter[]) {
  const t = target(b);
  const token = optString(b, 'ClientToken', 64);
  const name = optString(b, 'StatementName', 500);
  const earlier = token ? ctx.store.withToken(token) : undefined;
  if (!earlier && ctx.store.active() >= ctx.maxActive) throw new ApiError('ActiveStatementsExceededException', `more than ${ctx.maxActive} statements are running`);
  const s: Statement = earlier ?? {
    id: randomUUID(), name, target: t, isBatch, parameters: params,
    subs: sqls.map((q) => prepare(q, params, ctx, ctx.store.nextQueryId())),
    status: 'SUBMITTED', createdAt: Date.now(), updatedAt: Date.now(), cancelRequested: false, clientToken: token,
  };
  if (!earlier) {
    ctx.store.add(s);
    ctx.executor.submit(s);
  }
  return { Id: s.id, CreatedAt: secs(s.createdAt), ...targetFields(s.target) };
}

export function handlers(ctx: ProtocolContext): Record<string, (b: Body) => unknown> {
  return {
    ExecuteStatement: (b) => submit(ctx, b, [sqlText(b.Sql, 'Sql')], false, parameters(b.Parameters)),
    BatchExecuteStatement: (b) => {
      if (!Array.isArray(b.Sqls) || b.Sqls.length < 1 || b.Sqls.length > MAX_BATCH) throw invalid(`Sqls must hold 1 to ${MAX_BATCH} statements`);
      if (b.Parameters !== undefined) throw invalid('BatchExecuteStatement takes no Parameters');
      return submit(ctx, b, b.Sqls.map((q, i) => sqlText(q, `Sqls[${i}]`)), true);
    },
    DescribeStatement: (b) => {
      const { s, sub } = lookup(ctx, b);
      return sub === undefined ? describe(s) : describeSub(s, s.subs[sub - 1], sub - 1);
    },
    GetStatementResult: (b) => {
      const { s, sub } = lookup(ctx, b);
      if (s.isBatch && sub === undefined) throw invalid(`${s.id} is a batch: ask for a sub-statement's result with Id <id>:<n>`);
      const st = s.subs[(sub ?? 1) - 1];
      if (st.status !== 'FINISHED' || !st.result) throw new ApiError('ResourceNotFoundException', 'Query does not have result. Please check query status with DescribeStatement.');
      const token = optString(b, 'NextToken', 4096);
      const offset = token === undefined ? 0 : readPageToken(token, String(b.Id));
      if (offset === undefined) throw invalid('NextToken is not one this statement returned');
      return resultPage(String(b.Id), st.result, offset, ctx.pageRows);
    },
    CancelStatement: async (b) => {
      const { s } = lookup(ctx, b);
      if (TERMINAL.has(s.status)) throw invalid(`Could not cancel a query that is already in ${s.status} state with ID: ${s.id}`);
      return { Status: await ctx.executor.cancel(s) };
    },
    ListStatements: (b) => {
      const max = b.MaxResults === undefined ? 100 : Number(b.MaxResults);
      if (!Number.isInteger(max) || max < 0 || max > 100) throw invalid('MaxResults must be 0 to 100');
      const status = optString(b, 'Status', 16);
      const name = optString(b, 'StatementName', 500);
      const all = ctx.store.all().reverse().filter((s) => (!status || status === 'ALL' || s.status === status) && (!name || s.name?.startsWith(name)));
      const token = optString(b, 'NextToken', 4096);
      const offset = token === undefined ? 0 : readPageToken(token, 'list');
      if (offset === undefined) throw invalid('NextToken is not one ListStatements returned');
      const page = all.slice(offset, offset + (max || 100));
      return {
        Statements: page.map((s) => ({
          Id: s.id, Status: s.status, StatementName: s.name, CreatedAt: secs(s.createdAt), UpdatedAt: secs(s.updatedAt),
          IsBatchStatement: s.isBatch, SecretArn: s.target.secretArn, QueryParameters: s.parameters,
          ...(s.isBatch ? { QueryStrings: s.subs.map((x) => x.sql) } : { QueryString: s.subs[0].sql }),
        })),
        ...(offset + page.length < all.length ? { NextToken: pageToken('list', offset + page.length) } : {}),
      };
    },
  };
}
