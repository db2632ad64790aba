import { createRequire } from 'node:module';

// The querystring, read the way Fastify's router reads it, without parsing all of it.
//
// The collector needs four tracker parameters (`nuid`, `cx`, `ue_px`, `u`) out of the twenty or so
// a tracker sends; the record keeps the querystring raw. Fastify's router parses every query in
// full before the handler runs (fast-querystring: ~5 µs for a page view's querystring, a tenth
// of the collector's cost per request), so the collector gives Fastify a lazy parser
// (`lazyQuery`: `request.query` is parsed on first use, by the very same parser) and reads its
// four parameters with `trackerParams`, which scans the string once and decodes only their
// values, with the same rules (a `+` is a space, `%XX` is decoded when valid, a repeated key
// gives an array). tests/unit/collector-query.test.ts holds the two equal on generated strings.

// fast-querystring and its decoder, resolved exactly as Fastify's router (find-my-way) resolves them.
const fromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'));
const fromRouter = createRequire(fromFastify.resolve('find-my-way'));
const parseQuerystring = fromRouter('fast-querystring').parse as (qs: string) => Record<string, string | string[]>;
const fastDecode = createRequire(fromRouter.resolve('fast-querystring'))('fast-decode-uri-component') as (s: string) => string | null;

export { parseQuerystring };

export type QueryValue = string | string[] | undefined;

/** The tracker parameters the collector itself reads; the rest stays in the raw querystring. */
export interface TrackerParams {
  nuid: QueryValue;
  cx: QueryValue;
  ue_px: QueryValue;
  u: QueryValue;
}

const PLUS = /\+/g;

function add(prev: QueryValue, value: string): QueryValue {
  if (prev === undefined) return value;
  if (typeof prev === 'string') return [prev, value];
  prev.push(value);
  return prev;
}

/** Decodes a key or value as fast-querystring does: `+` → space, then `%XX` when that decodes. */
function decodePart(s: string, plus: boolean, percent: boolean): string {
  if (plus) s = s.replace(PLUS, ' ');
  return percent ? fastDecode(s) || s : s;
}

/** `nuid`, `cx`, `ue_px` and `u` of a raw querystring (no `?`), as fast-querystring would give them. */
export function trackerParams(qs: string): TrackerParams {
  const out: TrackerParams = { nuid: undefined, cx: undefined, ue_px: undefined, u: undefined };
  const len = qs.length;
  // Next `=`, `%` and `+` at or after the current pair (-1: none left), so the scan stays linear.
  let eqNext = qs.indexOf('=');
  let pct = qs.indexOf('%');
  let plus = qs.indexOf('+');
  let start = 0;
  while (start <= len) {
    let end = qs.indexOf('&', start);
    if (end < 0) end = len;
    if (eqNext >= 0 && eqNext < start) eqNext = qs.indexOf('=', start);
    const eq = eqNext >= 0 && eqNext < end ? eqNext : -1;
    const keyEnd = eq < 0 ? end : eq;
    if (pct >= 0 && pct < start) pct = qs.indexOf('%', start);
    if (plus >= 0 && plus < start) plus = qs.indexOf('+', start);
    const keyPct = pct >= 0 && pct < keyEnd;
    const keyPlus = plus >= 0 && plus < keyEnd;
    let key: keyof TrackerParams | undefined;
    if (keyPct || keyPlus) {
      // An encoded key matters only if it decodes to one of ours.
      const decoded = decodePart(qs.slice(start, keyEnd), keyPlus, keyPct);
      if (decoded === 'nuid' || decoded === 'cx' || decoded === 'ue_px' || decoded === 'u') key = decoded;
    } else {
      // Compared in place: the other keys cost no string at all.
      const n = keyEnd - start;
      if (n === 1) key = qs.charCodeAt(start) === 117 ? 'u' : undefined;
      else if (n === 2) key = qs.startsWith('cx', start) ? 'cx' : undefined;
      else if (n === 4) key = qs.startsWith('nuid', start) ? 'nuid' : undefined;
      else if (n === 5) key = qs.startsWith('ue_px', start) ? 'ue_px' : undefined;
    }
    if (key !== undefined) {
      let value = eq < 0 ? '' : qs.slice(eq + 1, end);
      const valuePlus = value.includes('+');
      // fast-querystring also runs its decoder over a value holding a second `=`: without a `%`
      // that changes nothing.
      const valuePct = value.includes('%');
      if (valuePlus || valuePct) value = decodePart(value, valuePlus, valuePct);
      out[key] = add(out[key], value);
    }
    start = end + 1;
  }
  return out;
}

const kQuerystring = Symbol('querystring');
const kParsed = Symbol('parsed');

interface LazyTarget {
  [kQuerystring]: string;
  [kParsed]?: Record<string, unknown>;
}

function load(target: LazyTarget): Record<string, unknown> {
  return (target[kParsed] ??= target[kQuerystring].length === 0 ? {} : parseQuerystring(target[kQuerystring]));
}

// One handler for every request's query (a handler per request would cost more than the parse
// it saves): each trap parses on first use and forwards to the parsed object.
const LAZY: ProxyHandler<LazyTarget> = {
  get: (t, key) => Reflect.get(load(t), key),
  set: (t, key, value) => Reflect.set(load(t), key, value),
  has: (t, key) => Reflect.has(load(t), key),
  deleteProperty: (t, key) => Reflect.deleteProperty(load(t), key),
  ownKeys: (t) => Reflect.ownKeys(load(t)),
  getOwnPropertyDescriptor: (t, key) => {
    const d = Reflect.getOwnPropertyDescriptor(load(t), key);
    // A proxy may only report configurable properties its target does not have.
    return d ? { ...d, configurable: true } : undefined;
  },
  defineProperty: (t, key, d) => Reflect.defineProperty(load(t), key, d),
  getPrototypeOf: (t) => Reflect.getPrototypeOf(load(t)),
};

/**
 * `request.query` for Fastify's `querystringParser` option: an object that parses the
 * querystring (with the router's own parser) the first time anything looks at it.
 */
export function lazyQuery(qs: string): Record<string, unknown> {
  return new Proxy({ [kQuerystring]: qs } as LazyTarget, LAZY) as unknown as Record<string, unknown>;
}
