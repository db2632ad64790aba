// A lexer for the SQL the Redshift path sends, shared by the local endpoint's translation and COPY
// parsing and by the dialect checker (warehouse/redshift-dialect.ts): every rewrite and check works
// on tokens, so nothing inside a string literal, a quoted identifier or a comment is ever touched.
// String literals follow Redshift: a backslash escapes the next character (the endpoint's sessions
// run with standard_conforming_strings off, so PostgreSQL reads them the same way). Pure.

export type TokenKind =
  | 'ws' | 'comment' | 'word' | 'qident' | 'string' | 'dollar' | 'number'
  /** `:name`, a Data API parameter */
  | 'param'
  /** `$1`, PostgreSQL's positional placeholder */
  | 'positional'
  | 'op';

export interface Token {
  kind: TokenKind;
  text: string;
}

export class SqlSyntaxError extends Error {
  override name = 'SqlSyntaxError';
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/;

/** Index just past a quoted run starting at `i` (the opening quote); `backslash`: it escapes. */
function endOfQuoted(sql: string, i: number, quote: string, backslash: boolean): number {
  for (let j = i + 1; j < sql.length; j++) {
    const c = sql[j];
    if (backslash && c === '\\') j++;
    else if (c === quote) {
      if (sql[j + 1] === quote) j++;
      else return j + 1;
    }
  }
  throw new SqlSyntaxError(`unterminated ${quote === "'" ? 'string literal' : 'quoted identifier'} at offset ${i}`);
}

function endOfBlockComment(sql: string, i: number): number {
  let depth = 0;
  for (let j = i; j < sql.length - 1; j++) {
    if (sql[j] === '/' && sql[j + 1] === '*') {
      depth++;
      j++;
    } else if (sql[j] === '*' && sql[j + 1] === '/') {
      depth--;
      j++;
      if (depth === 0) return j + 1;
    }
  }
  throw new SqlSyntaxError(`unterminated comment at offset ${i}`);
}

export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const push = (kind: TokenKind, end: number) => {
    out.push({ kind, text: sql.slice(i, end) });
    i = end;
  };
  while (i < sql.length) {
    const c = sql[i];
    const next = sql[i + 1] ?? '';
    if (/\s/.test(c)) {
      let j = i + 1;
      while (j < sql.length && /\s/.test(sql[j])) j++;
      push('ws', j);
    } else if (c === '-' && next === '-') {
      const nl = sql.indexOf('\n', i);
      push('comment', nl < 0 ? sql.length : nl);
    } else if (c === '/' && next === '*') {
      push('comment', endOfBlockComment(sql, i));
    } else if (c === "'") {
      push('string', endOfQuoted(sql, i, "'", true));
    } else if ((c === 'E' || c === 'e') && next === "'") {
      push('string', endOfQuoted(sql, i + 1, "'", true));
    } else if (c === '"') {
      push('qident', endOfQuoted(sql, i, '"', false));
    } else if (c === '$') {
      const digits = /^\$\d+/.exec(sql.slice(i, i + 12));
      const tag = DOLLAR_TAG.exec(sql.slice(i, i + 66));
      if (digits) push('positional', i + digits[0].length);
      else if (tag) {
        const close = sql.indexOf(tag[0], i + tag[0].length);
        if (close < 0) throw new SqlSyntaxError(`unterminated dollar-quoted string at offset ${i}`);
        push('dollar', close + tag[0].length);
      } else push('op', i + 1);
    } else if (c === ':' && next === ':') {
      push('op', i + 2);
    } else if (c === ':' && WORD_START.test(next)) {
      let j = i + 2;
      while (j < sql.length && /[A-Za-z0-9_]/.test(sql[j])) j++;
      push('param', j);
    } else if (/\d/.test(c) || (c === '.' && /\d/.test(next))) {
      const m = /^(\d*\.?\d*)([eE][+-]?\d+)?/.exec(sql.slice(i))!;
      push('number', i + Math.max(1, m[0].length));
    } else if (WORD_START.test(c)) {
      let j = i + 1;
      while (j < sql.length && WORD_PART.test(sql[j])) j++;
      push('word', j);
    } else {
      push('op', i + 1);
    }
  }
  return out;
}

export const isSignificant = (t: Token) => t.kind !== 'ws' && t.kind !== 'comment';

/** The value of a string token: quotes doubled or backslash-escaped, `\t`-style escapes decoded. */
export function stringValue(t: Token): string {
  const body = t.text.slice(t.text.indexOf("'") + 1, -1);
  const simple: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
  return body.replace(/''|\\([0-7]{1,3}|x[0-9A-Fa-f]{1,2}|[\s\S])/g, (m, esc: string | undefined) => {
    if (m === "''") return "'";
    const e = esc!;
    if (simple[e]) return simple[e];
    if (/^[0-7]+$/.test(e)) return String.fromCharCode(parseInt(e, 8));
    if (/^x[0-9A-Fa-f]+$/.test(e)) return String.fromCharCode(parseInt(e.slice(1), 16));
    return e;
  });
}

/** An identifier's name: quoted ones as written, plain ones folded to lower case. */
export function identName(t: Token): string {
  return t.kind === 'qident' ? t.text.slice(1, -1).replace(/""/g, '"') : t.text.toLowerCase();
}

/** Upper-cased text of a word token ('' for anything else), for keyword tests. */
export const keyword = (t: Token | undefined): string => (t?.kind === 'word' ? t.text.toUpperCase() : '');
