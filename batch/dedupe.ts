import { createHash } from 'node:crypto';

// In-batch de-duplication, as Snowplow's shredder does it (facts from its docs):
//  - natural duplicates (same event_id, same event_fingerprint): the first one is kept;
//  - synthetic duplicates (same event_id, different fingerprints): every one of them is kept
//    under a new event_id and carries a `duplicate` context with the original id.
// Snowplow draws the new ids at random; here they are derived from (event_id, fingerprint), so
// a retried task writes the same ids. Input order decides which natural duplicate is "first";
// callers pass events in a deterministic order. Pure.

export const DUPLICATE_SCHEMA_URI = 'iglu:com.snowplowanalytics.snowplow/duplicate/jsonschema/1-0-0';

// A fixed namespace, so the ids are stable across runs and hosts (RFC 4122 name-based, SHA-1).
const NAMESPACE = Buffer.from('7c3a6b1e5f2d4e8a9b0c1d2e3f405162', 'hex');

/** A version-5 UUID from the original id and fingerprint. */
export function syntheticEventId(eventId: string, fingerprint: string): string {
  const h = createHash('sha1').update(NAMESPACE).update(`${eventId}\u001f${fingerprint}`).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export interface DedupeInput<T> {
  eventId: string;
  fingerprint: string;
  item: T;
}

export interface DedupeOutput<T> {
  item: T;
  eventId: string;
  /** Set for synthetic duplicates: the id the event arrived with. */
  originalEventId?: string;
}

export interface DedupeResult<T> {
  kept: DedupeOutput<T>[];
  /** Natural duplicates dropped. */
  natural: number;
  /** Events re-identified as synthetic duplicates. */
  synthetic: number;
}

interface Group<T> {
  fingerprint: string;
  item: T;
  /** Further fingerprints of the same id, only when there are some (almost never). */
  others?: Map<string, T>;
}

export function dedupe<T>(events: Iterable<DedupeInput<T>>): DedupeResult<T> {
  const groups = new Map<string, Group<T>>();
  let natural = 0;
  for (const e of events) {
    const g = groups.get(e.eventId);
    if (!g) groups.set(e.eventId, { fingerprint: e.fingerprint, item: e.item });
    else if (g.fingerprint === e.fingerprint || g.others?.has(e.fingerprint)) natural++;
    else (g.others ??= new Map()).set(e.fingerprint, e.item);
  }
  const kept: DedupeOutput<T>[] = [];
  let synthetic = 0;
  for (const [eventId, g] of groups) {
    if (!g.others) {
      kept.push({ item: g.item, eventId });
      continue;
    }
    for (const [fingerprint, item] of [[g.fingerprint, g.item] as const, ...g.others]) {
      synthetic++;
      kept.push({ item, eventId: syntheticEventId(eventId, fingerprint), originalEventId: eventId });
    }
  }
  return { kept, natural, synthetic };
}
