import { registerDecorator, ValidateIf, type ValidationOptions } from 'class-validator';
import { normalizePhone } from '../crypto/index.js';

/**
 * Field validators of DESIGN §4. Messages name the rule, never the value (they are returned to
 * clients and must not echo personal data).
 */
function rule(name: string, message: string, test: (value: unknown) => boolean) {
  return (options?: ValidationOptions): PropertyDecorator =>
    (target: object, propertyName: string | symbol): void => {
      registerDecorator({
        name,
        target: target.constructor,
        propertyName: String(propertyName),
        options: { message: `$property ${message}`, ...options },
        validator: { validate: (value: unknown) => test(value) },
      });
    };
}

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let digit = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

/** Card numbers may come grouped with spaces or dashes; what is stored is the digits. */
export function cardDigits(value: string): string {
  return value.replace(/[\s-]/g, '');
}

export const IsCardNumber = rule('isCardNumber', 'must be a Luhn-valid card number of 12 to 19 digits', (value) => {
  if (typeof value !== 'string' || value.length > 40) return false;
  const digits = cardDigits(value);
  return /^\d{12,19}$/.test(digits) && luhnValid(digits);
});

/** `MM/YY`, this month or later (a card is valid through the end of its expiry month). */
export const IsFutureExpiry = rule('isFutureExpiry', 'must be MM/YY and not in the past', (value) => {
  if (typeof value !== 'string') return false;
  const match = /^(0[1-9]|1[0-2])\/(\d{2})$/.exec(value);
  if (!match) return false;
  const now = new Date();
  const year = 2000 + Number(match[2]);
  const month = Number(match[1]);
  return year > now.getUTCFullYear() || (year === now.getUTCFullYear() && month >= now.getUTCMonth() + 1);
});

/** ISO `YYYY-MM-DD`, a real calendar date, after 1900-01-01 and not in the future. */
export const IsPastBirthDate = rule('isPastBirthDate', 'must be a date YYYY-MM-DD after 1900-01-01 and not in the future', (value) => {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  if (Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== value) return false;
  return value > '1900-01-01' && date.getTime() <= Date.now();
});

/** A phone number libphonenumber accepts; without a country code it must start with `+`. */
export const IsPhone = rule('isPhone', 'must be a valid phone number in international form (+ and country code)', (value) => {
  return typeof value === 'string' && value.length <= 40 && normalizePhone(value) !== null;
});

export const IsNationalId = rule('isNationalId', 'must be 4 to 32 letters, digits or dashes', (value) => {
  return typeof value === 'string' && /^[A-Za-z0-9-]{4,32}$/.test(value);
});

/**
 * Printable text: no control characters (NUL, C1, bidi overrides and isolates, BOM) and no lone
 * UTF-16 surrogates (`"\ud800"` in JSON: not text, and would be stored as U+FFFD).
 */
export function isPlainText(value: unknown): value is string {
  // Control characters are exactly what this rule refuses.
  // eslint-disable-next-line no-control-regex
  return typeof value === 'string' && !/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\ufeff]/.test(value) && !/[\ud800-\udfff]/u.test(value);
}

export const IsPlainText = rule('isPlainText', 'must be text without control or bidirectional-override characters', isPlainText);

/**
 * Optional, but not nullable: `@IsOptional()` also skips validation of `null`, which let
 * `{"fullName": null}` through and stored an encrypted JSON null. Absent is fine; null is refused.
 */
export const IsOptionalNotNull = (): PropertyDecorator => ValidateIf((_object: object, value: unknown) => value !== undefined);
