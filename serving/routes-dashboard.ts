import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';

// The dashboard: one static page that reads the serving API. The page holds no data, so it is
// served without the token; its inline script is pinned by hash in the Content-Security-Policy.

const html = fs.readFileSync(new URL('./dashboard.html', import.meta.url), 'utf8');
const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1];
const csp = [
  "default-src 'none'",
  `script-src 'sha256-${createHash('sha256').update(script).digest('base64')}'`,
  "style-src 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const DASHBOARD_PATHS = ['/', '/dashboard'];

export async function dashboardRoutes(app: FastifyInstance) {
  for (const url of DASHBOARD_PATHS) {
    app.get(url, { schema: { querystring: { type: 'object', additionalProperties: false } } }, async (_req, reply) =>
      reply.type('text/html; charset=utf-8').header('content-security-policy', csp).header('x-content-type-options', 'nosniff').send(html),
    );
  }
}
