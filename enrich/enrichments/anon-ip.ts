// IP anonymisation (anon_ip): the last N IPv4 octets / IPv6 segments become `x`, as Snowplow's
// AnonIpEnrichment (IPv6 first written out in full, Java style; invalid addresses masked as text).
import net from 'node:net';

export interface AnonIpConfig { anonOctets: number; anonSegments: number }

const MAPPED_PREFIX = '::FFFF:';

/** Java's split: trailing empty strings are dropped. */
function javaSplit(s: string, sep: string): string[] {
  const parts = s.split(sep);
  while (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

function mask(parts: string[], keep: number, size: number): string[] {
  const out = parts.slice(0, Math.max(0, keep));
  while (out.length < size) out.push('x');
  return out;
}

function anonV4(ip: string, octets: number): string {
  const m = (s: string) => { const p = javaSplit(s, '.'); return mask(p, 4 - octets, p.length).join('.'); };
  return ip.startsWith(MAPPED_PREFIX) ? MAPPED_PREFIX + m(ip.replace(MAPPED_PREFIX, '')) : m(ip);
}

const anonV6 = (ip: string, segments: number): string => mask(javaSplit(ip, ':'), 8 - segments, 8).join(':');

/** The 16 bytes of a valid IPv6 address. */
function ipv6Bytes(ip: string): number[] {
  let head = ip;
  const tail: number[] = [];
  const lastColon = head.lastIndexOf(':');
  if (head.slice(lastColon + 1).includes('.')) {
    for (const o of head.slice(lastColon + 1).split('.')) tail.push(Number(o));
    head = head.slice(0, lastColon + 1) + '0:0';
  }
  const [l, r] = head.includes('::') ? head.split('::') : [head, undefined];
  const left = l ? l.split(':') : [];
  const right = r ? r.split(':') : [];
  const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right].map((g) => parseInt(g, 16));
  const bytes = groups.flatMap((g) => [g >> 8, g & 255]);
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** Anonymises an IP address (null passes through). */
export function anonymizeIp(ip: string | undefined, cfg: AnonIpConfig): string | undefined {
  if (ip === undefined) return undefined;
  if (net.isIPv4(ip)) return anonV4(ip, cfg.anonOctets);
  if (net.isIPv6(ip) && !ip.includes('%')) {
    const b = ipv6Bytes(ip);
    // Java turns IPv4-mapped addresses into Inet4Address: masked as IPv4 text.
    if (b.slice(0, 10).every((x) => x === 0) && b[10] === 255 && b[11] === 255) return anonV4(ip, cfg.anonOctets);
    const full = Array.from({ length: 8 }, (_, i) => ((b[2 * i] << 8) | b[2 * i + 1]).toString(16)).join(':');
    return anonV6(full, cfg.anonSegments);
  }
  if (ip.includes('.') || ip === '') return anonV4(ip, cfg.anonOctets);
  if (ip.includes(':')) return anonV6(ip, cfg.anonSegments);
  return ip;
}
