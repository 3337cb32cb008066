import { randomFillSync } from 'node:crypto';
import { CryptoUsageError, DecryptionFailedError, InvalidKeyError } from './crypto.errors.js';
import { lib, scrubAfterDecrypt, xchachaOpen, xchachaSealInto } from './sodium.js';

/**
 * The one ciphertext format of the vault (DESIGN section 2), used for field ciphertexts, wrapped
 * DEKs, wrapped KEKs and wrapped blind-index keys alike:
 *
 *   offset 0   1 B   format    0x01
 *   offset 1   1 B   algorithm 0x01 = XChaCha20-Poly1305-IETF
 *   offset 2   4 B   version   u32 big-endian (dek_version, kek_version or index key version)
 *   offset 6  24 B   nonce     random
 *   offset 30  n+16  ciphertext followed by the 16-byte Poly1305 tag
 *
 * Associated data = the 6 header bytes followed by the UTF-8 bytes of a context string built by
 * one of the `*Context` functions below, so a ciphertext moved to another customer, field,
 * version or root key fails to open.
 */
export const ENVELOPE_FORMAT = 0x01;
export const ALG_XCHACHA20_POLY1305_IETF = 0x01;
export const HEADER_BYTES = 6;
export const KEY_BYTES = 32;
export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;
/** Length of the envelope of an empty plaintext: header + nonce + tag. */
export const MIN_ENVELOPE_BYTES = HEADER_BYTES + NONCE_BYTES + TAG_BYTES;
const NONCE_OFFSET = HEADER_BYTES;
const CIPHERTEXT_OFFSET = HEADER_BYTES + NONCE_BYTES;
const U32_MAX = 0xffffffff;

// ---------------------------------------------------------------------------------------------
// Raw AEAD. aeadEncrypt/aeadDecrypt and seal/open all call the one binding of sodium.ts
// (xchachaSealInto / xchachaOpen); seal/open pass the envelope with offsets instead of views
// (creating Buffer views costs more than the bookkeeping), so the known-answer and Wycheproof
// tests, which go through aeadEncrypt/aeadDecrypt, exercise the very binding the envelope uses.
// ---------------------------------------------------------------------------------------------

/**
 * XChaCha20-Poly1305-IETF encryption; returns ciphertext || tag (plaintext length + 16).
 * Associated data = `ad` followed by the UTF-8 bytes of `adSuffix` (seal passes the header and the
 * context string, so the AD is never concatenated in JS).
 */
export function aeadEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array, adSuffix = ''): Buffer {
  assertKey(key);
  if (nonce.length !== NONCE_BYTES) throw new CryptoUsageError(`nonce must be ${NONCE_BYTES} bytes`);
  const out = Buffer.allocUnsafe(plaintext.length + TAG_BYTES);
  xchachaSealInto(key, nonce, 0, plaintext, ad, 0, ad.length, adSuffix, out, 0);
  return out;
}

/**
 * XChaCha20-Poly1305-IETF decryption of ciphertext || tag, AD as for `aeadEncrypt`. Throws
 * `DecryptionFailedError` for a nonce that is not 24 bytes, input shorter than a tag, or a tag
 * that does not verify; never a TypeError from the binding. A key that is not 32 bytes is a
 * caller bug: `InvalidKeyError`.
 */
export function aeadDecrypt(key: Uint8Array, nonce: Uint8Array, ciphertextAndTag: Uint8Array, ad: Uint8Array, adSuffix = ''): Buffer {
  assertKey(key);
  if (nonce.length !== NONCE_BYTES) throw new DecryptionFailedError('invalid_nonce');
  if (ciphertextAndTag.length < TAG_BYTES) throw new DecryptionFailedError('truncated');
  const pt = xchachaOpen(key, nonce, 0, ciphertextAndTag, 0, ciphertextAndTag.length, ad, 0, ad.length, adSuffix);
  if (pt === null) throw new DecryptionFailedError('authentication_failed');
  return pt;
}

// ---------------------------------------------------------------------------------------------
// Nonces: 24 random bytes from node:crypto. One randomFillSync call costs ~4 µs whatever the size
// up to a few KiB, more than the whole 64-byte encryption, so nonces are cut from a pool refilled
// by randomFillSync every 256 nonces. Each pool byte is handed out once; nonces are public, so the
// pool holds nothing secret. (libsodium-wrappers' own random-bytes call costs ~65 µs: never used.)
// ---------------------------------------------------------------------------------------------
const NONCE_POOL = Buffer.allocUnsafeSlow(NONCE_BYTES * 256);
let noncePoolOffset = NONCE_POOL.length;

function writeNonce(target: Buffer, offset: number): void {
  if (noncePoolOffset + NONCE_BYTES > NONCE_POOL.length) {
    randomFillSync(NONCE_POOL);
    noncePoolOffset = 0;
  }
  NONCE_POOL.copy(target, offset, noncePoolOffset, noncePoolOffset + NONCE_BYTES);
  noncePoolOffset += NONCE_BYTES;
}

// ---------------------------------------------------------------------------------------------
// Envelope
// ---------------------------------------------------------------------------------------------

function assertKey(key: Uint8Array): void {
  if (key.length !== KEY_BYTES) throw new InvalidKeyError(`key must be ${KEY_BYTES} bytes`);
}

function assertVersion(version: number): void {
  if (!Number.isInteger(version) || version < 0 || version > U32_MAX) {
    throw new CryptoUsageError('version must be an unsigned 32-bit integer');
  }
}

/** Scratch for seal (synchronous, so never shared by two calls); holds nothing secret. */
const SEAL_HEAD = Buffer.alloc(CIPHERTEXT_OFFSET);

/** Encrypts `plaintext` under `key` into an envelope carrying `version`, bound to `context`. */
export function seal(key: Uint8Array, version: number, plaintext: Uint8Array, context: string): Buffer {
  assertKey(key);
  assertVersion(version);
  if (context.length === 0) throw new CryptoUsageError('context must not be empty');
  const head = SEAL_HEAD; // header | nonce, staged here, then copied in front of the ciphertext
  head[0] = ENVELOPE_FORMAT;
  head[1] = ALG_XCHACHA20_POLY1305_IETF;
  head.writeUInt32BE(version, 2);
  writeNonce(head, NONCE_OFFSET);
  const out = Buffer.allocUnsafe(CIPHERTEXT_OFFSET + plaintext.length + TAG_BYTES);
  // nonce = head[6, 30), AD = head[0, 6) || UTF-8(context); ciphertext || tag written at out[30...].
  xchachaSealInto(key, head, NONCE_OFFSET, plaintext, head, 0, HEADER_BYTES, context, out, CIPHERTEXT_OFFSET);
  out.set(head, 0);
  return out;
}

function checkHeader(envelope: Uint8Array): void {
  if (envelope.length < MIN_ENVELOPE_BYTES) throw new DecryptionFailedError('truncated');
  if (envelope[0] !== ENVELOPE_FORMAT) throw new DecryptionFailedError('unsupported_format');
  if (envelope[1] !== ALG_XCHACHA20_POLY1305_IETF) throw new DecryptionFailedError('unsupported_algorithm');
}

/**
 * Opens an envelope made by `seal` with the same key and context. Any failure (short input,
 * unknown format or algorithm, wrong key, wrong context, any modified byte) throws
 * `DecryptionFailedError`; a key that is not 32 bytes throws `InvalidKeyError`.
 */
export function open(key: Uint8Array, envelope: Uint8Array, context: string): Buffer {
  assertKey(key);
  checkHeader(envelope);
  const ctLen = envelope.length - CIPHERTEXT_OFFSET;
  const pt = xchachaOpen(key, envelope, NONCE_OFFSET, envelope, CIPHERTEXT_OFFSET, ctLen, envelope, 0, HEADER_BYTES, context);
  if (pt === null) throw new DecryptionFailedError('authentication_failed');
  return pt;
}

/**
 * The key version in an envelope's header (which DEK / KEK / index key version to open it with).
 * Not authenticated by itself (it is, as part of the AD, when the envelope is opened). Throws
 * `DecryptionFailedError` when the input is too short or of an unknown format or algorithm.
 */
export function envelopeVersion(envelope: Uint8Array): number {
  checkHeader(envelope);
  return ((envelope[2] << 24) | (envelope[3] << 16) | (envelope[4] << 8) | envelope[5]) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Contexts (DESIGN section 2). Components are validated so that no two different inputs give the
// same string (no '|' or ':' can sneak in through a field name, uuid or hex id).
// ---------------------------------------------------------------------------------------------
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FIELD_RE = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const ROOT_KEY_ID_RE = /^[0-9a-f]{16}$/;

// One-entry memo: a request builds contexts for one customer many times (one per field).
let lastUuidIn = '';
let lastUuidOut = '';
function uuid(customerId: string): string {
  if (customerId === lastUuidIn) return lastUuidOut;
  if (!UUID_RE.test(customerId)) throw new CryptoUsageError('customer id must be a UUID');
  lastUuidIn = customerId;
  lastUuidOut = customerId.toLowerCase();
  return lastUuidOut;
}
function fieldName(name: string): string {
  if (!FIELD_RE.test(name)) throw new CryptoUsageError('field name must match [A-Za-z][A-Za-z0-9_]*');
  return name;
}
function u32(version: number): number {
  assertVersion(version);
  return version;
}
function rootId(rootKeyIdHex: string): string {
  if (!ROOT_KEY_ID_RE.test(rootKeyIdHex)) throw new CryptoUsageError('root key id must be 16 lower-case hex digits');
  return rootKeyIdHex;
}

/**
 * Revision of a record written before revisions were bound into field ADs (migration 1764200610000):
 * its field AD has no `|rev:` part. Only ever read (until the revision job has bound every record),
 * never written.
 */
export const UNBOUND_REVISION = 0;

/**
 * `customer:<uuid>|field:<name>|rev:<revision>`: AD of a field ciphertext (uuid lower-cased). The
 * record's revision changes with every write of its fields, so an older ciphertext of the same
 * customer and field copied back into the row fails to open (anti-rollback). `UNBOUND_REVISION`
 * gives the AD of records written before that: `customer:<uuid>|field:<name>`.
 */
export function fieldContext(customerId: string, field: string, revision: number): string {
  const base = `customer:${uuid(customerId)}|field:${fieldName(field)}`;
  return revision === UNBOUND_REVISION ? base : `${base}|rev:${u32(revision)}`;
}

/** `dek|customer:<uuid>|v:<dekVersion>`: AD of a DEK wrapped by a KEK. */
export function dekContext(customerId: string, dekVersion: number): string {
  return `dek|customer:${uuid(customerId)}|v:${u32(dekVersion)}`;
}

/** `kek|v:<kekVersion>|root:<root key id hex>`: AD of a KEK wrapped by the root key. */
export function kekContext(kekVersion: number, rootKeyIdHex: string): string {
  return `kek|v:${u32(kekVersion)}|root:${rootId(rootKeyIdHex)}`;
}

/** `bidx|field:<name>|v:<version>|root:<root key id hex>`: AD of a blind-index key wrapped by the root key. */
export function blindIndexKeyContext(field: string, version: number, rootKeyIdHex: string): string {
  return `bidx|field:${fieldName(field)}|v:${u32(version)}|root:${rootId(rootKeyIdHex)}`;
}

// ---------------------------------------------------------------------------------------------
// Thin helpers for the key service: the envelope plus the right context, nothing more.
// ---------------------------------------------------------------------------------------------

/**
 * Encrypts one field value with the customer's DEK (envelope version = dekVersion), bound to the
 * record's revision (1 or more: nothing new is written unbound).
 */
export function encryptField(dek: Uint8Array, dekVersion: number, customerId: string, field: string, revision: number, plaintext: Uint8Array): Buffer {
  if (revision === UNBOUND_REVISION) throw new CryptoUsageError('a field is written under a revision of 1 or more');
  return seal(dek, dekVersion, plaintext, fieldContext(customerId, field, revision));
}

/** Decrypts one field ciphertext of a record at `revision`; pick the DEK by `envelopeVersion(ciphertext)`. */
export function decryptField(dek: Uint8Array, ciphertext: Uint8Array, customerId: string, field: string, revision: number): Buffer {
  return open(dek, ciphertext, fieldContext(customerId, field, revision));
}

/** Wraps a customer's DEK under a KEK version (envelope version = kekVersion). */
export function wrapDek(kek: Uint8Array, kekVersion: number, dek: Uint8Array, customerId: string, dekVersion: number): Buffer {
  return seal(kek, kekVersion, dek, dekContext(customerId, dekVersion));
}

/**
 * Opens an envelope that wraps a 32-byte key and scrubs what the decryption may leave in
 * libsodium's memory (see `scrubAfterDecrypt`). Used by `unwrapDek` and the root key provider.
 */
export function openKey(wrappingKey: Uint8Array, wrapped: Uint8Array, context: string): Buffer {
  let key: Buffer;
  try {
    key = open(wrappingKey, wrapped, context);
  } finally {
    scrubAfterDecrypt();
  }
  if (key.length !== KEY_BYTES) {
    zero(key);
    throw new InvalidKeyError(`unwrapped key must be ${KEY_BYTES} bytes`);
  }
  return key;
}

/** Unwraps a DEK; pick the KEK by `envelopeVersion(wrapped)`. `InvalidKeyError` unless the result is 32 bytes. */
export function unwrapDek(kek: Uint8Array, wrapped: Uint8Array, customerId: string, dekVersion: number): Buffer {
  return openKey(kek, wrapped, dekContext(customerId, dekVersion));
}

// ---------------------------------------------------------------------------------------------
// Hygiene
// ---------------------------------------------------------------------------------------------

// Keys come from a pool too: `randomBytes(32)` costs ~5 µs alone and several times that under load
// (node's random functions were ~2% of a create's CPU profile, about as much as all its field
// encryptions). Unlike nonces the pool is secret (future keys), so each key's bytes are zeroed in
// the pool as they are handed out, and it only ever holds keys that are not yet anybody's.
const KEY_POOL = Buffer.allocUnsafeSlow(KEY_BYTES * 64);
let keyPoolOffset = KEY_POOL.length;

/** A fresh 32-byte key from node:crypto (KEK, DEK, blind-index key); the caller owns it. */
export function generateKey(): Buffer {
  if (keyPoolOffset + KEY_BYTES > KEY_POOL.length) {
    randomFillSync(KEY_POOL);
    keyPoolOffset = 0;
  }
  const key = Buffer.allocUnsafeSlow(KEY_BYTES);
  KEY_POOL.copy(key, 0, keyPoolOffset, keyPoolOffset + KEY_BYTES);
  KEY_POOL.fill(0, keyPoolOffset, keyPoolOffset + KEY_BYTES);
  keyPoolOffset += KEY_BYTES;
  return key;
}

/**
 * Overwrites a buffer with zeros (sodium.memzero). Only zero buffers you own: the DEK cache, for
 * one, hands out copies. Hygiene for JS-side copies: the AEAD binding wipes its own WebAssembly
 * heap copies, but BLAKE2b, crypto_kdf and Ed25519 go through libsodium-wrappers, which does not.
 */
export function zero(buf: Uint8Array): void {
  lib().memzero(buf);
}
