import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';

declare module 'express-serve-static-core' {
  interface Request {
    /** Request id: the client's X-Request-Id when well formed, else a new UUID. */
    id: string;
  }
}

const WELL_FORMED_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$/;

export function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && WELL_FORMED_ID.test(header) ? header : randomUUID();
}

/** The route pattern (never the concrete URL: ids stay out of logs and metric labels). */
export function routeOf(req: Request): string {
  const route = (req as Request & { route?: { path?: unknown } }).route;
  return typeof route?.path === 'string' ? `${req.baseUrl}${route.path}` : 'unmatched';
}

/**
 * First middleware: assigns the request id, echoes it in X-Request-Id and logs one line per finished
 * request: method, route pattern, status and duration. No body, query string or header is logged.
 */
export function requestContext(log: Logger, onFinish: (req: Request, res: Response, seconds: number) => void) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    req.id = requestIdOf(req.headers['x-request-id']);
    res.setHeader('X-Request-Id', req.id);
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      onFinish(req, res, seconds);
      log.info({ reqId: req.id, method: req.method, route: routeOf(req), status: res.statusCode, ms: Math.round(seconds * 1e4) / 10 }, 'request');
    });
    next();
  };
}
