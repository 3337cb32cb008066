import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { generateToken, hashToken, isWellFormedToken, parseBearer, sameHash, tokenHashPrefix } from './tokens.js';

describe('tokens', () => {
  it('are cv_ + 43 base64url characters of 32 random bytes, all different', () => {
    const tokens = Array.from({ length: 200 }, generateToken);
    for (const token of tokens) {
      expect(token).toMatch(/^cv_[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token.slice(3), 'base64url')).toHaveLength(32);
      expect(isWellFormedToken(token)).toBe(true);
    }
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  it.each([
    ['empty', ''],
    ['no prefix', 'A'.repeat(43)],
    ['other prefix', `cx_${'A'.repeat(43)}`],
    ['too short', `cv_${'A'.repeat(42)}`],
    ['too long', `cv_${'A'.repeat(44)}`],
    ['padding', `cv_${'A'.repeat(42)}=`],
    ['standard base64', `cv_${'+'.repeat(42)}A`],
    ['non-canonical last character', `cv_${'A'.repeat(42)}B`],
    ['trailing newline', `cv_${'A'.repeat(43)}\n`],
  ])('rejects %s', (_label, value) => {
    expect(isWellFormedToken(value)).toBe(false);
  });

  it('hashes the token string with SHA-256; the audit prefix is its first 8 hex characters', () => {
    const token = generateToken();
    const expected = createHash('sha256').update(token).digest();
    expect(hashToken(token).equals(expected)).toBe(true);
    expect(tokenHashPrefix(hashToken(token))).toBe(expected.toString('hex').slice(0, 8));
    expect(sameHash(hashToken(token), expected)).toBe(true);
    expect(sameHash(hashToken(token), hashToken(generateToken()))).toBe(false);
    expect(sameHash(hashToken(token), Buffer.alloc(3))).toBe(false);
  });
});

describe('parseBearer', () => {
  const token = generateToken();
  it.each([
    [`Bearer ${token}`, { kind: 'token', token }],
    [`bearer ${token}`, { kind: 'token', token }],
    [`BEARER  ${token} `, { kind: 'token', token }],
    [undefined, { kind: 'missing' }],
    ['', { kind: 'missing' }],
    [`Basic ${token}`, { kind: 'malformed' }],
    [token, { kind: 'malformed' }],
    ['Bearer', { kind: 'malformed' }],
    ['Bearer cv_short', { kind: 'malformed' }],
    [`Bearer ${token} extra`, { kind: 'malformed' }],
    [[`Bearer ${token}`, `Bearer ${token}`], { kind: 'malformed' }],
  ] as const)('%p -> %p', (header, expected) => {
    expect(parseBearer(header as string | string[] | undefined)).toEqual(expected);
  });
});
