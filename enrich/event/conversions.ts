// Value conversions of Snowplow's ConversionUtils/EventEnrichments, with their error messages, so
// a tracker-protocol violation reads the same as Snowplow's.
import { formatTstamp } from '../../codecs/enriched-tsv';
import { isUuid } from '../../codecs/uuid';

export type Converted<T = string> = { ok: true; value: T } | { ok: false; message: string };
const ok = <T>(value: T): Converted<T> => ({ ok: true, value });
const fail = (message: string): Converted<never> => ({ ok: false, message });

// Tabs become four spaces and other control characters go (fixTabsNewlines); '' means absent.
// eslint-disable-next-line no-control-regex
const CONTROL_G = /[\u0000-\u0008\u000a-\u001f\u007f]/g;
export function toTsvSafe(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c === 127) return s.replace(/\t/g, '    ').replace(CONTROL_G, '');
  }
  return s;
}

/** True when s is an optional sign then 1..maxDigits decimal digits. */
function signedDigits(s: string, maxDigits: number): boolean {
  const start = s.charCodeAt(0) === 43 || s.charCodeAt(0) === 45 ? 1 : 0; // + -
  const n = s.length - start;
  if (n < 1 || n > maxDigits) return false;
  for (let i = start; i < s.length; i++) { const c = s.charCodeAt(i); if (c < 48 || c > 57) return false; }
  return true;
}

/** java.lang.Integer.parseInt: optional sign, decimal digits, 32-bit range. */
export function javaInt(s: string): number | null {
  if (!signedDigits(s, 10)) return null;
  const n = Number(s);
  return n >= -2147483648 && n <= 2147483647 ? n : null;
}

/** java.lang.Long.parseLong, as far as a double holds it (timestamps are range-checked anyway). */
const javaLong = (s: string): number | null => (signedDigits(s, 19) ? Number(s) : null);

// ConversionUtils.stringToJInteger2 (vid, ti_qu, pp_*) and validateInteger (tid).
export function toInteger(s: string): Converted {
  const n = javaInt(s);
  if (n !== null) return ok(n === 0 || s.charCodeAt(0) === 43 || s.charCodeAt(0) === 48 || (s.charCodeAt(0) === 45 && s.charCodeAt(1) === 48) ? String(n) : s);
  return s.toLowerCase() === 'null' ? ok('') : fail('Cannot be converted to java.lang.Integer');
}
export const toTxnId = (s: string): Converted => (javaInt(s) === null ? fail('Not a valid integer') : ok(s));

const DECIMAL_RE = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,9}))?$/;

/**
 * The longest plain form accepted: a double's largest finite value has 309 integer digits and its
 * smallest subnormal 324 decimals, so every value a warehouse double holds fits. Longer forms come
 * only from exponents such as `1e99999999`, which expanded would cost 100 MB for 11 bytes of input.
 */
export const MAX_PLAIN_DECIMAL_CHARS = 400;

/**
 * java.math.BigDecimal(s).toPlainString(): the number without scientific notation, scale kept.
 * null when s is not a decimal, or when its plain form would be over MAX_PLAIN_DECIMAL_CHARS (the
 * length is worked out from the digits and the exponent before anything is built).
 */
export function plainDecimal(s: string): string | null {
  if (s.length > MAX_PLAIN_DECIMAL_CHARS) return null;
  const m = DECIMAL_RE.exec(s);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return null;
  const [, sign, int, frac = '', exp = '0'] = m;
  let digits = (int + frac).replace(/^0+(?=\d)/, '');
  let scale = frac.length - Number(exp);
  // Zero stays '0' whatever its exponent (`0e500`), so only other digits grow with it.
  const plainLength = digits === '0' && scale <= 0 ? 1 : scale <= 0 ? digits.length - scale : Math.max(digits.length, scale + 1) + 1;
  if (plainLength > MAX_PLAIN_DECIMAL_CHARS) return null;
  if (scale < 0) { digits = digits === '0' ? '0' : digits + '0'.repeat(-scale); scale = 0; }
  let out: string;
  if (scale === 0) out = digits;
  else {
    const padded = digits.padStart(scale + 1, '0');
    out = `${padded.slice(0, padded.length - scale)}.${padded.slice(padded.length - scale)}`;
  }
  const negative = sign === '-' && /[1-9]/.test(out);
  return negative ? `-${out}` : out;
}

// ConversionUtils.stringToDoubleLike (se_va, tr_tt, tr_tx, tr_sh, ti_pr). Beyond Snowplow: a value
// no double can hold (|x| over 1.8e308) is refused as well, since every warehouse column these
// fields land in is a double or a narrower decimal.
export function toDoubleLike(s: string): Converted {
  if (s === 'null') return ok('');
  const p = plainDecimal(s);
  if (p === null) return fail('Cannot be converted to Double-like');
  return Number.isFinite(Number(p)) ? ok(p) : fail('Cannot be converted to Double-like: out of the range of a double');
}

// stringToBooleanLikeJByte: only 1 and 0.
export const toBooleanLike = (s: string): Converted =>
  s === '1' || s === '0' ? ok(s) : fail('Cannot be converted to Boolean-like java.lang.Byte');

const UPPER_HEX = /[A-F]/;
export const toUuid = (s: string): Converted => (isUuid(s) ? ok(UPPER_HEX.test(s) ? s.toLowerCase() : s) : fail('Not a valid UUID'));

const digitsOnly = (s: string, from: number, to: number): boolean => {
  if (to <= from) return false;
  for (let i = from; i < to; i++) { const c = s.charCodeAt(i); if (c < 48 || c > 57) return false; }
  return true;
};
// ClientEnrichments.extractViewDimensions (res, vp, ds).
export function toDimensions(s: string): Converted<[string, string]> {
  const x = s.indexOf('x');
  if (x < 0 || !digitsOnly(s, 0, x) || !digitsOnly(s, x + 1, s.length)) return fail('does not conform to regex (\\d+)x(\\d+)');
  const ws = s.slice(0, x);
  const hs = s.slice(x + 1);
  const w = ws.length <= 10 ? Number(ws) : Infinity;
  const h = hs.length <= 10 ? Number(hs) : Infinity;
  if (w > 2147483647 || h > 2147483647) return fail('could not be converted to java.lang.Integer s');
  // Integer.toString drops leading zeros; most values have none.
  return ok([ws.length > 1 && ws.charCodeAt(0) === 48 ? String(w) : ws, hs.length > 1 && hs.charCodeAt(0) === 48 ? String(h) : hs]);
}

export const MIN_TSTAMP = -62167219200000; // 0000-01-01
export const MAX_TSTAMP = 253402300799999; // 9999-12-31

// EventEnrichments.extractTimestamp (dtm, stm, ttm): epoch ms whose year is 0000–9999.
export function toTstamp(s: string): Converted<number> {
  const n = javaLong(s);
  if (n === null) return fail('not in the expected format: ms since epoch');
  if (n < MIN_TSTAMP || n > MAX_TSTAMP) {
    const d = new Date(n);
    const shown = Number.isNaN(d.getTime()) ? s : d.toISOString();
    return fail(`formatting as ${shown} is not Redshift-compatible`);
  }
  return ok(n);
}

export const safeTstamp = (ms: number): string => formatTstamp(ms);

/** X-Forwarded-For style lists: the first address is the client (MiscEnrichments.extractIp). */
export function extractIp(s: string): string {
  const cut = s.search(/[,| ]/);
  return toTsvSafe(cut < 0 ? s : s.slice(0, cut));
}

/** URLDecoder.decode(s, UTF-8) with line breaks removed and tabs widened, as for the collector's user agent. */
export function decodeUrlEncoded(s: string): Converted {
  if (!/[%+\r\n\t]/.test(s)) return ok(s);
  try {
    const d = decodeURIComponent(s.replace(/\+/g, ' '));
    return ok(d.replace(/[\r\n]/g, '').replace(/\t/g, '    '));
  } catch (err) {
    return fail(`Exception URL-decoding (encoding UTF-8): ${(err as Error).message}`);
  }
}
