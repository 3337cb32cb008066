import { randomUUID } from 'node:crypto';
import type { FastifyRequest, onRequestHookHandler, onResponseHookHandler } from 'fastify';
import type { Logger } from 'pino';

declare module 'fastify' {
  interface FastifyRequest {
    /** The client's X-Request-Id when acceptable (see `clientRequestIdOf`), for the audit event; else null. */
    clientRequestId: string | null;
  }
}

/**
 * Fastify's `genReqId`: the request id (`request.id`) is always a new UUID of the vault's own; a
 * client's X-Request-Id is never trusted as one (`requestIdHeader: false`).
 */
export function generateRequestId(): string {
  return randomUUID();
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
export function routeOf(req: FastifyRequest): string {
  if (req.is404) return 'unmatched';
  const url = req.routeOptions.url;
  return typeof url === 'string' ? url : 'unmatched';
}

/**
 * First request hook: records the client's request id and sends the vault's back in X-Request-Id.
 * Set on the Node response, so answers written there directly (the audit stream) carry it too.
 */
export const requestContext: onRequestHookHandler = (req, reply, done) => {
  req.clientRequestId = clientRequestIdOf(req.headers['x-request-id']);
  reply.raw.setHeader('X-Request-Id', req.id);
  done();
};

/**
 * One log line per finished request: method, route pattern, status and duration (and the filtered
 * client request id). No body, query string or other header is logged.
 */
export function requestLog(log: Logger, onFinish: (req: FastifyRequest, route: string, status: number, seconds: number) => void): onResponseHookHandler {
  return (req, reply, done) => {
    const ms = reply.elapsedTime;
    const route = routeOf(req);
    onFinish(req, route, reply.statusCode, ms / 1000);
    log.info({ reqId: req.id, clientRequestId: req.clientRequestId ?? undefined, method: req.method, route, status: reply.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
    done();
  };
}
