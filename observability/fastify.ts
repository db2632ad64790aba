import { LogController, type FastifyBaseLogger } from 'fastify';
import type { Logger } from './logger';

// Fastify's logging for every Sluice service: our pino logger, no per-request lines (a collector
// logs no IPs or cookies at info level, and per-request lines would dominate its CPU).
export function fastifyLogging(log: Logger) {
  return {
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  };
}
