import { HttpException } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { ERROR_STATUS, INTERNAL_CODES, STATUS_ERROR } from './error-status.js';
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

/** Errors of body-parser (express.json) carry `type` and `status`. */
interface BodyParserError {
  type: string;
  status: number;
}

function isBodyParserError(error: unknown): error is BodyParserError {
  return typeof error === 'object' && error !== null && typeof (error as BodyParserError).type === 'string' && typeof (error as BodyParserError).status === 'number';
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
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const known = STATUS_ERROR[status];
    if (known) return { status, ...known };
    return status >= 500 ? { status: 500, code: 'internal', message: 'internal error' } : { status, code: 'invalid_input', message: 'the request is invalid' };
  }
  if (isBodyParserError(error)) {
    if (error.type === 'entity.too.large') return { status: 413, ...STATUS_ERROR[413] };
    if (error.type === 'entity.verify.failed') return { status: 400, code: 'invalid_input', message: 'request body is not valid UTF-8' };
    if (error.type === 'entity.parse.failed') return { status: 400, code: 'invalid_input', message: 'request body is not valid JSON' };
    if (error.type === 'encoding.unsupported' || error.type === 'charset.unsupported') return { status: 415, code: 'unsupported_media_type', message: 'request body must be UTF-8 JSON' };
    if (error.status >= 400 && error.status < 500) return { status: 400, code: 'invalid_input', message: 'request body could not be read' };
  }
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

export function sendError(req: Request, res: Response, error: unknown, log?: Logger): void {
  const shaped = shapeError(error);
  if (shaped.status >= 500 && log) {
    log.error({ reqId: req.id, err: describeUnexpected(error), code: shaped.code }, 'request failed');
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body: ErrorBody = { error: { code: shaped.code, message: shaped.message, requestId: String(req.id ?? '') } };
  if (shaped.details && shaped.details.length > 0) body.error.details = shaped.details;
  for (const [name, value] of Object.entries(shaped.headers ?? {})) res.setHeader(name, value);
  res.status(shaped.status).json(body);
}
