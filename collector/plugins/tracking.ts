import type { FastifyPluginAsync } from 'fastify';
import type { CollectorOptions } from '../options';
import type { Track } from '../track';

// Tracking routes, as Snowplow's collector has them: the pixel (`/i`, `/ice.png`), and any
// `/{vendor}/{version}` path (GET/HEAD → pixel, POST → `ok`), custom paths mapped to standard ones.

export const trackingRoutes: FastifyPluginAsync<{ opts: CollectorOptions; track: Track }> = async (app, { opts, track }) => {
  const config = { cors: true };
  app.get('/i', { config }, (req, reply) => track(req, reply, '/i'));
  app.get('/ice.png', { config }, (req, reply) => track(req, reply, '/ice.png'));

  const mapped = (params: unknown) => {
    const { vendor, version } = params as { vendor: string; version: string };
    const original = `/${vendor}/${version}`;
    return opts.paths[original] ?? original;
  };
  app.get('/:vendor/:version', { config }, (req, reply) => track(req, reply, mapped(req.params)));
  app.post('/:vendor/:version', { config }, (req, reply) => track(req, reply, mapped(req.params)));
};
