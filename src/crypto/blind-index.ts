// The core entry with its metadata passed explicitly (same 'min' metadata as the default entry):
// the default entry reaches its metadata through a relative `*.json.js` import that Jest's `.js`
// mapper turns into a deprecated JSON import.
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/core';
import metadata from 'libphonenumber-js/min/metadata';
import { InvalidKeyError } from './crypto.errors.js';
import { KEY_BYTES } from './envelope.js';
import { lib } from './sodium.js';

/** Fields searchable by exact match through a blind index (DESIGN section 2). */
export const BLIND_INDEXED_FIELDS = ['email', 'phone', 'nationalId'] as const;
export type BlindIndexedField = (typeof BLIND_INDEXED_FIELDS)[number];

/** Output length of the blind index: BLAKE2b-128. */
export const BLIND_INDEX_BYTES = 16;

/** E-mail: surrounding whitespace trimmed, lower-cased (no Unicode normalisation, per DESIGN). */
export function normalizeEmail(value: string): string {
  return value.trim().toLowerCase();
}

/**
 * Phone: E.164 (`+442079460958`), or null when the value is not a valid number. Without
 * `defaultCountry` the value must carry its country code with a leading `+`.
 */
export function normalizePhone(value: string, defaultCountry?: CountryCode): string | null {
  const text = value.trim();
  const parsed =
    defaultCountry === undefined ? parsePhoneNumberFromString(text, metadata) : parsePhoneNumberFromString(text, defaultCountry, metadata);
  return parsed !== undefined && parsed.isValid() ? parsed.number : null;
}

/** National id: upper-cased; whitespace, dots, dashes (ASCII and Unicode) and slashes removed. */
export function normalizeNationalId(value: string): string {
  return value.toUpperCase().replace(/[\s.\-/\u2010-\u2015\u2212]/g, '');
}

/**
 * The normalised form of a value of an indexed field, or null when it cannot be indexed (an
 * invalid phone number, an empty result). Store and search both go through this.
 */
export function normalizeForBlindIndex(field: BlindIndexedField, value: string, defaultCountry?: CountryCode): string | null {
  let normalized: string | null;
  switch (field) {
    case 'email':
      normalized = normalizeEmail(value);
      break;
    case 'phone':
      normalized = normalizePhone(value, defaultCountry);
      break;
    case 'nationalId':
      normalized = normalizeNationalId(value);
      break;
  }
  return normalized === null || normalized.length === 0 ? null : normalized;
}

/**
 * Blind index of an already normalised value: keyed BLAKE2b with a 16-byte output
 * (`crypto_generichash(16, utf8(value), indexKey)`), the index key being 32 bytes.
 */
export function blindIndex(indexKey: Uint8Array, normalizedValue: string): Buffer {
  if (indexKey.length !== KEY_BYTES) throw new InvalidKeyError(`blind-index key must be ${KEY_BYTES} bytes`);
  const h = lib().crypto_generichash(BLIND_INDEX_BYTES, Buffer.from(normalizedValue, 'utf8'), indexKey);
  return Buffer.from(h.buffer, h.byteOffset, h.byteLength);
}
