import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import type net from 'node:net';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type SluiceConfig } from '../../config';
import type { ManagedProcess } from '../../stack/processes';
import { temporalPort, temporalSpec } from '../../stack/standins';
import { temporalConnectionOptions } from '../../workers/temporal-connection';
import { connectTemporal } from '../../workers/wiring';
import { startStandin, teardown, testConfig } from '../helpers/standins';

// Sluice's Temporal connections (the client's Connection and the worker's NativeConnection) over
// TLS with a client certificate (mTLS), and with a Temporal Cloud-style API key. The dev server
// speaks plain gRPC only, so a TLS-terminating HTTP/2 proxy stands in front of it, as a load
// balancer would: it checks the client certificate or the API key and forwards every gRPC call.

const SERVER_NAME = 'temporal.sluice.test';
const API_KEY = 'temporal-cloud-key-6d1f0b9e3a7c';

let config: SluiceConfig;
let temporal: ManagedProcess;
let certs: Record<'ca' | 'caKey' | 'serverCrt' | 'serverKey' | 'clientCrt' | 'clientKey' | 'otherCa', string>;

/** A CA, a server certificate for SERVER_NAME and a client certificate, made with openssl. */
function makeCerts(dir: string): typeof certs {
  const f = (name: string) => path.join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  for (const ca of ['ca', 'other-ca']) {
    openssl('req', '-x509', ...ec, '-keyout', f(`${ca}.key`), '-out', f(`${ca}.crt`), '-days', '2', '-subj', `/CN=sluice test ${ca}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  }
  const leaf = (name: string, cn: string, ext: string) => {
    openssl('req', '-new', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    fs.writeFileSync(f(`${name}.ext`), ext);
    openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.crt`), '-days', '2', '-extfile', f(`${name}.ext`));
  };
  leaf('server', SERVER_NAME, `subjectAltName=DNS:${SERVER_NAME}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
  leaf('client', 'sluice-worker', 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');
  return {
    ca: f('ca.crt'), caKey: f('ca.key'), otherCa: f('other-ca.crt'),
    serverCrt: f('server.crt'), serverKey: f('server.key'), clientCrt: f('client.crt'), clientKey: f('client.key'),
  };
}

interface Proxy {
  port: number;
  /** Client certificate CNs and Authorization headers the proxy saw. */
  seen: { clientCn: string[]; authorization: string[] };
  close(): Promise<void>;
}

const PSEUDO = /^:/;
const plain = (h: http2.IncomingHttpHeaders) => Object.fromEntries(Object.entries(h).filter(([k]) => !PSEUDO.test(k)));

/** TLS in front of the dev server: mTLS when `mtls`, else an API key checked on every call. */
async function startTlsProxy(mode: 'mtls' | 'apiKey'): Promise<Proxy> {
  const upstream = http2.connect(`http://127.0.0.1:${temporalPort(config)}`);
  const seen = { clientCn: [] as string[], authorization: [] as string[] };
  const server = http2.createSecureServer({
    key: fs.readFileSync(certs.serverKey),
    cert: fs.readFileSync(certs.serverCrt),
    ca: fs.readFileSync(certs.ca),
    requestCert: mode === 'mtls',
    rejectUnauthorized: mode === 'mtls',
  });
  server.on('stream', (stream, headers) => {
    const peer = (stream.session?.socket as TLSSocket | undefined)?.getPeerCertificate();
    if (peer?.subject?.CN) seen.clientCn.push(String(peer.subject.CN));
    if (headers.authorization) seen.authorization.push(String(headers.authorization));
    if (mode === 'apiKey' && headers.authorization !== `Bearer ${API_KEY}`) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '16', 'grpc-message': 'invalid API key' }, { endStream: true });
      return;
    }
    const req = upstream.request({ ...plain(headers), ':method': headers[':method'], ':path': headers[':path'] }, { endStream: false });
    stream.pipe(req);
    let trailers: http2.IncomingHttpHeaders = {};
    req.on('trailers', (t) => (trailers = t));
    req.on('response', (h) => {
      if (h['grpc-status'] !== undefined) {
        stream.respond({ ...plain(h), ':status': h[':status'] }, { endStream: true }); // trailers-only answer
        return;
      }
      stream.respond({ ...plain(h), ':status': h[':status'] }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers(plain(trailers)));
      req.pipe(stream);
    });
    req.on('error', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    stream.on('error', () => req.close(http2.constants.NGHTTP2_CANCEL));
  });
  // Closing ends the sessions clients left open (a refused client's channel may linger).
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        upstream.close();
        server.close(() => resolve());
        for (const s of sessions) s.destroy();
      }),
  };
}

/** The test config pointed at the proxy, with these temporal.* variables. */
function viaProxy(proxy: Proxy, env: Record<string, string>): SluiceConfig {
  const vars = { SLUICE_TEMPORAL__ADDRESS: `127.0.0.1:${proxy.port}`, SLUICE_TEMPORAL__NAMESPACE: config.temporal.namespace, ...env };
  return loadConfig(vars, config.dataDir);
}

const mtlsFiles = () => ({
  SLUICE_TEMPORAL__TLS__SERVER_ROOT_CA_FILE: certs.ca,
  SLUICE_TEMPORAL__TLS__CLIENT_CERT_FILE: certs.clientCrt,
  SLUICE_TEMPORAL__TLS__CLIENT_KEY_FILE: certs.clientKey,
  SLUICE_TEMPORAL__TLS__SERVER_NAME_OVERRIDE: SERVER_NAME,
});

/** A real call through the connection: the namespace's description. */
async function describeNamespace(connection: Connection): Promise<string | null | undefined> {
  const res = await connection.workflowService.describeNamespace({ namespace: config.temporal.namespace });
  return res.namespaceInfo?.name;
}

/** Connects as the client does (connectTemporal, then a real call) and as the worker does (NativeConnection). */
async function connectAsClientAndWorker(c: SluiceConfig): Promise<void> {
  const { connection } = await connectTemporal(c);
  try {
    expect(await describeNamespace(connection)).toBe(config.temporal.namespace);
  } finally {
    await connection.close();
  }
  const native = await NativeConnection.connect(temporalConnectionOptions(c));
  await native.close();
}

/** Connecting fails within a few seconds (a refused handshake or call is not retried for long). */
async function connectError(c: SluiceConfig): Promise<string> {
  try {
    const connection = await Connection.connect({ ...temporalConnectionOptions(c), connectTimeout: 3_000 });
    try {
      await describeNamespace(connection);
    } finally {
      await connection.close();
    }
  } catch (err) {
    // The SDK's "Failed to connect" wraps the gRPC error that says why.
    const cause = (err as Error).cause as Error | undefined;
    return `${(err as Error).message}${cause ? `: ${cause.message}` : ''}`;
  }
  return 'connected';
}

beforeAll(async () => {
  config = testConfig();
  certs = makeCerts(fs.mkdtempSync(path.join(config.dataDir, 'certs-')));
  temporal = await startStandin(temporalSpec(config), config);
});

afterAll(() => teardown(config, temporal));

describe('Temporal over mTLS', () => {
  let proxy: Proxy;
  beforeAll(async () => {
    proxy = await startTlsProxy('mtls');
  });
  afterAll(() => proxy?.close());

  it('the client (connectTemporal) and the worker (NativeConnection) connect with the client certificate', async () => {
    const c = viaProxy(proxy, mtlsFiles());
    await connectAsClientAndWorker(c);
    expect(proxy.seen.clientCn.length).toBeGreaterThan(1);
    expect(new Set(proxy.seen.clientCn)).toEqual(new Set(['sluice-worker']));
  });

  it('without the client certificate, or trusting another CA, the connection fails', async () => {
    const { SLUICE_TEMPORAL__TLS__CLIENT_CERT_FILE: _c, SLUICE_TEMPORAL__TLS__CLIENT_KEY_FILE: _k, ...noClientCert } = mtlsFiles();
    expect(await connectError(viaProxy(proxy, noClientCert))).not.toBe('connected');
    expect(await connectError(viaProxy(proxy, { ...mtlsFiles(), SLUICE_TEMPORAL__TLS__SERVER_ROOT_CA_FILE: certs.otherCa }))).not.toBe('connected');
    // Plain gRPC to a TLS port fails too: TLS is never silently dropped.
    expect(await connectError(viaProxy(proxy, {}))).not.toBe('connected');
  });
});

describe('Temporal with an API key (Temporal Cloud style)', () => {
  let proxy: Proxy;
  beforeAll(async () => {
    proxy = await startTlsProxy('apiKey');
  });
  afterAll(() => proxy?.close());

  it('the key, from temporal.apiKeyFile, goes as a bearer token over TLS, from client and worker', async () => {
    const keyFile = path.join(config.dataDir, 'temporal-api-key');
    fs.writeFileSync(keyFile, `${API_KEY}\n`, { mode: 0o600 });
    const c = viaProxy(proxy, {
      SLUICE_TEMPORAL__TLS__SERVER_ROOT_CA_FILE: certs.ca,
      SLUICE_TEMPORAL__TLS__SERVER_NAME_OVERRIDE: SERVER_NAME,
      SLUICE_TEMPORAL__API_KEY_FILE: keyFile,
    });
    await connectAsClientAndWorker(c);
    expect(proxy.seen.authorization.length).toBeGreaterThan(1);
    expect(new Set(proxy.seen.authorization)).toEqual(new Set([`Bearer ${API_KEY}`]));
  });

  it('a wrong key is refused', async () => {
    const c = viaProxy(proxy, {
      SLUICE_TEMPORAL__TLS__SERVER_ROOT_CA_FILE: certs.ca,
      SLUICE_TEMPORAL__TLS__SERVER_NAME_OVERRIDE: SERVER_NAME,
      SLUICE_TEMPORAL__API_KEY: 'not-the-key-0000000000',
    });
    expect(await connectError(c)).toMatch(/invalid API key|UNAUTHENTICATED/);
  });
});

describe('temporal connection options', () => {
  const opts = (env: Record<string, string>) => temporalConnectionOptions(loadConfig(env, '/tmp'));

  it('plain gRPC by default; TLS once a file, a server name or a key is set', () => {
    expect(opts({})).toEqual({ address: '127.0.0.1:7233' });
    expect(opts({ SLUICE_TEMPORAL__TLS__ENABLED: 'true' }).tls).toEqual({});
    expect(opts({ SLUICE_TEMPORAL__API_KEY: API_KEY })).toEqual({ address: '127.0.0.1:7233', tls: {}, apiKey: API_KEY });
  });

  it('refuses half a client pair, two API key sources and unreadable files, naming the keys', () => {
    expect(() => opts({ SLUICE_TEMPORAL__TLS__CLIENT_CERT_FILE: certs.clientCrt })).toThrow(ConfigError);
    expect(() => opts({ SLUICE_TEMPORAL__TLS__CLIENT_KEY_FILE: certs.clientKey })).toThrow(/clientCertFile and temporal\.tls\.clientKeyFile/);
    expect(() => opts({ SLUICE_TEMPORAL__API_KEY: API_KEY, SLUICE_TEMPORAL__API_KEY_FILE: certs.ca })).toThrow(/set one, not both/);
    expect(() => opts({ SLUICE_TEMPORAL__TLS__SERVER_ROOT_CA_FILE: '/nonexistent/ca.pem' })).toThrow(/temporal\.tls\.serverRootCaFile: cannot read \/nonexistent\/ca\.pem: ENOENT/);
  });
});
