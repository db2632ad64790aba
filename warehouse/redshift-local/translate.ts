import { isSignificant, keyword, SqlSyntaxError, type Token, tokenize } from './sql-tokens';

// Redshift SQL → PostgreSQL, for the local Data API endpoint. Only what PostgreSQL cannot run is
// rewritten; everything else goes through as sent, so a statement Redshift would refuse still fails:
//  - Data API parameters `:name` → `$n` (values bound, never spliced into the text);
//  - table and column attributes PostgreSQL has no notion of: ENCODE, DISTSTYLE, DISTKEY, SORTKEY
//    (COMPOUND / INTERLEAVED), BACKUP;
//  - PRIMARY KEY, UNIQUE and FOREIGN KEY / REFERENCES in CREATE TABLE: Redshift declares but never
//    enforces them, PostgreSQL would (a duplicate event_id would fail a load locally and not on
//    Redshift, and REFERENCES needs a unique key PostgreSQL would enforce), so the pipeline must not
//    depend on them either way;
//  - GETDATE() → now()::timestamp (sessions run in UTC, as Redshift does).
// COPY from S3 is not translated: copy-from-s3.ts runs it. Pure.

export interface DataApiParameter {
  name: string;
  value: string;
}

export interface TranslatedSql {
  sql: string;
  values: string[];
  /**
   * Statements to run right after it: for a CREATE TABLE with a DISTKEY or SORTKEY, a PostgreSQL
   * index on those columns, the local stand-in for what Redshift gets from its layout (a sort key's
   * zone maps, a distribution key's co-located joins), so lookups by them do not scan the table.
   */
  after: string[];
}

export class TranslateError extends Error {
  override name = 'TranslateError';
}

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Significant-token view over a token list, with edits applied at the end. */
class Edit {
  readonly sig: number[];
  private readonly removed = new Set<number>();
  private readonly replaced = new Map<number, string>();

  constructor(readonly tokens: Token[]) {
    this.sig = tokens.flatMap((t, i) => (isSignificant(t) ? [i] : []));
  }

  tok(k: number): Token | undefined {
    return this.tokens[this.sig[k]];
  }

  kw(k: number): string {
    return keyword(this.tok(k));
  }

  isOp(k: number, text: string): boolean {
    const t = this.tok(k);
    return t?.kind === 'op' && t.text === text;
  }

  /** The significant index of the `)` matching the `(` at k. */
  close(k: number): number {
    let depth = 0;
    for (let j = k; j < this.sig.length; j++) {
      if (this.isOp(j, '(')) depth++;
      else if (this.isOp(j, ')') && --depth === 0) return j;
    }
    throw new TranslateError('unbalanced parentheses');
  }

  /** Removes significant tokens from..to (inclusive) and whatever lies between them, plus the space before (or after). */
  remove(from: number, to: number, spaceAfter = false): void {
    const [start, end] = [this.sig[from], this.sig[to]];
    for (let i = start; i <= end; i++) this.removed.add(i);
    const space = spaceAfter ? end + 1 : start - 1;
    if (this.tokens[space]?.kind === 'ws') this.removed.add(space);
  }

  replace(k: number, text: string): void {
    this.replaced.set(this.sig[k], text);
  }

  text(): string {
    return this.tokens.map((t, i) => (this.removed.has(i) ? '' : (this.replaced.get(i) ?? t.text))).join('');
  }
}

/** After a (possibly qualified) name starting at k: the next significant index. */
function skipName(e: Edit, k: number): number {
  let j = k + 1;
  while (e.isOp(j, '.') && e.tok(j + 1)) j += 2;
  return j;
}

/**
 * Strips Redshift's column attributes (ENCODE x, DISTKEY, SORTKEY) and the key constraints
 * Redshift does not enforce (PRIMARY KEY, UNIQUE, REFERENCES t (c)) from one column definition
 * spanning significant indexes from..to. Only at the definition's own level: a DEFAULT (…) stays.
 */
function stripColumnAttributes(e: Edit, from: number, to: number): void {
  for (let k = from + 1; k <= to; k++) {
    if (e.isOp(k, '(')) {
      k = e.close(k);
      continue;
    }
    const w = e.kw(k);
    const constraintStart = e.kw(k - 2) === 'CONSTRAINT' ? k - 2 : k;
    if (w === 'ENCODE' && k + 1 <= to) {
      e.remove(k, k + 1);
      k++;
    } else if (w === 'DISTKEY' || w === 'SORTKEY') {
      e.remove(k, k);
    } else if (w === 'PRIMARY' && e.kw(k + 1) === 'KEY') {
      e.remove(constraintStart, k + 1);
      k++;
    } else if (w === 'UNIQUE') {
      e.remove(constraintStart, k);
    } else if (w === 'REFERENCES') {
      let end = skipName(e, k + 1) - 1;
      if (e.isOp(end + 1, '(')) end = e.close(end + 1);
      e.remove(constraintStart, end);
      k = end;
    }
  }
}

const TABLE_CONSTRAINT = new Set(['PRIMARY', 'UNIQUE', 'FOREIGN']);

/** The column list of CREATE TABLE between the parentheses at open..close. */
function rewriteElements(e: Edit, open: number, close: number): void {
  const elements: [number, number][] = [];
  let start = open + 1;
  for (let k = open + 1; k <= close; k++) {
    if (e.isOp(k, '(')) k = e.close(k);
    else if (e.isOp(k, ',') || k === close) {
      elements.push([start, k - 1]);
      start = k + 1;
    }
  }
  elements.forEach(([from, to], n) => {
    const first = e.kw(from) === 'CONSTRAINT' ? e.kw(from + 2) : e.kw(from);
    if (TABLE_CONSTRAINT.has(first)) {
      // With the comma that separates it from its neighbour.
      if (n > 0) e.remove(from - 1, to);
      else e.remove(from, Math.min(to + 1, close - 1), true);
    } else {
      stripColumnAttributes(e, from, to);
    }
  });
}

/** The text of significant tokens from..to (inclusive), as written. */
function textOf(e: Edit, from: number, to: number): string {
  const out: string[] = [];
  for (let k = from; k <= to; k++) out.push(e.tok(k)!.text);
  return out.join(' ').replace(/ \. /g, '.').replace(/ , /g, ', ');
}

/** An index name for a table's key, from its (possibly qualified, quoted) name. */
function indexName(table: string, kind: string): string {
  const base = table.replace(/"/g, '').replace(/[^A-Za-z0-9_]/g, '_').toLowerCase();
  return `"${`${base}`.slice(0, 63 - kind.length - 1)}_${kind}"`;
}

/** Table attributes after the column list (or the name, for CREATE TABLE … AS), up to AS; keys → `keys`. */
function stripTableAttributes(e: Edit, from: number, keys: { kind: string; columns: string }[] = []): void {
  for (let k = from; k < e.sig.length; k++) {
    const w = e.kw(k);
    if (w === 'AS') return;
    if ((w === 'DISTSTYLE' || w === 'BACKUP' || w === 'ENCODE') && e.tok(k + 1)) {
      e.remove(k, k + 1);
      k++;
    } else if (w === 'DISTKEY' && e.isOp(k + 1, '(')) {
      const end = e.close(k + 1);
      if (end > k + 2) keys.push({ kind: 'distkey', columns: textOf(e, k + 2, end - 1) });
      e.remove(k, end);
      k = end;
    } else if (w === 'SORTKEY' || ((w === 'COMPOUND' || w === 'INTERLEAVED') && e.kw(k + 1) === 'SORTKEY')) {
      const at = w === 'SORTKEY' ? k : k + 1;
      const end = e.isOp(at + 1, '(') ? e.close(at + 1) : at + 1;
      if (end > at + 2) keys.push({ kind: 'sortkey', columns: textOf(e, at + 2, end - 1) });
      e.remove(k, end);
      k = end;
    }
  }
}

/** Rewrites DDL in place; returns the statements to run after it (indexes for the table's keys). */
function rewriteDdl(e: Edit): string[] {
  let k = 0;
  if (e.kw(0) === 'CREATE') {
    k = 1;
    let temporary = false;
    while (['LOCAL', 'TEMP', 'TEMPORARY'].includes(e.kw(k))) (k++, (temporary = true));
    if (e.kw(k) !== 'TABLE') return [];
    k++;
    if (e.kw(k) === 'IF' && e.kw(k + 1) === 'NOT' && e.kw(k + 2) === 'EXISTS') k += 3;
    const nameAt = k;
    k = skipName(e, k);
    const table = textOf(e, nameAt, k - 1);
    if (e.isOp(k, '(')) {
      const close = e.close(k);
      if (e.kw(k + 1) !== 'LIKE') rewriteElements(e, k, close);
      k = close + 1;
    }
    const keys: { kind: string; columns: string }[] = [];
    stripTableAttributes(e, k, keys);
    if (temporary) return [];
    return keys.map((key) => `CREATE INDEX IF NOT EXISTS ${indexName(table, key.kind)} ON ${table} (${key.columns})`);
  } else if (e.kw(0) === 'ALTER' && e.kw(1) === 'TABLE') {
    k = skipName(e, 2);
    if (e.kw(k) !== 'ADD') return [];
    const col = e.kw(k + 1) === 'COLUMN' ? k + 2 : k + 1;
    if (!['CONSTRAINT', ...TABLE_CONSTRAINT].includes(e.kw(col))) stripColumnAttributes(e, col, e.sig.length - 1);
  }
  return [];
}

/** `:name` → `$n`, in order of first use; every parameter must be used, every placeholder given. */
function bindParameters(e: Edit, parameters: readonly DataApiParameter[]): string[] {
  const given = new Map<string, string>();
  for (const p of parameters) {
    if (!PARAM_NAME.test(p.name)) throw new TranslateError(`invalid parameter name ${JSON.stringify(p.name)}`);
    if (given.has(p.name)) throw new TranslateError(`parameter ${p.name} is given twice`);
    given.set(p.name, p.value);
  }
  const order = new Map<string, number>();
  e.sig.forEach((_, k) => {
    const t = e.tok(k)!;
    if (t.kind !== 'param') return;
    const name = t.text.slice(1);
    if (!given.has(name)) throw new TranslateError(`the SQL uses :${name} but no parameter ${name} is given`);
    if (!order.has(name)) order.set(name, order.size + 1);
    e.replace(k, `$${order.get(name)}`);
  });
  const unused = [...given.keys()].filter((n) => !order.has(n));
  if (unused.length) throw new TranslateError(`parameters not used in the SQL: ${unused.join(', ')}`);
  return [...order.keys()].map((n) => given.get(n)!);
}

/** Significant tokens of one statement (a trailing `;` dropped); more than one statement is refused. */
export function statementTokens(sql: string): Token[] {
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch (err) {
    throw new TranslateError((err as SqlSyntaxError).message);
  }
  let last = tokens.length - 1;
  while (last >= 0 && (!isSignificant(tokens[last]) || tokens[last].text === ';')) last--;
  const body = tokens.slice(0, last + 1);
  if (body.some((t) => t.kind === 'op' && t.text === ';')) {
    throw new TranslateError('one SQL statement per Sql: send several with BatchExecuteStatement');
  }
  if (!body.some(isSignificant)) throw new TranslateError('the SQL is empty');
  return body;
}

export function translateSql(sql: string, parameters: readonly DataApiParameter[] = []): TranslatedSql {
  const e = new Edit(statementTokens(sql));
  const after = rewriteDdl(e);
  e.sig.forEach((_, k) => {
    if (e.kw(k) === 'GETDATE' && e.isOp(k + 1, '(') && e.isOp(k + 2, ')')) {
      e.replace(k, 'now()::timestamp');
      e.remove(k + 1, k + 2);
    }
  });
  const values = bindParameters(e, parameters);
  return { sql: e.text(), values, after };
}
