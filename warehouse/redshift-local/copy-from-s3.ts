import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { ObjectStore } from '../../adapters/object-store';
import { CopyDataError, RedshiftTextToPg, type TextColumn, type TextOptions } from './copy-text';
import { identName, isSignificant, keyword, stringValue, type Token, tokenize } from './sql-tokens';

// Redshift's `COPY table [(cols)] FROM 's3://bucket/prefix' …` on the local endpoint: the objects
// under the prefix are listed and read through the project's ObjectStore, unpacked (GZIP or ZSTD),
// converted from Redshift's text rules to PostgreSQL's (copy-text.ts) and streamed into
// `COPY … FROM STDIN` on the statement's own connection, so a COPY inside a batch is part of the
// batch's transaction. Exactly
// the options the loaders emit are understood (redshift-loader.ts copyOptions()); any other option
// is refused by name rather than silently ignored.

export interface CopySpec {
  /** Target as written (quoted or plain identifiers, possibly schema-qualified). */
  table: string;
  /** Column names (folded as PostgreSQL folds them); undefined = every column in order. */
  columns?: string[];
  bucket: string;
  prefix: string;
  iamRole: string;
  region?: string;
  /** GZIP or ZSTD: how every object under the prefix is compressed (none when neither is given). */
  compression?: 'gzip' | 'zstd';
  text: TextOptions;
}

export class CopyOptionError extends Error {
  override name = 'CopyOptionError';
}

const SUPPORTED = ['IAM_ROLE', 'DELIMITER', 'ESCAPE', 'GZIP', 'ZSTD', 'EMPTYASNULL', 'FILLRECORD', 'NULL', 'TRUNCATECOLUMNS', 'ACCEPTINVCHARS', 'TIMEFORMAT', 'REGION'];
const S3_URL = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.*)$/s;

export function isCopyStatement(sql: string): boolean {
  try {
    return keyword(tokenize(sql).find(isSignificant)) === 'COPY';
  } catch {
    return false;
  }
}

export function parseCopy(sql: string): CopySpec {
  const t: Token[] = tokenize(sql).filter(isSignificant);
  while (t.length && t[t.length - 1].text === ';') t.pop();
  let k = 0;
  const kw = (i = k) => keyword(t[i]);
  const isName = (x?: Token) => x?.kind === 'word' || x?.kind === 'qident';
  const fail = (msg: string): never => {
    throw new CopyOptionError(`COPY: ${msg}`);
  };
  if (kw() !== 'COPY') fail('not a COPY statement');
  k++;
  const nameParts: string[] = [];
  do {
    if (!isName(t[k])) fail('expected a table name after COPY');
    nameParts.push(t[k++].text);
  } while (t[k]?.text === '.' && ++k);
  const text: TextOptions = { delimiter: '|', nullAs: '\\N', emptyAsNull: false, fillRecord: false, truncateColumns: false };
  const spec: Partial<CopySpec> = { table: nameParts.join('.'), text };
  if (t[k]?.text === '(') {
    spec.columns = [];
    for (k++; t[k]?.text !== ')'; k++) {
      if (!isName(t[k])) fail('expected a column name in the column list');
      spec.columns.push(identName(t[k++]));
      if (t[k]?.text === ')') break;
      if (t[k]?.text !== ',') fail('expected , or ) in the column list');
    }
    k++;
  }
  if (kw() !== 'FROM') fail('expected FROM');
  k++;
  if (t[k]?.kind !== 'string') fail(`only FROM 's3://bucket/prefix' is supported${kw() === 'STDIN' ? ' (FROM STDIN is PostgreSQL, not Redshift)' : ''}`);
  const url = S3_URL.exec(stringValue(t[k++]));
  if (!url) fail("the source must be 's3://bucket/prefix'");
  [spec.bucket, spec.prefix] = [url![1], url![2]];
  if (kw() === 'WITH') k++;

  const seen = new Set<string>();
  const literal = (what: string): string => {
    if (kw() === 'AS') k++;
    if (t[k]?.kind !== 'string') fail(`${what} needs a quoted value`);
    return stringValue(t[k++]);
  };
  while (k < t.length) {
    const opt = kw();
    if (!SUPPORTED.includes(opt)) {
      fail(`option ${JSON.stringify(t[k].text)} is not supported by the local Data API endpoint (supported: ${SUPPORTED.join(', ')})`);
    }
    if (seen.has(opt)) fail(`option ${opt} given twice`);
    seen.add(opt);
    k++;
    switch (opt) {
      case 'IAM_ROLE':
        if (kw() === 'DEFAULT') {
          spec.iamRole = 'default';
          k++;
        } else spec.iamRole = literal('IAM_ROLE');
        if (spec.iamRole !== 'default' && !/^arn:aws[a-z-]*:iam::\d{12}:role\//.test(spec.iamRole)) fail('IAM_ROLE is not an IAM role ARN');
        break;
      case 'DELIMITER': {
        const d = literal('DELIMITER');
        if (Buffer.byteLength(d) !== 1 || d === '\\' || d === '\n' || d === '\r') fail('DELIMITER must be one single-byte character');
        text.delimiter = d;
        break;
      }
      case 'NULL':
        text.nullAs = literal('NULL AS');
        break;
      case 'ACCEPTINVCHARS': {
        if (kw() === 'AS' || t[k]?.kind === 'string') {
          const r = literal('ACCEPTINVCHARS');
          if (!/^[\x01-\x7f]$/.test(r)) fail('the ACCEPTINVCHARS replacement must be one ASCII character');
          text.acceptInvChars = r;
        } else text.acceptInvChars = '?';
        break;
      }
      case 'TIMEFORMAT':
        // PostgreSQL's timestamp input reads what 'auto' reads in the files Sluice writes.
        if (literal('TIMEFORMAT') !== 'auto') fail("only TIMEFORMAT 'auto' is supported");
        break;
      case 'REGION':
        spec.region = literal('REGION');
        break;
      case 'GZIP':
      case 'ZSTD':
        if (spec.compression) fail('GZIP and ZSTD are exclusive');
        spec.compression = opt === 'GZIP' ? 'gzip' : 'zstd';
        break;
      case 'EMPTYASNULL':
        text.emptyAsNull = true;
        break;
      case 'FILLRECORD':
        text.fillRecord = true;
        break;
      case 'TRUNCATECOLUMNS':
        text.truncateColumns = true;
        break;
    }
  }
  if (!spec.iamRole) fail('IAM_ROLE is required (the local endpoint takes no other credentials)');
  // Without ESCAPE Redshift keeps backslashes as data; every writer in Sluice escapes, so only that is supported.
  if (!seen.has('ESCAPE')) fail('only ESCAPE text is supported: add ESCAPE');
  return spec as CopySpec;
}

const quoteName = (n: string) => `"${n.replace(/"/g, '""')}"`;

/** The target's columns in COPY order, with text-ness and byte widths from the catalog. */
async function targetColumns(client: pg.ClientBase, spec: CopySpec): Promise<TextColumn[]> {
  const res = await client.query<{ attname: string; typcategory: string; typname: string; atttypmod: number }>(
    `SELECT a.attname, t.typcategory, t.typname, a.atttypmod FROM pg_catalog.pg_attribute a
     JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
     WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [spec.table],
  );
  const all = new Map(res.rows.map((r) => [r.attname, {
    name: r.attname,
    isText: r.typcategory === 'S',
    width: (r.typname === 'varchar' || r.typname === 'bpchar') && r.atttypmod > 4 ? r.atttypmod - 4 : undefined,
  }]));
  if (!spec.columns) return [...all.values()];
  return spec.columns.map((c) => {
    const col = all.get(c);
    if (!col) throw new CopyDataError(`column "${c}" of relation ${spec.table} does not exist`);
    return col;
  });
}

function unpacker(compression: 'gzip' | 'zstd'): zlib.Gunzip | zlib.ZstdDecompress {
  if (compression === 'gzip') return zlib.createGunzip({ chunkSize: 1 << 20 });
  if (typeof zlib.createZstdDecompress !== 'function') throw new CopyDataError(`ZSTD: this Node runtime (${process.version}) has no zstd`);
  return zlib.createZstdDecompress({ chunkSize: 1 << 20 });
}

/** Runs the COPY on `client` (inside the caller's transaction, if any); returns the rows loaded. */
export async function runCopy(client: pg.ClientBase, spec: CopySpec, store: ObjectStore, cancelled: () => boolean): Promise<number> {
  const columns = await targetColumns(client, spec);
  // Keys ending in `/` are folder markers some tools write, not data.
  const keys = (await store.listSized(spec.prefix)).filter((o) => !o.key.endsWith('/')).map((o) => o.key);
  if (!keys.length) throw new CopyDataError(`The specified S3 prefix '${spec.prefix}' does not exist (bucket ${spec.bucket})`);
  const copy = client.query(copyFrom(`COPY ${spec.table} (${columns.map((c) => quoteName(c.name)).join(', ')}) FROM STDIN`));
  async function* converted() {
    for (const key of keys) {
      if (cancelled()) throw new CopyDataError('Query cancelled.');
      const body = await store.get(key);
      const text = new RedshiftTextToPg(columns, spec.text, `s3://${spec.bucket}/${key}`);
      const chunks: AsyncIterable<Buffer> | Buffer[] = spec.compression && body.length ? Readable.from([body]).pipe(unpacker(spec.compression)) : [body];
      for await (const chunk of chunks) {
        const out = text.push(chunk as Buffer);
        if (out.length) yield out;
      }
      const tail = text.end();
      if (tail.length) yield tail;
    }
  }
  await pipeline(Readable.from(converted()), copy);
  return copy.rowCount ?? 0;
}
