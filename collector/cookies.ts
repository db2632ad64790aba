import type { CookieRules } from './options';

// The two cookie operations on the collector's hot path, without a general cookie library:
// reading one named cookie from the Cookie header, and writing the identity Set-Cookie from a
// template fixed at start. Both give exactly what the `cookie` package (behind @fastify/cookie)
// gives: `parseCookie(header)[name]` and `stringifySetCookie(...)` with the values passed through
// as they are; tests/unit/collector-cookies.test.ts holds them equal on generated input.

function trimmedStart(str: string, start: number, end: number): number {
  while (start < end) {
    const c = str.charCodeAt(start);
    if (c !== 32 && c !== 9) break;
    start++;
  }
  return start;
}

function trimmedEnd(str: string, start: number, end: number): number {
  while (end > start) {
    const c = str.charCodeAt(end - 1);
    if (c !== 32 && c !== 9) break;
    end--;
  }
  return end;
}

function decode(value: string): string {
  if (value.indexOf('%') === -1) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** The value of the first cookie called `name` in a Cookie header (URL-decoded when it decodes), as `cookie`'s parseCookie. */
export function readCookie(header: string, name: string): string | undefined {
  const len = header.length;
  if (len < 2) return undefined;
  let index = 0;
  do {
    let eq = header.indexOf('=', index);
    if (eq === -1) eq = len;
    if (eq === len) return undefined; // no more pairs
    let end = header.indexOf(';', index);
    if (end === -1) end = len;
    if (eq > end) {
      // This pair has no `=`: go back to the last `;` before the next `=`.
      index = header.lastIndexOf(';', eq - 1) + 1;
      continue;
    }
    const ks = trimmedStart(header, index, eq);
    const ke = trimmedEnd(header, ks, eq);
    if (ke - ks === name.length && header.startsWith(name, ks)) {
      const vs = trimmedStart(header, eq + 1, end);
      const ve = trimmedEnd(header, vs, end);
      return decode(header.slice(vs, ve));
    }
    index = end + 1;
  } while (index < len);
  return undefined;
}

type Serializer = (name: string, value: string, options: Record<string, unknown>) => string;

const asIs = (v: string) => v;

/** Set-Cookie values of the identity cookie: every attribute but the value and `Expires` fixed at start. */
export class SetCookieTemplate {
  private readonly head: string;
  private readonly maxAge: string;
  private readonly tail: string;
  private readonly expiredTail: string;
  private readonly domainPart = new Map<string | undefined, string>();
  private readonly expirationMs: number;
  private expiresSecond = Number.NaN;
  private expiresText = '';
  /** Set when the reference refuses the name or max-age: every cookie then fails as it would have. */
  private readonly refused?: () => never;

  /**
   * `reference` is the serializer the template stands in for (@fastify/cookie's): a setting it
   * refuses (a bad name, max-age or domain) is not templated, and fails exactly as the reference
   * would, on the requests that use it.
   */
  constructor(
    rules: CookieRules,
    private readonly reference: Serializer,
  ) {
    this.expirationMs = rules.expirationMs;
    const sameSite = rules.sameSite.toLowerCase();
    const maxAge = Math.floor(rules.expirationMs / 1000);
    try {
      reference(rules.name, '', { maxAge, path: '/', sameSite, encode: asIs });
    } catch (err) {
      this.refused = () => {
        throw err;
      };
    }
    this.head = `${rules.name}=`;
    this.maxAge = `; Max-Age=${maxAge}`;
    const flags = `${rules.httpOnly ? '; HttpOnly' : ''}${rules.secure ? '; Secure' : ''}; SameSite=${sameSite === 'strict' ? 'Strict' : sameSite === 'lax' ? 'Lax' : 'None'}`;
    this.tail = flags;
    this.expiredTail = `; Expires=${new Date(0).toUTCString()}${flags}`;
  }

  private domain(domain: string | undefined): string {
    let part = this.domainPart.get(domain);
    if (part === undefined) {
      // The reference throws on a domain it cannot write: checked once per domain (they come from the config).
      if (domain) this.reference('x', '', { domain, encode: asIs });
      part = domain ? `; Domain=${domain}; Path=/` : '; Path=/';
      this.domainPart.set(domain, part);
    }
    return part;
  }

  /** The cookie holding `value` (cookie-octets already), expiring `expirationMs` after `now`. */
  set(value: string, domain: string | undefined, now: number): string {
    this.refused?.();
    const at = now + this.expirationMs;
    const second = Math.floor(at / 1000);
    if (second !== this.expiresSecond) {
      const expires = new Date(at);
      const year = expires.getUTCFullYear();
      if (!(year >= 1601 && year <= 9999)) throw new TypeError(`cookie expires is invalid: ${expires}`);
      this.expiresText = `; Expires=${expires.toUTCString()}`;
      this.expiresSecond = second;
    }
    return `${this.head}${value}${this.maxAge}${this.domain(domain)}${this.expiresText}${this.tail}`;
  }

  /** The cookie emptied and expired (Max-Age=0, the epoch), for SP-Anonymous. */
  expired(domain: string | undefined): string {
    this.refused?.();
    return `${this.head}; Max-Age=0${this.domain(domain)}${this.expiredTail}`;
  }
}
