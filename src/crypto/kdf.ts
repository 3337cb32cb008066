import { InvalidKeyError } from './crypto.errors.js';
import { KEY_BYTES } from './envelope.js';
import { lib } from './sodium.js';

/** crypto_kdf context (exactly 8 characters) and subkey id of the audit signing seed. */
export const AUDIT_SIGNING_KDF_CONTEXT = 'cvaudit1';
export const AUDIT_SIGNING_SUBKEY_ID = 1;

/**
 * The 32-byte Ed25519 seed of the audit checkpoint signing key:
 * `crypto_kdf_derive_from_key(32, 1, 'cvaudit1', rootKey)` (BLAKE2b keyed by the root key, salt =
 * subkey id as u64 little-endian, personalisation = the context). Deterministic.
 */
export function deriveAuditSigningSeed(rootKey: Uint8Array): Buffer {
  if (rootKey.length !== KEY_BYTES) throw new InvalidKeyError(`root key must be ${KEY_BYTES} bytes`);
  const seed = lib().crypto_kdf_derive_from_key(32, AUDIT_SIGNING_SUBKEY_ID, AUDIT_SIGNING_KDF_CONTEXT, rootKey);
  return Buffer.from(seed.buffer, seed.byteOffset, seed.byteLength);
}

/** crypto_kdf context and subkey id of the request-digest key of a KEK version (Idempotency-Key). */
export const REQUEST_DIGEST_KDF_CONTEXT = 'cvidem01';
export const REQUEST_DIGEST_SUBKEY_ID = 1;

/**
 * The 32-byte HMAC key of idempotency request digests under one KEK version:
 * `crypto_kdf_derive_from_key(32, 1, 'cvidem01', kek)`. A stored digest is then useless to whoever
 * reads the database without the root key (a plain hash of a small request body could be reversed
 * by guessing), and survives root rotations (KEKs are rewrapped, not replaced).
 */
export function deriveRequestDigestKey(kek: Uint8Array): Buffer {
  if (kek.length !== KEY_BYTES) throw new InvalidKeyError(`KEK must be ${KEY_BYTES} bytes`);
  const key = lib().crypto_kdf_derive_from_key(32, REQUEST_DIGEST_SUBKEY_ID, REQUEST_DIGEST_KDF_CONTEXT, kek);
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength);
}

export interface SigningKeyPair {
  /** Ed25519 public key, 32 bytes. */
  readonly publicKey: Buffer;
  /** libsodium Ed25519 secret key, 64 bytes (seed || public key). */
  readonly privateKey: Buffer;
  /** `signingKeyId(publicKey)`. */
  readonly keyId: string;
}

/** Signing key id: hex of the first 8 bytes of unkeyed BLAKE2b-256 of the 32-byte public key. */
export function signingKeyId(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new InvalidKeyError('Ed25519 public key must be 32 bytes');
  return Buffer.from(lib().crypto_generichash(32, publicKey, null).subarray(0, 8)).toString('hex');
}

/** The Ed25519 key pair of a 32-byte seed (crypto_sign_seed_keypair). */
export function signingKeyPairFromSeed(seed: Uint8Array): SigningKeyPair {
  if (seed.length !== 32) throw new InvalidKeyError('Ed25519 seed must be 32 bytes');
  const kp = lib().crypto_sign_seed_keypair(seed);
  const publicKey = Buffer.from(kp.publicKey.buffer, kp.publicKey.byteOffset, kp.publicKey.byteLength);
  const privateKey = Buffer.from(kp.privateKey.buffer, kp.privateKey.byteOffset, kp.privateKey.byteLength);
  return { publicKey, privateKey, keyId: signingKeyId(publicKey) };
}
