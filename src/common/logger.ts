import type { LoggerService } from '@nestjs/common';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/config.js';

/**
 * JSON logs (pino). Never pass a request or response body, a header value, a field value or key
 * material to a log call; request logs carry only method, route, status, duration and request id.
 */
export function createRootLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'customer-vault' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['req.headers', 'authorization', 'token', '*.token', 'password'], censor: '[redacted]' },
    },
    destination,
  );
}

/** Routes Nest's own log calls into pino. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly pinoLogger: Logger) {}
  log(message: unknown, context?: string): void {
    this.pinoLogger.debug({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.pinoLogger.error({ context }, String(message));
    void trace;
  }
  warn(message: unknown, context?: string): void {
    this.pinoLogger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.pinoLogger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.pinoLogger.trace({ context }, String(message));
  }
}
