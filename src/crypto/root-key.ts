import { CryptoUsageError, DecryptionFailedError, InvalidKeyError } from './crypto.errors.js';
import { blindIndexKeyContext, envelopeVersion, KEY_BYTES, kekContext, openKey, seal, zero } from './envelope.js';
import { deriveAuditSigningSeed } from './kdf.js';
import { lib } from './sodium.js';

/** The fixed label hashed under the root key to name it (DESIGN section 2, "root key id"). */
export const ROOT_KEY_ID_LABEL = 'customer-vault/root-key-id/v1';

/**
 * Root key id: keyed BLAKE2b with a 32-byte output (BLAKE2b-256, key = the root key) of the UTF-8
 * label `customer-vault/root-key-id/v1`, truncated to its first 8 bytes, as 16 lower-case hex
 * digits. (A BLAKE2b with an 8-byte output would give different bytes: the output length is part
 * of BLAKE2b's parameter block. The 32-byte output is the one used, as for signing key ids.)
 * Safe to show: it identifies the key without revealing anything usable about it.
 */
export function rootKeyId(rootKey: Uint8Array): string {
  if (rootKey.length !== KEY_BYTES) throw new InvalidKeyError(`root key must be ${KEY_BYTES} bytes`);
  const digest = lib().crypto_generichash(32, Buffer.from(ROOT_KEY_ID_LABEL, 'utf8'), rootKey);
  return Buffer.from(digest.subarray(0, 8)).toString('hex');
}

/** What a root-level wrap protects; the provider turns it into the DESIGN context string. */
export type RootWrapTarget =
  | { readonly kind: 'kek'; readonly version: number }
  | { readonly kind: 'blind_index'; readonly field: string; readonly version: number };

/**
 * The DESIGN context of a root-level wrap: `kek|v:<n>|root:<id>` or
 * `bidx|field:<name>|v:<n>|root:<id>`. Exported so that external providers bind the same string
 * (e.g. as the KMS encryption context / AAD).
 */
export function rootWrapContext(target: RootWrapTarget, rootKeyIdHex: string): string {
  switch (target.kind) {
    case 'kek':
      return kekContext(target.version, rootKeyIdHex);
    case 'blind_index':
      return blindIndexKeyContext(target.field, target.version, rootKeyIdHex);
  }
}

/**
 * The root of the key hierarchy, behind an interface so that an external KMS (AWS KMS, GCP KMS,
 * HashiCorp Vault Transit, an HSM) can replace the local key without touching any caller.
 *
 * Contract:
 * - The root key never leaves the provider. Callers never see it; they only ask the provider to
 *   wrap and unwrap the keys that sit directly under it: KEK versions and blind-index keys
 *   (DEKs are wrapped by KEKs, locally, never by the root).
 * - `wrap(key, target)` returns opaque bytes for the database (bytea), bound to `target`:
 *   unwrapping them under another target, or with another root key, fails. The local provider
 *   returns the DESIGN envelope (version slot = `target.version`, AD = header +
 *   `rootWrapContext(target, keyId)`); a KMS provider returns its own ciphertext blob and should
 *   pass `rootWrapContext(target, keyId)` as the KMS encryption context / AAD.
 * - `unwrap(wrapped, target)` returns the 32-byte key, or rejects with `DecryptionFailedError`
 *   when the bytes were not made by this root key for this target (tampered, moved, other root).
 *   Other failures (KMS unreachable, throttled, access denied) reject with an error that is NOT a
 *   `DecryptionFailedError`, so callers can tell "wrong key/data" from "try again later".
 *   The caller owns the returned buffer and should `zero()` it when done.
 * - `keyId` is stable for a given root key, safe to display (`GET /v1/keys`), 16 lower-case hex
 *   digits, and part of every root-level context. A KMS provider derives it from the KMS key
 *   identity (e.g. BLAKE2b of the key ARN / resource name), not from key bytes it cannot see.
 * - `auditSigningSeed()` returns the 32-byte Ed25519 seed of the audit checkpoint signing key.
 *   It must be deterministic for a given root key (every instance, every restart signs with the
 *   same key; its public key id is published in checkpoints). The local provider derives it with
 *   `crypto_kdf_derive_from_key(32, 1, 'cvaudit1', rootKey)`. A KMS provider cannot, and may
 *   instead obtain it another way: a KMS-side HMAC of a fixed label (AWS KMS GenerateMac, GCP KMS
 *   MacSign), or a random seed generated once and stored wrapped by the KMS. (A provider whose KMS
 *   signs Ed25519 itself would need a signer interface instead; out of scope for now.)
 * - All methods may be called concurrently. `close()` releases resources (zeroes the local key,
 *   closes KMS clients); the provider must not be used afterwards.
 * - A root key rotation is `unwrap` with the old provider then `wrap` with the new one, for every
 *   KEK and blind-index key; providers of different kinds can be mixed in that step.
 */
export interface RootKeyProvider {
  /** Root key id: 16 lower-case hex digits. */
  readonly keyId: string;
  /** Kind of provider, for logs and the fence record ('file', 'pkcs11', ...); never secret. */
  readonly kind: string;
  wrap(key: Uint8Array, target: RootWrapTarget): Promise<Buffer>;
  unwrap(wrapped: Uint8Array, target: RootWrapTarget): Promise<Buffer>;
  auditSigningSeed(): Promise<Buffer>;
  close(): Promise<void>;
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]+|[A-Za-z0-9_-]+)={0,2}$/;

/** The root key held in process memory (from VAULT_ROOT_KEY or a key file). */
export class LocalRootKeyProvider implements RootKeyProvider {
  readonly kind = 'file';
  readonly keyId: string;
  readonly #rootKey: Buffer;
  #closed = false;

  /** Takes a copy of `rootKey` (32 bytes, not all zeros); the caller may zero its own buffer. */
  constructor(rootKey: Uint8Array) {
    if (rootKey.length !== KEY_BYTES) throw new InvalidKeyError(`root key must be ${KEY_BYTES} bytes, got ${rootKey.length}`);
    if (rootKey.every((b) => b === 0)) throw new InvalidKeyError('root key must not be all zeros');
    this.#rootKey = Buffer.from(rootKey);
    this.keyId = rootKeyId(this.#rootKey);
  }

  /**
   * From base64 (standard or URL-safe alphabet, padding optional, surrounding whitespace ignored)
   * of exactly 32 bytes. Errors say what is wrong, never echo the value.
   */
  static fromBase64(value: string): LocalRootKeyProvider {
    const text = value.trim();
    if (text.length === 0 || !BASE64_RE.test(text)) {
      throw new InvalidKeyError('root key must be base64-encoded (standard or URL-safe alphabet)');
    }
    const bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    try {
      if (bytes.length !== KEY_BYTES) {
        throw new InvalidKeyError(`root key must decode to exactly ${KEY_BYTES} bytes, got ${bytes.length}`);
      }
      return new LocalRootKeyProvider(bytes);
    } finally {
      bytes.fill(0);
    }
  }

  async wrap(key: Uint8Array, target: RootWrapTarget): Promise<Buffer> {
    this.#assertOpen();
    if (key.length !== KEY_BYTES) throw new InvalidKeyError(`wrapped key must be ${KEY_BYTES} bytes`);
    return seal(this.#rootKey, target.version, key, rootWrapContext(target, this.keyId));
  }

  async unwrap(wrapped: Uint8Array, target: RootWrapTarget): Promise<Buffer> {
    this.#assertOpen();
    const context = rootWrapContext(target, this.keyId);
    if (envelopeVersion(wrapped) !== target.version) throw new DecryptionFailedError('authentication_failed');
    return openKey(this.#rootKey, wrapped, context);
  }

  async auditSigningSeed(): Promise<Buffer> {
    this.#assertOpen();
    return deriveAuditSigningSeed(this.#rootKey);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    zero(this.#rootKey);
  }

  #assertOpen(): void {
    if (this.#closed) throw new CryptoUsageError('root key provider is closed');
  }
}
