import { isUtf8 } from 'node:buffer';
import express, { type NextFunction, type Request, type Response } from 'express';
import { VaultError } from './vault-error.js';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The vault's bodies are at most 3 levels deep; far deeper ones are hostile (recursion in the transformer). */
export const MAX_BODY_DEPTH = 32;
const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
/** `"\ud800"` is valid JSON but not text; validators (encodeURI inside validator.js) throw on it. */
const LONE_SURROGATE = /[\ud800-\udfff]/u;

/**
 * Why a parsed body is refused before it reaches class-transformer, or null: nesting deeper than
 * MAX_BODY_DEPTH, a prototype key anywhere (assigning `__proto__` while building a DTO would swap
 * the instance's prototype and slip past the unknown-property check), or a lone UTF-16 surrogate in
 * a string or key. Iterative: no stack to exhaust.
 */
export function refuseBodyShape(body: unknown): string | null {
  const stack: { value: unknown; depth: number }[] = [{ value: body, depth: 1 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop() as { value: unknown; depth: number };
    if (typeof value === 'string' && LONE_SURROGATE.test(value)) return 'request body holds a string that is not valid Unicode';
    if (typeof value !== 'object' || value === null) continue;
    if (depth > MAX_BODY_DEPTH) return `request body is nested deeper than ${MAX_BODY_DEPTH} levels`;
    for (const key of Object.keys(value)) {
      if (RESERVED_KEYS.has(key)) return 'request body uses a reserved property name';
      if (LONE_SURROGATE.test(key)) return 'request body holds a string that is not valid Unicode';
      stack.push({ value: (value as Record<string, unknown>)[key], depth: depth + 1 });
    }
  }
  return null;
}

/**
 * Request bodies: JSON only (415 otherwise), at most `limitBytes` (413), valid UTF-8 and well-formed (400). Runs
 * before routing so a hostile body never reaches a controller (and, on /v1, after authentication: an anonymous
 * caller's body is never read); errors are handed to `answer` (common shape, audited when authenticated).
 */
export function jsonBody(limitBytes: number, answer: (req: Request, res: Response, error: unknown) => void) {
  // Invalid UTF-8 would otherwise be decoded to U+FFFD and stored as if the client had sent it.
  const parse = express.json({
    limit: limitBytes,
    strict: true,
    type: () => true,
    verify: (_req, _res, buffer) => {
      if (!isUtf8(buffer)) throw new Error('request body is not valid UTF-8');
    },
  });
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
    parse(req, res, (error?: unknown) => {
      if (error !== undefined && error !== null) {
        next(error);
        return;
      }
      const refused = refuseBodyShape(req.body);
      next(refused === null ? undefined : new VaultError('invalid_input', refused, [{ field: 'body', problem: refused.replace('request body ', '') }]));
    });
  };
  const onError = (error: unknown, req: Request, res: Response, next: NextFunction): void => {
    void next;
    answer(req, res, error);
  };
  return [onlyJson, parseWhenPresent, onError] as const;
}
