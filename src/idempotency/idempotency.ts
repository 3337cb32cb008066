import { jcs, JcsError } from '../common/jcs.js';
import { VaultError } from '../common/vault-error.js';

/**
 * Idempotent writes (DESIGN §4, "Idempotency-Key"). A client sends `Idempotency-Key: <key>` with a
 * POST, PUT or PATCH; the write stores, in its own transaction (or statement), the key scoped to the
 * principal, a keyed digest of the request and the answer (ids and metadata only). A retry with the
 * same key and request gets the stored answer (`Idempotent-Replayed: true`) without a second write;
 * the same key with another request is 422 `idempotency_key_reused`.
 */
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
export const REPLAYED_HEADER = 'Idempotent-Replayed';

/** 1 to 255 visible ASCII characters (0x21-0x7E): no space, so a repeated header (joined by ", ") is refused too. */
const KEY_SYNTAX = /^[\x21-\x7e]{1,255}$/;

/** The header's key; 400 `invalid_input` naming the header (never echoing it) when malformed or repeated. */
export function parseIdempotencyKey(header: string | string[]): string {
  if (typeof header !== 'string' || !KEY_SYNTAX.test(header)) {
    throw new VaultError('invalid_input', `the ${IDEMPOTENCY_HEADER} header is invalid`, [
      { field: IDEMPOTENCY_HEADER, problem: '1 to 255 visible ASCII characters (no spaces), sent once' },
    ]);
  }
  return header;
}

export const IDEMPOTENT = Symbol('IDEMPOTENT');

/** What a POST, PUT or PATCH route declares with `@Idempotent` (every one must: see RouteRegistry). */
export interface IdempotentRoute {
  /**
   * `write`: the key is stored with the write and a retry is answered from it. `read`: a read sent
   * as POST (search): the key's syntax is checked, nothing is stored, and a retry runs again.
   */
  kind: 'write' | 'read';
  /**
   * Members of the answer kept out of the stored copy (dotted paths), so a replay lacks them: values
   * handed out once (a disclosure's `data`), secrets (a new principal's `token`), free text about a
   * person that erasure must be able to remove (a hold's or restriction's `reason`).
   */
  omit: readonly string[];
}

/** A keyed request's hold on its key, carried by the request's AuditTrail to the write's commit. */
export interface IdempotencyClaim {
  principalId: string;
  key: string;
  /** HMAC-SHA256 of `requestMessage(...)` under a key derived from KEK `hashKeyVersion` (KeyRing.requestDigest). */
  requestHash: Buffer;
  hashKeyVersion: number;
  ttlSeconds: number;
  omit: readonly string[];
}

/**
 * What makes two requests "the same request" for a key, as one canonical byte string (RFC 8785
 * JCS of an array, so no two different requests share a serialisation): the method and the route
 * pattern with its parameters (the resource), the declared purpose and reason (they change what the
 * write means and what its event records), and the body as parsed JSON (whitespace and member order
 * do not matter; every value does). Left out: the token (the principal is the key's scope), the
 * request id, and headers that do not change the write (Content-Type, Accept, X-Request-Id).
 * Only its keyed digest is stored: a plain hash of a small body (a PATCH of one e-mail address)
 * could be reversed by guessing.
 */
export function requestMessage(request: { method: string; route: string; params: unknown; purpose: string | undefined; reason: string | undefined; body: unknown }): Buffer {
  try {
    return Buffer.from(jcs([1, request.method, request.route, { ...(request.params as object) }, request.purpose ?? null, request.reason ?? null, request.body ?? null]), 'utf8');
  } catch (error) {
    // Valid JSON that JSON.parse cannot hold exactly (1e400 parses to Infinity): no body of the vault
    // takes one, so it is the client's error, whether or not the key was used before.
    if (error instanceof JcsError) throw new VaultError('invalid_input', 'the request body holds a value with no canonical JSON form (a number beyond the range of a double)', [{ field: 'body', problem: 'a number beyond the range of a double' }]);
    throw error;
  }
}

/** The stored copy of an answer: the answer without the route's `omit` members (see IdempotentRoute). */
export function storedAnswer(answer: unknown, omit: readonly string[]): string {
  const copy = JSON.parse(JSON.stringify(answer ?? null)) as unknown;
  for (const path of omit) {
    const names = path.split('.');
    let node = copy;
    for (const name of names.slice(0, -1)) node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[name] : undefined;
    if (typeof node === 'object' && node !== null) delete (node as Record<string, unknown>)[names[names.length - 1]!];
  }
  return JSON.stringify(copy);
}

/**
 * The claim as a data-modifying CTE named `ik`, for the write's own statement: parameters
 * `$first`..`$first+7` (claimParams), `answer` an SQL expression of the stored answer (jsonb). A live
 * row is left alone (the CTE then yields no row and CLAIMED fails the statement); an expired one is
 * taken over, so a key is usable again once its TTL has passed, purged or not. Live and expired are
 * judged by the clock when the claim runs, and the TTL counts from then, not from the start of the
 * write's transaction (`now()`): a write that waited on a lock past the key's expiry takes it over
 * instead of being refused for a key nobody holds, and a key is never stored already expired.
 */
export function claimCte(first: number, answer: string): string {
  const p = (i: number): string => `$${first + i}`;
  return `ik AS (
    INSERT INTO idempotency_keys AS k (principal_id, key, request_hash, hash_key_version, request_id, resource_id, status, answer, expires_at)
    VALUES (${p(0)}::uuid, ${p(1)}, ${p(2)}::bytea, ${p(3)}::int, ${p(4)}::uuid, ${p(5)}::text, ${p(6)}::int, ${answer}, clock_timestamp() + make_interval(secs => ${p(7)}::int))
    ON CONFLICT (principal_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, hash_key_version = EXCLUDED.hash_key_version,
      request_id = EXCLUDED.request_id, resource_id = EXCLUDED.resource_id, status = EXCLUDED.status, answer = EXCLUDED.answer,
      created_at = now(), expires_at = EXCLUDED.expires_at
    WHERE k.expires_at <= clock_timestamp()
    RETURNING 1)`;
}

/** Raises a unique violation on idempotency_keys_pkey unless `ik` claimed the key (migration 1790000000000). */
export const CLAIMED = 'claim_idempotency_key((SELECT count(*) FROM ik))';

/** The values of `claimCte`'s parameters, in order. */
export function claimParams(claim: IdempotencyClaim, requestId: string, resourceId: string | null, status: number): unknown[] {
  return [claim.principalId, claim.key, claim.requestHash, claim.hashKeyVersion, requestId, resourceId, status, claim.ttlSeconds];
}

/** Whether a database error is the claim refused: the key is held by another request of the principal. */
export function isClaimRefused(error: unknown): boolean {
  const e = error as { code?: unknown; constraint?: unknown; driverError?: { code?: unknown; constraint?: unknown } } | null;
  const driver = e?.driverError ?? e;
  return driver?.code === '23505' && driver.constraint === 'idempotency_keys_pkey';
}

export function keyInUse(): VaultError {
  return new VaultError('idempotency_key_in_use', `another request of this principal holds this ${IDEMPOTENCY_HEADER}: retry it later`);
}

/** Whether an error is `keyInUse()`: the write found its key taken and rolled back. */
export function isKeyInUse(error: unknown): boolean {
  return error instanceof VaultError && error.code === 'idempotency_key_in_use';
}
