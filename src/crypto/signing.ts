import { InvalidKeyError } from './crypto.errors.js';
import { lib } from './sodium.js';

export const SIGNATURE_BYTES = 64;
export const SIGNING_PUBLIC_KEY_BYTES = 32;
export const SIGNING_PRIVATE_KEY_BYTES = 64;

/** Ed25519 detached signature (64 bytes) of `message` with a 64-byte libsodium secret key. */
export function signDetached(message: Uint8Array, privateKey: Uint8Array): Buffer {
  if (privateKey.length !== SIGNING_PRIVATE_KEY_BYTES) {
    throw new InvalidKeyError(`Ed25519 private key must be ${SIGNING_PRIVATE_KEY_BYTES} bytes`);
  }
  const sig = lib().crypto_sign_detached(message, privateKey);
  return Buffer.from(sig.buffer, sig.byteOffset, sig.byteLength);
}

/**
 * Verifies an Ed25519 detached signature (libsodium: canonical S, small-order and non-canonical
 * keys and R rejected). Never throws on malformed input: wrong lengths or anything libsodium
 * refuses give `false`.
 */
export function verifyDetached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES || publicKey.length !== SIGNING_PUBLIC_KEY_BYTES) return false;
  try {
    return lib().crypto_sign_verify_detached(signature, message, publicKey);
  } catch {
    return false;
  }
}
