// A bounded memo for the expensive, pure lookups of enrich (URL parsing, referer and campaign
// lookups, user-agent parsing): when full, the oldest entry is dropped.
// A memo is bounded in entries, not bytes: 10,000 distinct 1 MB URLs would keep 10+ GB. Long keys
// are rare in real traffic, so they are computed each time instead (bench/event-bounds.ts).
export const MEMO_MAX_KEY_LENGTH = 4_096;

export class BoundedCache<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}

  get(key: K): V | undefined { return this.map.get(key); }

  set(key: K, value: V): V {
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value as K);
    this.map.set(key, value);
    return value;
  }

  /** The cached value, or compute() stored (not for a key longer than MEMO_MAX_KEY_LENGTH). */
  through(key: K, compute: () => V): V {
    if (typeof key === 'string' && key.length > MEMO_MAX_KEY_LENGTH) return compute();
    const hit = this.map.get(key);
    return hit !== undefined || this.map.has(key) ? (hit as V) : this.set(key, compute());
  }
}
