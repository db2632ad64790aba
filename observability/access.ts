import { BlockList, isIP } from 'node:net';
import bearerAuth from '@fastify/bearer-auth';
import type { FastifyInstance } from 'fastify';
import { ConfigError, pathToEnvKey, type SluiceConfig } from '../config';

// Access control shared by every Sluice HTTP endpoint that is not meant for the public: on
// loopback a token is optional; bound to any other address a service needs one, or it refuses to
// start, because bad rows, views and metrics hold personal data (IPs, cookies, URLs).

/** Shorter tokens are refused: a bearer token is the only thing between the network and the data. */
export const MIN_TOKEN_LENGTH = 16;

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** True for 127.0.0.0/8, ::1 (also IPv4-mapped and bracketed forms) and `localhost`; any other name is not. */
export function isLoopback(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === 'localhost' || h === 'localhost.') return true;
  const family = isIP(h);
  if (family === 4) return loopback.check(h, 'ipv4');
  if (family === 6) return loopback.check(h, 'ipv6');
  return false; // a host name could resolve to anything: treat it as reachable from outside
}

export class AccessPolicyError extends ConfigError {
  override name = 'AccessPolicyError';
}

/** The config keys a message names: where the host comes from and where a token may be set. */
export interface AccessKeys {
  host: string;
  tokens: string[];
}

const keyWithEnv = (key: string) => `${key} (${pathToEnvKey(key.split('.'))})`;

/**
 * The token a service must require, or undefined for none. Throws (the service refuses to start)
 * when `host` is not loopback and no token is set, or when a token is too short or not sendable
 * in a header. The message names the config keys and their environment variables, never the token.
 */
export function accessPolicy(host: string, token: string | undefined, keys: AccessKeys): string | undefined {
  const settable = keys.tokens.map(keyWithEnv).join(' or ');
  if (token) {
    if (token.length < MIN_TOKEN_LENGTH) {
      throw new AccessPolicyError(`${settable}: the token must be at least ${MIN_TOKEN_LENGTH} characters (it has ${token.length})`);
    }
    // RFC 6750's token68 characters, as an Authorization header can carry them.
    if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(token)) {
      throw new AccessPolicyError(`${settable}: the token may only hold letters, digits and - . _ ~ + / (then = padding)`);
    }
    return token;
  }
  if (isLoopback(host)) return undefined;
  throw new AccessPolicyError(
    `${keyWithEnv(keys.host)} is "${host}", which is not a loopback address: set a token in ${settable} ` +
      `(at least ${MIN_TOKEN_LENGTH} characters, e.g. \`openssl rand -hex 32\`) or bind to 127.0.0.1`,
  );
}

/** The services whose non-public endpoints are guarded; each has `<service>.host` and `<service>.token`. */
export type GuardedService = 'serving' | 'workers' | 'collector';

/** A service's own token, else the shared `auth.token`, checked against the service's host. */
export function serviceToken(config: SluiceConfig, service: GuardedService): string | undefined {
  const token = config[service].token || config.auth.token || undefined;
  return accessPolicy(config[service].host, token, { host: `${service}.host`, tokens: [`${service}.token`, 'auth.token'] });
}

/**
 * Requires `Authorization: Bearer <token>` on every route of `scope` (constant-time comparison;
 * 401 with a JSON body and `WWW-Authenticate: Bearer` otherwise). Without a token it does
 * nothing: the loopback default. Call it inside an encapsulated plugin that holds the guarded
 * routes, so routes outside that plugin stay public.
 */
export async function requireToken(scope: FastifyInstance, token: string | undefined): Promise<void> {
  if (!token) return;
  scope.addHook('onSend', async (req, reply, payload) => {
    if (reply.statusCode === 401) {
      reply.header('www-authenticate', 'Bearer realm="sluice"');
      // One line per refused request: the route, never the header's value nor the client's IP.
      req.log.warn({ method: req.method, route: req.routeOptions.url }, 'unauthorized: no valid bearer token');
    }
    return payload;
  });
  await scope.register(bearerAuth, {
    keys: [token],
    addHook: 'onRequest',
    errorResponse: () => ({ error: 'unauthorized' }),
    // The plugin logs only through loggers with own-property methods (pino's are inherited), so the
    // line above is the one; were it to log, it would be at this level.
    verifyErrorLogLevel: 'warn',
  });
}
