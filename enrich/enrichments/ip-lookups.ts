// IP lookups (ip_lookups 2-0-0) through MaxMind-format databases (the maxmind package's reader):
// geo (City), ISP, domain and connection-type databases, each optional. A failed or empty lookup
// leaves the fields empty, as in Snowplow; results are cached per address.
import fs from 'node:fs';
import { type CityResponse, type ConnectionTypeResponse, type DomainResponse, type IspResponse, Reader, type Response } from 'maxmind';
import type { EnrichedEvent } from '../../codecs/enriched-tsv';
import { toTsvSafe } from '../event/conversions';

export interface IpLookupsFiles { geo?: string; isp?: string; domain?: string; connectionType?: string }

/** A bounded cache in the shape the reader takes (oldest entry evicted first). */
function boundedCache(max: number) {
  const m = new Map<string | number, unknown>();
  return {
    get: (k: string | number) => m.get(k),
    set: (k: string | number, v: unknown) => {
      if (m.size >= max) m.delete(m.keys().next().value as string | number);
      m.set(k, v);
    },
  };
}

function open<T extends Response>(file: string | undefined): Reader<T> | undefined {
  return file ? new Reader<T>(fs.readFileSync(file), { cache: boundedCache(10_000) }) : undefined;
}

function lookup<T extends Response>(reader: Reader<T> | undefined, ip: string): T | null {
  if (!reader) return null;
  try { return reader.get(ip); } catch { return null; } // not an IP address: no lookup
}

export class IpLookupsEnrichment {
  private readonly geo?: Reader<CityResponse>;
  private readonly isp?: Reader<IspResponse>;
  private readonly domain?: Reader<DomainResponse>;
  private readonly connectionType?: Reader<ConnectionTypeResponse>;

  constructor(files: IpLookupsFiles) {
    this.geo = open<CityResponse>(files.geo);
    this.isp = open<IspResponse>(files.isp);
    this.domain = open<DomainResponse>(files.domain);
    this.connectionType = open<ConnectionTypeResponse>(files.connectionType);
  }

  /** Sets the geo_* and ip_* fields of `e` from its user_ipaddress. */
  apply(e: EnrichedEvent): void {
    const ip = e.user_ipaddress;
    if (ip === undefined) return;
    const set = (f: keyof EnrichedEvent, v: unknown) => { if (v !== undefined && v !== null && v !== '') e[f] = toTsvSafe(String(v)); };
    const loc = lookup(this.geo, ip);
    if (loc) {
      const sub = loc.subdivisions?.[0];
      set('geo_country', loc.country?.iso_code);
      set('geo_region', sub?.iso_code);
      set('geo_city', loc.city?.names?.en);
      set('geo_zipcode', loc.postal?.code);
      set('geo_latitude', loc.location?.latitude);
      set('geo_longitude', loc.location?.longitude);
      set('geo_region_name', sub?.names?.en);
      set('geo_timezone', loc.location?.time_zone);
    }
    const isp = lookup(this.isp, ip);
    set('ip_isp', isp?.isp);
    set('ip_organization', isp?.organization);
    set('ip_domain', lookup(this.domain, ip)?.domain);
    set('ip_netspeed', lookup(this.connectionType, ip)?.connection_type);
  }
}
