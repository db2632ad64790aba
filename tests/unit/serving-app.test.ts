import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { makeLogger } from '../../observability/logger';
import { buildServingApp } from '../../serving/app';

// Auth and input validation answer before any query, so no database is needed here; the merged
// answer itself is covered end to end in tests/e2e.
const pool = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none' });
const app = buildServingApp(pool, makeLogger('test', 'silent'), { token: 's3cret-token-0123456789' });
const auth = { authorization: 'Bearer s3cret-token-0123456789' };

afterAll(async () => {
  await app.close();
  await pool.end();
});

describe('serving API', () => {
  it('keeps /health open and everything else behind the token', async () => {
    expect((await app.inject({ url: '/health' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(401);
    const q = '/v1/counts/minutes?from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z';
    expect((await app.inject({ url: q })).statusCode).toBe(401);
    expect((await app.inject({ url: q, headers: { authorization: 'Bearer s3cret-token-012345678X' } })).statusCode).toBe(401);
    expect((await app.inject({ url: q, headers: { authorization: 'Bearer s3cret' } })).statusCode).toBe(401);
    expect((await app.inject({ url: '/metrics', headers: auth })).statusCode).toBe(200);
  });

  it('rejects malformed, reversed and over-long ranges with 400', async () => {
    const get = (qs: string) => app.inject({ url: `/v1/counts/minutes?${qs}`, headers: auth });
    expect((await get('from=yesterday&to=2026-01-01T00:00:00Z')).statusCode).toBe(400);
    expect((await get('from=2026-01-01T00:00:00Z')).statusCode).toBe(400);
    expect((await get('from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z')).statusCode).toBe(400);
    expect((await get('from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z')).statusCode).toBe(400);
    expect((await get('from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z&sql=1')).statusCode).toBe(400);
  });
});
