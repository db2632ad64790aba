// JSON from outside (tracker bodies, ue_pr/cx, webhooks, redirect payloads, Iglu schemas, enrichment
// configs, bad rows read back) is parsed through here, never with a bare JSON.parse: a size bound
// and a nesting-depth bound are checked before parsing, and prototype-poisoning keys are refused.
// JSON.parse itself copes with deep nesting, but everything after it that walks the value
// recursively (ajv, JSON.stringify, jsonb) throws `RangeError: Maximum call stack size exceeded`
// a few thousand levels down; a 10 KB request must not be able to do that to a shard.
import sjson from 'secure-json-parse';

export interface JsonLimits {
  /** Deepest nesting of arrays and objects (a scalar is depth 0, `{"a":[1]}` is 2). */
  maxDepth: number;
  /** Largest document, in UTF-8 bytes. */
  maxBytes: number;
}

/**
 * No real tracker comes near these: a self-describing event inside a tp2 body is 5 levels deep
 * before its own data starts, and Kinesis caps a record at 1 MiB.
 */
export const DEFAULT_JSON_LIMITS: Readonly<JsonLimits> = Object.freeze({ maxDepth: 100, maxBytes: 1_048_576 });

let processLimits: JsonLimits = { ...DEFAULT_JSON_LIMITS };

/** Sets the limits a process uses where no explicit ones are passed (from the Sluice config, at start). */
export function configureJsonLimits(limits: Partial<JsonLimits>): void {
  processLimits = { ...processLimits, ...limits };
}

export function currentJsonLimits(): Readonly<JsonLimits> {
  return processLimits;
}

export type BoundedJson = { ok: true; value: unknown } | { ok: false; error: string };

/** The UTF-8 size of a string when it is over `max`, else null (counted only when its length could put it over). */
export function overBytes(text: string, max: number): number | null {
  if (text.length > max) return Buffer.byteLength(text, 'utf8'); // over either way: count for the message
  if (text.length * 3 <= max) return null;
  const bytes = Buffer.byteLength(text, 'utf8');
  return bytes > max ? bytes : null;
}

/**
 * The deepest nesting in a JSON text, stopping as soon as it passes `limit` (then limit + 1).
 * A linear scan that skips string contents; it does not validate (JSON.parse does that next).
 */
export function jsonDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) { // "
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === 92) i++; // backslash: skip the escaped character
        else if (s === 34) break;
      }
    } else if (c === 123 || c === 91) { // { [
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === 125 || c === 93) depth--; // } ]
  }
  return deepest;
}

/** Whether the text holds at most `limit` opening brackets (`{` and `[`, in strings or not). */
function fewBrackets(text: string, limit: number): boolean {
  let n = 0;
  for (let i = text.indexOf('{'); i >= 0; i = text.indexOf('{', i + 1)) if (++n > limit) return false;
  for (let i = text.indexOf('['); i >= 0; i = text.indexOf('[', i + 1)) if (++n > limit) return false;
  return true;
}

const PROTO_MESSAGE = /prototype property/i;

/** Parses JSON within the limits; never throws. Errors read like JSON.parse's, prefixed where useful. */
export function parseJsonBounded(text: string, limits: Readonly<JsonLimits> = processLimits): BoundedJson {
  if (typeof text !== 'string') return { ok: false, error: `expected JSON text, got ${typeof text}` };
  const bytes = overBytes(text, limits.maxBytes);
  if (bytes !== null) return { ok: false, error: `JSON of ${bytes} bytes is over the ${limits.maxBytes}-byte limit` };
  // A text shorter than the depth limit cannot nest deeper than it, nor can one with no more
  // brackets than the limit (counted natively, much faster than the scan: tracker bodies have a
  // dozen).
  if (text.length > limits.maxDepth && !fewBrackets(text, limits.maxDepth) && jsonDepth(text, limits.maxDepth) > limits.maxDepth) {
    return { ok: false, error: `JSON nested deeper than the ${limits.maxDepth}-level limit` };
  }
  try {
    // JSON.parse makes `__proto__` an own property, harmless until code copies it with an
    // assignment. `__proto__` keys and `constructor.prototype` objects are refused, not stripped:
    // once a key is dropped the document is not what the sender wrote, so it becomes a bad row
    // whole. Only a text that could spell one (plainly or with \u escapes) needs the slower scan.
    if (!text.includes('__proto__') && !text.includes('constructor') && !text.includes('\\u')) return { ok: true, value: JSON.parse(text) };
    return { ok: true, value: sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }) };
  } catch (err) {
    const message = (err as Error).message;
    return { ok: false, error: PROTO_MESSAGE.test(message) ? 'JSON holds a forbidden __proto__ or constructor.prototype key' : message };
  }
}

/** parseJsonBounded with the depth bound only, for text whose size is bounded already (a request body, the sandbox's output). */
export function parseJsonDepthBounded(text: string): BoundedJson {
  return parseJsonBounded(text, { maxDepth: processLimits.maxDepth, maxBytes: Number.MAX_SAFE_INTEGER });
}

/** parseJsonBounded for trusted callers that want an exception (configs at start-up). */
export function parseJsonOrThrow(text: string, what: string, limits: Readonly<JsonLimits> = processLimits): unknown {
  const r = parseJsonBounded(text, limits);
  if (!r.ok) throw new Error(`${what}: ${r.error}`);
  return r.value;
}

/** A prefix of a string of at most `maxBytes` UTF-8 bytes, cut on a character boundary. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes) return text;
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return text;
  let end = maxBytes;
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--; // back off a continuation byte
  return buf.subarray(0, end).toString('utf8');
}
