// The core entry with its metadata passed explicitly (same 'min' metadata as the default entry):
// the default entry reaches its metadata through a relative `*.json.js` import that Jest's `.js`
// mapper turns into a deprecated JSON import.
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/core';
import metadata from 'libphonenumber-js/min/metadata';
import { domainToASCII } from 'node:url';
import { InvalidKeyError } from './crypto.errors.js';
import { KEY_BYTES } from './envelope.js';
import { lib } from './sodium.js';

/** Fields searchable by exact match through a blind index (DESIGN section 2). */
export const BLIND_INDEXED_FIELDS = ['email', 'phone', 'nationalId'] as const;
export type BlindIndexedField = (typeof BLIND_INDEXED_FIELDS)[number];

/** Output length of the blind index: BLAKE2b-128. */
export const BLIND_INDEX_BYTES = 16;

/**
 * Version of the normalisation below, stored with every blind-index row (`norm_version`). Bump it
 * when a normaliser changes what it returns: the re-index job (src/customers/blind-reindex.worker.ts)
 * then recomputes the rows of older versions from the decrypted values. 1: trim + lower-case e-mail,
 * E.164 of valid numbers only; 2: NFKC first, IDNA domains, possible numbers.
 */
export const BLIND_INDEX_NORMALISATION = 2;

const ASCII = /^\p{ASCII}*$/u;

/**
 * E-mail: NFKC, surrounding whitespace trimmed, lower-cased, the domain in ASCII (IDNA / UTS #46,
 * `domainToASCII`: `bücher.example` and `xn--bcher-kva.example` are one address). A domain that
 * IDNA refuses is kept as it is (lower-cased): the vault indexes what it was given rather than fail.
 */
export function normalizeEmail(value: string): string {
  // NFKC again after lower-casing: case mapping can leave a decomposed sequence (`ῢ`).
  const text = value.normalize('NFKC').trim().toLowerCase().normalize('NFKC');
  const at = text.lastIndexOf('@');
  if (at < 0) return text;
  const domain = text.slice(at + 1);
  // An ASCII domain is already what domainToASCII would return once lower-cased (the common case: no URL parser run).
  if (ASCII.test(domain)) return text;
  const ascii = domainToASCII(domain);
  return ascii === '' ? text : `${text.slice(0, at + 1)}${ascii}`;
}

/**
 * Phone: E.164 (`+442079460958`), or null when the value is not a *possible* number: a known country
 * calling code and a national number of a length possible for it. Not `isValid()`: that also needs
 * the number's range in the bundled metadata, which lags new allocations (about half of random
 * `+44 7911 …` mobiles were refused), and a vault must not refuse a real customer's number. Without
 * `defaultCountry` the value must carry its country code with a leading `+`. NFKC first (full-width
 * digits and plus sign).
 */
export function normalizePhone(value: string, defaultCountry?: CountryCode): string | null {
  const text = value.normalize('NFKC').trim();
  const parsed =
    defaultCountry === undefined ? parsePhoneNumberFromString(text, metadata) : parsePhoneNumberFromString(text, defaultCountry, metadata);
  return parsed !== undefined && parsed.isPossible() ? parsed.number : null;
}

/**
 * National id: NFKC (full-width and other compatibility digits and letters become ASCII), upper-cased;
 * whitespace, dots, dashes (ASCII and Unicode) and slashes removed.
 */
export function normalizeNationalId(value: string): string {
  // NFKC again at the end: case mapping and separator removal can leave a decomposed sequence.
  return value.normalize('NFKC').toUpperCase().replace(/[\s.\-/\u2010-\u2015\u2212]/g, '').normalize('NFKC');
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
