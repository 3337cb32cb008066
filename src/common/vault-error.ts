/**
 * Domain errors carry a stable code; `error-status.ts` is the one map from codes to HTTP statuses,
 * and the global exception filter shapes every error from it. Messages must never contain a field
 * value, token, ciphertext or key material: they are returned to clients and logged.
 */
export type ErrorCode =
  | 'invalid_input'
  /** 400: the purpose needs an X-Access-Reason */
  | 'reason_required'
  | 'unauthenticated'
  | 'forbidden'
  | 'search_not_allowed'
  | 'consent_required'
  | 'not_found'
  | 'conflict'
  | 'stale_root_key'
  | 'gone'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'locked'
  | 'contact_hold'
  | 'purpose_required'
  | 'processing_restricted'
  | 'rate_limited'
  /** 409: a concurrent request of this principal holds this Idempotency-Key (and did not store an answer) */
  | 'idempotency_key_in_use'
  /** 422: this Idempotency-Key was used for another request (other route, resource, purpose, reason or body) */
  | 'idempotency_key_reused'
  | 'audit_unavailable'
  | 'service_unavailable'
  /** 503: the database went away while the write's commit was in flight: it may or may not have landed */
  | 'outcome_unknown'
  | 'decryption_failed'
  | 'key_not_found'
  | 'key_destroyed'
  | 'internal';

export interface ErrorDetail {
  field: string;
  problem: string;
}

export class VaultError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
    /** Response headers that belong to the error, e.g. Retry-After on 429. */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
