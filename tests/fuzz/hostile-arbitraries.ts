// Hostile mutations of real tracker input: what a broken, buggy or malicious client sends.
// Every generator here aims at one rule of the pipeline (a limit, a parser, an encoding) and
// produces values at and around it; the properties combine them with the real payloads.
import fc from 'fast-check';
import { DEFAULT_JSON_LIMITS } from '../../codecs/bounded-json';
import { base64Json, percentEncode, type TrackerEvent } from './tracker-arbitraries';

const LIMIT_DEPTH = DEFAULT_JSON_LIMITS.maxDepth;

/** Nesting depths around the JSON depth limit, and far past it (JSON.stringify dies ~5-10k down). */
export const depth = fc.oneof(
  fc.integer({ min: 0, max: 12 }),
  fc.integer({ min: LIMIT_DEPTH - 3, max: LIMIT_DEPTH + 3 }),
  fc.constantFrom(500, 1_000, 3_000, 10_000),
);

/** JSON text nested `d` levels deep, as arrays, objects, or both alternating. */
export function nestedJson(d: number, kind: 'array' | 'object' | 'mixed', leaf = '1'): string {
  if (kind === 'array') return `${'['.repeat(d)}${leaf}${']'.repeat(d)}`;
  if (kind === 'object') return `${'{"a":'.repeat(d)}${leaf}${'}'.repeat(d)}`;
  let open = '';
  let close = '';
  for (let i = 0; i < d; i++) {
    if (i % 2) { open += '['; close = `]${close}`; } else { open += '{"k":'; close = `}${close}`; }
  }
  return open + leaf + close;
}

export const deepJson = fc.tuple(depth, fc.constantFrom('array', 'object', 'mixed') as fc.Arbitrary<'array' | 'object' | 'mixed'>).map(([d, k]) => nestedJson(d, k));

/** A self-describing wrapper whose data is nested deep: what ue_pr, co and tp2 bodies carry. */
export const deepSelfDescribing = fc.tuple(depth, fc.constantFrom('unstruct', 'contexts')).map(([d, kind]) => kind === 'unstruct'
  ? `{"schema":"iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0","data":{"schema":"iglu:com.acme/deep/jsonschema/1-0-0","data":${nestedJson(d, 'object')}}}`
  : `{"schema":"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0","data":[{"schema":"iglu:com.acme/deep/jsonschema/1-0-0","data":${nestedJson(d, 'mixed')}}]}`);

/** Numbers JSON.parse, BigDecimal, Java int parsing and timestamp conversion each disagree on. */
export const oddNumber = fc.constantFrom(
  '1e99999999', '-1e99999999', '1e-99999999', '-0', '0x1F', 'NaN', 'Infinity', '-Infinity', '1.', '.5', '+1', '01', '1e308', '1e309',
  '9007199254740993', '-9223372036854775809', '2147483648', '-2147483649', '1'.repeat(400), `-${'9'.repeat(400)}`, `0.${'0'.repeat(300)}1`,
  '1_000', '1,5', ' 1', '1 ', '١٢٣', '', '0e0', '-', 'e5',
);

/** Strings that trip percent-decoding, UTF-8 handling, TSV writing and header rules. */
export const hostileText = fc.oneof(
  fc.constantFrom(
    '%', '%%', '%zz', '%c3%28', '%ff%fe', '%00', '%0a%0d', '%e2%82', '%f0%9f%98', '%ed%a0%80', '+%2B+', '\ud800', '\udfff', 'a\ud83d',
    '\u0000', '\t', '\r\n', '\u2028\u2029', '\ufeff', '\\', '"', "'", '<script>alert(1)</script>', '${SP_NUID}', '../../etc/passwd',
    'constructor', '__proto__', 'prototype', 'toString', 'hasOwnProperty', '\u202e', 'é'.normalize('NFD'), '🦄'.repeat(40),
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('%', 'z', 'c', '3', '(', '2', '8', 'f', '\ud800', '\t'), maxLength: 24 }),
);

/** JSON object texts with duplicate and prototype-poisoning keys. */
export const hostileKeysJson = fc.constantFrom(
  '{"__proto__":{"polluted":"yes"}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"a":1,"__proto__":{"isAdmin":true},"b":2}',
  '{"\\u005f_proto__":{"polluted":"yes"}}',
  '{"e":"pv","e":"se","e":"__proto__"}',
  '{"schema":"iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0","schema":"x","data":{}}',
  '{"prototype":{"polluted":1},"toString":"x","valueOf":"y","hasOwnProperty":"z"}',
  '[{"__proto__":[]}]',
);

/** Breaks a base64 text the ways clients do: alphabet, padding, length 4n+1, embedded junk. */
export function breakBase64(b64: string, how: number, junk: string): string {
  switch (how % 9) {
    case 0: return `${b64}*`;
    case 1: return `${b64}===`;
    case 2: return `${b64.slice(0, b64.length - (b64.length % 4))}A`; // length 4n+1
    case 3: return `${b64.slice(0, 4)} ${b64.slice(4)}`;
    case 4: return `${b64.slice(0, 8)}\n${b64.slice(8)}`;
    case 5: return b64.replace(/[A-M]/g, '-').replace(/[n-z]/g, '+'); // both alphabets at once
    case 6: return `${b64}${percentEncode(junk)}`;
    case 7: return b64.slice(0, Math.max(0, b64.length - 3));
    default: return `=${b64}`;
  }
}

/** Base64 that is well-formed but decodes to something that is not UTF-8 JSON, or is hostile JSON. */
export const base64OfJunk = fc.oneof(
  fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b).toString('base64url')),
  fc.constantFrom(Buffer.from([0xc3, 0x28, 0xff, 0xfe]).toString('base64'), Buffer.from('{"a":').toString('base64')),
  deepSelfDescribing.map((t) => Buffer.from(t).toString('base64url')),
  hostileKeysJson.map((t) => Buffer.from(t).toString('base64')),
);

/** A value for any tracker parameter: odd numbers, hostile text, deep or hostile JSON, broken base64. */
export const hostileValue: fc.Arbitrary<string> = fc.oneof(
  oddNumber, hostileText, deepJson, deepSelfDescribing, hostileKeysJson, base64OfJunk,
  fc.tuple(fc.jsonValue({ maxDepth: 2 }), fc.nat(), hostileText).map(([v, how, junk]) => breakBase64(base64Json(v, how % 2 === 0), how, junk)),
);

/** Parameter names real and hostile. */
export const paramName = fc.oneof(
  fc.constantFrom('e', 'p', 'tv', 'aid', 'eid', 'dtm', 'stm', 'ttm', 'vid', 'se_va', 'tr_tt', 'ti_pr', 'ti_qu', 'pp_mix', 'res', 'url', 'refr',
    'co', 'cx', 'ue_pr', 'ue_px', 'ip', 'ua', 'nuid', 'tnuid', 'u', 'uid', 'sid', 'cookie', 'f_pdf', 'cd', 'tz'),
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'constructor.prototype', 'hasOwnProperty', '', ' e', 'E', 'e\u0000', '%65'),
);

/** One of the ways an event's parameters are damaged. */
export type EventMutation = { kind: 'set'; name: string; value: string } | { kind: 'delete'; name: string } | { kind: 'retype'; name: string; value: unknown };

export const eventMutation: fc.Arbitrary<EventMutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('set' as const), name: paramName, value: hostileValue }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), name: paramName }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('retype' as const), name: paramName, value: fc.oneof(fc.double(), fc.constant(null), fc.boolean(), fc.jsonValue({ maxDepth: 3 })) }) },
);

/** Applies mutations to a copy of an event; `retype` makes it a non-string value (only JSON bodies can carry one). */
export function mutateEvent(event: TrackerEvent, mutations: EventMutation[]): Record<string, unknown> {
  // A null-prototype copy, so a `__proto__` parameter is an ordinary key here as it is on the wire.
  const out: Record<string, unknown> = Object.assign(Object.create(null), event);
  for (const m of mutations) {
    if (m.kind === 'delete') delete out[m.name];
    else out[m.name] = m.value;
  }
  return out;
}

/** Damages a text or byte string as a flaky network or a bad client would. */
export type ByteMutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'splice'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'duplicate'; at: number; length: number };

export const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), bytes: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 16 }), fc.constantFrom(new Uint8Array([0xc3, 0x28]), new Uint8Array([0xff]), new Uint8Array([0xed, 0xa0, 0x80]), new Uint8Array([0x7f, 0xff, 0xff, 0xff]))) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 32 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
);

export function mutateBytes(input: Buffer, mutations: ByteMutation[]): Buffer {
  let b = input;
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    switch (m.kind) {
      case 'truncate': b = b.subarray(0, at); break;
      case 'flip': if (at < b.length) { b = Buffer.from(b); b[at] ^= 1 << m.bit; } break;
      case 'splice': b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]); break;
      case 'delete': b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]); break;
      case 'duplicate': b = Buffer.concat([b.subarray(0, at + m.length), b.subarray(at)]); break;
    }
  }
  return b;
}

/** Content types trackers and attackers send to a JSON route. */
export const contentType = fc.oneof(
  fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8', 'APPLICATION/JSON', 'application/json; charset=iso-8859-1',
    'text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream',
    'application/jsonx', 'application/json;;;', ';', 'application/json; charset="utf-8"', 'application/json\u0000', 'image/gif'),
  fc.constant(undefined),
);

/** A string of exactly `bytes` UTF-8 bytes (ASCII, or with multi-byte characters across the end). */
export function padTo(bytes: number, multibyte: boolean): string {
  if (!multibyte || bytes < 4) return 'x'.repeat(Math.max(0, bytes));
  const emoji = '🦄'; // 4 bytes
  const n = Math.floor(bytes / 4);
  return emoji.repeat(n) + 'y'.repeat(bytes - n * 4);
}

/** Sizes at and around a limit: exactly, one under, one over, and a little further out. */
export const around = (limit: number): fc.Arbitrary<number> => fc.oneof(
  fc.constantFrom(limit - 1, limit, limit + 1),
  fc.integer({ min: Math.max(0, limit - 64), max: limit + 64 }),
  fc.constantFrom(Math.floor(limit / 10), limit * 2),
);
