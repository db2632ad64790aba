import type { ObjectStore } from '../../adapters/object-store';

// For pure job code run without s3rver (the shred unit tests, the fuzz suite's shred property).

/** An in-memory ObjectStore with the adapter's semantics (sorted listing, overwrite on put). */
export function memoryStore(): ObjectStore & { objects: Map<string, Buffer> } {
  const objects = new Map<string, Buffer>();
  return {
    bucket: 'mem-bucket',
    objects,
    async put(key, body) { objects.set(key, Buffer.from(body)); },
    async get(key) {
      const b = objects.get(key);
      if (!b) throw Object.assign(new Error(`NoSuchKey ${key}`), { name: 'NoSuchKey' });
      return b;
    },
    async list(prefix) { return [...objects.keys()].filter((k) => k.startsWith(prefix)).sort(); },
    async listSized(prefix) { return [...objects].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, b]) => ({ key, size: b.length })); },
    async copy(from, to) { const b = objects.get(from); if (b) objects.set(to, b); },
    async move(from, to) { const b = objects.get(from); if (b) { objects.set(to, b); objects.delete(from); } },
    async exists(key) { return objects.has(key); },
    async delete(key) { objects.delete(key); },
    async deleteMany(keys) { for (const k of keys) objects.delete(k); },
  };
}
