import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Bearer tokens (DESIGN §3): `cv_` + 43 base64url characters of 32 random bytes. Only the SHA-256
 * of the token string is stored: a token carries 256 bits of entropy, so a fast hash cannot be
 * brute-forced and a slow KDF would only make every request slower.
 */
export const TOKEN_PREFIX = 'cv_';
const TOKEN_BYTES = 32;

/**
 * 32 bytes in base64url are 43 characters whose last one carries only 4 bits, so it is one of 16:
 * the canonical encoding only, one string per token.
 */
const TOKEN_PATTERN = /^cv_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

export function generateToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(TOKEN_BYTES).toString('base64url')}`;
}

/** The format check done before any lookup: garbage never reaches the database. */
export function isWellFormedToken(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** What the audit log may say about a token: the first 8 hex characters of its hash. */
export function tokenHashPrefix(hash: Buffer): string {
  return hash.subarray(0, 4).toString('hex');
}

/** Constant-time comparison of two token hashes (false when the lengths differ). */
export function sameHash(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export type BearerParse =
  | { kind: 'token'; token: string }
  | { kind: 'missing' }
  | { kind: 'malformed' };

/**
 * Reads `Authorization: Bearer <token>`. The scheme is case-insensitive (RFC 7235); anything else
 * (another scheme, several headers, a token of the wrong shape) is malformed.
 */
export function parseBearer(header: string | string[] | undefined): BearerParse {
  if (header === undefined || header === '') return { kind: 'missing' };
  if (typeof header !== 'string') return { kind: 'malformed' };
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match || !isWellFormedToken(match[1]!)) return { kind: 'malformed' };
  return { kind: 'token', token: match[1]! };
}
