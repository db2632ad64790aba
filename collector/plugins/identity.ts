import cookie from '@fastify/cookie';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { cookieFor, resolveIdentity, type Identity } from '../identity';
import type { CollectorOptions } from '../options';
import { shared } from './shared';

// Identity plugin: gives every request its `identity` (nuid, IP, SP-Anonymous, do-not-track;
// computed once, on first use) and replies `setIdentityCookie`. The Cookie header is parsed only
// when a tracking route asks (@fastify/cookie's parser and serializer, its parsing hook off).

declare module 'fastify' {
  interface FastifyRequest {
    readonly identity: Identity;
  }
  interface FastifyReply {
    setIdentityCookie(identity: Identity): FastifyReply;
  }
}

const kIdentity = Symbol('sluice.identity');
// Values are cookie-octets already (see identity.ts), so they are written as they are.
const asIs = (v: string) => v;

export const identityPlugin: FastifyPluginAsync<{ opts: CollectorOptions }> = shared(async (app, { opts }) => {
  await app.register(cookie, { hook: false });
  app.decorateRequest('identity', {
    getter(this: FastifyRequest): Identity {
      const self = this as FastifyRequest & { [kIdentity]?: Identity };
      if (!self[kIdentity]) {
        const q = this.query as Record<string, unknown>;
        const header = this.headers.cookie;
        const cookies = header ? app.parseCookie(header) : {};
        const dnt = opts.doNotTrack;
        const dntValue = dnt ? cookies[dnt.name] : undefined;
        self[kIdentity] = resolveIdentity({
          nuidParam: typeof q.nuid === 'string' ? q.nuid : undefined,
          cookieValue: cookies[opts.cookie.name],
          spAnonymous: this.headers['sp-anonymous'] !== undefined,
          ip: this.ip,
          doNotTrack: dnt !== undefined && dntValue !== undefined && dnt.value.test(dntValue),
        });
      }
      return self[kIdentity];
    },
  });

  app.decorateReply('setIdentityCookie', function (this: FastifyReply, identity: Identity): FastifyReply {
    const c = cookieFor(identity, this.request.headers.origin, opts.cookie, Date.now());
    if (!c) return this;
    const { name, value, ...attributes } = c;
    return this.header('set-cookie', app.serializeCookie(name, value, { ...attributes, encode: asIs }));
  });
});
