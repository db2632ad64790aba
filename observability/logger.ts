import pino, { type Logger } from 'pino';

// Structured JSON logs everywhere; secrets are redacted at the logger so no call site can leak them.
export function makeLogger(name: string, level = process.env.SLUICE_LOG__LEVEL ?? 'info'): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: [
        'secretAccessKey', 'password', 'token', 'apiKey', 'postgresUrl',
        '*.secretAccessKey', '*.password', '*.token', '*.apiKey', '*.postgresUrl', 'headers.cookie', 'headers.authorization',
        // One level deeper too: a config section or a request logged under a key of its own (a logged
        // config's postgresUrl keeps its host: redactConfig blanks only the password).
        '*.*.secretAccessKey', '*.*.password', '*.*.token', '*.*.apiKey', '*.headers.cookie', '*.headers.authorization',
      ],
      censor: '***',
    },
  });
}

export type { Logger };
