// Writes small MaxMind DB (.mmdb) files for tests, following the published MaxMind DB format
// (version 2.0): a binary search tree of 24-bit records, a 16-byte separator, the data section,
// then the metadata map after the "\xAB\xCD\xEFMaxMind.com" marker. IPv6 databases hold IPv4
// networks in ::/96, where readers look them up.
import net from 'node:net';

export type MmdbValue = string | number | boolean | MmdbValue[] | { [k: string]: MmdbValue } | { uint64: bigint } | { double: number };

// ---- data section encoding ----
function control(type: number, size: number): Buffer {
  const ext = type > 7;
  const head: number[] = [];
  let sizeBits: number;
  const extra: number[] = [];
  if (size < 29) sizeBits = size;
  else if (size < 285) { sizeBits = 29; extra.push(size - 29); }
  else if (size < 65821) { sizeBits = 30; const v = size - 285; extra.push(v >> 8, v & 255); }
  else { sizeBits = 31; const v = size - 65821; extra.push((v >> 16) & 255, (v >> 8) & 255, v & 255); }
  head.push(((ext ? 0 : type) << 5) | sizeBits);
  if (ext) head.push(type - 7);
  return Buffer.from([...head, ...extra]);
}

function uintBytes(n: bigint): Buffer {
  const out: number[] = [];
  for (let v = n; v > 0n; v >>= 8n) out.unshift(Number(v & 255n));
  return Buffer.from(out);
}

export function encodeValue(v: MmdbValue): Buffer {
  if (typeof v === 'string') { const b = Buffer.from(v, 'utf8'); return Buffer.concat([control(2, b.length), b]); }
  if (typeof v === 'boolean') return control(14, v ? 1 : 0);
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0 && v <= 0xffffffff) { const b = uintBytes(BigInt(v)); return Buffer.concat([control(6, b.length), b]); }
    const b = Buffer.alloc(8); b.writeDoubleBE(v); return Buffer.concat([control(3, 8), b]);
  }
  if (Array.isArray(v)) return Buffer.concat([control(11, v.length), ...v.map(encodeValue)]);
  if ('uint64' in v && typeof v.uint64 === 'bigint') { const b = uintBytes(v.uint64); return Buffer.concat([control(9, b.length), b]); }
  if ('double' in v && typeof v.double === 'number') { const b = Buffer.alloc(8); b.writeDoubleBE(v.double); return Buffer.concat([control(3, 8), b]); }
  const entries = Object.entries(v as Record<string, MmdbValue>);
  return Buffer.concat([control(7, entries.length), ...entries.flatMap(([k, x]) => [encodeValue(k), encodeValue(x)])]);
}

// ---- search tree ----
interface TreeNode { kids: [Child, Child] }
type Child = TreeNode | { data: number } | null;

/** `1.2.3.0/24` or `2001:db8::/32` → the 128 bits of its place in an IPv6 tree, and the prefix length. */
function networkBits(cidr: string): { bits: number[]; length: number } {
  const [addr, len] = cidr.split('/');
  const bytes: number[] = [];
  let prefix = Number(len);
  if (net.isIPv4(addr)) {
    bytes.push(...Array(12).fill(0), ...addr.split('.').map(Number));
    prefix += 96;
  } else {
    const [l, r] = addr.includes('::') ? addr.split('::') : [addr, ''];
    const left = l ? l.split(':') : [];
    const right = r ? r.split(':') : [];
    const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right].map((g) => parseInt(g, 16));
    for (const g of groups) bytes.push(g >> 8, g & 255);
  }
  const bits = bytes.flatMap((b) => Array.from({ length: 8 }, (_, i) => (b >> (7 - i)) & 1));
  return { bits, length: prefix };
}

export interface MmdbOptions { databaseType: string; description?: string; languages?: string[]; buildEpoch?: bigint }

/** Builds an IPv6 MaxMind DB mapping each network to its record. */
export function buildMmdb(networks: Record<string, MmdbValue>, opts: MmdbOptions): Buffer {
  const data: Buffer[] = [];
  let dataSize = 0;
  const root: TreeNode = { kids: [null, null] };
  for (const [cidr, value] of Object.entries(networks)) {
    const offset = dataSize;
    const encoded = encodeValue(value);
    data.push(encoded);
    dataSize += encoded.length;
    const { bits, length } = networkBits(cidr);
    let node = root;
    for (let i = 0; i < length - 1; i++) {
      let child = node.kids[bits[i]];
      if (child === null || !('kids' in child)) { child = { kids: [null, null] }; node.kids[bits[i]] = child; }
      node = child;
    }
    node.kids[bits[length - 1]] = { data: offset };
  }
  // Number the nodes breadth-first from the root.
  const nodes: TreeNode[] = [root];
  for (let i = 0; i < nodes.length; i++) for (const k of nodes[i].kids) if (k && 'kids' in k) nodes.push(k);
  const index = new Map(nodes.map((n, i) => [n, i]));
  const nodeCount = nodes.length;
  const tree = Buffer.alloc(nodeCount * 6);
  const record = (c: Child): number => (c === null ? nodeCount : 'kids' in c ? index.get(c)! : nodeCount + 16 + c.data);
  nodes.forEach((n, i) => { tree.writeUIntBE(record(n.kids[0]), i * 6, 3); tree.writeUIntBE(record(n.kids[1]), i * 6 + 3, 3); });
  const metadata = encodeValue({
    node_count: nodeCount, record_size: 24, ip_version: 6, database_type: opts.databaseType,
    languages: opts.languages ?? ['en'], binary_format_major_version: 2, binary_format_minor_version: 0,
    build_epoch: { uint64: opts.buildEpoch ?? 1_700_000_000n }, description: { en: opts.description ?? 'Sluice test database' },
  });
  return Buffer.concat([tree, Buffer.alloc(16), ...data, Buffer.from([0xab, 0xcd, 0xef]), Buffer.from('MaxMind.com'), metadata]);
}
