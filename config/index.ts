import fs from 'node:fs';
import path from 'node:path';
import { configureJsonLimits, parseJsonOrThrow } from '../codecs/bounded-json';
import { configSchema, type SluiceConfig } from './schema';

export type { SluiceConfig } from './schema';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const ENV_PREFIX = 'SLUICE_';

/** `SLUICE_COLLECTOR__BUFFER__BYTE_LIMIT` → ['collector', 'buffer', 'byteLimit'] */
export function envKeyToPath(name: string): string[] {
  return name
    .slice(ENV_PREFIX.length)
    .split('__')
    .map((seg) => seg.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
}

export function pathToEnvKey(keyPath: (string | number | symbol)[]): string {
  return ENV_PREFIX + keyPath.map((k) => String(k).replace(/([A-Z])/g, '_$1').toUpperCase()).join('__');
}

function setPath(target: Record<string, unknown>, keyPath: string[], value: unknown): void {
  let node = target;
  for (const key of keyPath.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keyPath[keyPath.length - 1]] = value;
}

function readConfigFile(file: string): Record<string, unknown> {
  try {
    const parsed: unknown = parseJsonOrThrow(fs.readFileSync(file, 'utf8'), 'invalid JSON');
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ConfigError(`config file ${file}: must hold a JSON object`);
    }
    return parsed as Record<string, unknown>;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`config file ${file}: ${(err as Error).message}`);
  }
}

/**
 * Loads the config: defaults ← JSON file (SLUICE_CONFIG, else ./sluice.config.json if present)
 * ← SLUICE_* environment variables. Fails with a message naming the offending key.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): SluiceConfig {
  const explicit = env.SLUICE_CONFIG;
  const defaultFile = path.join(cwd, 'sluice.config.json');
  const raw: Record<string, unknown> = explicit
    ? readConfigFile(path.resolve(cwd, explicit))
    : fs.existsSync(defaultFile)
      ? readConfigFile(defaultFile)
      : {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || name === 'SLUICE_CONFIG' || value === undefined) continue;
    setPath(raw, envKeyToPath(name), value);
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const key = issue.path.join('.') || '(root)';
      return `  ${key} (${pathToEnvKey(issue.path)}): ${issue.message}`;
    });
    throw new ConfigError(`invalid Sluice configuration:\n${lines.join('\n')}`);
  }
  const config = result.data;
  config.dataDir = path.resolve(cwd, config.dataDir);
  applyRedshiftLocalDefaults(config);
  // Every parser of outside JSON in this process (collector, enrich, engine threads) reads these.
  configureJsonLimits({ maxDepth: config.input.jsonMaxDepth, maxBytes: config.input.jsonMaxBytes });
  return config;
}

/**
 * warehouse.kind=redshift with redshift.mode=local: the Data API endpoint `sluice up` starts on
 * loopback (warehouse/redshift-local/), a workgroup and an IAM role for it. Values given win.
 */
function applyRedshiftLocalDefaults(config: SluiceConfig): void {
  const r = config.warehouse.redshift;
  if (config.warehouse.kind !== 'redshift' || r.mode !== 'local') return;
  r.endpoint ||= `http://127.0.0.1:${r.localPort}`;
  if (!r.workgroupName && !r.clusterIdentifier) r.workgroupName = 'sluice-local';
  r.iamRoleArn ||= 'arn:aws:iam::000000000000:role/sluice-local-copy';
}

/** A copy safe to log: secrets and credentials blanked. */
export function redactConfig(config: SluiceConfig): SluiceConfig {
  const copy = structuredClone(config);
  copy.aws.secretAccessKey = copy.aws.secretAccessKey ? '***' : '';
  copy.warehouse.postgresUrl = copy.warehouse.postgresUrl.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
  // The key id names which key is in use (as the AWS CLI shows it); the rest of it stays out of logs.
  copy.aws.accessKeyId = copy.aws.accessKeyId.length > 4 ? `***${copy.aws.accessKeyId.slice(-4)}` : copy.aws.accessKeyId;
  if (copy.serving.token) copy.serving.token = '***';
  if (copy.workers.token) copy.workers.token = '***';
  if (copy.collector.token) copy.collector.token = '***';
  if (copy.auth.token) copy.auth.token = '***';
  if (copy.temporal.apiKey) copy.temporal.apiKey = '***';
  return copy;
}
