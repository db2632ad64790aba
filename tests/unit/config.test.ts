import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, envKeyToPath, loadConfig, redactConfig } from '../../config';

describe('config', () => {
  it('defaults point at the local stand-ins', () => {
    const c = loadConfig({}, '/tmp');
    expect(c.kinesis.endpoint).toBe('http://127.0.0.1:4567');
    expect(c.s3.bucket).toBe('sluice-data');
    expect(c.collector.backoff).toEqual({ minMs: 2_000, maxMs: 600_000 });
    expect(c.emr.clusterId).toBe('local');
    // The local engine uses every core this process may run on, unless told otherwise.
    expect(c.emr.threads).toBe(Math.min(64, availableParallelism()));
    expect(loadConfig({ SLUICE_EMR__THREADS: '3' }, '/tmp').emr.threads).toBe(3);
    expect(c.emr.threadIdleMs).toBe(60_000);
    expect(loadConfig({ SLUICE_EMR__THREAD_IDLE_MS: '0' }, '/tmp').emr.threadIdleMs).toBe(0);
    expect(() => loadConfig({ SLUICE_EMR__THREAD_IDLE_MS: '-1' }, '/tmp')).toThrow(/threadIdleMs/);
  });

  it('maps SLUICE_* variables onto nested camelCase keys, with types coerced', () => {
    expect(envKeyToPath('SLUICE_COLLECTOR__BUFFER__BYTE_LIMIT')).toEqual(['collector', 'buffer', 'byteLimit']);
    const c = loadConfig({ SLUICE_COLLECTOR__PORT: '9090', SLUICE_KINESIS__LOCAL: 'false', SLUICE_KINESIS__ENDPOINT: '' }, '/tmp');
    expect(c.collector.port).toBe(9090);
    expect(c.kinesis.local).toBe(false);
  });

  it('fails at start with the key and its variable named', () => {
    expect(() => loadConfig({ SLUICE_COLLECTOR__PORT: '70000' }, '/tmp')).toThrow(ConfigError);
    expect(() => loadConfig({ SLUICE_COLLECTOR__PORT: '70000' }, '/tmp')).toThrow(/collector\.port \(SLUICE_COLLECTOR__PORT\)/);
    expect(() => loadConfig({ SLUICE_S3__BUCKET: 'Bad_Bucket' }, '/tmp')).toThrow(/s3\.bucket/);
    expect(() => loadConfig({ SLUICE_CONFIG: 'missing.json' }, '/tmp')).toThrow(/config file/);
  });

  it('redacts secrets for logging', () => {
    const c = loadConfig({ SLUICE_WAREHOUSE__POSTGRES_URL: 'postgres://u:hunter2@db:5432/x', SLUICE_SERVING__TOKEN: 'tok' }, '/tmp');
    const r = redactConfig(c);
    expect(JSON.stringify(r)).not.toMatch(/hunter2|"tok"/);
    expect(r.aws.secretAccessKey).toBe('***');
    expect(r.serving.token).toBe('***');
    expect(r.warehouse.postgresUrl).toBe('postgres://u:***@db:5432/x');
  });
});
