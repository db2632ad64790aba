import Fastify from 'fastify';

// The ceiling for bench/collector.ts: bare Fastify routes on the collector's paths that answer
// and do nothing else (bodies are read as strings, as the collector reads them, not parsed; the
// redirect answers 302 to its `u` parameter, as the collector's does).
// Usage: bare-server.ts <port>

const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
app.get('/i', async () => 'ok');
app.post('/com.snowplowanalytics.snowplow/tp2', async () => 'ok');
app.get('/r/tp2', async (req, reply) => reply.code(302).header('location', String((req.query as { u?: string }).u)).send());
app.get('/health', async () => 'OK');
await app.listen({ host: '127.0.0.1', port: Number(process.argv[2]) });
