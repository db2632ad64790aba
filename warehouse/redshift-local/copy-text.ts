import { isUtf8 } from 'node:buffer';

// Redshift's delimited text (COPY … DELIMITER d ESCAPE [NULL AS s] [EMPTYASNULL] [FILLRECORD]
// [TRUNCATECOLUMNS] [ACCEPTINVCHARS]) → PostgreSQL's COPY text format (tab, `\N`), line by line.
// Each field is decoded with Redshift's rules and re-encoded with PostgreSQL's, because the two
// differ where it matters:
//  - ESCAPE: a backslash makes the next character literal (`\t` is a `t`), where PostgreSQL reads
//    `\t` as a tab; both agree on backslash + tab/newline/CR/backslash, which the shredder writes;
//  - NULL AS s matches the raw field (before unescaping); the default is `\N`;
//  - an empty field is NULL for non-text columns always, for text columns with EMPTYASNULL;
//  - FILLRECORD: missing trailing fields are empty fields;
//  - TRUNCATECOLUMNS: text longer than a VARCHAR(n)/CHAR(n) is cut to n bytes (Redshift counts
//    bytes, not characters) on a character boundary;
//  - ACCEPTINVCHARS: each byte of an invalid UTF-8 sequence becomes the replacement character.
// Pure: bytes in, bytes out.

export interface TextColumn {
  name: string;
  /** Text type (CHAR, VARCHAR, TEXT): empty means '' unless EMPTYASNULL. */
  isText: boolean;
  /** Declared size in bytes (VARCHAR(n), CHAR(n)). */
  width?: number;
}

export interface TextOptions {
  delimiter: string;
  nullAs: string;
  emptyAsNull: boolean;
  fillRecord: boolean;
  truncateColumns: boolean;
  /** The replacement character for invalid UTF-8 (ACCEPTINVCHARS); undefined: refuse it. */
  acceptInvChars?: string;
}

export class CopyDataError extends Error {
  override name = 'CopyDataError';
}

/** Redshift's limit on one input row. */
export const MAX_ROW_BYTES = 4 * 1024 * 1024;

const BACKSLASH = 0x5c;
const LF = 0x0a;
const CR = 0x0d;
const TAB = 0x09;
const PG_NULL = Buffer.from('\\N');

/** Length of the valid UTF-8 sequence at i, or 0 when the byte there does not start one. */
function utf8Length(b: Buffer, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (j: number, lo = 0x80, hi = 0xbf) => j < b.length && b[j] >= lo && b[j] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const [lo, hi] = c === 0xe0 ? [0xa0, 0xbf] : c === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
    return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const [lo, hi] = c === 0xf0 ? [0x90, 0xbf] : c === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

export function replaceInvalidUtf8(b: Buffer, replacement: string): Buffer {
  if (isUtf8(b)) return b;
  const out = Buffer.allocUnsafe(b.length);
  const r = replacement.charCodeAt(0);
  for (let i = 0; i < b.length;) {
    const n = utf8Length(b, i);
    if (n === 0) out[i++] = r;
    else for (const end = i + n; i < end; i++) out[i] = b[i];
  }
  return out;
}

/** The first `width` bytes of a UTF-8 value, not splitting a character. */
export function truncateBytes(b: Buffer, width: number): Buffer {
  if (b.length <= width) return b;
  let cut = width;
  while (cut > 0 && (b[cut] & 0xc0) === 0x80) cut--;
  return b.subarray(0, cut);
}

/** Backslash + next byte → the next byte (Redshift's ESCAPE); a trailing lone backslash stays. */
function unescape(raw: Buffer): Buffer {
  if (!raw.includes(BACKSLASH)) return raw;
  const out = Buffer.allocUnsafe(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === BACKSLASH && i + 1 < raw.length) i++;
    out[n++] = raw[i];
  }
  return out.subarray(0, n);
}

const PG_ESCAPES: Record<number, string> = { [BACKSLASH]: '\\\\', [TAB]: '\\t', [LF]: '\\n', [CR]: '\\r' };

function pgEscape(v: Buffer): Buffer {
  if (!v.includes(BACKSLASH) && !v.includes(TAB) && !v.includes(LF) && !v.includes(CR)) return v;
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < v.length; i++) {
    const esc = PG_ESCAPES[v[i]];
    if (esc === undefined) continue;
    parts.push(v.subarray(from, i), Buffer.from(esc));
    from = i + 1;
  }
  parts.push(v.subarray(from));
  return Buffer.concat(parts);
}

export class RedshiftTextToPg {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private escaped = false;
  private line = 0;
  private readonly delimiter: number;
  private readonly nullAs: Buffer;

  constructor(
    private readonly columns: readonly TextColumn[],
    private readonly opts: TextOptions,
    /** Named in errors (the object key). */
    private readonly source: string,
  ) {
    this.delimiter = Buffer.from(opts.delimiter)[0];
    this.nullAs = Buffer.from(opts.nullAs);
  }

  /** The PostgreSQL text of every line completed by this chunk. */
  push(chunk: Buffer): Buffer {
    const out: Buffer[] = [];
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (this.escaped) this.escaped = false;
      else if (b === BACKSLASH) this.escaped = true;
      else if (b === LF) {
        this.pending.push(chunk.subarray(start, i));
        out.push(this.convert(Buffer.concat(this.pending)));
        this.pending = [];
        this.pendingBytes = 0;
        start = i + 1;
      }
    }
    if (start < chunk.length) {
      this.pending.push(chunk.subarray(start));
      this.pendingBytes += chunk.length - start;
      if (this.pendingBytes > MAX_ROW_BYTES) this.fail(this.line + 1, `row exceeds ${MAX_ROW_BYTES} bytes`);
    }
    return Buffer.concat(out);
  }

  /** The last line when the input does not end with a newline. */
  end(): Buffer {
    const rest = Buffer.concat(this.pending);
    this.pending = [];
    this.escaped = false;
    return rest.length ? this.convert(rest) : Buffer.alloc(0);
  }

  private fail(line: number, message: string): never {
    throw new CopyDataError(`${this.source} line ${line}: ${message}`);
  }

  private convert(line: Buffer): Buffer {
    this.line++;
    if (line.length > MAX_ROW_BYTES) this.fail(this.line, `row exceeds ${MAX_ROW_BYTES} bytes`);
    const fields: Buffer[] = [];
    let start = 0;
    for (let i = 0; i < line.length; i++) {
      if (line[i] === BACKSLASH) i++;
      else if (line[i] === this.delimiter) {
        fields.push(line.subarray(start, i));
        start = i + 1;
      }
    }
    fields.push(line.subarray(start));
    const n = this.columns.length;
    if (fields.length > n) this.fail(this.line, `Extra column(s) found (${fields.length} fields, ${n} columns)`);
    if (fields.length < n) {
      if (!this.opts.fillRecord) this.fail(this.line, `Delimiter not found (${fields.length} fields, ${n} columns)`);
      while (fields.length < n) fields.push(Buffer.alloc(0));
    }
    const out: Buffer[] = [];
    fields.forEach((raw, i) => {
      if (i > 0) out.push(Buffer.from([TAB]));
      out.push(this.field(raw, this.columns[i]));
    });
    out.push(Buffer.from([LF]));
    return Buffer.concat(out);
  }

  private field(raw: Buffer, col: TextColumn): Buffer {
    if (raw.equals(this.nullAs)) return PG_NULL;
    let v = unescape(raw);
    if (v.length === 0) return !col.isText || this.opts.emptyAsNull ? PG_NULL : v;
    if (col.isText && this.opts.acceptInvChars !== undefined) v = replaceInvalidUtf8(v, this.opts.acceptInvChars);
    if (col.isText && this.opts.truncateColumns && col.width !== undefined) v = truncateBytes(v, col.width);
    return pgEscape(v);
  }
}
