import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parsePhoneNumberFromString } from 'libphonenumber-js/core';
import metadata from 'libphonenumber-js/min/metadata';
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
  it('email: NFKC, trimmed, lower-cased, domain in ASCII (IDNA)', () => {
    expect(normalizeEmail('  ALICE@Example.COM ')).toBe('alice@example.com');
    expect(normalizeEmail('\tbob@example.org\n')).toBe('bob@example.org');
    // IDNA: the Unicode and the punycode form of a domain are one address
    expect(normalizeEmail('Anna@Bücher.Example')).toBe('anna@xn--bcher-kva.example');
    expect(normalizeEmail('anna@xn--bcher-kva.example')).toBe('anna@xn--bcher-kva.example');
    expect(normalizeEmail('anna@BÜCHER.example')).toBe('anna@xn--bcher-kva.example');
    // NFKC: full-width letters and at sign, a decomposed ü
    expect(normalizeEmail('ＡＬＩＣＥ＠ｅｘａｍｐｌｅ．ｃｏｍ')).toBe('alice@example.com');
    expect(normalizeEmail('anna@bu\u0308cher.example')).toBe('anna@xn--bcher-kva.example');
    // a domain IDNA refuses is kept (lower-cased), not dropped
    expect(normalizeEmail('X@Exa mple.Çom')).toBe('x@exa mple.çom');
    expect(normalizeEmail('no-at-sign')).toBe('no-at-sign');
  });

  it('phone: E.164, or null when not a possible number', () => {
    expect(normalizePhone('+44 20 7946 0958')).toBe('+442079460958');
    expect(normalizePhone('020 7946 0958', 'GB')).toBe('+442079460958');
    expect(normalizePhone(' +1 (415) 555-2671 ')).toBe('+14155552671');
    expect(normalizePhone('+33 6 12 34 56 78')).toBe('+33612345678');
    expect(normalizePhone('＋４４ ２０ ７９４６ ０９５８')).toBe('+442079460958'); // full-width, via NFKC
    expect(normalizePhone('020 7946 0958')).toBeNull(); // no country code, no default country
    expect(normalizePhone('12345')).toBeNull();
    expect(normalizePhone('not a phone')).toBeNull();
    expect(normalizePhone('')).toBeNull();
    expect(normalizePhone('+999 1234 5678')).toBeNull(); // unassigned country calling code
    expect(normalizePhone('+44 7911 1234567')).toBeNull(); // too long for GB
    expect(normalizePhone('+44 7911 9')).toBeNull(); // too short for GB
  });

  it('phone: a +44 7911 3… mobile the bundled metadata does not list as valid is accepted (refused before)', () => {
    const parsed = parsePhoneNumberFromString('+447911300922', metadata);
    expect(parsed?.isValid()).toBe(false); // the old rule (isValid) refused it
    expect(normalizePhone('+44 7911 300922')).toBe('+447911300922');
  });

  it('phone: every +44 7911 mobile of the right length is accepted, ranges the metadata lacks included (property)', () => {
    // About half of these are not "valid" for the bundled metadata (their range is not listed): the
    // vault refused them before. They are possible UK numbers: +44, 10 national digits.
    fc.assert(
      fc.property(fc.stringMatching(/^\d{6}$/), fc.constantFrom('', ' ', '-'), (tail, sep) => {
        const e164 = `+447911${tail}`;
        return normalizePhone(`+44 7911${sep}${tail.slice(0, 3)}${sep}${tail.slice(3)}`) === e164 && normalizePhone(`07911 ${tail}`, 'GB') === e164;
      }),
      { numRuns: 500 },
    );
  });

  it('phone: impossible numbers stay refused (wrong length, unknown country code) (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\d{0,2}$/), fc.stringMatching(/^\d{7,11}$/), (short, long) => {
        return normalizePhone(`+44 7911${short}`) === null && normalizePhone(`+44 7911 ${long}`) === null;
      }),
      { numRuns: 300 },
    );
    // country calling codes that are not assigned (ITU): +0…, +28x, +999, …
    fc.assert(
      fc.property(fc.constantFrom('0', '28', '292', '999', '969', '210'), fc.stringMatching(/^\d{8,10}$/), (code, rest) => normalizePhone(`+${code}${rest}`) === null),
      { numRuns: 200 },
    );
  });

  it('national id: NFKC, upper-cased, spaces, dots, dashes and slashes removed', () => {
    expect(normalizeNationalId('ab-12 34.5')).toBe('AB12345');
    expect(normalizeNationalId(' 12/34–56\u00a0x ')).toBe('123456X');
    // full-width digits and letters (a Japanese or Chinese keyboard's), via NFKC
    expect(normalizeNationalId('ｑｘ－７７８８９９－ｚｚ')).toBe('QX778899ZZ');
    expect(normalizeNationalId('０１２３４５６７８９')).toBe('0123456789');
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
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), fc.domain(), (local, domain) => {
        const e = normalizeEmail(`${local}@${domain}`);
        return normalizeEmail(e) === e;
      }),
      { numRuns: 300 },
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
