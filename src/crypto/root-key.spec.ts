import { beforeAll, describe, expect, it } from '@jest/globals';
import { CryptoUsageError, DecryptionFailedError, InvalidKeyError } from './crypto.errors.js';
import { envelopeVersion, generateKey, kekContext, blindIndexKeyContext, open } from './envelope.js';
import { deriveAuditSigningSeed } from './kdf.js';
import { LocalRootKeyProvider, rootKeyId, rootWrapContext, type RootKeyProvider } from './root-key.js';
import { initSodium } from './sodium.js';

const ROOT = Buffer.from(Array.from({ length: 32 }, (_, i) => i));

beforeAll(async () => {
  await initSodium();
});

describe('rootKeyId', () => {
  it('is the first 8 bytes of BLAKE2b-256 keyed by the root key over the label (cross-checked with Python hashlib)', () => {
    // hashlib.blake2b(b'customer-vault/root-key-id/v1', key=bytes(range(32)), digest_size=32).digest()[:8].hex()
    expect(rootKeyId(ROOT)).toBe('11f2334d8093a23f');
  });

  it('is stable for a key and differs between keys', () => {
    const a = generateKey();
    expect(rootKeyId(a)).toBe(rootKeyId(Buffer.from(a)));
    expect(rootKeyId(a)).toMatch(/^[0-9a-f]{16}$/);
    expect(rootKeyId(a)).not.toBe(rootKeyId(generateKey()));
  });

  it('refuses keys that are not 32 bytes', () => {
    expect(() => rootKeyId(Buffer.alloc(16, 1))).toThrow(InvalidKeyError);
  });
});

describe('LocalRootKeyProvider', () => {
  const kek = { kind: 'kek', version: 3 } as const;
  const bidx = { kind: 'blind_index', field: 'email', version: 1 } as const;

  it('wraps and unwraps KEKs and blind-index keys in the DESIGN envelope and contexts', async () => {
    const provider: RootKeyProvider = new LocalRootKeyProvider(ROOT);
    expect(provider.keyId).toBe('11f2334d8093a23f');
    expect(provider.kind).toBe('file');
    const key = generateKey();

    const wrappedKek = await provider.wrap(key, kek);
    expect(envelopeVersion(wrappedKek)).toBe(3);
    expect(open(ROOT, wrappedKek, kekContext(3, provider.keyId))).toEqual(key);
    expect(await provider.unwrap(wrappedKek, kek)).toEqual(key);

    const wrappedIdx = await provider.wrap(key, bidx);
    expect(envelopeVersion(wrappedIdx)).toBe(1);
    expect(open(ROOT, wrappedIdx, blindIndexKeyContext('email', 1, provider.keyId))).toEqual(key);
    expect(await provider.unwrap(wrappedIdx, bidx)).toEqual(key);
    expect(rootWrapContext(bidx, provider.keyId)).toBe(`bidx|field:email|v:1|root:${provider.keyId}`);
  });

  it('refuses to unwrap under another root key, target, version or field', async () => {
    const provider = new LocalRootKeyProvider(generateKey());
    const other = new LocalRootKeyProvider(generateKey());
    const wrapped = await provider.wrap(generateKey(), kek);
    await expect(other.unwrap(wrapped, kek)).rejects.toBeInstanceOf(DecryptionFailedError);
    await expect(provider.unwrap(wrapped, { kind: 'kek', version: 4 })).rejects.toBeInstanceOf(DecryptionFailedError);
    await expect(provider.unwrap(wrapped, { kind: 'blind_index', field: 'email', version: 3 })).rejects.toBeInstanceOf(DecryptionFailedError);
    const wrappedIdx = await provider.wrap(generateKey(), bidx);
    await expect(provider.unwrap(wrappedIdx, { kind: 'blind_index', field: 'phone', version: 1 })).rejects.toBeInstanceOf(
      DecryptionFailedError,
    );
  });

  it('keeps its own copy of the root key and zeroes it on close', async () => {
    const mine = generateKey();
    const provider = new LocalRootKeyProvider(mine);
    const wrapped = await provider.wrap(generateKey(), kek);
    mine.fill(0);
    await expect(provider.unwrap(wrapped, kek)).resolves.toHaveLength(32);
    await provider.close();
    await expect(provider.unwrap(wrapped, kek)).rejects.toBeInstanceOf(CryptoUsageError);
  });

  it('derives the audit signing seed with crypto_kdf', async () => {
    const provider = new LocalRootKeyProvider(ROOT);
    expect(await provider.auditSigningSeed()).toEqual(deriveAuditSigningSeed(ROOT));
  });

  it('refuses to wrap something that is not a 32-byte key', async () => {
    const provider = new LocalRootKeyProvider(ROOT);
    await expect(provider.wrap(Buffer.alloc(16, 1), kek)).rejects.toBeInstanceOf(InvalidKeyError);
  });

  it('fromBase64 accepts exactly 32 bytes in standard or URL-safe base64', () => {
    const key = generateKey();
    expect(LocalRootKeyProvider.fromBase64(key.toString('base64')).keyId).toBe(rootKeyId(key));
    expect(LocalRootKeyProvider.fromBase64(`  ${key.toString('base64url')}\n`).keyId).toBe(rootKeyId(key));
  });

  it('fromBase64 rejects wrong lengths, bad encodings and all-zero keys without echoing the input', () => {
    const inputs = [
      Buffer.alloc(31, 0x5a).toString('base64'),
      Buffer.alloc(33, 0x5a).toString('base64'),
      Buffer.alloc(64, 0x5a).toString('base64'),
      'c2VjcmV0LXJvb3Qta2V5LXZhbHVl!!not base64',
      '',
      Buffer.alloc(32).toString('base64'),
    ];
    for (const input of inputs) {
      let error: unknown;
      try {
        LocalRootKeyProvider.fromBase64(input);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(InvalidKeyError);
      const message = (error as InvalidKeyError).message;
      if (input.length > 0) expect(message).not.toContain(input.trim());
      expect(message).not.toContain('WlpaWlpa');
    }
  });
});
