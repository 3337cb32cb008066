import { HttpException } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ERROR_STATUS, INTERNAL_CODES, STATUS_ERROR } from './error-status.js';
import { setSecurityHeaders } from './security-headers.js';
import { VaultError, type ErrorCode, type ErrorDetail } from './vault-error.js';

export interface ErrorBody {
  error: { code: ErrorCode; message: string; requestId: string; details?: ErrorDetail[] };
}

interface Shaped {
  status: number;
  code: ErrorCode;
  message: string;
  details?: ErrorDetail[];
  headers?: Record<string, string>;
}

/** Fastify's own errors (FST_ERR_*: a bad URL, an invalid Content-Type) carry a status of their own. */
function fastifyStatusOf(error: unknown): number | undefined {
  if (!(error instanceof Error) || error.name !== 'FastifyError') return undefined;
  const status = (error as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' ? status : undefined;
}

function byStatus(status: number): Shaped {
  const known = STATUS_ERROR[status];
  if (known) return { status, ...known };
  return status >= 500 ? { status: 500, code: 'internal', message: 'internal error' } : { status, code: 'invalid_input', message: 'the request is invalid' };
}

/** SQLSTATEs that mean "the database is not there right now", not "the request was wrong". */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[1-3]|53300|53400)$/;
/** Socket-level failures of the driver (server down, connection cut, DNS). */
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/**
 * node-postgres reports a dropped or refused connection with plain Errors (no code), and PostgreSQL
 * refuses a database closed to connections with the generic 55000: matched on their fixed wording
 * (never copied out).
 */
const UNAVAILABLE_MESSAGE = /Connection terminated|connection timeout|timeout exceeded when trying to connect|is not queryable|not currently accepting connections|the database system is (starting up|shutting down|in recovery mode)|Client was closed|Cannot use a pool after calling end/i;

/**
 * Whether an error means the database cannot be reached (or just dropped the connection): such
 * errors answer 503 service_unavailable, like /readyz, instead of 500. TypeORM wraps driver errors
 * (QueryFailedError copies `code`; `driverError` holds the original), so both are inspected.
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 3) return false;
  const { code, message, driverError, cause } = error as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown };
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code))) return true;
  if (typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message)) return true;
  if (error instanceof AggregateError && error.errors.some((inner) => isDatabaseUnavailable(inner, depth + 1))) return true;
  return isDatabaseUnavailable(driverError, depth + 1) || isDatabaseUnavailable(cause, depth + 1);
}

/** Turns any thrown value into the DESIGN error shape. Never copies an unknown error's message out. */
export function shapeError(error: unknown): Shaped {
  if (error instanceof VaultError) {
    const status = ERROR_STATUS[error.code];
    if (INTERNAL_CODES.has(error.code)) return { status: 500, code: 'internal', message: 'internal error' };
    return { status, code: error.code, message: error.message, details: error.details, headers: error.headers };
  }
  // Nest maps Fastify's 4xx errors to HttpException (FastifyAdapter.mapException).
  if (error instanceof HttpException) return byStatus(error.getStatus());
  const fastifyStatus = fastifyStatusOf(error);
  if (fastifyStatus !== undefined) return byStatus(fastifyStatus);
  if (isDatabaseUnavailable(error)) return { status: 503, code: 'service_unavailable', message: 'the service is temporarily unavailable' };
  return { status: 500, code: 'internal', message: 'internal error' };
}

/**
 * What may be logged of an unexpected error: its class, driver code and stack frames. The message is
 * left out on purpose: driver messages can quote input ("invalid input syntax for type uuid: ...").
 */
export function describeUnexpected(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error };
  const frames = (error.stack ?? '').split('\n').slice(1, 12).map((line) => line.trim());
  return { type: error.name, code: (error as { code?: unknown }).code, frames };
}

/** Answers `error` in the DESIGN shape; a response already under way is cut off instead. */
export function sendError(req: FastifyRequest, reply: FastifyReply, error: unknown, log?: Logger): void {
  const shaped = shapeError(error);
  if (shaped.status >= 500 && log) {
    log.error({ reqId: req.id, err: describeUnexpected(error), code: shaped.code }, 'request failed');
  }
  if (reply.sent || reply.raw.headersSent) {
    reply.raw.destroy();
    return;
  }
  const body: ErrorBody = { error: { code: shaped.code, message: shaped.message, requestId: String(req.id ?? '') } };
  if (shaped.details && shaped.details.length > 0) body.error.details = shaped.details;
  for (const [name, value] of Object.entries(shaped.headers ?? {})) reply.header(name, value);
  // Answers given before the request hooks ran (a request target the adapter will not route) carry the id and security headers too.
  if (!reply.raw.hasHeader('X-Request-Id')) {
    reply.raw.setHeader('X-Request-Id', req.id);
    setSecurityHeaders(req.raw, reply.raw);
  }
  void reply.code(shaped.status).header('Content-Type', 'application/json; charset=utf-8').send(body);
}
