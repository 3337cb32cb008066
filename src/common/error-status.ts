import type { ErrorCode } from './vault-error.js';

/** The one map from domain error codes to HTTP statuses. */
export const ERROR_STATUS: Record<ErrorCode, number> = {
  invalid_input: 400,
  reason_required: 400,
  unauthenticated: 401,
  forbidden: 403,
  search_not_allowed: 403,
  consent_required: 403,
  not_found: 404,
  conflict: 409,
  stale_root_key: 409,
  gone: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  locked: 423,
  contact_hold: 423,
  purpose_required: 400,
  processing_restricted: 423,
  rate_limited: 429,
  idempotency_key_in_use: 409,
  idempotency_key_reused: 422,
  internal: 500,
  decryption_failed: 500,
  key_not_found: 500,
  key_destroyed: 500,
  audit_unavailable: 503,
  service_unavailable: 503,
  outcome_unknown: 503,
};

/** For errors that arrive as a bare status (Nest's HttpException, body-parser): code and a fixed message. */
export const STATUS_ERROR: Record<number, { code: ErrorCode; message: string }> = {
  400: { code: 'invalid_input', message: 'the request is invalid' },
  401: { code: 'unauthenticated', message: 'authentication required' },
  403: { code: 'forbidden', message: 'not allowed' },
  404: { code: 'not_found', message: 'not found' },
  405: { code: 'invalid_input', message: 'method not allowed' },
  409: { code: 'conflict', message: 'conflict' },
  410: { code: 'gone', message: 'gone' },
  413: { code: 'payload_too_large', message: 'request body too large' },
  415: { code: 'unsupported_media_type', message: 'request body must be application/json' },
  423: { code: 'locked', message: 'locked' },
  429: { code: 'rate_limited', message: 'too many requests' },
  503: { code: 'service_unavailable', message: 'service unavailable' },
};

/**
 * Domain messages that are safe to return verbatim: the ones the vault wrote itself. Internal ones
 * (decryption and key failures) are answered as a generic internal error.
 */
export const INTERNAL_CODES: ReadonlySet<ErrorCode> = new Set(['internal', 'decryption_failed', 'key_not_found', 'key_destroyed']);
