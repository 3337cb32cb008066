import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  BLIND_INDEXED_FIELDS,
  blindIndex,
  normalizeEmail,
  normalizeForBlindIndex,
  normalizeNationalId,
  normalizePhone,
} from './blind-index.js';
import { InvalidKeyError } from './crypto.errors.js';
import { generateKey } from './envelope.js';
import { initSodium } from './sodium.js';

beforeAll(async () => {
  await initSodium();
});

describe('normalisers', () => {
  it('email: trimmed and lower-cased', () => {
    expect(normalizeEmail('  ALICE@Example.COM ')).toBe('alice@example.com');
    expect(normalizeEmail('\tbob@example.org\n')).toBe('bob@example.org');
  });

  it('phone: E.164, or null when not a valid number', () => {
    expect(normalizePhone('+44 20 7946 0958')).toBe('+442079460958');
    expect(normalizePhone('020 7946 0958', 'GB')).toBe('+442079460958');
    expect(normalizePhone(' +1 (415) 555-2671 ')).toBe('+14155552671');
    expect(normalizePhone('+33 6 12 34 56 78')).toBe('+33612345678');
    expect(normalizePhone('020 7946 0958')).toBeNull(); // no country code, no default country
    expect(normalizePhone('12345')).toBeNull();
    expect(normalizePhone('not a phone')).toBeNull();
    expect(normalizePhone('')).toBeNull();
  });

  it('national id: upper-cased, spaces, dots, dashes and slashes removed', () => {
    expect(normalizeNationalId('ab-12 34.5')).toBe('AB12345');
    expect(normalizeNationalId(' 12/34–56\u00a0x ')).toBe('123456X');
  });

  it('normalizeForBlindIndex dispatches per field and refuses what cannot be indexed', () => {
    expect(BLIND_INDEXED_FIELDS).toEqual(['email', 'phone', 'nationalId']);
    expect(normalizeForBlindIndex('email', ' A@B.C ')).toBe('a@b.c');
    expect(normalizeForBlindIndex('phone', '+44 20 7946 0958')).toBe('+442079460958');
    expect(normalizeForBlindIndex('phone', '07946 0958')).toBeNull();
    expect(normalizeForBlindIndex('nationalId', 'ab-12')).toBe('AB12');
    expect(normalizeForBlindIndex('nationalId', ' - ')).toBeNull();
    expect(normalizeForBlindIndex('email', '   ')).toBeNull();
  });

  it('are idempotent', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => {
        const e = normalizeEmail(s);
        const n = normalizeNationalId(s);
        return normalizeEmail(e) === e && normalizeNationalId(n) === n;
      }),
      { numRuns: 200 },
    );
  });
});

describe('blindIndex', () => {
  it('is keyed BLAKE2b-128 of the UTF-8 value (cross-checked with Python hashlib)', () => {
    // hashlib.blake2b('alice@example.com'.encode(), key=bytes(range(32, 64)), digest_size=16).hexdigest()
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => 32 + i));
    expect(blindIndex(key, 'alice@example.com').toString('hex')).toBe('3c85f809db5c434a12636cd7d5f5689b');
  });

  it('same normalised value, same index; other key or value, other index; 16 bytes', () => {
    const key = generateKey();
    const a = blindIndex(key, normalizeEmail('  ALICE@Example.COM '));
    expect(a).toHaveLength(16);
    expect(blindIndex(key, normalizeEmail('alice@example.com'))).toEqual(a);
    expect(blindIndex(generateKey(), 'alice@example.com')).not.toEqual(a);
    expect(blindIndex(key, 'alice@example.org')).not.toEqual(a);
    expect(blindIndex(key, normalizePhone('+44 20 7946 0958') ?? '')).toEqual(blindIndex(key, normalizePhone('+442079460958') ?? 'x'));
    expect(blindIndex(key, normalizeNationalId('ab-12 34.5'))).toEqual(blindIndex(key, 'AB12345'));
  });

  it('refuses index keys that are not 32 bytes', () => {
    expect(() => blindIndex(Buffer.alloc(16, 1), 'x')).toThrow(InvalidKeyError);
  });
});
