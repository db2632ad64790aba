// Event fingerprint (event_fingerprint_config): the hash of every raw parameter except the excluded
// ones, sorted by name, each written `name U+001F value U+001F` (Snowplow's algorithm).
import { hash } from 'node:crypto';
import { MEMO_MAX_KEY_LENGTH } from '../cache';

const ALGORITHMS: Record<string, string> = { MD5: 'md5', SHA1: 'sha1', SHA256: 'sha256', SHA384: 'sha384', SHA512: 'sha512' };
const UNIT_SEPARATOR = '\u001f';

export class EventFingerprintEnrichment {
  private readonly algorithm: string;
  private readonly excluded: Set<string>;
  constructor(hashAlgorithm: string, excludeParameters: string[]) {
    const a = ALGORITHMS[hashAlgorithm];
    if (!a) throw new Error(`[${hashAlgorithm}] is not a supported event fingerprint generation algorithm`);
    this.algorithm = a;
    this.excluded = new Set(excludeParameters);
  }

  // Events from one tracker carry the same parameter names in the same order: the sorted,
  // filtered names of the last few name lists are kept, so most events skip the sort.
  private readonly shapes: { keys: string[]; hashed: string[] }[] = [];

  private hashedKeys(keys: string[]): string[] {
    const shapes = this.shapes;
    for (let i = 0; i < shapes.length; i++) {
      const known = shapes[i].keys;
      if (known.length !== keys.length) continue;
      let same = true;
      for (let j = 0; j < keys.length; j++) if (known[j] !== keys[j]) { same = false; break; }
      if (same) return shapes[i].hashed;
    }
    const hashed = [...keys].sort().filter((k) => !this.excluded.has(k));
    // A handful of shapes, and none of a hostile size (docs/hostile-input.md: no memo key over
    // MEMO_MAX_KEY_LENGTH characters): the memo stays small.
    let chars = 0;
    for (let j = 0; j < keys.length && chars <= MEMO_MAX_KEY_LENGTH; j++) chars += keys[j].length + 1;
    if (chars <= MEMO_MAX_KEY_LENGTH) {
      if (shapes.length >= 8) shapes.pop();
      shapes.unshift({ keys, hashed });
    }
    return hashed;
  }

  /** The string that is hashed. */
  input(params: Record<string, string>): string {
    const keys = this.hashedKeys(Object.keys(params));
    let s = '';
    for (let i = 0; i < keys.length; i++) s += keys[i] + UNIT_SEPARATOR + params[keys[i]] + UNIT_SEPARATOR;
    return s;
  }

  fingerprint(params: Record<string, string>): string {
    // crypto.hash: the one-shot form, about 0.7 µs an event cheaper than createHash().update().digest().
    return hash(this.algorithm, this.input(params), 'hex');
  }
}
