import fs from 'node:fs';
import path from 'node:path';
import type { TLSConfig } from '@temporalio/client';
import { ConfigError, type SluiceConfig } from '../config';

// How every Sluice process reaches Temporal: plain gRPC to the local dev server, or TLS / mTLS
// and Temporal Cloud API keys in production (docs/operations-security.md). The same options go
// to the client's Connection and the worker's NativeConnection.

export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig;
  apiKey?: string;
}

function readFile(file: string, key: string): Buffer {
  try {
    return fs.readFileSync(path.resolve(file));
  } catch (err) {
    throw new ConfigError(`${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Connection options from temporal.*; certificate and key files are read here, at start. */
export function temporalConnectionOptions(config: SluiceConfig): TemporalConnectionOptions {
  const t = config.temporal;
  const { clientCertFile, clientKeyFile, serverRootCaFile, serverNameOverride } = t.tls;
  if (Boolean(clientCertFile) !== Boolean(clientKeyFile)) {
    throw new ConfigError('temporal.tls.clientCertFile and temporal.tls.clientKeyFile: set both (mTLS) or neither');
  }
  if (t.apiKey && t.apiKeyFile) throw new ConfigError('temporal.apiKey and temporal.apiKeyFile: set one, not both');
  const apiKey = t.apiKey || (t.apiKeyFile ? readFile(t.apiKeyFile, 'temporal.apiKeyFile').toString('utf8').trim() : '');
  if (t.apiKeyFile && !apiKey) throw new ConfigError(`temporal.apiKeyFile: ${t.apiKeyFile} is empty`);

  const useTls = t.tls.enabled || Boolean(clientCertFile || serverRootCaFile || serverNameOverride || apiKey);
  if (!useTls) return { address: t.address };
  const tls: TLSConfig = {};
  if (serverRootCaFile) tls.serverRootCACertificate = readFile(serverRootCaFile, 'temporal.tls.serverRootCaFile');
  if (clientCertFile) {
    tls.clientCertPair = { crt: readFile(clientCertFile, 'temporal.tls.clientCertFile'), key: readFile(clientKeyFile, 'temporal.tls.clientKeyFile') };
  }
  if (serverNameOverride) tls.serverNameOverride = serverNameOverride;
  // An API key only ever travels over TLS: Temporal Cloud refuses it in the clear, and so do we.
  return apiKey ? { address: t.address, tls, apiKey } : { address: t.address, tls };
}
