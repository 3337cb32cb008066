/** Public API of the crypto core (DESIGN section 2). `await initSodium()` once before anything else. */
export { initSodium, xchachaBinding, type XChaChaBinding } from './sodium.js';
export {
  CryptoUsageError,
  DecryptionFailedError,
  InvalidKeyError,
  KeyDestroyedError,
  KeyNotFoundError,
  type DecryptionFailureReason,
  type KeyKind,
} from './crypto.errors.js';
export {
  ALG_XCHACHA20_POLY1305_IETF,
  ENVELOPE_FORMAT,
  HEADER_BYTES,
  KEY_BYTES,
  MIN_ENVELOPE_BYTES,
  NONCE_BYTES,
  TAG_BYTES,
  UNBOUND_REVISION,
  blindIndexKeyContext,
  decryptField,
  dekContext,
  encryptField,
  envelopeVersion,
  fieldContext,
  generateKey,
  kekContext,
  open,
  seal,
  unwrapDek,
  wrapDek,
  zero,
} from './envelope.js';
export {
  LocalRootKeyProvider,
  ROOT_KEY_ID_LABEL,
  rootKeyId,
  rootWrapContext,
  type RootKeyProvider,
  type RootWrapTarget,
} from './root-key.js';
export {
  ALG_AES256_GCM_PKCS11,
  AUDIT_SEED_KDF_LABEL,
  GCM_IV_BYTES,
  PKCS11_WRAPPED_KEY_BYTES,
  Pkcs11ConfigError,
  Pkcs11RootKeyProvider,
  type Pkcs11Settings,
} from './pkcs11-root-key.js';
export {
  AUDIT_SIGNING_KDF_CONTEXT,
  AUDIT_SIGNING_SUBKEY_ID,
  deriveAuditSigningSeed,
  deriveRequestDigestKey,
  REQUEST_DIGEST_KDF_CONTEXT,
  signingKeyId,
  signingKeyPairFromSeed,
  type SigningKeyPair,
} from './kdf.js';
export { SIGNATURE_BYTES, signDetached, verifyDetached } from './signing.js';
export {
  BLIND_INDEXED_FIELDS,
  BLIND_INDEX_NORMALISATION,
  BLIND_INDEX_BYTES,
  blindIndex,
  normalizeEmail,
  normalizeForBlindIndex,
  normalizeNationalId,
  normalizePhone,
  type BlindIndexedField,
} from './blind-index.js';
export { DekCache, type DekCacheOptions } from './dek-cache.js';
