import type { CustomerField } from './vocabulary.js';

/**
 * Masks of DESIGN §3. A mask shows a small, fixed part of a value and never the whole value: a tail
 * or head is shown only when at least as many characters stay hidden as are shown; otherwise the
 * value is masked completely. Masks of ids and accounts have a fixed length, so they do not leak
 * the length of the value either (the phone mask keeps the digit count, as in DESIGN's example).
 *
 * | field | mask |
 * |---|---|
 * | email | first character of the local part + `***@` + domain: `a***@example.com` |
 * | phone | leading `+` kept, every digit but the last 3 as `*`: `+*********958` |
 * | nationalId, bankAccount | `****` + the last 4 letters/digits (separators ignored): `****2345` |
 * | cardNumber | `**** **** **** ` + the last 4 digits |
 * | dateOfBirth | the year: `1990-**-**` |
 * | fullName, cardholderName | initials: `N. V. A.`; `J.-L. P.` for `Jean-Luc Picard` |
 * | address | `***, ` + the country code: `***, VN` |
 * | cardExpiry | never masked: asking is a programming error and throws |
 *
 * A value of the wrong type is a programming error too (TypeError). No error names the value.
 */
export type MaskableField = Exclude<CustomerField, 'cardExpiry'>;

const STARS = '***';

/** The last `visible` characters of `chars`, or undefined when that would show too much. */
function tail(chars: readonly string[], visible: number): string | undefined {
  return chars.length >= 2 * visible ? chars.slice(-visible).join('') : undefined;
}

function asString(field: CustomerField, value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`${field}: a string was expected`);
  return value;
}

export function maskEmail(value: string): string {
  const at = value.lastIndexOf('@');
  if (at < 0) return STARS;
  const local = Array.from(value.slice(0, at).trim());
  const domain = value.slice(at + 1).trim();
  // A one-character local part would be shown whole: hide it.
  const head = local.length >= 2 ? local[0] : '';
  return domain ? `${head}***@${domain}` : `${head}***`;
}

export function maskPhone(value: string): string {
  const digits = value.replace(/\D/g, '');
  const prefix = value.trim().startsWith('+') ? '+' : '';
  const shown = tail(Array.from(digits), 3) ?? '';
  return prefix + '*'.repeat(digits.length - shown.length) + shown;
}

/** nationalId and bankAccount: `****` + the last 4 letters or digits. */
export function maskLast4(value: string): string {
  const chars = Array.from(value.normalize('NFC').replace(/[^\p{L}\p{N}]/gu, ''));
  return `****${tail(chars, 4) ?? ''}`;
}

export function maskCardNumber(value: string): string {
  const digits = Array.from(value.replace(/\D/g, ''));
  return `**** **** **** ${tail(digits, 4) ?? '****'}`;
}

export function maskDateOfBirth(value: string): string {
  const match = /^(\d{4})-\d{2}-\d{2}$/.exec(value.trim());
  return match ? `${match[1]}-**-**` : '****-**-**';
}

/**
 * Initials: each whitespace-separated part gives its first letter, upper-cased, and a dot; a
 * hyphenated part gives one initial per piece (`Jean-Luc` -> `J.-L.`). Parts without a letter are
 * skipped. When the initials would show the whole name (every part a single letter), `***`.
 */
export function maskName(value: string): string {
  const parts = value.normalize('NFC').trim().split(/\s+/u).filter((part) => part.length > 0);
  let shownAll = true;
  const initials: string[] = [];
  for (const part of parts) {
    const pieces: string[] = [];
    for (const piece of part.split('-')) {
      const letters = piece.match(/\p{L}/gu);
      if (!letters) continue;
      if (letters.length > 1) shownAll = false;
      pieces.push(`${letters[0]!.toLocaleUpperCase()}.`);
    }
    if (pieces.length > 0) initials.push(pieces.join('-'));
  }
  return initials.length === 0 || shownAll ? STARS : initials.join(' ');
}

export function maskAddress(value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError('address: an object was expected');
  }
  const country: unknown = (value as { country?: unknown }).country;
  return typeof country === 'string' && /^[A-Za-z]{2}$/.test(country) ? `${STARS}, ${country.toUpperCase()}` : STARS;
}

/** The mask of a field's value. Throws for `cardExpiry` (never masked) and for a wrongly typed value. */
export function maskField(field: CustomerField, value: unknown): string {
  switch (field) {
    case 'email':
      return maskEmail(asString(field, value));
    case 'phone':
      return maskPhone(asString(field, value));
    case 'nationalId':
    case 'bankAccount':
      return maskLast4(asString(field, value));
    case 'cardNumber':
      return maskCardNumber(asString(field, value));
    case 'dateOfBirth':
      return maskDateOfBirth(asString(field, value));
    case 'fullName':
    case 'cardholderName':
      return maskName(asString(field, value));
    case 'address':
      return maskAddress(value);
    case 'cardExpiry':
      throw new Error('cardExpiry is never masked: the reveal policy must not ask for it');
  }
}
