import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import * as sodiumModule from 'libsodium-wrappers';
import { DecryptionFailedError, InvalidKeyError, CryptoUsageError } from './crypto.errors.js';
import {
  aeadDecrypt,
  aeadEncrypt,
  blindIndexKeyContext,
  decryptField,
  dekContext,
  encryptField,
  envelopeVersion,
  fieldContext,
  generateKey,
  HEADER_BYTES,
  kekContext,
  MIN_ENVELOPE_BYTES,
  NONCE_BYTES,
  open,
  seal,
  TAG_BYTES,
  UNBOUND_REVISION,
  unwrapDek,
  wrapDek,
  zero,
} from './envelope.js';
import { initSodium, selectXChaChaBinding, xchachaBinding } from './sodium.js';

const CUSTOMER = '6b3f2a8e-1111-4222-8333-444455556666';
const OTHER_CUSTOMER = '0f0e0d0c-0b0a-4909-8807-060504030201';
const hex = (s: string): Buffer => Buffer.from(s, 'hex');

function expectDecryptionFailed(fn: () => unknown): DecryptionFailedError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DecryptionFailedError);
    return err as DecryptionFailedError;
  }
  throw new Error('expected DecryptionFailedError, nothing was thrown');
}

beforeAll(async () => {
  await initSodium();
});

describe('aeadEncrypt / aeadDecrypt (the binding seal/open use)', () => {
  it('uses the direct binding (its start-up self-test against the public wrapper passed)', () => {
    expect(xchachaBinding()).toBe('direct');
  });

  // draft-irtf-cfrg-xchacha-03, appendix A.3.1 (also Wycheproof xchacha20_poly1305 tcId 1).
  const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
  const nonce = hex('404142434445464748494a4b4c4d4e4f5051525354555657');
  const ad = hex('50515253c0c1c2c3c4c5c6c7');
  const plaintext = Buffer.from(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    'utf8',
  );
  const ciphertext = hex(
    'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39' +
      'ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9' +
      '21f9664c97637da9768812f615c68b13b52e',
  );
  const tag = hex('c0875924c1c7987947deafd8780acf49');

  it.each(['direct', 'wrapper'] as const)('matches the known-answer vector of draft-irtf-cfrg-xchacha-03 A.3.1 (%s binding)', (binding) => {
    selectXChaChaBinding(binding);
    expect(plaintext.length).toBe(114);
    expect(ciphertext.length).toBe(114);
    expect(Buffer.from(aeadEncrypt(key, nonce, plaintext, ad)).toString('hex')).toBe(
      Buffer.concat([ciphertext, tag]).toString('hex'),
    );
    expect(Buffer.from(aeadDecrypt(key, nonce, Buffer.concat([ciphertext, tag]), ad))).toEqual(plaintext);
    // The suffix is UTF-8, not latin1: c0..c7 as a latin1 string would encode to other bytes.
    expect(aeadEncrypt(key, nonce, plaintext, ad.subarray(0, 4), ad.subarray(4).toString('latin1'))).not.toEqual(
      Buffer.concat([ciphertext, tag]),
    );
    selectXChaChaBinding('direct');
  });

  it.each(['direct', 'wrapper'] as const)('AD = ad || UTF-8(adSuffix), identical to the concatenated AD (%s binding)', (binding) => {
    selectXChaChaBinding(binding);
    const context = 'customer:x|field:naïve✓';
    const head = Buffer.from([1, 1, 0, 0, 0, 9]);
    const whole = Buffer.concat([head, Buffer.from(context, 'utf8')]);
    const ct = aeadEncrypt(key, nonce, plaintext, head, context);
    expect(ct).toEqual(aeadEncrypt(key, nonce, plaintext, whole));
    expect(aeadDecrypt(key, nonce, ct, whole)).toEqual(plaintext);
    expect(aeadDecrypt(key, nonce, ct, head, context)).toEqual(plaintext);
    expectDecryptionFailed(() => aeadDecrypt(key, nonce, ct, head, 'customer:x|field:naive✓'));
    selectXChaChaBinding('direct');
  });

  it('rejects a modified vector, a wrong nonce length and a too-short input with DecryptionFailedError', () => {
    const bad = Buffer.concat([ciphertext, tag]);
    bad[bad.length - 1] ^= 1;
    expect(expectDecryptionFailed(() => aeadDecrypt(key, nonce, bad, ad)).reason).toBe('authentication_failed');
    expect(expectDecryptionFailed(() => aeadDecrypt(key, nonce.subarray(0, 12), tag, ad)).reason).toBe('invalid_nonce');
    expect(expectDecryptionFailed(() => aeadDecrypt(key, nonce, tag.subarray(1), ad)).reason).toBe('truncated');
  });

  it('refuses keys that are not 32 bytes and nonces that are not 24 bytes on encryption', () => {
    expect(() => aeadEncrypt(key.subarray(1), nonce, plaintext, ad)).toThrow(InvalidKeyError);
    expect(() => aeadDecrypt(key.subarray(1), nonce, tag, ad)).toThrow(InvalidKeyError);
    expect(() => aeadEncrypt(key, nonce.subarray(1), plaintext, ad)).toThrow(CryptoUsageError);
  });
});

describe('heap hygiene of the direct binding', () => {
  const heap = (): Buffer => {
    // The module's `libsodium` export is a live binding, set once sodium is ready.
    const h = (sodiumModule as unknown as { libsodium: { HEAPU8: Uint8Array } }).libsodium.HEAPU8;
    return Buffer.from(h.buffer, h.byteOffset, h.byteLength);
  };
  const ctx = fieldContext(CUSTOMER, 'bankAccount', 1);

  it('leaves no copy of the key, nor of an unwrapped key, in the WebAssembly heap', () => {
    const kek = generateKey();
    const dek = generateKey();
    const wrapped = wrapDek(kek, 1, dek, CUSTOMER, 1);
    expect(unwrapDek(kek, wrapped, CUSTOMER, 1)).toEqual(dek);
    const tampered = Buffer.from(wrapped);
    tampered[tampered.length - 1] ^= 1;
    expectDecryptionFailed(() => unwrapDek(kek, tampered, CUSTOMER, 1));
    expect(heap().indexOf(kek)).toBe(-1);
    expect(heap().indexOf(dek)).toBe(-1);
  });

  it('wipes plaintext copies (only the last partial ChaCha20 block of a field may remain until the next call)', () => {
    const key = generateKey();
    const secret = Buffer.concat([generateKey(), generateKey()]); // 64 bytes: no partial block
    const env = seal(key, 1, secret, ctx);
    expect(heap().indexOf(secret.subarray(0, 32))).toBe(-1);
    expect(open(key, env, ctx)).toEqual(secret);
    expect(heap().indexOf(env.subarray(30))).toBeGreaterThanOrEqual(0); // the scan finds what is there
    expect(heap().indexOf(secret.subarray(0, 32))).toBe(-1);
    expect(heap().indexOf(secret.subarray(32))).toBe(-1);
    expect(heap().indexOf(key)).toBe(-1);
  });
});

describe('seal / open', () => {
  const key = generateKey();
  const ctx = fieldContext(CUSTOMER, 'email', 1);

  it('round-trips and lays out the DESIGN header', () => {
    const pt = Buffer.from('alice@example.com');
    const env = seal(key, 7, pt, ctx);
    expect(env.length).toBe(MIN_ENVELOPE_BYTES + pt.length);
    expect([...env.subarray(0, HEADER_BYTES)]).toEqual([0x01, 0x01, 0, 0, 0, 7]);
    expect(open(key, env, ctx)).toEqual(pt);
    expect(Buffer.isBuffer(open(key, env, ctx))).toBe(true);
    expect(envelopeVersion(env)).toBe(7);
  });

  it('round-trips empty plaintexts and the extreme versions', () => {
    for (const version of [0, 1, 0x7fffffff, 0x80000000, 0xffffffff]) {
      const env = seal(key, version, new Uint8Array(0), ctx);
      expect(env.length).toBe(MIN_ENVELOPE_BYTES);
      expect(envelopeVersion(env)).toBe(version);
      expect(open(key, env, ctx).length).toBe(0);
    }
  });

  it('binds the associated data: header bytes then UTF-8 of the context', () => {
    const env = seal(key, 3, Buffer.from('x'), ctx);
    const ad = Buffer.concat([env.subarray(0, HEADER_BYTES), Buffer.from(ctx, 'utf8')]);
    const nonce = env.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
    expect(Buffer.from(aeadDecrypt(key, nonce, env.subarray(HEADER_BYTES + NONCE_BYTES), ad)).toString()).toBe('x');
  });

  it('fails on every single-bit flip of header, nonce, ciphertext and tag', () => {
    const env = seal(key, 5, Buffer.from('hi'), ctx);
    expect(env.length).toBe(HEADER_BYTES + NONCE_BYTES + 2 + TAG_BYTES);
    const reasons = new Set<string>();
    let attempts = 0;
    for (let pos = 0; pos < env.length; pos++) {
      for (let bit = 0; bit < 8; bit++) {
        const tampered = Buffer.from(env);
        tampered[pos] ^= 1 << bit;
        reasons.add(expectDecryptionFailed(() => open(key, tampered, ctx)).reason);
        attempts++;
      }
    }
    expect(attempts).toBe(env.length * 8);
    expect(reasons).toEqual(new Set(['unsupported_format', 'unsupported_algorithm', 'authentication_failed']));
    expect(open(key, env, ctx).toString()).toBe('hi');
  });

  it('fails on every truncation and on an appended byte', () => {
    const env = seal(key, 5, Buffer.from('hello world'), ctx);
    for (let len = 0; len < env.length; len++) expectDecryptionFailed(() => open(key, env.subarray(0, len), ctx));
    expectDecryptionFailed(() => open(key, Buffer.concat([env, Buffer.from([0])]), ctx));
    expect(expectDecryptionFailed(() => open(key, env.subarray(0, MIN_ENVELOPE_BYTES - 1), ctx)).reason).toBe('truncated');
  });

  it('fails with the wrong key or the wrong context (other customer, field, version, root)', () => {
    const pt = Buffer.from('secret');
    expectDecryptionFailed(() => open(generateKey(), seal(key, 1, pt, ctx), ctx));
    expectDecryptionFailed(() => open(key, seal(key, 1, pt, ctx), fieldContext(OTHER_CUSTOMER, 'email', 1)));
    expectDecryptionFailed(() => open(key, seal(key, 1, pt, ctx), fieldContext(CUSTOMER, 'phone', 1)));
    expectDecryptionFailed(() => open(key, seal(key, 1, pt, ctx), fieldContext(CUSTOMER, 'email', 2)));
    expectDecryptionFailed(() => open(key, seal(key, 1, pt, dekContext(CUSTOMER, 1)), dekContext(CUSTOMER, 2)));
    expectDecryptionFailed(() => open(key, seal(key, 1, pt, kekContext(1, 'aaaaaaaaaaaaaaaa')), kekContext(1, 'bbbbbbbbbbbbbbbb')));
    expectDecryptionFailed(() => open(key, seal(key, 1, pt, kekContext(1, 'aaaaaaaaaaaaaaaa')), kekContext(2, 'aaaaaaaaaaaaaaaa')));
  });

  it('envelopeVersion refuses short or foreign input', () => {
    expectDecryptionFailed(() => envelopeVersion(Buffer.alloc(MIN_ENVELOPE_BYTES - 1, 1)));
    const foreign = seal(key, 1, Buffer.alloc(0), ctx);
    foreign[0] = 0x02;
    expect(expectDecryptionFailed(() => envelopeVersion(foreign)).reason).toBe('unsupported_format');
  });

  it('validates key, version and context', () => {
    const pt = Buffer.from('x');
    expect(() => seal(Buffer.alloc(16, 1), 1, pt, ctx)).toThrow(InvalidKeyError);
    expect(() => open(Buffer.alloc(31, 1), seal(key, 1, pt, ctx), ctx)).toThrow(InvalidKeyError);
    for (const v of [-1, 1.5, 0x100000000, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => seal(key, v, pt, ctx)).toThrow(CryptoUsageError);
    }
    expect(() => seal(key, 1, pt, '')).toThrow(CryptoUsageError);
  });

  it('error messages carry no key, plaintext or ciphertext bytes', () => {
    const env = seal(key, 1, Buffer.from('top secret value'), ctx);
    env[40] ^= 1;
    const err = expectDecryptionFailed(() => open(key, env, ctx));
    expect(err.message).toBe('decryption failed');
    expect(err.code).toBe('decryption_failed');
  });
});

describe('contexts', () => {
  it('are built exactly as DESIGN section 2 says', () => {
    expect(fieldContext(CUSTOMER, 'email', 7)).toBe(`customer:${CUSTOMER}|field:email|rev:7`);
    expect(fieldContext(CUSTOMER.toUpperCase(), 'email', 7)).toBe(`customer:${CUSTOMER}|field:email|rev:7`);
    // records written before revisions were bound (read only, until the revision job has run)
    expect(fieldContext(CUSTOMER, 'email', UNBOUND_REVISION)).toBe(`customer:${CUSTOMER}|field:email`);
    expect(dekContext(CUSTOMER, 3)).toBe(`dek|customer:${CUSTOMER}|v:3`);
    expect(kekContext(2, '0123456789abcdef')).toBe('kek|v:2|root:0123456789abcdef');
    expect(blindIndexKeyContext('nationalId', 4, '0123456789abcdef')).toBe('bidx|field:nationalId|v:4|root:0123456789abcdef');
  });

  it('refuse components that could make two contexts collide', () => {
    expect(() => fieldContext('not-a-uuid', 'email', 1)).toThrow(CryptoUsageError);
    expect(() => fieldContext(CUSTOMER, 'email|field:phone', 1)).toThrow(CryptoUsageError);
    expect(() => fieldContext(CUSTOMER, '', 1)).toThrow(CryptoUsageError);
    expect(() => fieldContext(CUSTOMER, 'email', -1)).toThrow(CryptoUsageError);
    expect(() => fieldContext(CUSTOMER, 'email', 1.5)).toThrow(CryptoUsageError);
    expect(() => dekContext(CUSTOMER, -1)).toThrow(CryptoUsageError);
    expect(() => kekContext(1, 'ABCDEF0123456789')).toThrow(CryptoUsageError);
    expect(() => blindIndexKeyContext('email', 1, 'abc')).toThrow(CryptoUsageError);
  });
});

describe('field and DEK helpers', () => {
  it('encryptField / decryptField and wrapDek / unwrapDek round-trip with the right contexts', () => {
    const kek = generateKey();
    const dek = generateKey();
    const wrapped = wrapDek(kek, 9, dek, CUSTOMER, 2);
    expect(envelopeVersion(wrapped)).toBe(9);
    expect(open(kek, wrapped, dekContext(CUSTOMER, 2))).toEqual(dek);
    expect(unwrapDek(kek, wrapped, CUSTOMER, 2)).toEqual(dek);
    expectDecryptionFailed(() => unwrapDek(kek, wrapped, OTHER_CUSTOMER, 2));
    expectDecryptionFailed(() => unwrapDek(kek, wrapped, CUSTOMER, 3));

    const ct = encryptField(dek, 2, CUSTOMER, 'fullName', 5, Buffer.from('Nguyễn Văn An'));
    expect(envelopeVersion(ct)).toBe(2);
    expect(decryptField(dek, ct, CUSTOMER, 'fullName', 5).toString('utf8')).toBe('Nguyễn Văn An');
    expectDecryptionFailed(() => decryptField(dek, ct, CUSTOMER, 'cardholderName', 5));
    // anti-rollback: the ciphertext opens only at the revision it was written for
    expectDecryptionFailed(() => decryptField(dek, ct, CUSTOMER, 'fullName', 6));
    expectDecryptionFailed(() => decryptField(dek, ct, CUSTOMER, 'fullName', 4));
    expectDecryptionFailed(() => decryptField(dek, ct, CUSTOMER, 'fullName', UNBOUND_REVISION));
    // nothing new is written unbound
    expect(() => encryptField(dek, 2, CUSTOMER, 'fullName', UNBOUND_REVISION, Buffer.from('x'))).toThrow(CryptoUsageError);
  });

  it('unwrapDek refuses a wrapped value that is not a 32-byte key', () => {
    const kek = generateKey();
    const wrapped = seal(kek, 1, Buffer.alloc(16, 7), dekContext(CUSTOMER, 1));
    expect(() => unwrapDek(kek, wrapped, CUSTOMER, 1)).toThrow(InvalidKeyError);
  });

  it('generateKey gives distinct 32-byte keys; zero wipes a buffer', () => {
    const a = generateKey();
    const b = generateKey();
    expect(a.length).toBe(32);
    expect(a.equals(b)).toBe(false);
    zero(a);
    expect(a.equals(Buffer.alloc(32))).toBe(true);
  });
});

describe('properties', () => {
  const key = generateKey();
  const ctx = fieldContext(CUSTOMER, 'address', 1);

  it('round-trips arbitrary Unicode strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.nat({ max: 0xffffffff }), (s, version) => {
        const env = seal(key, version, Buffer.from(s, 'utf8'), ctx);
        return envelopeVersion(env) === version && open(key, env, ctx).toString('utf8') === s;
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips arbitrary contexts of any Unicode text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (context, pt) => {
        return open(key, seal(key, 1, pt, context), context).equals(Buffer.from(pt));
      }),
      { numRuns: 200 },
    );
  });

  it('round-trips small byte arrays', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 1024 }), (pt) => open(key, seal(key, 1, pt, ctx), ctx).equals(Buffer.from(pt))),
      { numRuns: 300 },
    );
  });

  it('round-trips byte arrays up to 64 KiB (both ends included)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 65536, size: 'max' }), (pt) => {
        const env = seal(key, 2, pt, ctx);
        return env.length === pt.length + MIN_ENVELOPE_BYTES && open(key, env, ctx).equals(Buffer.from(pt));
      }),
      { numRuns: 25, examples: [[new Uint8Array(0)], [new Uint8Array(65536).fill(0xa5)]] },
    );
  });

  it('uses distinct nonces across 10,000 encryptions', () => {
    const nonces = new Set<string>();
    const pt = Buffer.from('same plaintext');
    for (let i = 0; i < 10_000; i++) {
      nonces.add(seal(key, 1, pt, ctx).subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES).toString('hex'));
    }
    expect(nonces.size).toBe(10_000);
  });
});
