// A JSONPath subset for the PII enrichment's `jsonPath`: `$`, `.name`, `['a','b']`, `[n]`, `[*]`,
// `.*` and `..name`. Rewrites the string values a path selects (and strings inside arrays it selects).

type Token = { kind: 'names'; names: string[] } | { kind: 'index'; index: number } | { kind: 'wildcard' } | { kind: 'descend'; names: string[] | null };

export function parseJsonPath(path: string): Token[] {
  if (!path.startsWith('$')) throw new Error(`JSONPath must start with $: ${path}`);
  const tokens: Token[] = [];
  let i = 1;
  const name = () => {
    const m = /^[^.[\]]+/.exec(path.slice(i));
    if (!m) throw new Error(`bad JSONPath ${path} at ${i}`);
    i += m[0].length;
    return m[0];
  };
  while (i < path.length) {
    if (path.startsWith('..', i)) {
      i += 2;
      if (path[i] === '*') { i++; tokens.push({ kind: 'descend', names: null }); } else tokens.push({ kind: 'descend', names: [name()] });
    } else if (path[i] === '.') {
      i++;
      if (path[i] === '*') { i++; tokens.push({ kind: 'wildcard' }); } else if (path[i] === '[') continue; else tokens.push({ kind: 'names', names: [name()] });
    } else if (path[i] === '[') {
      const end = path.indexOf(']', i);
      if (end < 0) throw new Error(`bad JSONPath ${path}: unclosed [`);
      const inner = path.slice(i + 1, end).trim();
      i = end + 1;
      if (inner === '*') tokens.push({ kind: 'wildcard' });
      else if (/^-?\d+$/.test(inner)) tokens.push({ kind: 'index', index: Number(inner) });
      else {
        const names = inner.split(',').map((s) => s.trim()).map((s) => {
          const m = /^(['"])(.*)\1$/.exec(s);
          if (!m) throw new Error(`bad JSONPath ${path}: ${s}`);
          return m[2];
        });
        tokens.push({ kind: 'names', names });
      }
    } else throw new Error(`bad JSONPath ${path} at ${i}`);
  }
  return tokens;
}

type Replace = (s: string) => string;

function apply(container: Record<string, unknown> | unknown[], key: string | number, replace: Replace): void {
  const c = container as Record<string | number, unknown>;
  const v = c[key];
  if (typeof v === 'string') c[key] = replace(v);
  else if (Array.isArray(v)) c[key] = v.map((x) => (typeof x === 'string' ? replace(x) : x));
}

function children(node: unknown): [Record<string, unknown> | unknown[], string | number][] {
  if (Array.isArray(node)) return node.map((_, i) => [node, i]);
  if (node && typeof node === 'object') return Object.keys(node).map((k) => [node as Record<string, unknown>, k]);
  return [];
}

function walk(node: unknown, tokens: Token[], t: number, replace: Replace): void {
  const tok = tokens[t];
  const last = t === tokens.length - 1;
  const visit = (container: Record<string, unknown> | unknown[], key: string | number) => {
    if (last) apply(container, key, replace);
    else walk((container as Record<string | number, unknown>)[key], tokens, t + 1, replace);
  };
  if (tok.kind === 'names') {
    if (node && typeof node === 'object' && !Array.isArray(node)) {
      for (const n of tok.names) if (Object.hasOwn(node, n)) visit(node as Record<string, unknown>, n);
    }
  } else if (tok.kind === 'index') {
    if (Array.isArray(node)) { const i = tok.index < 0 ? node.length + tok.index : tok.index; if (i >= 0 && i < node.length) visit(node, i); }
  } else if (tok.kind === 'wildcard') {
    for (const [c, k] of children(node)) visit(c, k);
  } else {
    for (const [c, k] of children(node)) {
      if (tok.names === null || (typeof k === 'string' && tok.names.includes(k))) visit(c, k);
      walk((c as Record<string | number, unknown>)[k], tokens, t, replace); // keep descending
    }
  }
}

/** Rewrites, in place, the strings `path` selects in `root` (a JSON value). */
export function replaceAtPath(root: unknown, tokens: Token[], replace: Replace): void {
  if (tokens.length === 0) return;
  walk(root, tokens, 0, replace);
}
