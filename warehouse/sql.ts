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
