// Identifier handling for every generated statement: validated, then double-quoted.

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export class UnsafeIdentifierError extends Error {
  override name = 'UnsafeIdentifierError';
}

/** Quotes an identifier after checking it is a plain name (no quotes, dots, spaces or NULs). */
export function quoteIdent(name: string): string {
  if (!IDENT.test(name)) throw new UnsafeIdentifierError(`unsafe SQL identifier: ${JSON.stringify(name)}`);
  return `"${name}"`;
}

/** `schema.table`, both parts quoted. */
export function qualified(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/**
 * A single-quoted SQL string literal for values that cannot be bound as parameters (COMMENT ON,
 * COPY options). Quotes are doubled; backslashes and control characters are refused, since
 * Redshift reads backslash escapes inside literals.
 */
export function quoteLiteral(value: string): string {
  if (/[\\\u0000-\u001f\u007f]/.test(value)) throw new UnsafeIdentifierError(`unsafe SQL literal: ${JSON.stringify(value.slice(0, 200))}`);
  return `'${value.replace(/'/g, "''")}'`;
}
