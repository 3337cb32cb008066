import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { InvalidKeyError } from './crypto.errors.js';
import { generateKey } from './envelope.js';
import { deriveAuditSigningSeed, signingKeyId, signingKeyPairFromSeed } from './kdf.js';
import { signDetached, verifyDetached } from './signing.js';
import { initSodium } from './sodium.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

beforeAll(async () => {
  await initSodium();
});

describe('deriveAuditSigningSeed', () => {
  it('is crypto_kdf_derive_from_key(32, 1, "cvaudit1", rootKey) (cross-checked with Python hashlib BLAKE2b salt/person)', () => {
    // hashlib.blake2b(b'', key=bytes(range(32)), digest_size=32, salt=(1).to_bytes(8,'little')+bytes(8), person=b'cvaudit1'+bytes(8))
    const root = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    expect(deriveAuditSigningSeed(root).toString('hex')).toBe('62cfcd43d3a6457d9df4ed2bedf45e418d3f765c7953e21232494773a29b207e');
  });

  it('is deterministic and differs between root keys', () => {
    const root = generateKey();
    expect(deriveAuditSigningSeed(root)).toEqual(deriveAuditSigningSeed(Buffer.from(root)));
    expect(deriveAuditSigningSeed(root)).not.toEqual(deriveAuditSigningSeed(generateKey()));
    expect(deriveAuditSigningSeed(root)).toHaveLength(32);
    expect(() => deriveAuditSigningSeed(Buffer.alloc(16, 1))).toThrow(InvalidKeyError);
  });
});

describe('signingKeyPairFromSeed / signDetached / verifyDetached', () => {
  // RFC 8032 section 7.1, TEST 1 (also Wycheproof ed25519 tcId 80).
  const seed = hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
  const publicKey = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
  const signature =
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

  it('matches RFC 8032 test 1', () => {
    const kp = signingKeyPairFromSeed(seed);
    expect(kp.publicKey.toString('hex')).toBe(publicKey);
    expect(kp.privateKey).toHaveLength(64);
    // hashlib.blake2b(public_key, digest_size=32).digest()[:8].hex()
    expect(kp.keyId).toBe('7849ac3049680be1');
    expect(signingKeyId(kp.publicKey)).toBe(kp.keyId);
    expect(signDetached(Buffer.alloc(0), kp.privateKey).toString('hex')).toBe(signature);
    expect(verifyDetached(hex(signature), Buffer.alloc(0), kp.publicKey)).toBe(true);
  });

  it('round-trips arbitrary messages and rejects any other message or key', () => {
    const kp = signingKeyPairFromSeed(deriveAuditSigningSeed(generateKey()));
    const other = signingKeyPairFromSeed(generateKey());
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (msg) => {
        const sig = signDetached(msg, kp.privateKey);
        const altered = Buffer.concat([Buffer.from(msg), Buffer.from([1])]);
        return (
          sig.length === 64 &&
          verifyDetached(sig, msg, kp.publicKey) &&
          !verifyDetached(sig, altered, kp.publicKey) &&
          !verifyDetached(sig, msg, other.publicKey)
        );
      }),
      { numRuns: 100 },
    );
  });

  it('verifyDetached returns false, never throws, on malformed input', () => {
    const kp = signingKeyPairFromSeed(seed);
    const sig = signDetached(Buffer.from('checkpoint'), kp.privateKey);
    const msg = Buffer.from('checkpoint');
    expect(verifyDetached(sig.subarray(1), msg, kp.publicKey)).toBe(false);
    expect(verifyDetached(Buffer.concat([sig, Buffer.alloc(1)]), msg, kp.publicKey)).toBe(false);
    expect(verifyDetached(Buffer.alloc(0), msg, kp.publicKey)).toBe(false);
    expect(verifyDetached(sig, msg, kp.publicKey.subarray(1))).toBe(false);
    expect(verifyDetached(sig, msg, Buffer.alloc(0))).toBe(false);
    expect(verifyDetached(sig, msg, Buffer.alloc(32))).toBe(false);
    expect(verifyDetached(Buffer.alloc(64, 0xff), msg, kp.publicKey)).toBe(false);
  });

  it('refuses wrong seed and private key lengths', () => {
    expect(() => signingKeyPairFromSeed(Buffer.alloc(31))).toThrow(InvalidKeyError);
    expect(() => signDetached(Buffer.from('x'), Buffer.alloc(32))).toThrow(InvalidKeyError);
    expect(() => signingKeyId(Buffer.alloc(31))).toThrow(InvalidKeyError);
  });
});
