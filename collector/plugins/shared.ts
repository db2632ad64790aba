// Fastify encapsulates each plugin: hooks and decorators it adds stay inside it. The collector's
// cross-cutting plugins (identity, CORS, request metrics) must reach the routes registered next to
// them, which is what Fastify's documented `skip-override` property does (the same flag the
// fastify-plugin helper sets, which is not a declared dependency here).
export function shared<T extends (...args: never[]) => unknown>(plugin: T): T {
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}
