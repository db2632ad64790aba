import pino, { type Logger } from 'pino';

// Structured JSON logs everywhere; secrets are redacted at the logger so no call site can leak them.
export function makeLogger(name: string, level = process.env.SLUICE_LOG__LEVEL ?? 'info'): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ['*.secretAccessKey', '*.password', '*.token', '*.postgresUrl', 'headers.cookie', 'headers.authorization'],
      censor: '***',
    },
  });
}

export type { Logger };
