import type { CopySpec } from './copy-from-s3';
import type { DataApiParameter } from './translate';

// What the local endpoint remembers about each statement it was given: its sub-statements (one
// for ExecuteStatement, one per Sql for BatchExecuteStatement), their status and results. Kept in
// memory and bounded: finished statements are forgotten after `retentionMs`, beyond `maxFinished`,
// or when the results held pass `maxResultBytes` (oldest first), as the Data API keeps results
// for a limited time only.

export type StatementStatus = 'SUBMITTED' | 'PICKED' | 'STARTED' | 'FINISHED' | 'FAILED' | 'ABORTED';

export const TERMINAL: ReadonlySet<StatementStatus> = new Set(['FINISHED', 'FAILED', 'ABORTED']);

export interface StoredColumn {
  name: string;
  typeOid: number;
}

export interface StoredResult {
  columns: StoredColumn[];
  /** Rows as PostgreSQL's text output (null for NULL). */
  rows: (string | null)[][];
  bytes: number;
}

export interface SubStatement {
  /** The Redshift SQL as sent. */
  sql: string;
  /** What runs on PostgreSQL (translated), or the parsed COPY. */
  run: { kind: 'sql'; sql: string; values: string[]; after: string[] } | { kind: 'copy'; spec: CopySpec };
  status: StatementStatus;
  error?: string;
  /** Rows returned or affected; -1 when the statement reports none (DDL). */
  resultRows: number;
  hasResultSet: boolean;
  result?: StoredResult;
  queryId: number;
  createdAt: number;
  updatedAt: number;
  startedAt?: number;
  endedAt?: number;
}

export interface Target {
  database: string;
  workgroupName?: string;
  clusterIdentifier?: string;
  dbUser?: string;
  secretArn?: string;
}

export interface Statement {
  id: string;
  name?: string;
  target: Target;
  isBatch: boolean;
  parameters?: DataApiParameter[];
  subs: SubStatement[];
  status: StatementStatus;
  error?: string;
  createdAt: number;
  updatedAt: number;
  startedAt?: number;
  endedAt?: number;
  /** The PostgreSQL backend running it (for CancelStatement and RedshiftPid). */
  pid?: number;
  cancelRequested: boolean;
  clientToken?: string;
}

export interface StoreLimits {
  maxFinished: number;
  retentionMs: number;
  maxResultBytes: number;
}

export const DEFAULT_STORE_LIMITS: StoreLimits = { maxFinished: 10_000, retentionMs: 60 * 60 * 1000, maxResultBytes: 512 * 1024 * 1024 };

export class StatementStore {
  private readonly byId = new Map<string, Statement>();
  private readonly byToken = new Map<string, string>();
  private resultBytes = 0;
  private queryIds = 0;

  constructor(private readonly limits: StoreLimits = DEFAULT_STORE_LIMITS, private readonly now = () => Date.now()) {}

  nextQueryId(): number {
    return ++this.queryIds;
  }

  add(s: Statement): void {
    this.evict();
    this.byId.set(s.id, s);
    if (s.clientToken) this.byToken.set(s.clientToken, s.id);
  }

  get(id: string): Statement | undefined {
    return this.byId.get(id);
  }

  /** A statement submitted earlier with the same idempotency token (the SDK retries with it). */
  withToken(token: string): Statement | undefined {
    const id = this.byToken.get(token);
    return id ? this.byId.get(id) : undefined;
  }

  all(): Statement[] {
    return [...this.byId.values()];
  }

  active(): number {
    let n = 0;
    for (const s of this.byId.values()) if (!TERMINAL.has(s.status)) n++;
    return n;
  }

  /** Accounts for a result just stored, then evicts if that went over the budget. */
  addResultBytes(n: number): void {
    this.resultBytes += n;
    this.evict();
  }

  evict(): void {
    const cutoff = this.now() - this.limits.retentionMs;
    let finished = 0;
    for (const s of this.byId.values()) if (TERMINAL.has(s.status)) finished++;
    // Insertion order is submission order: the oldest come first.
    for (const s of this.byId.values()) {
      if (!TERMINAL.has(s.status)) continue;
      const over = finished > this.limits.maxFinished || this.resultBytes > this.limits.maxResultBytes;
      if (!over && (s.endedAt ?? s.updatedAt) >= cutoff) continue;
      this.drop(s);
      finished--;
    }
  }

  private drop(s: Statement): void {
    this.byId.delete(s.id);
    if (s.clientToken) this.byToken.delete(s.clientToken);
    for (const sub of s.subs) this.resultBytes -= sub.result?.bytes ?? 0;
  }
}
