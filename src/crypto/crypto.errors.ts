import { VaultError } from '../common/vault-error.js';

/**
 * Errors of the crypto core. Messages are fixed texts plus, at most, a key kind and a version
 * number: never key material, plaintext or ciphertext bytes (they reach logs and clients).
 */

/** Why a decryption was refused; kept out of the message, for logs and metrics only. */
export type DecryptionFailureReason =
  | 'truncated'
  | 'unsupported_format'
  | 'unsupported_algorithm'
  | 'invalid_nonce'
  | 'authentication_failed';

/** Any failure to open an envelope or an AEAD ciphertext: short input, unknown format or algorithm, bad tag. */
export class DecryptionFailedError extends VaultError {
  constructor(readonly reason: DecryptionFailureReason = 'authentication_failed') {
    super('decryption_failed', 'decryption failed');
  }
}

/** Which key of the hierarchy (DESIGN section 2) an error is about. */
export type KeyKind = 'root' | 'kek' | 'dek' | 'blind_index' | 'audit_signing';

function describeKey(kind: KeyKind, version?: number): string {
  return version === undefined ? `${kind} key` : `${kind} key version ${version}`;
}

/** A key the caller asked for does not exist (unknown KEK version, no DEK for a customer, ...). */
export class KeyNotFoundError extends VaultError {
  constructor(
    readonly keyKind: KeyKind,
    readonly version?: number,
  ) {
    super('key_not_found', `${describeKey(keyKind, version)} not found`);
  }
}

/** A key was destroyed (crypto-shredding): whatever it protected is gone for good. */
export class KeyDestroyedError extends VaultError {
  constructor(
    readonly keyKind: KeyKind,
    readonly version?: number,
  ) {
    super('key_destroyed', `${describeKey(keyKind, version)} has been destroyed`);
  }
}

/**
 * Key material of the wrong shape (length, encoding, all zeros). A server-side configuration or
 * programming error, hence code `internal`; the message names the problem, never the value.
 */
export class InvalidKeyError extends VaultError {
  constructor(message: string) {
    super('internal', message);
  }
}

/**
 * A crypto function was called with arguments outside its contract (version not a u32, nonce of
 * the wrong length, malformed context component). Always a programming error, hence `internal`.
 */
export class CryptoUsageError extends VaultError {
  constructor(message: string) {
    super('internal', message);
  }
}
