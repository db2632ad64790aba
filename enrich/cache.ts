// A bounded memo for the expensive, pure lookups of enrich (URL parsing, referer and campaign
// lookups, user-agent parsing): when full, the oldest entry is dropped.
export class BoundedCache<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}

  get(key: K): V | undefined { return this.map.get(key); }

  set(key: K, value: V): V {
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value as K);
    this.map.set(key, value);
    return value;
  }

  /** The cached value, or compute() stored. */
  through(key: K, compute: () => V): V {
    const hit = this.map.get(key);
    return hit !== undefined || this.map.has(key) ? (hit as V) : this.set(key, compute());
  }
}
