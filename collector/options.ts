import fs from 'node:fs';
import type { SluiceConfig } from '../config';
import { serviceToken } from '../observability/access';
import type { SinkOptions } from './sink';

// Everything the collector's HTTP side needs, derived once from the config (pure after start).

export const TP2_PATH = '/com.snowplowanalytics.snowplow/tp2';
export const REDIRECT_PATH = '/r/tp2';

export interface CookieRules {
  enabled: boolean;
  name: string;
  expirationMs: number;
  domains: string[];
  fallbackDomain?: string;
  secure: boolean;
  httpOnly: boolean;
  sameSite: 'None' | 'Lax' | 'Strict';
}

export interface CollectorOptions {
  /** The CollectorPayload `collector` field: `<name>-<version>-kinesis`. */
  collectorName: string;
  /** name and version for the `processor` of bad rows the collector writes. */
  processor: { artifact: string; version: string };
  bodyLimitBytes: number;
  maxHeaderBytes: number;
  /** Passed to Fastify's trustProxy; false = ignore X-Forwarded-For. */
  trustProxy: false | string[];
  paths: Record<string, string>;
  cookie: CookieRules;
  doNotTrack?: { name: string; value: RegExp };
  redirect: { enabled: boolean; allowedHosts: Set<string>; macro?: string };
  corsMaxAgeSeconds: number;
  crossDomain?: { domains: string[]; secure: boolean };
  partitionKey: 'random' | 'ip';
  maxRecordBytes: number;
  /** Guards /sink-health and /metrics; undefined on loopback without one (observability/access.ts). */
  token?: string;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export const COLLECTOR_VERSION = packageVersion();

export function collectorOptions(config: SluiceConfig): CollectorOptions {
  const c = config.collector;
  return {
    collectorName: `${c.name}-${COLLECTOR_VERSION}-kinesis`,
    processor: { artifact: c.name, version: COLLECTOR_VERSION },
    bodyLimitBytes: c.bodyLimitBytes,
    maxHeaderBytes: c.maxHeaderBytes,
    trustProxy: c.trustedProxies.length > 0 ? c.trustedProxies : false,
    paths: c.paths,
    cookie: {
      enabled: c.cookie.enabled,
      name: c.cookie.name,
      expirationMs: Math.round(c.cookie.expirationDays * 86_400_000),
      domains: c.cookie.domains,
      fallbackDomain: c.cookie.fallbackDomain,
      secure: c.cookie.secure,
      httpOnly: c.cookie.httpOnly,
      sameSite: c.cookie.sameSite,
    },
    // Anchored: Snowplow matches the whole cookie value.
    doNotTrack: c.doNotTrackCookie.enabled ? { name: c.doNotTrackCookie.name, value: new RegExp(`^(?:${c.doNotTrackCookie.value})$`) } : undefined,
    redirect: {
      enabled: c.redirect.enabled,
      allowedHosts: new Set(c.redirect.allowedHosts.map((h) => h.toLowerCase())),
      macro: c.redirect.macro.enabled ? c.redirect.macro.placeholder : undefined,
    },
    corsMaxAgeSeconds: c.cors.maxAgeSeconds,
    crossDomain: c.crossDomain.enabled ? { domains: c.crossDomain.domains, secure: c.crossDomain.secure } : undefined,
    partitionKey: c.sink.partitionKey,
    maxRecordBytes: c.sink.maxRecordBytes,
    // Throws (the collector refuses to start) off loopback without a token.
    token: serviceToken(config, 'collector'),
  };
}

/** Sink settings for one stream (raw or bad) from the config. */
export function sinkOptions(config: SluiceConfig, stream: string): SinkOptions {
  const c = config.collector;
  return {
    stream,
    byteLimit: c.buffer.byteLimit,
    recordLimit: c.buffer.recordLimit,
    timeLimitMs: c.buffer.timeLimitMs,
    maxBufferedBytes: c.buffer.maxBufferedBytes,
    backoffMinMs: c.backoff.minMs,
    backoffMaxMs: c.backoff.maxMs,
    maxInFlight: c.sink.maxInFlight,
    maxBytesPerCall: c.sink.maxBytesPerCall,
    unhealthyAfterFailures: c.sink.unhealthyAfterFailures,
  };
}
