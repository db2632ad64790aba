import type { FastifyPluginAsync } from 'fastify';
import type { CollectorOptions } from '../options';
import type { Track } from '../track';
import { grantCors } from './cors';

// `/r/*` click redirects: 404 "redirects disabled" unless enabled; when enabled the request is
// tracked like any other and answered 302 to an allowed `u` target, else 400 (see redirect.ts).

export const redirectRoutes: FastifyPluginAsync<{ opts: CollectorOptions; track: Track }> = async (app, { opts, track }) => {
  app.route({
    method: ['GET', 'POST'],
    url: '/r/:name',
    config: { cors: true },
    handler: (req, reply) => {
      if (!opts.redirect.enabled) return grantCors(reply.code(404).type('text/plain')).send('redirects disabled');
      return track(req, reply, `/r/${(req.params as { name: string }).name}`);
    },
  });
};
