import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';

declare module 'express-serve-static-core' {
  interface Request {
    /** Request id: always a new UUID of the vault's own (a client's id is never trusted as one). */
    id: string;
    /** The client's X-Request-Id when acceptable (see `clientRequestIdOf`), for the audit event; else null. */
    clientRequestId: string | null;
  }
}

/** Printable ASCII, 1 to 128 characters: what an audit event may carry of a client's own request id. */
const CLIENT_REQUEST_ID = /^[\x21-\x7e](?:[\x20-\x7e]{0,126}[\x21-\x7e])?$/;
/** A bearer token sent as a request id by mistake must not reach the log (tokens.ts: cv_ + 43 base64url). */
const TOKEN_LIKE = /cv_[A-Za-z0-9_-]{43}/;

/**
 * The client's `X-Request-Id`, kept only for correlation (`clientRequestId` in the audit event), or
 * null when absent, repeated, longer than 128 characters, not printable ASCII or token-shaped. Never
 * the request id: a client could otherwise reuse another request's id and blur the audit trail.
 */
export function clientRequestIdOf(header: string | string[] | undefined): string | null {
  return typeof header === 'string' && CLIENT_REQUEST_ID.test(header) && !TOKEN_LIKE.test(header) ? header : null;
}

/** The route pattern (never the concrete URL: ids stay out of logs and metric labels). */
export function routeOf(req: Request): string {
  const route = (req as Request & { route?: { path?: unknown } }).route;
  return typeof route?.path === 'string' ? `${req.baseUrl}${route.path}` : 'unmatched';
}

/**
 * First middleware: assigns the request id, sends it back in X-Request-Id and logs one line per finished
 * request: method, route pattern, status and duration (and the filtered client request id). No body,
 * query string or other header is logged.
 */
export function requestContext(log: Logger, onFinish: (req: Request, res: Response, seconds: number) => void) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    req.id = randomUUID();
    req.clientRequestId = clientRequestIdOf(req.headers['x-request-id']);
    res.setHeader('X-Request-Id', req.id);
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      onFinish(req, res, seconds);
      log.info({ reqId: req.id, clientRequestId: req.clientRequestId ?? undefined, method: req.method, route: routeOf(req), status: res.statusCode, ms: Math.round(seconds * 1e4) / 10 }, 'request');
    });
    next();
  };
}
