import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { sendError } from './error-response.js';
import { VaultError } from './vault-error.js';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Request bodies: JSON only (415 otherwise), at most `limitBytes` (413), well-formed (400). Runs
 * before routing so a hostile body never reaches a controller; errors get the common shape.
 */
export function jsonBody(limitBytes: number, log: Logger) {
  const parse = express.json({ limit: limitBytes, strict: true, type: () => true });
  const onlyJson = (req: Request, _res: Response, next: NextFunction): void => {
    if (hasBody(req) && !JSON_TYPE.test(req.headers['content-type'] ?? '')) {
      next(new VaultError('unsupported_media_type', 'request body must be application/json'));
      return;
    }
    next();
  };
  const parseWhenPresent = (req: Request, res: Response, next: NextFunction): void => {
    if (!hasBody(req)) {
      next();
      return;
    }
    parse(req, res, next);
  };
  const onError = (error: unknown, req: Request, res: Response, next: NextFunction): void => {
    void next;
    sendError(req, res, error, log);
  };
  return [onlyJson, parseWhenPresent, onError] as const;
}
