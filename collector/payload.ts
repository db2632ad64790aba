import { COLLECTOR_PAYLOAD_SCHEMA, type CollectorPayload } from '../codecs/collector-payload';

// Pure: what the collector knows about one HTTP request → Snowplow's CollectorPayload.

export interface RequestFacts {
  ipAddress: string;
  timestamp: number;
  path: string;
  querystring?: string;
  body?: string;
  contentType?: string;
  userAgent?: string;
  refererUri?: string;
  hostname?: string;
  networkUserId?: string;
  /** Raw header pairs as received (name, value). */
  headers: [string, string][];
}

export function collectorName(name: string, version: string, sink: string): string {
  return `${name}-${version}-${sink}`;
}

export function toCollectorPayload(req: RequestFacts, collector: string): CollectorPayload {
  const headers = req.headers.map(([name, value]) => `${name}: ${value}`);
  // Snowplow's collector also appends the bare content type as the last header element.
  if (req.contentType) headers.push(req.contentType);
  return {
    schema: COLLECTOR_PAYLOAD_SCHEMA,
    ipAddress: req.ipAddress,
    timestamp: req.timestamp,
    encoding: 'UTF-8',
    collector,
    userAgent: req.userAgent,
    refererUri: req.refererUri,
    path: req.path,
    querystring: req.querystring || undefined,
    body: req.body,
    headers,
    contentType: req.contentType,
    hostname: req.hostname,
    networkUserId: req.networkUserId,
  };
}
